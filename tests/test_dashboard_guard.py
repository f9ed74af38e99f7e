"""The holes of bokeh-fastapi, closed: foreign Origins, session ids named in a link, leaked
sessions, and the root `/static` mount kept clear of the server's own paths.
(Sessions bound to their browser, bad tokens and the headers: test_dashboard_security.py.)"""

from __future__ import annotations

import contextlib
import re
import time

import httpx
import pytest
from bokeh.util.token import generate_session_id
from server_helpers import Server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from server.auth import load_secret
from server.dashboard import session_key
from server.dashboard.guard import OriginGuard
from server.dashboard.sessions import COOKIE


def _page_token(server: Server) -> tuple[str, dict[str, str]]:
    """A fresh page's session token, and the browser cookie its socket must bring."""
    r = httpx.get(server.url + "/dashboard", timeout=30)
    m = re.search(r'"token":\s*"([^"]+)"', r.text)
    assert m, "no session token in the page"
    return m.group(1), {"Cookie": f"{COOKIE}={r.cookies[COOKIE]}"}


def _ws_url(server: Server, path: str = "/dashboard/ws") -> str:
    return server.url.replace("http://", "ws://") + path


def test_a_foreign_origin_is_refused_before_the_socket_opens(server: Server) -> None:
    token, cookie = _page_token(server)
    with pytest.raises(InvalidStatus) as refused:
        connect(_ws_url(server), subprotocols=["bokeh", token],  # type: ignore[list-item]
                origin="https://evil.example", additional_headers=cookie,  # type: ignore[arg-type]
                open_timeout=10)  # fmt: skip
    assert refused.value.response.status_code == 403
    # the same page's own origin gets the Bokeh ACK
    with connect(_ws_url(server), subprotocols=["bokeh", token],  # type: ignore[list-item]
                 origin=server.url, additional_headers=cookie,  # type: ignore[arg-type]
                 open_timeout=10) as ws:  # fmt: skip
        header = ws.recv(timeout=10)
        assert '"msgtype":"ACK"' in str(header).replace(" ", "")
    # the API's socket (which honours the login cookie) is guarded the same way
    with pytest.raises(InvalidStatus) as refused_api:
        connect(_ws_url(server, "/ws"), origin="https://evil.example",  # type: ignore[arg-type]
                open_timeout=10)  # fmt: skip
    assert refused_api.value.response.status_code == 403


def test_origin_rules() -> None:
    guard = OriginGuard(app=None, allowed=["https://desk.example.com"])  # type: ignore[arg-type]
    host = {b"host": b"127.0.0.1:8000"}
    assert guard.allows(host, "ws")  # no Origin: not a browser
    assert guard.allows({**host, b"origin": b"http://127.0.0.1:8000"}, "ws")
    assert not guard.allows({**host, b"origin": b"https://127.0.0.1:8000"}, "ws")  # scheme
    assert not guard.allows({**host, b"origin": b"http://127.0.0.1:8001"}, "ws")  # port
    assert guard.allows({**host, b"origin": b"https://desk.example.com"}, "ws")
    assert not guard.allows({**host, b"origin": b"null"}, "ws")
    assert not guard.allows({**host, b"origin": b"https://desk.example.com.evil.io"}, "ws")


def test_a_link_naming_a_session_is_refused(server: Server) -> None:
    """Panel takes `?bokeh_session_id=` (and Bokeh `bokeh-session-id`) from a link: whoever
    sent the link could then share the session. Any id is refused, even one the server
    signed (an attacker reads one from their own page's token)."""
    key = session_key(load_secret(server.data_dir))
    signed = generate_session_id(secret_key=key, signed=True)
    other = generate_session_id(secret_key=b"x" * 64, signed=True)  # someone else's key
    for path in ("/dashboard", "/dashboard/replay"):
        for name in ("bokeh_session_id", "bokeh-session-id", "bokeh%5Fsession%5Fid"):
            for sid in (signed, other, "chosen-by-me", ""):
                r = httpx.get(f"{server.url}{path}?{name}={sid}", timeout=30)
                assert r.status_code == 403, (path, name, sid, r.status_code)
                assert "must not name a session" in r.text
        r = httpx.get(server.url + path, headers={"bokeh-session-id": signed}, timeout=30)
        assert r.status_code == 403
        assert httpx.get(server.url + path, params={"theme": "dark"}, timeout=30).status_code == 200


def _sessions(server: Server) -> int:
    return int(httpx.get(server.url + "/health", timeout=10).json()["dashboard"]["sessions"])


def test_closed_sessions_are_destroyed(server: Server) -> None:
    base = _sessions(server)
    with contextlib.ExitStack() as open_sockets:  # all open at once: none is unused yet
        for _ in range(20):
            token, cookie = _page_token(server)
            ws = open_sockets.enter_context(
                connect(
                    _ws_url(server),
                    subprotocols=["bokeh", token],  # type: ignore[list-item]
                    origin=server.url,
                    additional_headers=cookie,  # type: ignore[arg-type]
                    open_timeout=10,
                    ping_interval=None,  # a loaded machine must not time out the idle ones
                )
            )
            ws.recv(timeout=10)  # ACK: the session is attached to this socket
        assert _sessions(server) >= 20  # (base may count sessions of closed sockets, ending)
    deadline = time.monotonic() + 60
    while _sessions(server) > base and time.monotonic() < deadline:
        time.sleep(1)
    assert _sessions(server) <= base, "closed dashboard sessions are still alive after 60 s"


def test_static_mount_leaves_the_api_alone(server: Server) -> None:
    assert httpx.get(server.url + "/static/js/bokeh.min.js").status_code == 200
    assert httpx.get(server.url + "/favicon.ico").headers["content-type"] == "image/x-icon"
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/static", "/dashboard"))]
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_pages_load_no_mathjax_and_are_built_frozen(server: Server) -> None:
    """Panel would add bokeh-mathjax.min.js (1.8 MB) to any page with an HTML pane."""
    from bokeh.document import Document

    from server.dashboard.page_weight import frozen

    for path in ("/dashboard", "/dashboard/replay"):
        html = httpx.get(server.url + path, timeout=30).text
        assert "bokeh.min.js" in html and "bokeh-mathjax" not in html, path

    class Template:  # what Panel calls: server_doc(doc, title, location)
        def server_doc(self, doc: object, title: object, location: object) -> bool:
            assert isinstance(doc, Document)
            return doc.models._freeze_count > 0  # type: ignore[attr-defined,no-any-return]

    assert frozen(Template()).server_doc(Document(), "t", True) is True
