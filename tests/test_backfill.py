"""REST backfill of klines and trades against the fake Backpack REST server on localhost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx
import pytest

from workbench.cli import main
from workbench.importers.backpack_rest import (
    BackpackApiError,
    BackpackRest,
    backfill_klines,
    backfill_trades,
    parse_kline_time,
)
from workbench.store.schema import connect
from workbench.testing.fake_backpack_rest import FakeBackpackRest, rest_kline, rest_trade

T0_MS = 1_752_930_000_000  # 2025-07-19 13:00:00 UTC
T0_S = T0_MS // 1000


def trades(n: int, first_id: int = 1) -> list[dict[str, object]]:
    return [
        rest_trade(
            first_id + i,
            f"{Decimal('176.12') + Decimal(i % 50) / 100:.2f}",
            f"{Decimal(i % 9 + 1) / 1000:.3f}",
            T0_MS + 250 * i,
            i % 3 == 0,
        )
        for i in range(n)
    ]


def klines(
    start_s: int, count: int, interval: str = "1m", step: int = 60
) -> list[dict[str, object]]:
    return [
        rest_kline(
            start_s + step * i,
            interval,
            f"{176 + i}.10",
            f"{176 + i}.90",
            f"{175 + i}.95",
            f"{176 + i}.50",
            f"{i + 1}.25",
            "1000.5",
            trades=i + 2,
        )
        for i in range(count)
    ]


@pytest.fixture
def rest() -> Iterator[FakeBackpackRest]:
    with FakeBackpackRest() as fake:
        yield fake


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = connect(tmp_path / "ticks.duckdb")
    yield c
    c.close()


def test_fake_rest_serves_the_real_shapes(rest: FakeBackpackRest) -> None:
    rest.add_trades("SOL_USDC", trades(3))
    rest.add_klines("SOL_USDC", "1m", klines(T0_S, 2))
    with httpx.Client(base_url=rest.url) as http:
        assert isinstance(http.get("/api/v1/time").json(), int)
        sol = next(m for m in http.get("/api/v1/markets").json() if m["symbol"] == "SOL_USDC")
        assert sol["filters"]["price"]["tickSize"] == "0.01" and sol["baseSymbol"] == "SOL"
        body = http.get("/api/v1/trades", params={"symbol": "SOL_USDC", "limit": 2}).text
        assert body.startswith(
            '[{"id":2,"isBuyerMaker":false,"price":"176.13","quantity":"0.002",'
            '"quoteQuantity":"0.35226","timestamp":1752930000250}'
        )
        k = http.get(
            "/api/v1/klines", params={"symbol": "SOL_USDC", "interval": "1m", "startTime": T0_S}
        ).json()
        assert k[0]["start"] == "2025-07-19 13:00:00" and k[0]["end"] == "2025-07-19 13:01:00"
        assert k[0]["trades"] == "2"
        bad = http.get("/api/v1/trades", params={"symbol": "NOPE_USDC"})
        assert bad.status_code == 400
        assert bad.text == '{"code":"INVALID_CLIENT_REQUEST","message":"Invalid market symbol"}'


def test_trades_backfill_pages_history_and_skips_stored_ids(
    rest: FakeBackpackRest, con: duckdb.DuckDBPyConnection
) -> None:
    rest.add_trades("SOL_USDC", trades(2500))
    con.execute(
        "INSERT INTO trades SELECT 'SOL_USDC', i, 1, 1, 1, 1.5, 1, true, 'backpack' "
        "FROM range(2000, 2101) r(i)"
    )
    with BackpackRest(rest.url) as client:
        assert backfill_trades(con, client, "SOL_USDC") == 2500 - 101
        assert backfill_trades(con, client, "SOL_USDC") == 0
    pages = [r for r in rest.requests if r.path == "/api/v1/trades/history"]
    assert [r.params["offset"] for r in pages[:3]] == ["0", "1000", "2000"]
    assert all(r.params["limit"] == "1000" for r in pages)
    at = [r.at for r in rest.requests]
    # under 10 requests a second, judged over every window of requests as they arrived: the
    # client spaces its sends, and on a busy machine one arrival can be late (seen: a window
    # of 2 spanning 0.197 s), so 20 ms of jitter is allowed; no pacing at all gives ~0.
    for k in range(2, len(at)):
        assert min(b - a for a, b in zip(at, at[k:], strict=False)) >= k / 10 - 0.02, k
    rows = con.execute(
        "SELECT count(*), count(DISTINCT trade_id), min(trade_id), max(trade_id) FROM trades"
    ).fetchone()
    assert rows == (2500, 2500, 1, 2500)
    got = con.execute(
        "SELECT t, e, price, qty, buyer_maker, source FROM trades WHERE trade_id = 7"
    ).fetchone()
    assert got == (
        T0_MS * 1000 + 250_000 * 6,
        None,
        Decimal("176.18"),
        Decimal("0.007"),
        True,
        "backfill",
    )


def test_trades_backfill_stops_at_since_and_backs_off_on_429(
    rest: FakeBackpackRest, con: duckdb.DuckDBPyConnection
) -> None:
    rest.add_trades("SOL_USDC", trades(2500))
    rest.fail_next(2, status=429, retry_after=0.3)
    since = (T0_MS + 250 * 1499) * 1000  # the time of trade id 1500
    with BackpackRest(rest.url) as client:
        assert backfill_trades(con, client, "SOL_USDC", since=since) == 1001
    statuses = [r.status for r in rest.requests]
    assert statuses == [429, 429, 200, 200]  # page 2 reaches `since`: stop
    assert rest.requests[2].at - rest.requests[1].at >= 0.3  # Retry-After honoured
    assert con.execute("SELECT min(trade_id), max(trade_id) FROM trades").fetchone() == (1500, 2500)


def test_api_errors_are_raised_with_code_and_message(rest: FakeBackpackRest) -> None:
    with BackpackRest(rest.url, max_retries=1, backoff_initial=0.01) as client:
        with pytest.raises(BackpackApiError) as info:
            client.trades_history("NOPE_USDC")
        assert (info.value.status, info.value.code, info.value.message) == (
            400,
            "INVALID_CLIENT_REQUEST",
            "Invalid market symbol",
        )
        rest.fail_next(2, status=503)
        with pytest.raises(BackpackApiError) as gave_up:
            client.server_time_ms()
        assert gave_up.value.status == 503


def test_klines_backfill_converts_times_and_skips_empty_open_and_stored(
    rest: FakeBackpackRest, con: duckdb.DuckDBPyConnection
) -> None:
    rows = klines(T0_S, 60)
    rows[12] = rest_kline(T0_S + 12 * 60, "1m", None, None, None, None, "0", "0", trades=0)
    now_s = int(time.time()) // 60 * 60
    rest.add_klines("SOL_USDC", "1m", [*rows, *klines(now_s, 1)])  # the last one is open
    assert parse_kline_time("2025-07-19 13:09:00") == 1_752_930_540_000_000
    with BackpackRest(rest.url) as client:
        n = backfill_klines(con, client, "SOL_USDC", "1m", "2025-07-19 13:09", "2025-07-19 13:30")
        assert n == 21 - 1
        assert (
            backfill_klines(con, client, "SOL_USDC", "1m", "2025-07-19 13:00", "2025-07-19 14:00")
            == 60 - 1 - 20
        )
        assert backfill_klines(con, client, "SOL_USDC", "1m", (now_s - 60) * 1_000_000) == 0
    first = con.execute("SELECT * FROM klines ORDER BY start_us LIMIT 1").fetchone()
    assert first == (
        "SOL_USDC",
        "1m",
        T0_S * 1_000_000,
        (T0_S + 60) * 1_000_000,
        Decimal("176.10"),
        Decimal("176.90"),
        Decimal("175.95"),
        Decimal("176.50"),
        Decimal("1.25"),
        2,
        "backfill",
    )
    starts = [r[0] for r in con.execute("SELECT start_us FROM klines ORDER BY 1").fetchall()]
    assert len(starts) == len(set(starts)) == 59 and (T0_S + 720) * 1_000_000 not in starts


def test_klines_backfill_pages_by_a_thousand_intervals(
    rest: FakeBackpackRest, con: duckdb.DuckDBPyConnection
) -> None:
    rest.add_klines("BTC_USDC", "1s", klines(T0_S, 2500, "1s", 1))
    with BackpackRest(rest.url, max_rate=50) as client:
        assert (
            backfill_klines(
                con, client, "BTC_USDC", "1s", T0_S * 1_000_000, (T0_S + 2500) * 1_000_000
            )
            == 2500
        )
    starts = [int(r.params["startTime"]) for r in rest.requests]
    assert starts == [T0_S, T0_S + 1000, T0_S + 2000]


def test_backfill_command(
    rest: FakeBackpackRest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rest.add_trades("ETH_USDC", trades(30))
    rest.add_klines("ETH_USDC", "1m", klines(T0_S, 5))
    db = tmp_path / "cli.duckdb"
    argv = [
        "backfill-backpack",
        "--symbols",
        "ETH_USDC",
        "--trades",
        "--klines",
        "1m",
        "--since",
        "2025-07-19 13:00",
        "--until",
        "2025-07-19T14:00:00",
        "--db",
        str(db),
        "--api-url",
        rest.url,
    ]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    assert (
        capsys.readouterr().out == "ETH_USDC klines 1m: 5 inserted\nETH_USDC trades: 30 inserted\n"
    )
    with pytest.raises(SystemExit) as bad:
        main(
            [
                "backfill-backpack",
                "--symbols",
                "NOPE_USDC",
                "--trades",
                "--db",
                str(db),
                "--api-url",
                rest.url,
            ]
        )
    assert bad.value.code == 1
    assert "Invalid market symbol" in capsys.readouterr().err
