"""Equity points thinned to a bound without losing the dips.

A point is (t in ms, {"equity": float, "margin_level": float or None}). Thinning cuts the
points into runs and keeps, of each, the lowest and the highest equity and the lowest
margin level (the dips that made margin calls), in time order, and always the last.
"""

from __future__ import annotations

import math
from typing import Any

Point = tuple[float, dict[str, Any]]


def _level(p: Point) -> float:
    lvl = p[1].get("margin_level")
    return math.inf if lvl is None else float(lvl)


def thin(points: list[Point], limit: int) -> list[Point]:
    """At most `limit` points (limit >= 4) of `points` (in time order), dips kept."""
    if len(points) <= limit:
        return points
    runs = max(1, (limit - 1) // 3)
    size = -(-len(points) // runs)
    out: list[Point] = []
    for i in range(0, len(points), size):
        run = points[i : i + size]
        keep = {
            min(range(len(run)), key=lambda j: float(run[j][1]["equity"])),
            max(range(len(run)), key=lambda j: float(run[j][1]["equity"])),
            min(range(len(run)), key=lambda j: _level(run[j])),
        }
        out.extend(run[j] for j in sorted(keep))
    if out[-1] is not points[-1]:
        out.append(points[-1])
    return out
