"""Rolls committed rows into closed Parquet partitions that other processes can read.

Rows are buffered per partition and written every `every` seconds (or `max_rows` rows)
to a hidden temporary file that is then renamed into place, so a reader listing
`part-*.parquet` only ever sees whole files. The layout is `workbench.store.live`'s.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from workbench.store.live import SCHEMAS, TIME_COLUMN, partition_dir, utc_date

log = logging.getLogger(__name__)


class ParquetRoller:
    """Buffers rows (tuples in table column order) and writes them as partition files."""

    def __init__(self, root: str | Path, *, every: float = 15.0, max_rows: int = 250_000) -> None:
        self.root = Path(root)
        self.every, self.max_rows = every, max_rows
        self._buffers: dict[tuple[str, str | None, str], list[Sequence[object]]] = defaultdict(list)
        self._count = 0
        self._since: float | None = None
        self._seq = 0
        self.files_written = 0

    def add(self, table: str, rows: Sequence[Sequence[object]]) -> None:
        """Buffer committed rows of `table`."""
        if not rows:
            return
        tcol = SCHEMAS[table].names.index(TIME_COLUMN[table])
        for row in rows:
            symbol = None if table == "gaps" else str(row[0])
            self._buffers[(table, symbol, utc_date(int(row[tcol])))].append(row)
        self._count += len(rows)
        if self._since is None:
            self._since = time.monotonic()

    def deadline(self) -> float | None:
        """Monotonic time at which the buffered rows are due, or None when empty."""
        return None if self._since is None else self._since + self.every

    def due(self) -> bool:
        """True when a roll should happen now."""
        return self._since is not None and (
            time.monotonic() >= self._since + self.every or self._count >= self.max_rows
        )

    def roll(self) -> list[Path]:
        """Write every buffered partition to its own new file; return the files."""
        written: list[Path] = []
        stamp = time.time_ns() // 1000
        for (table, symbol, day), rows in sorted(
            self._buffers.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
        ):
            self._seq += 1
            folder = partition_dir(self.root, table, day, symbol)
            name = f"part-{stamp}-{os.getpid()}-{self._seq:06d}.parquet"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                _write_atomic(folder / name, _to_arrow(table, rows))
            except OSError:
                log.exception("could not write %s (the rows are in DuckDB)", folder / name)
                continue
            written.append(folder / name)
        self.files_written += len(written)
        self._buffers.clear()
        self._count, self._since = 0, None
        return written


def _to_arrow(table: str, rows: Sequence[Sequence[object]]) -> pa.Table:
    schema = SCHEMAS[table]
    columns = list(zip(*rows, strict=True))
    return pa.table(
        [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
    )


def _write_atomic(path: Path, data: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(data, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
