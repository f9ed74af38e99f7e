"""The Panel dashboards, mounted in the server at `/dashboard` (live) and `/dashboard/replay`.

`mount(app, config, secret)` prepares them when the app is built: the guards (WebSocket
Origin, sessions bound to the browser that opened them), the producer, and a "starting"
page at both paths. Panel and Bokeh take over a second to import, so the server does not
wait for them: the lifespan calls `attach` as a background task, which imports them off
the event loop and then adds the pages (Panel's FastAPI integration, bokeh-fastapi) in place of the
"starting" page. The API answers meanwhile; `/health` says when the dashboards are ready.
`POST /dashboard/login` and `/dashboard/logout` keep the pages' login as the API's cookie
(see logins.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from ..config import ServerConfig
from ..errors import ApiError
from ..peers import client_address
from ..routes.auth import set_cookies
from ..state import COOKIE_NAMES, ServerState
from .busy import no_shared_busy_indicator
from .context import Dashboards
from .guard import OriginGuard, destroy_lost_sessions, no_remote_fonts
from .page_weight import frozen, no_mathjax
from .producer import Producer
from .replay_pool import ReplayPool
from .responsive import COMPONENT_CSS, CSS_PATH, dress
from .sessions import NO_COOKIES, SessionGuard, bind_sessions, opening_binding
from .ws_mend import mend_page_sockets

log = logging.getLogger(__name__)

PATH = "/dashboard"
REPLAY_PATH = "/dashboard/replay"
TITLES = {PATH: "workbench · paper trading", REPLAY_PATH: "workbench · replay"}
STARTING = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="1"><title>workbench</title></head>
<body style="background:#131722;color:#b2b5be;font-family:sans-serif;padding:40px">
The dashboards are starting&hellip;</body></html>"""


class HandoffIn(BaseModel):
    code: str = Field(min_length=1, max_length=100)


def session_key(secret: bytes) -> bytes:
    """The key Bokeh signs session ids with: derived from (never equal to) the JWT secret."""
    return hmac.new(secret, b"workbench dashboard sessions", hashlib.sha256).hexdigest().encode()


def mount(app: FastAPI, config: ServerConfig, secret: bytes) -> Dashboards:
    """Guards, producer and the "starting" pages; `attach` adds the real pages."""

    def get_state() -> ServerState:
        return app.state.server  # type: ignore[no-any-return]

    async def read_accounts(accounts: list[str]) -> dict[str, Any]:
        return await get_state().desk.read(
            lambda e: {a: (e.figures(a), e.positions(a)) for a in accounts if a in e.by_name}
        )

    producer = Producer(read_accounts, lambda: get_state().feed_status())
    dash = Dashboards(get_state, producer, local_account=config.local_account)
    dash.key = session_key(secret)
    dash.limit_addresses(config.login_per_client)
    dash.replays = ReplayPool(config.replay_workers)

    async def starting() -> HTMLResponse:
        return HTMLResponse(STARTING, status_code=503, headers={"Retry-After": "1"})

    for path in TITLES:
        app.add_api_route(path, starting, include_in_schema=False)
    panel_dir = Path(importlib.util.find_spec("panel").origin).parent  # type: ignore[union-attr,arg-type]

    @app.post(PATH + "/login", include_in_schema=False)
    async def keep_login(body: HandoffIn, response: Response) -> dict[str, str]:
        """The page's hand-over code for this browser becomes the `token` cookie."""
        opening = opening_binding()
        token = dash.logins.redeem(body.code, opening.browser if opening else None)
        if token is None:
            raise ApiError(400, "this login hand-over is unknown, used, expired or from "
                           "another browser: log in again", "invalid_request")  # fmt: skip
        set_cookies(get_state(), response, token)
        return {"message": "logged in"}

    @app.post(PATH + "/logout", include_in_schema=False)
    async def end_login(request: Request, response: Response) -> dict[str, str]:
        """Log this browser out: revoke its cookie's token (and its sockets), clear it."""
        jti = dash.logins.from_cookies(dict(request.cookies))
        dash.logins.end(jti)
        for name in COOKIE_NAMES:
            response.delete_cookie(name, path="/")
        return {"message": "logged out"}

    @app.get(CSS_PATH, include_in_schema=False)
    async def responsive_css() -> Response:
        """The components' stylesheet for phones and the light theme (responsive.py); its
        name changes with its content, so it is cached for good."""
        return Response(
            COMPONENT_CSS,
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(panel_dir / "dist" / "images" / "favicon.ico",
                            media_type="image/x-icon")  # fmt: skip

    app.add_middleware(SessionGuard, prefix=PATH, secret_key=dash.key,
                       peer=lambda scope: client_address(scope, config))  # fmt: skip
    app.add_middleware(OriginGuard, allowed=config.cors_origins)
    return dash


def _import_pages() -> Any:
    """The slow imports (Panel, Bokeh, the pages), run in a worker thread."""
    from panel.io.fastapi import add_applications

    from .connection import watched
    from .live_page import live_app
    from .replay_page import replay_app

    return add_applications, live_app, replay_app, watched


async def attach(app: FastAPI, dash: Dashboards) -> None:
    """Import Panel off the event loop, then put the pages in place of "starting"."""
    try:
        add_applications, live_app, replay_app, watched = await asyncio.to_thread(_import_pages)
    except Exception:
        log.exception("the dashboards cannot start: the API goes on without them")
        raise
    import panel as pn

    destroy_lost_sessions()
    no_remote_fonts()
    mend_page_sockets()
    no_shared_busy_indicator()
    no_mathjax()
    pn.extension("tabulator", notifications=True)
    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, APIRoute) and r.path in TITLES)
    ]
    bokeh = add_applications(
        {PATH: lambda: frozen(watched(dress(live_app(dash)))),
         REPLAY_PATH: lambda: frozen(watched(dress(replay_app(dash))))},
        app=app, title=TITLES, secret_key=dash.key, sign_sessions=True,
        check_unused_sessions_milliseconds=5000, unused_session_lifetime_milliseconds=10000,
        **NO_COOKIES,
    )  # fmt: skip
    bind_sessions(bokeh, dash.logins.from_cookies)
    for route in app.router.routes:  # pages, not API: kept out of /openapi.json
        if isinstance(route, APIRoute) and route.path.startswith(PATH):
            route.include_in_schema = False
    # bokeh-fastapi ends unused sessions from the app's lifespan, which has run already
    dash.cleanup = asyncio.create_task(bokeh._cleanup_loop(), name="dashboard-sessions")
    dash.ready = True


async def detach(dash: Dashboards) -> None:
    for task in (dash.attaching, dash.cleanup):
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    await dash.producer.stop()
    if dash.replays is not None:
        await dash.replays.close()


__all__ = ["Dashboards", "PATH", "REPLAY_PATH", "attach", "detach", "mount"]
