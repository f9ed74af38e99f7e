"""The lean path of open and close (server/fastlane.py) answers exactly as the routes do.

Each call is made twice on one real server: as an API client makes it (Bearer token, no
Origin: the lean path) and with the server's own Origin added (the full FastAPI path).
Answers are compared word for word (ids and times aside), refusals included, and
`/health` counts the calls the lean path answered itself."""

from __future__ import annotations

from typing import Any

import httpx
from server_helpers import Market, Server, bearer, register, wait_price

OPEN = {"asset": "BTC", "side": "long", "leverage": "10", "qty": "0.001"}
VARYING = ("id", "orderId", "openedAt", "closedAt")


def _lane(server: Server) -> int:
    return int(httpx.get(server.url + "/health", timeout=30).json()["api"]["fast_lane"])


def _same(a: Any) -> Any:
    """An answer without what differs between two orders (ids, times)."""
    if isinstance(a, dict):
        return {k: _same(v) for k, v in a.items() if k not in VARYING}
    return a


def test_the_lean_path_answers_as_the_routes(server: Server, market: Market) -> None:
    with server.client() as c:
        token = register(c, "lane@example.com")
        wait_price(c, "BTC_USDC", "60000")
    lean = httpx.Client(base_url=server.url, timeout=30, headers=bearer(token))
    full = httpx.Client(base_url=server.url, timeout=30,
                        headers={**bearer(token), "Origin": server.url})  # fmt: skip
    calls: list[tuple[str, dict[str, Any] | str | None, dict[str, str], bool]] = [
        ("/trade/create", "{not json", {}, False),  # 422 from the route's parser
        ("/trade/create", {**OPEN, "side": "up", "leverage": "ten"}, {}, False),  # 422 fields
        ("/trade/create", {**OPEN, "asset": "DOGE"}, {}, True),  # 422 from the call
        ("/trade/create", {**OPEN, "qty": "1000"}, {}, True),  # 400 insufficient_margin
        ("/trade/open", {**OPEN, "leverage": "1000"}, {}, True),  # 422 the engine's reason
        ("/trade/close/nope", None, {}, True),  # 404
        ("/trade/create", OPEN, {"Authorization": "Bearer nonsense"}, False),  # 401
    ]
    before = _lane(server)
    answered = 0
    with lean, full:
        for path, body, extra, taken in calls:
            kw: dict[str, Any] = {"headers": extra}
            if isinstance(body, str):
                kw.update(content=body, headers={**extra, "Content-Type": "application/json"})
            elif body is not None:
                kw["json"] = body
            a, b = lean.post(path, **kw), full.post(path, **kw)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), (path, body)
            assert a.status_code >= 400 and a.json()["error"]
            answered += taken
        opened = [client.post("/trade/create", json=OPEN) for client in (lean, full)]
        assert [r.status_code for r in opened] == [201, 201]
        assert _same(opened[0].json()) == _same(opened[1].json())
        ids = [r.json()["orderId"] for r in opened]
        closed = [lean.post(f"/trade/close/{ids[0]}"), full.post(f"/trade/close/{ids[1]}")]
        assert [r.status_code for r in closed] == [200, 200]
        assert _same(closed[0].json()) == _same(closed[1].json())
        assert closed[0].json()["order"]["status"] == "closed"
        answered += 2
        part = lean.post("/trade/create", json={**OPEN, "qty": "0.002"}).json()["orderId"]
        halved = lean.post(f"/trade/close/{part}", json={"qty": "0.001"})  # the route's
        assert halved.status_code == 200 and halved.json()["reduced"]["qty"] == "0.001"
        answered += 1
        for header in ("x-frame-options", "x-content-type-options", "content-security-policy"):
            assert header in closed[0].headers
    assert _lane(server) - before == answered
