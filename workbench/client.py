"""A small synchronous client of `workbench serve`, for notebooks and scripts.

    from workbench.client import Client
    with Client("http://127.0.0.1:8000") as c:
        c.register("me@example.com", "correct horse 1")
        order = c.open("BTC_USDC", "long", 10, margin="100")
        c.positions()  # a polars DataFrame
        limit = c.place_order("BTC", "long", "limit", price="59000", leverage=10, margin=100)
        c.modify(limit["id"], stop_loss="58000")  # or None to remove it; others unchanged

Money, prices and sizes are exact: send them as int, str or Decimal (a float is refused
with TypeError); they come back as `Decimal` (in dicts) or `pl.Decimal` columns (in
DataFrames), times as UTC datetimes. A refused request raises `ApiError` with the
server's message; an unreachable server raises `ConnectionError` naming the URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import polars as pl
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from .client_shapes import (
    BALANCE_DECIMALS,
    CANDLE,
    ORDER,
    PENDING,
    PRICE,
    REDUCTION,
    Number,
    Time,
    dec,
    epoch_seconds,
    expiry,
    frame,
    from_us,
    number,
    to_order,
    typed,
)


class _Unchanged:
    """The default of `Client.modify`: leave this field as it is (None removes it)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


class ApiError(Exception):
    """The server refused a request: HTTP `status`, a `reason` code and its `message`."""

    def __init__(self, status: int, reason: str, message: str, detail: Any = None) -> None:
        super().__init__(status, reason, message)
        self.status, self.reason, self.message, self.detail = status, reason, message, detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


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
        stop_loss: Number | None = None, trailing_stop: Number | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Open a position with `margin` (USD) or `qty` (base units); returns the order.
        `trailing_stop` is a price distance the stop keeps behind the best price."""
        return self.place_order(asset, side, "market", leverage=leverage, margin=margin,
                                qty=qty, take_profit=take_profit, stop_loss=stop_loss,
                                trailing_stop=trailing_stop)  # fmt: skip

    def place_order(
        self, asset: str, side: str, type: str = "market", price: Number | None = None, *,
        leverage: Number, margin: Number | None = None, qty: Number | None = None,
        take_profit: Number | None = None, stop_loss: Number | None = None,
        trailing_stop: Number | None = None, expires: Time | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A market order (an open position at once), or a pending `limit` / `stop` order
        at `price` (status "pending"), which `expires` (a datetime, ISO text or epoch
        seconds) cancels if it has not filled by then. Returns the order."""
        body: dict[str, Any] = {"asset": asset, "side": side, "type": type,
                                "leverage": number(leverage, "leverage")}  # fmt: skip
        for key, what, value in (("price", "price", price), ("margin", "margin", margin),
                                 ("qty", "qty", qty), ("takeProfit", "take_profit", take_profit),
                                 ("stopLoss", "stop_loss", stop_loss),
                                 ("trailingStop", "trailing_stop", trailing_stop)):  # fmt: skip
            if value is not None:
                body[key] = number(value, what)
        if expires is not None:
            body["expiresAt"] = expiry(expires)
        return to_order(self._call("POST", "/trade/orders", json=body)["order"])

    def close(self, order_id: str, qty: Number | None = None) -> dict[str, Any]:
        """Close an open order at the server's price, all of it or `qty` of it. Returns the
        closed order; after a partial close, the order still open with the part's figures
        under `reduced` (qty, price, pnl, fee, balance, remainingQty, at)."""
        body = None if qty is None else {"qty": number(qty, "qty")}
        out = self._call("POST", f"/trade/close/{order_id}", json=body)
        order = to_order(out["order"])
        if out.get("reduced"):
            order["reduced"] = typed(out["reduced"], REDUCTION)
        return order

    def pending(self) -> pl.DataFrame:
        """Your orders waiting to fill, in the order they were placed, one row each."""
        rows = self._call("GET", "/trade/pending")["orders"]
        return frame([to_order(o) for o in rows], PENDING)

    def cancel(self, order_id: str) -> dict[str, Any]:
        """Cancel a waiting order; returns it with status "cancelled"."""
        return to_order(self._call("DELETE", f"/trade/pending/{order_id}")["order"])

    def modify(
        self, order_id: str, *, take_profit: Number | None = UNCHANGED,
        stop_loss: Number | None = UNCHANGED, trailing_stop: Number | None = UNCHANGED,
        price: Number | None = UNCHANGED, expires: Time | None = UNCHANGED,
    ) -> dict[str, Any]:  # fmt: skip
        """Change an open order's TP, SL or trailing stop, or a pending order's (and its
        price and expiry). A field left out stays as it is; None removes it. Returns the
        order after the change."""
        body: dict[str, Any] = {}
        for key, what, value in (("takeProfit", "take_profit", take_profit),
                                 ("stopLoss", "stop_loss", stop_loss),
                                 ("trailingStop", "trailing_stop", trailing_stop),
                                 ("price", "price", price)):  # fmt: skip
            if value is not UNCHANGED:
                body[key] = None if value is None else number(value, what)
        if expires is not UNCHANGED:
            body["expiresAt"] = None if expires is None else expiry(expires)
        return to_order(self._call("PATCH", f"/trade/orders/{order_id}", json=body)["order"])

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
        return {**raw, **{k: dec(raw.get(k)) for k in BALANCE_DECIMALS}}

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
    events ("opened", "closed", "margin_call", "deposit", "reset", "rejected",
    "order_placed", "order_cancelled", "modified", "reduced", ...).
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
