"""At the start of a server on the live Backpack feed: the recent klines of its symbols
from Backpack's REST API into the tick store, so the 1m chart opens with history.

Bounded (the last `HOURS` hours of 1m klines: two requests a symbol), in a daemon thread
(never on the event loop, never holding up a shutdown), on a cursor of its own; only
klines not stored yet are added (`backfill_klines`). A failure is logged, never fatal.
The REST API is Backpack's own when the feed is (the default WebSocket URL), or the one
`WORKBENCH_BACKPACK_REST_URL` names (a proxy, a test's fake); else nothing is fetched.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from workbench.feeds.backpack import DEFAULT_REST_URL, DEFAULT_WS_URL
from workbench.importers.backpack_rest import BackpackRest, backfill_klines

log = logging.getLogger(__name__)

ENV = "WORKBENCH_BACKPACK_REST_URL"
HOURS = 24
INTERVAL = "1m"


def rest_url(feed: str, ws_url: str, env: dict[str, str] | None = None) -> str | None:
    """The REST API to backfill from, or None (not the Backpack feed, or no known API)."""
    if feed != "backpack":
        return None
    given = (env if env is not None else os.environ).get(ENV, "").strip()
    if given:
        return given
    return DEFAULT_REST_URL if ws_url.rstrip("/") == DEFAULT_WS_URL else None


def backfill(con: Any, url: str, symbols: list[str], hours: float = HOURS) -> dict[str, int]:
    """The last `hours` of 1m klines of each symbol into the tick store `con`: symbol ->
    klines added (a symbol that failed is logged and left out)."""
    since = (time.time_ns() // 1000) - int(hours * 3600e6)
    added: dict[str, int] = {}
    cur = con.cursor()
    try:
        with BackpackRest(url, max_retries=2, timeout=5.0, backoff_max=2.0) as rest:
            for symbol in symbols:
                try:
                    added[symbol] = backfill_klines(cur, rest, symbol, INTERVAL, since)
                except Exception as e:
                    log.warning("klines of %s not backfilled from %s: %s", symbol, url, e)
    finally:
        cur.close()
    if added:
        log.info("backfilled 1m klines from %s: %s", url, added)
    return added


def start(state: Any) -> threading.Thread | None:
    """Backfill the server's symbols in a daemon thread, when its feed is Backpack's."""
    cfg = state.config
    url = rest_url(cfg.feed, cfg.backpack_url)
    if url is None or state.tick_db is None:
        return None

    def run() -> None:
        try:
            backfill(state.tick_db, url, list(cfg.symbols))
        except Exception as e:  # the store closed under it (a shutdown), or no network
            log.warning("the klines backfill from %s failed: %s", url, e)

    thread = threading.Thread(target=run, name="klines-backfill", daemon=True)
    thread.start()
    return thread
