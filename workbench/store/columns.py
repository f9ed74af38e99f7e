"""Exact conversions between int64 arrays of scaled units and Arrow DECIMAL columns.

DuckDB reads an Arrow decimal128(p, 8) column as DECIMAL(p, 8) and exports DECIMAL that
way, so prices travel between numpy and the store as scaled ints, never as floats.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

SCALE = 8


def decimal_array(units: np.ndarray | Sequence[int], precision: int = 18) -> pa.Array:
    """A decimal128(precision, 8) Arrow array of the values `units` * 1e-8."""
    a = np.ascontiguousarray(units, dtype=np.int64)
    n = len(a)
    buf = np.empty((n, 2), dtype=np.int64)
    buf[:, 0] = a
    buf[:, 1] = a >> 63  # sign extension of the 128-bit little-endian integer
    return pa.Array.from_buffers(pa.decimal128(precision, SCALE), n, [None, pa.py_buffer(buf)])


def units_of(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 units of an Arrow decimal128(p, 8) column without nulls (values must fit in int64)."""
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            col = col.chunk(0)
        else:
            parts = [units_of(c) for c in col.chunks]
            return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    t = col.type
    if not pa.types.is_decimal128(t) or t.scale != SCALE:
        raise TypeError(f"expected a decimal128(p, {SCALE}) column, not {t}")
    if col.null_count:
        raise ValueError("a price column has NULLs")
    words = np.frombuffer(col.buffers()[1], dtype=np.int64, count=2 * (col.offset + len(col)))
    return words[2 * col.offset :: 2]
