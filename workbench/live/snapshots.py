"""Snapshot files: the engine's checksummed snapshot bytes, written atomically.

`snapshot-<index>.snap` holds the state after journal record `index`. It is written to
a temporary file (readable by its owner only), fsynced, renamed into place and the
directory fsynced, so a crash leaves either the old set of snapshots or the new one,
never half a file under the final name. The newest few are kept; a corrupt one is
skipped with a warning.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from ..engine import Engine, SnapshotError, restore
from .journal import fsync_dir, owner_only

log = logging.getLogger(__name__)

SNAP = re.compile(r"^snapshot-(\d{12})\.snap$")


class SnapshotStore:
    """The snapshots of one data directory; keeps the newest `keep`."""

    def __init__(self, directory: Path, keep: int = 3) -> None:
        self.directory = directory
        self.keep = max(1, keep)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def indexes(self) -> list[int]:
        """Journal indexes of the snapshots on disk, newest first."""
        found = [int(m.group(1)) for p in self.directory.iterdir() if (m := SNAP.match(p.name))]
        return sorted(found, reverse=True)

    def path(self, index: int) -> Path:
        return self.directory / f"snapshot-{index:012d}.snap"

    def save(self, index: int, data: bytes) -> Path:
        """Write atomically, then drop the oldest beyond `keep`."""
        final = self.path(index)
        tmp = final.with_name(final.name + ".tmp")
        with open(tmp, "wb", opener=owner_only) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(final)
        fsync_dir(self.directory)
        for old in self.indexes()[self.keep :]:
            self.path(old).unlink(missing_ok=True)
        return final

    def valid(self, warn: Callable[[str], None] = log.warning) -> Iterator[tuple[int, Engine]]:
        """Restored engines, newest first, skipping (with a warning) what cannot be read."""
        for index in self.indexes():
            p = self.path(index)
            try:
                yield index, restore(p.read_bytes())
            except (SnapshotError, OSError, ValueError, KeyError, TypeError) as e:
                warn(f"snapshot {p.name} skipped: {e}")
