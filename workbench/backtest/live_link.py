"""The live runner's two lines to a `workbench serve`: REST calls and the /ws socket.

`Rest` is the library's `Client` with raw JSON answers and a login it can renew. `Socket`
reads /ws in a thread of its own (so the server never sees a slow reader while a strategy
hook runs) and puts what it reads on a queue: `("up", welcome)` each time it is connected
and subscribed, then `("msg", message, perf_counter())` for every quote and event,
`("down", why)` when the socket drops (it reconnects with backoff and says "up" again),
and `("fatal", why)` when the server refuses the token and no password can renew it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from ..client import ApiError, Client

log = logging.getLogger("workbench.live")
FIRST_DELAY = 0.05  # seconds before the first reconnect; doubles up to MAX_DELAY
MAX_DELAY = 2.0


class Rest(Client):
    """`Client` with raw JSON answers (decimal text kept as the server wrote it)."""

    def __init__(
        self, url: str, *, token: str | None = None, email: str | None = None,
        password: str | None = None, timeout: float = 10.0,
    ) -> None:  # fmt: skip
        super().__init__(url, token=token, timeout=timeout)
        if token is None and (email is None or password is None):
            raise ValueError("give token=, or email= and password=, of the account to trade")
        self.email, self.password = email, password
        if token is None:
            self.login(email, password)  # type: ignore[arg-type]

    def raw(self, method: str, path: str, **kw: Any) -> Any:
        """One call; the server's JSON as it is (raises ApiError, ConnectionError, httpx
        transport errors)."""
        return self._call(method, path, **kw)

    def renew(self) -> bool:
        """Log in again (after a 401); False when there is no password to do it with."""
        if self.email is None or self.password is None:
            return False
        self.login(self.email, self.password)
        return True

    def get(self, path: str, **kw: Any) -> Any:
        """A read, logging in again once if the token was refused."""
        try:
            return self.raw("GET", path, **kw)
        except ApiError as e:
            if e.status != 401 or not self.renew():
                raise
            return self.raw("GET", path, **kw)

    def find(self, path: str) -> dict[str, Any] | None:
        """`{order}` of a one-order route, or None for its 404."""
        try:
            return dict(self.get(path)["order"])
        except ApiError as e:
            if e.status == 404:
                return None
            raise


def ws_url(base_url: str) -> str:
    return "ws" + base_url.rstrip("/").removeprefix("http") + "/ws"


class Socket(threading.Thread):
    """/ws with the account's token, subscribed to `symbols`, read into `out`."""

    def __init__(self, rest: Rest, symbols: list[str], out: queue.Queue[tuple[str, Any]]) -> None:
        super().__init__(name="workbench-live-ws", daemon=True)
        self.rest = rest
        self.symbols = symbols
        self.out = out
        self.stopping = threading.Event()
        self.url = ws_url(rest.base_url)
        self.connections = 0
        self.up = False

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        delay = FIRST_DELAY
        while not self.stopping.is_set():
            try:
                if self._session():
                    delay = FIRST_DELAY
            except _Fatal as e:
                self.out.put(("fatal", str(e)))
                return
            except Exception as e:  # noqa: BLE001 - any failure of a socket: reconnect
                self._down(f"{type(e).__name__}: {e}")
            if self.stopping.wait(delay):
                return
            delay = min(delay * 2, MAX_DELAY)

    def _session(self) -> bool:
        """One connection until it drops; True if it got as far as subscribing."""
        headers = {"Authorization": f"Bearer {self.rest.token}"}
        try:
            ws = connect(self.url, additional_headers=headers, open_timeout=5, close_timeout=1)
        except InvalidStatus as e:
            code = e.response.status_code
            raise ConnectionError(f"the server refused the socket: {code}") from None
        subscribed = False
        with ws:
            try:
                welcome = json.loads(ws.recv(5))
                ws.send(json.dumps({"subscribe": self.symbols}))
                early = []
                while True:
                    msg = json.loads(ws.recv(5))
                    if msg.get("type") == "error":
                        raise _Fatal(f"/ws refused the subscription: {msg.get('error')}")
                    if msg.get("type") == "subscribed":
                        break
                    early.append(msg)
                self.connections += 1
                subscribed = self.up = True
                self.out.put(("up", welcome))
                for msg in early:
                    self.out.put(("msg", msg))
                while not self.stopping.is_set():
                    try:
                        text = ws.recv(0.25)
                    except TimeoutError:
                        continue
                    self.out.put(("msg", json.loads(text), time.perf_counter()))
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd is not None else None
                why = e.rcvd.reason if e.rcvd is not None else "no close frame"
                if code == 1008 and not self._renew(why):  # a token refused, logged out...
                    raise _Fatal(f"the server closed the socket: {why}") from None
                self._down(f"socket closed ({code}: {why})")
        self._down("socket closed")
        return subscribed

    def _down(self, why: str) -> None:
        if self.up:
            self.up = False
            self.out.put(("down", why))

    def _renew(self, why: str) -> bool:
        try:
            return self.rest.renew()
        except (ApiError, ConnectionError) as e:
            log.warning("cannot log in again after %r: %s", why, e)
            return False


class _Fatal(Exception):
    """The socket cannot go on (a refused token with no password, a refused symbol)."""
