"""Dashboard sessions bound to the browser that opened them, bad session tokens refused
with 403 (never a 500 and a traceback), and the security headers of every response.
Over HTTP and real websockets; the same in Chromium: test_dashboard_security_browser.py."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
from bokeh.util.token import generate_jwt_token, generate_session_id
from server_helpers import Server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from server.auth import load_secret
from server.dashboard import session_key
from server.dashboard.sessions import COOKIE, PAYLOAD_KEY, browser_mac

PAGES = ("/dashboard", "/dashboard/replay")
JSON = {"content-type": "application/json"}


def _page(server: Server, path: str = "/dashboard", cookie: str | None = None) -> tuple[str, str]:
    """(session token, browser cookie) of a fresh page, as a browser would get them."""
    cookies = {COOKIE: cookie} if cookie else None
    r = httpx.get(server.url + path, cookies=cookies, timeout=30)
    assert r.status_code == 200, r.text
    m = re.search(r'"token":\s*"([^"]+)"', r.text)
    assert m, "no session token in the page"
    return m.group(1), cookie or r.cookies.get(COOKIE, "")


def _open(server: Server, token: str, cookie: str | None, path: str = "/dashboard") -> int:
    """The HTTP status of the socket's upgrade (101 when Bokeh ACKs it)."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else {}
    url = server.url.replace("http://", "ws://") + path + "/ws"
    try:
        with connect(url, subprotocols=["bokeh", token],  # type: ignore[list-item]
                     origin=server.url, additional_headers=headers,  # type: ignore[arg-type]
                     open_timeout=10) as ws:  # fmt: skip
            assert '"msgtype":"ACK"' in str(ws.recv(timeout=10)).replace(" ", "")
            return 101
    except InvalidStatus as e:
        return e.response.status_code


@pytest.mark.parametrize("path", PAGES)
def test_a_session_opens_only_from_the_browser_that_loaded_its_page(
    server: Server, path: str
) -> None:
    token, mine = _page(server, path)
    _, theirs = _page(server, path)
    assert _open(server, token, None, path) == 403  # no cookie: curl, another machine
    assert mine and theirs and theirs != mine
    assert _open(server, token, theirs, path) == 403  # another browser's cookie
    assert _open(server, token, "x" * 43, path) == 403
    assert _open(server, token, mine, path) == 101
    # the browser keeps its cookie: its next page is bound to the same one
    again, same = _page(server, path, cookie=mine)
    assert same == mine and _open(server, again, mine, path) == 101


def test_the_browser_cookie_stays_out_of_the_page(server: Server) -> None:
    r = httpx.get(server.url + "/dashboard", timeout=30)
    cookie = r.cookies[COOKIE]
    set_cookie = r.headers["set-cookie"]
    for attr in ("HttpOnly", "SameSite=Lax", "Path=/dashboard"):
        assert attr in set_cookie
    assert r.headers["cache-control"] == "no-store"
    assert cookie not in r.text  # only its HMAC is in the page's session token
    again = httpx.get(server.url + "/dashboard", cookies={COOKIE: cookie}, timeout=30)
    assert "set-cookie" not in again.headers and cookie not in again.text


def _b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_tokens(server: Server) -> dict[str, tuple[list[str], str]]:
    """Subprotocols a socket may offer, none of them a session of this browser's."""
    key = session_key(load_secret(server.data_dir))
    token, cookie = _page(server)
    body, signature = token.split(".", 1)
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    tampered = _b64(json.dumps({**claims, "session_expiry": claims["session_expiry"] + 3600}))
    sid = generate_session_id(secret_key=key, signed=True)
    binding = {PAYLOAD_KEY: {"browser": browser_mac(key, cookie), "peer": "127.0.0.1"}}
    other = b"k" * 64
    forged = generate_jwt_token(generate_session_id(secret_key=other, signed=True),
                                secret_key=other, signed=True, extra_payload=binding)  # fmt: skip
    expired = generate_jwt_token(sid, secret_key=key, signed=True, extra_payload=binding,
                                 expiration=-5)  # fmt: skip
    unbound = generate_jwt_token(sid, secret_key=key, signed=True)
    return {
        "garbage": (["bokeh", "!!!not-base64!!!"], cookie),
        "base64 junk": (["bokeh", _b64(b"\x00\xff junk \x80")], cookie),
        "not JSON": (["bokeh", _b64("not json") + "." + signature], cookie),
        "JSON, not an object": (["bokeh", _b64("[1, 2]") + "." + signature], cookie),
        "no signature": (["bokeh", body], cookie),
        "wrong signature": (["bokeh", body + "." + _b64(b"x" * 32)], cookie),
        "tampered payload": (["bokeh", tampered + "." + signature], cookie),
        "forged with another key": (["bokeh", forged], cookie),
        "expired": (["bokeh", expired], cookie),
        "signed, bound to no browser": (["bokeh", unbound], cookie),
        "no token": (["bokeh"], cookie),
        "three protocols": (["bokeh", token, "extra"], cookie),
        "not bokeh": (["chat", token], cookie),
    }


@pytest.mark.parametrize("path", PAGES)
def test_bad_session_tokens_are_refused_with_403_not_500(server: Server, path: str) -> None:
    url = server.url.replace("http://", "ws://") + path + "/ws"
    before = len(server.output())
    for name, (protocols, cookie) in _bad_tokens(server).items():
        with pytest.raises(InvalidStatus) as refused:
            connect(url, subprotocols=protocols,  # type: ignore[arg-type]
                    origin=server.url, additional_headers={"Cookie": f"{COOKIE}={cookie}"},
                    open_timeout=10)  # fmt: skip
        assert refused.value.response.status_code == 403, name
    log = server.output()[before:]
    assert "Traceback" not in log and " 500" not in log, log[-3000:]
    assert "refused a dashboard WebSocket" in log


def _policy(r: httpx.Response) -> dict[str, str]:
    out = {}
    for part in r.headers["content-security-policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        out[name] = value
    return out


def test_every_response_forbids_framing_and_sniffing(server: Server) -> None:
    with server.client() as c:
        responses = {
            "page": c.get("/dashboard"), "replay": c.get("/dashboard/replay"),
            "health": c.get("/health"), "openapi": c.get("/openapi.json"),
            "script": c.get("/static/js/bokeh.min.js"), "missing": c.get("/no/such/path"),
            "refused": c.get("/dashboard", params={"bokeh_session_id": "x"}),
            "bad json": c.post("/auth/login", content=b"{", headers=JSON),
            "docs": c.get("/docs"),
        }  # fmt: skip
    assert responses["refused"].status_code == 403
    for name, r in responses.items():
        assert r.headers.get("x-frame-options") == "DENY", name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert _policy(r)["frame-ancestors"] == "'none'", name
    for name in ("page", "replay", "health", "missing", "refused"):
        policy = _policy(responses[name])
        assert policy["default-src"] == "'self'" and policy["connect-src"] == "'self'", name
        assert policy["object-src"] == "'none'" and "https:" not in str(policy), name
    # Swagger UI comes from a CDN: /docs only forbids framing
    assert _policy(responses["docs"]) == {"frame-ancestors": "'none'"}
