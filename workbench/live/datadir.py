"""A data directory readable by its owner only: it holds password hashes, emails, the
JWT secret and every order, so nothing in it is for the group or others.

`make_private(data_dir)`, called once the directory exists and before anything is
written in it, sets the process's umask to 0o077 (so every file the server creates,
DuckDB's databases and .wal files included, is 0600 and every directory 0700), and
takes the group and other bits off what is there already: the directory, each entry in
it, and everything under its journal/ and snapshots/. Nothing else is walked (a data
directory given as `~` must not lock down a home directory tree).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

UMASK = 0o077
#: Subdirectories walked whole (ours alone).
OURS = ("journal", "snapshots")


def make_private(data_dir: Path, warn: Callable[[str], None] = log.warning) -> int:
    """Umask 0o077 for this process; `data_dir` and our files in it owner-only. Returns
    how many modes were changed; what cannot be changed (not ours) is warned about."""
    os.umask(UMASK)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return 0  # (not a directory: the start says so)
    changed = _private(data_dir, warn)
    try:
        entries = list(data_dir.iterdir())
    except OSError as e:  # (an unreadable directory: the start says so)
        warn(f"cannot list {data_dir}: {e.strerror}")
        return changed
    for entry in entries:
        changed += _private(entry, warn)
        if entry.name in OURS and entry.is_dir() and not entry.is_symlink():
            for root, dirs, files in os.walk(entry):  # (errors are skipped by os.walk)
                for name in dirs + files:
                    changed += _private(Path(root) / name, warn)
    return changed


def _private(path: Path, warn: Callable[[str], None]) -> int:
    """Take the group and other bits off `path` (not through a symlink)."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
            return 0
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
    except OSError as e:
        warn(f"cannot make {path} private to its owner: {e.strerror}")
        return 0
    return 1
