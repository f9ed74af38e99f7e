"""A backtest Result kept as a folder: one Parquet file per frame, and meta.json.

    result.save("runs/bracket-july")          # a new (or empty) folder
    again = Result.load("runs/bracket-july")  # the same frames and stats

The folder holds `<frame>.parquet` for each frame (events, fills, closed, reductions,
orders, rejections, equity, prices, stats: exact Decimal columns, readable by any Parquet
reader), `raw_events.parquet` (each engine event as the JSON line `workbench simulate`
prints, so that a loaded result rebuilds anything exactly) and `meta.json`: the format
version, the workbench (engine) version, symbols, data range, accounts, each account's
strategy and parameters, the first and last quotes (buy & hold) and the closing account
states. A save writes a new folder beside the target and renames it into place, so a
failed save leaves no half-written result; an existing result is replaced only with
`overwrite=True`, and a folder that is not a saved result never is.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ..money import MONEY_DP

if TYPE_CHECKING:
    from .result import Result

FORMAT = "workbench-backtest-result"
VERSION = 1
SAVED = (
    "events",
    "fills",
    "closed",
    "reductions",
    "orders",
    "rejections",
    "equity",
    "prices",
    "stats",
)
SAMPLE_COLUMNS = ("account", "t", "kind", "balance", "equity", "used_margin", "free_margin",
                  "margin_level", "open_positions")  # fmt: skip
_SKIP = object()


def strategy_params(strategy: object) -> dict[str, Any]:
    """A strategy's class and its public attributes that are plain values (numbers, text,
    Decimals as text, lists and dicts of them), as JSON-able data."""
    cls = type(strategy)
    out: dict[str, Any] = {"strategy": f"{cls.__module__}.{cls.__qualname__}"}
    fn = getattr(strategy, "fn", None)
    if callable(fn):  # a plain function run as on_quote
        out["function"] = f"{fn.__module__}.{getattr(fn, '__qualname__', repr(fn))}"
    attrs = getattr(strategy, "__dict__", {})
    params = {k: _plain(v) for k, v in attrs.items() if not k.startswith("_") and k != "fn"}
    out["params"] = {k: v for k, v in params.items() if v is not _SKIP}
    return out


def _plain(v: Any, depth: int = 0) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    if depth < 3 and isinstance(v, list | tuple):
        items = [_plain(x, depth + 1) for x in v]
        return _SKIP if any(x is _SKIP for x in items) else items
    if depth < 3 and isinstance(v, dict) and all(isinstance(k, str) for k in v):
        d = {k: _plain(x, depth + 1) for k, x in v.items()}
        return _SKIP if any(x is _SKIP for x in d.values()) else d
    return _SKIP


def engine_version() -> str:
    try:
        return version("workbench")
    except PackageNotFoundError:
        return "unknown"


def metadata(result: Result) -> dict[str, Any]:
    """meta.json of a result: what was run on what, by which version."""
    times = [s[1] for s in result.samples]
    t0, t1 = (min(times), max(times)) if times else (None, None)
    lines = result.event_lines()
    return {
        "format": FORMAT,
        "version": VERSION,
        "workbench_version": engine_version(),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "symbols": list(result.symbols),
        "data_range": {"start_t": t0, "end_t": t1, "start": _iso(t0), "end": _iso(t1)},
        "quotes": result.quotes,
        "sample_every": result.sample_every,
        "wall_s": result.wall_s,
        "accounts": {
            name: {"margin_mode": mode, "balance": format(bal, "f")}
            for name, (mode, bal) in result.accounts.items()
        },
        "params": result.params,
        "marks": result.marks,
        "state_lines": lines[len(result.raw_events) :],
    }


def _iso(t: int | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t / 1_000_000, UTC).isoformat()


def save_result(result: Result, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write `result` to the folder `path` (see the module docstring)."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"cannot save a result to {root}: it is a file")
    replace = root.is_dir() and any(root.iterdir())
    if replace:
        if not _is_saved(root):
            raise FileExistsError(
                f"cannot save a result to {root}: the folder is not empty and holds no saved "
                "result (nothing was written)"
            )
        if not overwrite:
            raise FileExistsError(
                f"{root} already holds a saved result: give overwrite=True to replace it "
                "(nothing was written)"
            )
    meta = metadata(result)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.saving-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name in SAVED:
            getattr(result, name).write_parquet(tmp / f"{name}.parquet")
        raw = pl.DataFrame(
            {"json": [json.dumps(ev) for ev in result.raw_events]}, schema={"json": pl.String}
        )
        raw.write_parquet(tmp / "raw_events.parquet")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if replace:
            old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(root, old)
            os.replace(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, root)  # onto an empty folder or none
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _is_saved(root: Path) -> bool:
    try:
        return json.loads((root / "meta.json").read_text("utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def load_result(path: str | Path) -> Result:
    """The result saved in the folder `path`; a clear error if it is not one."""
    from .result import Result

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"no saved result at {root}: not a folder")
    meta = _read_meta(root)
    frames = {name: _read(root, name) for name in SAVED}
    lines = _read(root, "raw_events")["json"].to_list()
    try:
        raw = [json.loads(line) for line in lines]
    except (TypeError, ValueError) as e:
        raise ValueError(f"{root / 'raw_events.parquet'} is damaged: {e}") from None
    try:
        samples = list(frames["equity"].select(SAMPLE_COLUMNS).iter_rows())
        accounts = {
            name: (a["margin_mode"], int(Decimal(a["balance"]).scaleb(MONEY_DP)))
            for name, a in meta["accounts"].items()
        }
        res = Result(
            raw_events=raw,
            samples=samples,
            accounts=accounts,
            symbols=list(meta["symbols"]),
            prices=None,
            engine=None,
            quotes=int(meta["quotes"]),
            sample_every=meta["sample_every"],
            wall_s=float(meta["wall_s"]),
            params=meta["params"],
        )
        res.marks = meta["marks"]
        res._state_lines = list(meta["state_lines"])
    except (KeyError, TypeError, ValueError, ArithmeticError, pl.exceptions.PolarsError) as e:
        raise ValueError(
            f"{root} is not a complete saved result: {type(e).__name__}: {e}"
        ) from None
    for name, df in frames.items():
        res.__dict__[name] = df  # the cached frames, as saved
    return res


def _read_meta(root: Path) -> dict[str, Any]:
    path = root / "meta.json"
    try:
        meta = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{root} is not a saved backtest result: no meta.json") from None
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not the meta.json of a saved backtest result")
    if meta.get("version") != VERSION:
        raise ValueError(
            f"{root} was saved in format version {meta.get('version')!r}; this workbench "
            f"reads version {VERSION}"
        )
    return meta


def _read(root: Path, name: str) -> pl.DataFrame:
    path = root / f"{name}.parquet"
    try:
        return pl.read_parquet(path)
    except FileNotFoundError:
        raise ValueError(f"{root} is not a complete saved result: {path.name} is missing") from None
    except (OSError, pl.exceptions.PolarsError) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
