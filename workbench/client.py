"""A small synchronous client of `workbench serve`, for notebooks and scripts.

    from workbench.client import Client
    with Client("http://127.0.0.1:8000") as c:
        c.register("me@example.com", "correct horse 1")
        order = c.open("BTC_USDC", "long", 10, margin="100")
        c.positions()  # a polars DataFrame

Money, prices and sizes are exact: send them as int, str or Decimal (a float is refused
with TypeError); they come back as `Decimal` (in dicts) or `pl.Decimal` columns (in
DataFrames), times as UTC datetimes. A refused request raises `ApiError` with the
server's message; an unreachable server raises `ConnectionError` naming the URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import polars as pl
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

Number = int | str | Decimal
Time = datetime | str | int | float

UTC_US = pl.Datetime("us", "UTC")
S = pl.String
#: Columns and their kind: a polars dtype, or an int for exact decimals at that scale (the
#: engine's: 8 for prices and sizes, 16 for money), widened if a value has more decimals.
ORDER = {"id": S, "userId": S, "asset": S, "side": S, "qty": 8, "margin": 16, "leverage": 8,
         "openingPrice": 8, "closingPrice": 8, "status": S, "takeProfit": 8, "stopLoss": 8,
         "pnl": 16, "closeReason": S, "openedAt": UTC_US, "closedAt": UTC_US, "fee": 16,
         "upnl": 16, "liquidationPrice": 8, "swap": 16}  # fmt: skip
PRICE = {"symbol": S, "bid": 8, "ask": 8, "t": UTC_US, "age_s": pl.Float64}
CANDLE = {"bucket": UTC_US, "symbol": S, "open": 8, "high": 8, "low": 8, "close": 8,
          "volume": 8, "trades": pl.Int64, "quotes": pl.Int64, "partial": pl.Boolean}  # fmt: skip
BALANCE_DECIMALS = ("balance", "equity", "used_margin", "free_margin", "margin_level")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ApiError(Exception):
    """The server refused a request: HTTP `status`, a `reason` code and its `message`."""

    def __init__(self, status: int, reason: str, message: str, detail: Any = None) -> None:
        super().__init__(status, reason, message)
        self.status, self.reason, self.message, self.detail = status, reason, message, detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def number(value: Number, what: str) -> str:
    """Exact decimal text of an int, str or Decimal; a float (or bool) is a TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        kind = "the float" if isinstance(value, float) else "a"
        raise TypeError(
            f'{what} must be an int, a decimal string such as "61837.63" or a Decimal, not '
            f"{kind} {type(value).__name__} {value!r}: money is exact"
        )
    return value.strip() if isinstance(value, str) else format(Decimal(value), "f")


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v)


def to_order(raw: dict[str, Any]) -> dict[str, Any]:
    """A server order with Decimal money/prices and UTC datetimes."""
    out = dict(raw)
    for k, kind in ORDER.items():
        v = out.get(k)
        if isinstance(kind, int):
            out[k] = _dec(v)
        elif kind == UTC_US:
            out[k] = None if v is None else datetime.fromisoformat(v).astimezone(UTC)
    return out


def frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """Rows as a DataFrame of `schema` (see ORDER); exact decimals are never rounded."""
    cols = []
    for name, kind in schema.items():
        values = [r.get(name) for r in rows]
        if isinstance(kind, int):
            values = [_dec(v) for v in values]
            exps = [v.as_tuple().exponent for v in values if v is not None]
            kind = pl.Decimal(38, max([kind, *(-e for e in exps if isinstance(e, int))]))
        cols.append(pl.Series(name, values, dtype=kind))
    return pl.DataFrame(cols)


def from_us(t: int | None) -> datetime | None:
    return None if t is None else EPOCH + timedelta(microseconds=t)


def epoch_seconds(t: Time) -> int:
    """Seconds since the epoch of a datetime (naive = UTC), an ISO string or a number."""
    if isinstance(t, (int, float)):
        return int(t)
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp())


class Client:
    """A session with one server; `with Client(...) as c:` closes its connections."""

    def __init__(
        self, base_url: str = "http://127.0.0.1:8000", *, token: str | None = None,
        timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def disconnect(self) -> None:
        """Close the HTTP connections (the token stays valid on the server)."""
        self._http.close()

    # ------------------------------------------------------------------ plumbing
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self._http.request(method, path, headers=self._headers(), **kw)
        except httpx.ConnectError as e:
            raise ConnectionError(
                f"cannot reach the workbench server at {self.base_url} ({e}): is it running? "
                "Start it with `make run`."
            ) from e
        self._http.cookies.clear()  # the token is the one credential this client sends
        if r.is_success:
            return r.json()
        try:
            body = r.json()
            reason, message, detail = str(body["reason"]), str(body["error"]), body.get("detail")
        except (ValueError, KeyError, TypeError):
            reason, message, detail = f"http_{r.status_code}", r.text[:500], None
        raise ApiError(r.status_code, reason, message, detail)

    # ---------------------------------------------------------------------- auth
    def register(
        self, email: str, password: str, name: str | None = None, margin_mode: str = "isolated"
    ) -> dict[str, Any]:
        """Create a user with a paper account and log in as it; returns the user."""
        body = {"email": email, "password": password, "margin_mode": margin_mode,
                "name": name or email.split("@")[0]}  # fmt: skip
        return self._auth("/auth/register", body)

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Log in; the token is kept for later calls. Returns the user."""
        return self._auth("/auth/login", {"email": email, "password": password})

    def _auth(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        out = self._call("POST", path, json=body)
        self.token = out["token"]
        return dict(out["user"])

    def logout(self) -> None:
        """Revoke the token on the server and forget it."""
        self._call("POST", "/auth/logout")
        self.token = None

    def me(self) -> dict[str, Any]:
        """The logged-in user (id, email, name) and its `margin_mode`."""
        out = self._call("GET", "/auth/me")
        return {**out["user"], "margin_mode": out.get("margin_mode")}

    # --------------------------------------------------------------------- trade
    def open(
        self, asset: str, side: str, leverage: Number, *, margin: Number | None = None,
        qty: Number | None = None, take_profit: Number | None = None,
        stop_loss: Number | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Open a position with `margin` (USD) or `qty` (base units); returns the order."""
        body: dict[str, Any] = {"asset": asset, "side": side,
                                "leverage": number(leverage, "leverage")}  # fmt: skip
        for key, what, value in (("margin", "margin", margin), ("qty", "qty", qty),
                                 ("takeProfit", "take_profit", take_profit),
                                 ("stopLoss", "stop_loss", stop_loss)):  # fmt: skip
            if value is not None:
                body[key] = number(value, what)
        return to_order(self._call("POST", "/trade/create", json=body)["order"])

    def close(self, order_id: str) -> dict[str, Any]:
        """Close an open order at the server's price; returns the closed order."""
        return to_order(self._call("POST", f"/trade/close/{order_id}")["order"])

    def order(self, order_id: str) -> dict[str, Any]:
        """One of your orders, open or closed."""
        return to_order(self._call("GET", f"/trade/orders/{order_id}")["order"])

    def orders(self, status: str | None = None) -> pl.DataFrame:
        """Your orders ("open", "closed" or both), newest first, one row each."""
        params = {"status": status} if status else None
        rows = self._call("GET", "/trade/orders", params=params)["orders"]
        return frame([to_order(o) for o in rows], ORDER)

    def positions(self) -> pl.DataFrame:
        """The open orders (with live `upnl` and `liquidationPrice`)."""
        return self.orders("open")

    # ------------------------------------------------------------------- balance
    def balance(self) -> dict[str, Any]:
        """Balance, equity, used/free margin and margin level (Decimal), mode, open count."""
        return self._balance(self._call("GET", "/balance"))

    def deposit(self, amount: Number) -> dict[str, Any]:
        """Add paper USD; returns the new balance()."""
        body = {"amount": number(amount, "amount")}
        return self._balance(self._call("POST", "/balance/deposit", json=body))

    def reset(self, margin_mode: str | None = None) -> dict[str, Any]:
        """Close everything, restore the demo balance, optionally switch margin mode."""
        body = {"margin_mode": margin_mode} if margin_mode else {}
        return self._balance(self._call("POST", "/balance/reset", json=body))

    @staticmethod
    def _balance(raw: dict[str, Any]) -> dict[str, Any]:
        return {**raw, **{k: _dec(raw.get(k)) for k in BALANCE_DECIMALS}}

    # -------------------------------------------------------------------- market
    def prices(self) -> pl.DataFrame:
        """The last bid/ask of every instrument, its time `t` and age in seconds."""
        rows = self._call("GET", "/prices")["prices"]
        return frame([{**r, "t": from_us(r["t"])} for r in rows], PRICE)

    def candles(
        self, asset: str, interval: str = "1m", start: Time | None = None, end: Time | None = None
    ) -> pl.DataFrame:
        """OHLC candles of the mid price from the server's recorded ticks, oldest first;
        `bucket` is the candle's start. Empty (with these columns) when nothing is recorded."""
        params: dict[str, Any] = {"asset": asset, "ts": interval}
        if start is not None:
            params["startTime"] = epoch_seconds(start)
        if end is not None:
            params["endTime"] = epoch_seconds(end)
        rows = self._call("GET", "/candles", params=params)["data"]
        return frame([{**r, "bucket": from_us(r["bucket"] * 1_000_000)} for r in rows], CANDLE)

    def health(self) -> dict[str, Any]:
        """The server's health: feed state, engine and database figures."""
        return dict(self._call("GET", "/health"))

    # -------------------------------------------------------------------- stream
    def stream(
        self, symbols: Iterable[str] = ("BTC_USDC",), *, events: bool = True,
        timeout: float | None = None,
    ) -> Stream:  # fmt: skip
        """Quotes of `symbols` and (with `events` and a token) your own engine events, over
        the WebSocket. Returns once the subscription is acknowledged; see `Stream`."""
        return Stream(self, list(symbols), events=events, timeout=timeout)


class Stream:
    """An open, subscribed /ws socket. Iterate it for the server's messages as dicts (numbers
    stay decimal strings): `{"type": "quote", "symbol", "bid", "ask", "t"}` and your own
    events ("opened", "closed", "margin_call", "deposit", "reset", "rejected", ...).
    Use it as `with client.stream() as s:` or call `close()`. Iteration ends when the server
    closes normally; an abnormal close (1013: a client too slow to read) raises
    `websockets.ConnectionClosedError`. `timeout`: the most seconds to wait for one message
    (TimeoutError past it); None waits for ever. An unknown symbol is a ValueError."""

    def __init__(self, client: Client, symbols: list[str], *, events: bool,
                 timeout: float | None) -> None:  # fmt: skip
        self.timeout = timeout
        url = "ws" + client.base_url.removeprefix("http") + "/ws"
        headers = {"Authorization": f"Bearer {client.token}"} if events and client.token else {}
        try:
            self._ws: ClientConnection = connect(
                url, additional_headers=headers, open_timeout=client.timeout, legacy=True
            )
        except InvalidStatus as e:
            code = e.response.status_code
            why = "is the token valid? log in again" if headers else "is it a workbench server?"
            raise ApiError(code, "unauthorized" if code == 403 else f"http_{code}",
                           f"the server refused the WebSocket {url}: {why}") from None  # fmt: skip
        except OSError as e:
            raise ConnectionError(
                f"cannot reach the workbench WebSocket at {url} ({e}): is the server running? "
                "Start it with `make run`."
            ) from e
        self.early: list[dict[str, Any]] = []  # events that came before the acknowledgement
        try:
            self.welcome = self._recv(client.timeout)
            self.symbols: list[str] = self._subscribe(symbols, client.timeout)
        except ConnectionClosed as e:  # a bad token: closed with 1008 and the reason
            self.close()
            if e.rcvd is None or e.rcvd.code != 1008:
                raise
            raise ApiError(401, "unauthorized", f"the server closed the WebSocket {url}: "
                           f"{e.rcvd.reason} (log in again)") from None  # fmt: skip
        except BaseException:
            self.close()
            raise

    def _recv(self, timeout: float | None) -> dict[str, Any]:
        return dict(json.loads(self._ws.recv(timeout)))

    def _subscribe(self, symbols: list[str], timeout: float) -> list[str]:
        self._ws.send(json.dumps({"subscribe": symbols}))
        while True:
            msg = self._recv(timeout)
            if msg.get("type") == "error":
                raise ValueError(f"/ws refused the subscription: {msg.get('error')}")
            if msg.get("type") == "subscribed":
                return list(msg["symbols"])
            self.early.append(msg)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while self.early:
            yield self.early.pop(0)
        while True:
            try:
                text = self._ws.recv(self.timeout)
            except ConnectionClosedOK:
                return
            yield json.loads(text)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket."""
        self._ws.close()
