"""The other seeds' documented APIs, each a thin translation onto the same desk calls."""
