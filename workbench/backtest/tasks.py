"""One run of a sweep, as a worker runs it, and what it sends back.

A `Task` carries what a worker needs (the strategy factory, the params, the symbols run
together, the range, the partition files), never tick data. `run_task` is the same in
this process, in a pool worker and on Ray. A worker sends back an `Outcome`: the rows,
or the exception with the worker's traceback as text, which `Outcome.rows_or_raise`
raises again in the caller as the same type, naming the run.
"""

from __future__ import annotations

import linecache
import logging
import pickle
import re
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .diagnose import span_text


@dataclass(frozen=True)
class Task:
    """One backtest of a sweep: what a worker needs, paths included, no tick data."""

    run: int
    factory: Callable[..., Any]
    params: dict[str, Any]
    symbols: tuple[str, ...]
    start: int | None
    end: int | None
    files: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        """The table's `symbol`: the symbols run together, joined by commas."""
        return ",".join(self.symbols)

    def label(self) -> str:
        """'run 3 (band='0.002', leverage='10'; SIM_BTC_USDC; [..., ...))'."""
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        span = (
            ""
            if self.start is None and self.end is None
            else "; " + span_text(self.start, self.end)
        )
        return f"run {self.run} ({params}; {self.symbol}{span})"


def run_task(task: Task) -> tuple[list[dict[str, Any]], list[str]]:
    """Run one task: its stats rows (one per account) and the warnings it gave (its
    rejections are counted in the rows, not logged)."""
    from .data import ParquetSource
    from .runner import backtest

    src = ParquetSource(
        list(task.symbols),
        where=f"the sweep's partitions of {task.symbol}",
        files=list(task.files),
        start=task.start,
        end=task.end,
    )
    logger = logging.getLogger("workbench.backtest")
    logger.addFilter(_no_rejection_lines)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = backtest(task.factory(**task.params), src, **task.options)
    finally:
        logger.removeFilter(_no_rejection_lines)
    head = {
        "run": task.run,
        **task.params,
        "symbol": task.symbol,
        "start": task.start,
        "end": task.end,
        "quotes": res.quotes,
    }
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    return [{**head, **row} for row in res.stats_rows()], notes


def _no_rejection_lines(record: logging.LogRecord) -> bool:
    """In a sweep a run's rejections are counted (`rejected`), not logged line by line
    (`tickets` logs up to 10 a run: hundreds of lines for a sweep)."""
    return record.module != "tickets"


def init_worker() -> None:
    """In a worker process: one DuckDB thread per worker, the workers share the cores."""
    from . import data

    data.THREADS = 1


class WorkerTraceback(Exception):
    """The traceback of an exception raised in a sweep worker, as the worker printed it,
    with the source lines only this process knows (a notebook cell's) filled in."""

    def __str__(self) -> str:
        return "\n\n" + with_sources(str(self.args[0]).rstrip())


_FRAME = re.compile(r'^  File "(.+)", line (\d+), in ')


def with_sources(trace: str) -> str:
    """A formatted traceback, a source line added under each frame that has none and whose
    file this process's linecache knows (code of a notebook cell run in a worker)."""
    lines = trace.splitlines()
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        m = _FRAME.match(line)
        if m and (i + 1 == len(lines) or not lines[i + 1].startswith("    ")):
            src = linecache.getline(m[1], int(m[2])).strip()
            if src:
                out.append("    " + src)
    return "\n".join(out)


@dataclass
class Outcome:
    """What a worker sends back: rows and warnings, or an error and its traceback text."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: bytes | None = None  # the pickled exception, when it pickles
    error_type: str = ""
    error_text: str = ""
    trace: str = ""

    @classmethod
    def of(cls, fn: Callable[..., tuple[list[dict[str, Any]], list[str]]], *args: Any) -> Outcome:
        """Call fn(*args) and keep what it returned or raised (never raises but
        KeyboardInterrupt / SystemExit)."""
        try:
            rows, notes = fn(*args)
        except Exception as e:
            return cls.failed(e)
        return cls(rows, notes)

    @classmethod
    def failed(cls, exc: BaseException) -> Outcome:
        import cloudpickle  # by value, so an exception class of a notebook cell comes back

        trace = "".join(traceback.format_exception(exc))
        try:
            blob: bytes | None = cloudpickle.dumps(exc)
            pickle.loads(blob)  # some exceptions pickle but cannot be rebuilt
        except Exception:
            blob = None
        name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        return cls(error=blob, error_type=name, error_text=str(exc), trace=trace)

    def rows_or_raise(self, task: Task) -> list[dict[str, Any]]:
        """The rows, each with the run's warnings (column `warning`); or raise the
        worker's exception here, its traceback chained, the run named in a note."""
        if not self.error_type:
            note = "; ".join(self.notes) or None
            return [{**row, "warning": note} for row in self.rows]
        self.raise_for(task)

    def raise_for(self, task: Task) -> NoReturn:
        exc: BaseException | None = None
        if self.error is not None:
            try:
                exc = pickle.loads(self.error)
            except Exception:
                exc = None
        if not isinstance(exc, BaseException):
            exc = RuntimeError(f"{self.error_type}: {self.error_text}")
        exc.__cause__ = WorkerTraceback(self.trace)
        exc.add_note(f"raised in sweep {task.label()}; the worker's traceback is above")
        raise exc


def raise_here(exc: BaseException, task: Task) -> NoReturn:
    """An exception of a run in this process: the same one, the run named in a note."""
    exc.add_note(f"raised in sweep {task.label()}")
    raise exc
