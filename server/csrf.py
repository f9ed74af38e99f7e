"""Cross-site request forgery refused: state-changing calls come from our own pages or carry
a Bearer token.

Browsers attach the `token` cookie to a request a foreign page makes (a page on another port
of the same host is the same *site*, so `SameSite=Lax` does not help). So a POST (or any
method but GET, HEAD, OPTIONS) without `Authorization: Bearer` is refused with 403 when its
`Origin` (or, without one, its `Referer`) is not one of this server's own origins or a
`--cors-origin`, and one that carries the cookie must send its body as JSON (415 otherwise:
a foreign HTML form cannot). Clients that send the token as a Bearer header are not affected.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from . import errors
from .config import ServerConfig
from .peers import origin_of, own_origins
from .state import COOKIE_NAMES

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_TYPES = ("application/json",)


def _has_bearer(headers: Headers) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


def _is_json(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime in JSON_TYPES or (mime.startswith("application/") and mime.endswith("+json"))


def refusal(scope: Scope, config: ServerConfig) -> tuple[int, str, str] | None:
    """(status, message, reason) if this request may be a forgery, else None."""
    if scope["type"] != "http" or scope.get("method", "GET") in SAFE_METHODS:
        return None
    headers = Headers(scope=scope)
    if _has_bearer(headers):
        return None
    sent = headers.get("origin")
    if sent is None and headers.get("referer") is not None:
        sent = origin_of(headers["referer"]) or "a page that cannot be named"
    if sent is not None and origin_of(sent) not in own_origins(scope, config):
        return (
            403,
            f"refused a call from the page at {sent[:100]!r}: without a Bearer token only this "
            "server's own pages (or a --cors-origin) may change anything; other clients send "
            "Authorization: Bearer <token>",
            "cross_origin",
        )
    cookies = cookie_parser(headers.get("cookie", ""))
    content_type = headers.get("content-type")
    if any(cookies.get(n) for n in COOKIE_NAMES) and content_type and not _is_json(content_type):
        return (
            415,
            f"a body sent with the login cookie must be JSON (Content-Type: application/json), "
            f"not {content_type[:60]!r}",
            "unsupported_media_type",
        )
    return None


class CrossSiteGuard:
    """ASGI middleware: refuse requests `refusal` names, before any route sees them."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = refusal(scope, self.config)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message, reason = problem
        self.refused += 1
        log.warning("refused %s %s: %s", scope.get("method"), scope.get("path"), message)
        body = json.dumps(errors.body(message, reason)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


def document(app: FastAPI) -> None:
    """Add the guard's answers (403, 415) to every state-changing operation in the OpenAPI."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        schema = make()
        error = {"$ref": "#/components/schemas/ErrorOut"}
        for item in schema.get("paths", {}).values():
            for method, op in item.items():
                if method.upper() in SAFE_METHODS or not isinstance(op, dict):
                    continue
                for code, text in (("403", "cross_origin"), ("415", "unsupported_media_type")):
                    op.setdefault("responses", {}).setdefault(code, {
                        "description": text,
                        "content": {"application/json": {"schema": error}},
                    })  # fmt: skip
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
