"""The Panel dashboards, mounted in the server at `/dashboard` (live) and `/dashboard/replay`.

`mount(app, config, secret)` adds the pages with Panel's FastAPI integration
(bokeh-fastapi), signs the Bokeh session ids with a key derived from the server's JWT
secret, guards the WebSockets' Origin and ends sessions whose browser has gone. The
returned `Dashboards` is started by the app's lifespan (`start`/`stop`).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute

from ..config import ServerConfig
from ..state import ServerState
from .context import Dashboards
from .guard import OriginGuard, SessionIdGuard, destroy_lost_sessions
from .producer import Producer

PATH = "/dashboard"
REPLAY_PATH = "/dashboard/replay"


def session_key(secret: bytes) -> bytes:
    """The key Bokeh signs session ids with: derived from (never equal to) the JWT secret."""
    return hmac.new(secret, b"workbench dashboard sessions", hashlib.sha256).hexdigest().encode()


def mount(app: FastAPI, config: ServerConfig, secret: bytes) -> Dashboards:
    import panel as pn
    from panel.io.fastapi import add_applications

    from .live_page import live_app
    from .replay_page import replay_app

    destroy_lost_sessions()
    pn.extension("tabulator", notifications=True)

    def get_state() -> ServerState:
        return app.state.server  # type: ignore[no-any-return]

    async def read_accounts(accounts: list[str]) -> dict[str, Any]:
        return await get_state().desk.read(
            lambda e: {a: (e.figures(a), e.positions(a)) for a in accounts if a in e.by_name}
        )

    producer = Producer(read_accounts, lambda: get_state().feed_status())
    dash = Dashboards(get_state, producer, local_account=config.local_account)
    key = session_key(secret)
    add_applications(
        {PATH: lambda: live_app(dash), REPLAY_PATH: lambda: replay_app(dash)},
        app=app, title={PATH: "workbench · paper trading", REPLAY_PATH: "workbench · replay"},
        secret_key=key, sign_sessions=True,
        check_unused_sessions_milliseconds=5000, unused_session_lifetime_milliseconds=10000,
    )  # fmt: skip
    icon = Path(pn.__file__).parent / "dist" / "images" / "favicon.ico"

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(icon, media_type="image/x-icon")

    for route in app.router.routes:  # pages, not API: kept out of /openapi.json
        if isinstance(route, APIRoute) and route.path.startswith(PATH):
            route.include_in_schema = False
    app.add_middleware(SessionIdGuard, prefix=PATH, secret_key=key)
    app.add_middleware(OriginGuard, allowed=config.cors_origins)
    return dash


__all__ = ["Dashboards", "mount", "PATH", "REPLAY_PATH"]
