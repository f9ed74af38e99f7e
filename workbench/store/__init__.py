"""The tick store: recorded quotes, trades, gaps and klines in DuckDB."""
