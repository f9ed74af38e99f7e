"""Headers on every HTTP response: no framing, no MIME sniffing, a Content-Security-Policy.

The policy allows only this server (scripts, styles, images, fonts, the WebSockets) plus
what the Panel pages need, found by loading them in Chromium under the policy: inline
scripts and styles (the page boots from an inline script, widgets set style attributes),
`eval` (Panel runs its components' scripts with `new Function`) and `blob:` scripts
(es-module-shims probes the browser with one). The API docs (`/docs`, `/redoc`: FastAPI
loads Swagger UI and ReDoc from a CDN) get only `frame-ancestors 'none'` as their policy.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PAGES = {
    "default-src": "'self'",
    "script-src": "'self' 'unsafe-inline' 'unsafe-eval' blob:",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
DOCS_PATHS = ("/docs", "/redoc")


def _policy(directives: dict[str, str]) -> bytes:
    return "; ".join(f"{k} {v}" for k, v in directives.items()).encode()


PAGE_POLICY = _policy(_PAGES)
DOCS_POLICY = _policy({"frame-ancestors": "'none'"})
_FIXED = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
          (b"referrer-policy", b"same-origin")]  # fmt: skip
_OURS = {k for k, _ in _FIXED} | {b"content-security-policy"}


class SecurityHeaders:
    """Add (or replace) the security headers on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        docs = any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)
        ours = [*_FIXED, (b"content-security-policy", DOCS_POLICY if docs else PAGE_POLICY)]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message = {**message, "headers": [*kept, *ours]}
            await send(message)

        await self.app(scope, receive, sending)
