"""The Backpack recorder: live ticks into the DuckDB tick store, with a live Parquet mirror."""

from workbench.recorder.recorder import Recorder, RecorderConfig
from workbench.recorder.stats import RecorderStats, SymbolStats

__all__ = ["Recorder", "RecorderConfig", "RecorderStats", "SymbolStats"]
