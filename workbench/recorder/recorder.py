"""Records Backpack bookTicker and trade streams into the DuckDB tick store.

`Recorder(RecorderConfig(symbols=[...]))` connects with `BackpackClient`, skips frames it
already has (re-sent after a reconnect, or stored by an earlier run), queues rows for the
`TickWriter` thread and writes one `gaps` row per outage. `run()` blocks and stops on
SIGINT/SIGTERM; `start_background()`/`stop()` suit notebooks; `run_async()` suits an
existing event loop. Everything received is committed before it returns. Optional hooks
let a caller see what is recorded (`on_quote`) and every feed event (`tap`), e.g. to serve
the quotes live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.feeds.backpack import (
    DEFAULT_WS_URL,
    BookTicker,
    OtherFrame,
    StreamError,
    Trade,
    streams_for,
)
from workbench.feeds.backpack_client import (
    Backoff,
    BackpackClient,
    BadFrame,
    Connected,
    ConnectFailed,
    Disconnected,
    FeedEvent,
    Received,
    now_us,
)
from workbench.recorder.parquet import ParquetRoller
from workbench.recorder.rows import Deduper, RowRejected, gap_row, quote_row, trade_row
from workbench.recorder.stats import RecorderStats, SymbolStats
from workbench.recorder.status import StatusFormatter, StatusLine
from workbench.recorder.writer import TickWriter
from workbench.store.live import DEFAULT_PARQUET_DIR
from workbench.store.schema import DEFAULT_DB

log = logging.getLogger(__name__)

RECORDABLE_STREAMS = ("bookTicker", "trade")


def _worth_logging(count: int) -> bool:
    """Log the first ten of a kind of bad frame, then every thousandth."""
    return count <= 10 or count % 1000 == 0


@dataclass
class RecorderConfig:
    """Everything a recorder needs; times in seconds. `parquet_dir` None: no Parquet mirror;
    `status_every` None: no status line."""

    symbols: Sequence[str]
    streams: Sequence[str] = RECORDABLE_STREAMS
    db_path: str | Path = DEFAULT_DB
    url: str = DEFAULT_WS_URL
    parquet_dir: str | Path | None = DEFAULT_PARQUET_DIR
    parquet_every: float = 15.0
    flush_interval: float = 0.5
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    open_timeout: float = 10.0
    close_timeout: float = 2.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    status_every: float | None = None

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("no symbols to record")
        bad = [s for s in self.streams if s not in RECORDABLE_STREAMS]
        if bad or not self.streams:
            raise ValueError(f"can record only {RECORDABLE_STREAMS} streams, not {bad}")


class Recorder:
    """Records the configured streams until stopped; see the module docstring."""

    def __init__(
        self,
        config: RecorderConfig,
        *,
        on_quote: Callable[[BookTicker, int], None] | None = None,
        tap: Callable[[FeedEvent], None] | None = None,
    ) -> None:
        """`on_quote(quote, recv_us)` is called for each new (not duplicate) quote queued for
        storage; `tap(event)` for every feed event once handled (Connected, ConnectFailed,
        Disconnected, Received, BadFrame). Both run on the recorder's event loop; an error
        in them is logged, never fatal."""
        self.config = config
        self.on_quote = on_quote
        self.tap = tap
        self.stats = RecorderStats(symbols={s: SymbolStats() for s in config.symbols})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: BackpackClient | None = None
        self._stop_requested = False
        self._thread: threading.Thread | None = None
        self._outage: tuple[int, str] | None = None
        self._writer: TickWriter | None = None
        self._quotes = Deduper()
        self._trades = Deduper()
        self.error: BaseException | None = None

    # -- control ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the recorder to flush and finish; safe from any thread or a signal handler."""
        self._stop_requested = True
        loop, client = self._loop, self._client
        if loop is not None and client is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(client.stop)

    def run(self, *, handle_signals: bool = True) -> RecorderStats:
        """Record until `stop()`, SIGINT or SIGTERM (when run in the main thread)."""

        async def main() -> None:
            if handle_signals and threading.current_thread() is threading.main_thread():
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self.stop)
            await self.run_async()

        asyncio.run(main())
        return self.stats.snapshot()

    def start_background(self) -> threading.Thread:
        """Run in a daemon thread (e.g. from a notebook); `stop()` then `join()` it."""

        def target() -> None:
            try:
                asyncio.run(self.run_async())
            except BaseException as exc:
                self.error = exc
                log.exception("recorder failed")

        self._thread = threading.Thread(target=target, name="recorder", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background run to finish; re-raise its error if it failed."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    # -- the run ---------------------------------------------------------------------------

    async def run_async(self) -> RecorderStats:
        """Record until `stop()`; commit everything and close the database before returning."""
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        roller = (
            ParquetRoller(cfg.parquet_dir, every=cfg.parquet_every)
            if cfg.parquet_dir is not None
            else None
        )
        writer = TickWriter(cfg.db_path, roller=roller, flush_interval=cfg.flush_interval)
        seeds = await asyncio.to_thread(writer.start)
        self._writer = writer
        self._quotes = Deduper(seeds.get("quotes"))
        self._trades = Deduper(seeds.get("trades"))
        self._client = BackpackClient(
            streams_for(cfg.symbols, cfg.streams),
            url=cfg.url,
            ping_interval=cfg.ping_interval,
            ping_timeout=cfg.ping_timeout,
            open_timeout=cfg.open_timeout,
            close_timeout=cfg.close_timeout,
            backoff=Backoff(cfg.backoff_initial, cfg.backoff_max),
        )
        status = asyncio.create_task(self._status_loop()) if cfg.status_every else None
        log.info(
            "recording %s from %s into %s", ", ".join(self._client.streams), cfg.url, cfg.db_path
        )
        try:
            if self._stop_requested:
                self._client.stop()
            async with contextlib.aclosing(self._client.events()) as events:
                async for event in events:
                    self._on_event(event)
        finally:
            if self._outage is not None:
                start, reason = self._outage
                self._add_gap(start, now_us(), f"{reason}; recorder stopped while down")
            if status is not None:
                status.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await status
            await asyncio.to_thread(writer.close)
            self.stats.committed = dict(writer.committed)
            self.stats.rejected += writer.rejected
            self.stats.connected = False
            log.info("recorder stopped: %s", StatusFormatter().render(self.stats))
        return self.stats.snapshot()

    def _add_gap(self, start_us: int, end_us: int, reason: str) -> None:
        assert self._writer is not None
        self._writer.put("gaps", gap_row(start_us, end_us, reason))
        self.stats.gaps += 1
        self._outage = None
        log.warning("gap of %.3fs recorded: %s", (end_us - start_us) / 1e6, reason)

    def _on_event(self, event: FeedEvent) -> None:
        """Turn one feed event into rows and counters."""
        st = self.stats
        match event:
            case Received(frame=BookTicker() as q, recv_us=recv):
                self._record(q.symbol, q.update_id, q.t, recv, self._quotes, "quotes", q)
            case Received(frame=Trade() as tr, recv_us=recv):
                self._record(tr.symbol, tr.trade_id, tr.t, recv, self._trades, "trades", tr)
            case Received(frame=StreamError() as err):
                st.errors += 1
                st.last_error = f"{err.code} {err.message}"
                if _worth_logging(st.errors):
                    log.warning(
                        "error frame #%d from server: %s %s", st.errors, err.code, err.message
                    )
            case Received(frame=OtherFrame() as other):
                st.other += 1
                log.debug("ignored frame of stream %s", other.stream)
            case BadFrame(text=text, error=error):
                st.malformed += 1
                if _worth_logging(st.malformed):
                    log.warning("malformed frame #%d (%s): %.200s", st.malformed, error, text)
            case Connected(at_us=at):
                st.connections += 1
                st.connected = True
                if self._outage is not None:
                    self._add_gap(self._outage[0], at, self._outage[1])
            case ConnectFailed(at_us=at, reason=reason, retry_in=delay):
                st.connect_failures += 1
                st.last_error = reason
                if self._outage is None:
                    self._outage = (at, reason)
                log.warning("%s; retrying in %.2fs", reason, delay)
            case Disconnected(last_recv_us=last, reason=reason):
                st.connected = False
                self._outage = (last, reason)
                log.warning("disconnected: %s", reason)
        if self.tap is not None:
            self._call_hook(self.tap, event)

    @staticmethod
    def _call_hook(hook: Callable[..., None], *args: object) -> None:
        try:
            hook(*args)
        except Exception:
            log.exception("recorder hook %r failed", hook)

    def _record(
        self,
        symbol: str,
        ident: int,
        t: int,
        recv: int,
        dedup: Deduper,
        table: str,
        frame: BookTicker | Trade,
    ) -> None:
        sym = self.stats.symbols.get(symbol)
        if sym is None:
            self.stats.other += 1
            log.warning("frame for a symbol not subscribed: %s", symbol)
            return
        if not dedup.accept(symbol, ident, t):
            self.stats.duplicates += 1
            return
        try:
            row = (
                quote_row(frame, recv) if isinstance(frame, BookTicker) else trade_row(frame, recv)
            )
        except RowRejected as exc:
            self.stats.rejected += 1
            log.error("frame refused: %s", exc)
            return
        assert self._writer is not None
        if self._writer.error is not None:
            log.error("the tick writer failed; stopping")
            self.stop()
            return
        self._writer.put(table, row)
        if table == "quotes":
            sym.quotes += 1
            if self.on_quote is not None:
                self._call_hook(self.on_quote, frame, recv)
        else:
            sym.trades += 1
        sym.last_recv_us = recv

    async def _status_loop(self) -> None:
        assert self.config.status_every
        line, fmt = StatusLine(), StatusFormatter()
        try:
            while True:
                await asyncio.sleep(self.config.status_every)
                if self._writer is not None:
                    self.stats.committed = dict(self._writer.committed)
                line.show(fmt.render(self.stats))
        finally:
            line.close()
