"""The simulated prices' seed is a secret: whoever has it computes every price to come.

A real `workbench serve --feed synthetic`: its public /health shows no seed, and no number
it shows reproduces the quotes the server streams. Each `LiveSynthetic` (the server makes
one at each start) draws a new seed, 128 bits from os.urandom, so a restart does not
replay the same path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from server_helpers import running_server
from websockets.sync.client import connect

from workbench.live.synthetic_live import LiveSynthetic
from workbench.money import price_units

SYMBOLS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")  # the server's default instruments
Path_ = list[tuple[int, int]]  # (time µs, bid in 1e-8 units) of BTC_USDC


def numbers_in(obj: Any) -> set[int]:
    """Every non-negative integer in a JSON document (numbers, and strings of digits)."""
    if isinstance(obj, bool):
        return set()
    if isinstance(obj, int):
        return {obj} if obj >= 0 else set()
    if isinstance(obj, str):
        return {int(obj)} if obj.isdigit() else set()
    if isinstance(obj, dict):
        return set().union(*(numbers_in(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(numbers_in(v) for v in obj)) if obj else set()
    return set()


def first_chunk(seed: int) -> Path_:
    """BTC_USDC of the first simulated chunk from `seed` (default start prices), times as
    offsets from the start."""
    chunk = LiveSynthetic(SYMBOLS, seed=seed).chunk({}, 0, first=True)
    return [(t, bid) for s, t, bid, _ in chunk if s == "BTC_USDC"]


def predicts(predicted: Path_, seen: Path_) -> bool:
    """True when every quote seen is in `predicted`, shifted by one start time."""
    points = set(predicted)
    t0, bid0 = seen[0]
    return any(
        all((t - (t0 - off), b) in points for t, b in seen) for off, bid in predicted if bid == bid0
    )


def watch(base_url: str, n: int = 8, timeout: float = 15.0) -> Path_:
    """The next `n` BTC_USDC quotes the server streams on /ws."""
    seen: Path_ = []
    with connect(base_url.replace("http", "ws", 1) + "/ws", open_timeout=10) as ws:
        assert json.loads(ws.recv(10))["type"] == "welcome"
        ws.send(json.dumps({"subscribe": ["BTC_USDC"]}))
        deadline = time.monotonic() + timeout
        while len(seen) < n:
            msg = json.loads(ws.recv(max(0.1, deadline - time.monotonic())))
            if msg.get("type") == "quote" and msg["symbol"] == "BTC_USDC":
                seen.append((int(msg["t"]), price_units(msg["bid"])))
    return seen


def test_the_matcher_finds_a_path_from_its_seed() -> None:
    """The check below is not vacuous: with the seed, a stretch of quotes is recognised."""
    path = first_chunk(12345)
    later = [(t + 1_700_000_000_000_000, b) for t, b in path[20:28]]  # at wall-clock times
    assert predicts(path, later)
    assert not predicts(first_chunk(12346), later)


def test_no_public_number_predicts_the_simulated_quotes(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", feed="synthetic") as srv, srv.client() as c:
        health = c.get("/health").json()
        assert health["feed"]["state"] == "SIMULATED"
        assert "seed" not in health["feed"]
        seen = watch(srv.url)
        public = numbers_in(health) | numbers_in(c.get("/prices").json())
        leaks = [n for n in public if predicts(first_chunk(n), seen)]
        assert leaks == [], f"/health tells the simulated prices: seed {leaks}"


def test_each_feed_draws_its_own_128_bit_seed() -> None:
    a, b = LiveSynthetic(SYMBOLS), LiveSynthetic(SYMBOLS)
    assert a.seed != b.seed
    assert a.seed.bit_length() > 64 and b.seed.bit_length() > 64  # fails 1 in 2**63
    bids = {"BTC_USDC": price_units("60000")}
    assert a.chunk(bids, 0, first=True) != b.chunk(bids, 0, first=True)
    assert LiveSynthetic(SYMBOLS, seed=7).chunk(bids, 0, first=True) == LiveSynthetic(
        SYMBOLS, seed=7
    ).chunk(bids, 0, first=True)  # a seed given on purpose still reproduces
