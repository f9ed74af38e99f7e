"""Market data feeds: the live Backpack feed and its frame parser (and other sources)."""
