"""Serving the engine live: one writer thread, a durable journal, snapshots, recovery, feeds."""
