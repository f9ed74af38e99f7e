"""Every error as JSON `{error, reason}`: a message for a person and a code for a program."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .schemas import ErrorOut

log = logging.getLogger(__name__)

REASONS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
}  # fmt: skip

#: The engine's rejection reasons and the HTTP status each is answered with.
ENGINE_STATUS = {
    "invalid_order": 422,
    "insufficient_margin": 400,
    "no_price": 409,
    "unknown_position": 404,
    "invalid_amount": 422,
    "unknown_account": 404,
    "invalid_margin_mode": 422,
}


class ApiError(HTTPException):
    """An HTTP error with a reason code of its own."""

    def __init__(self, status: int, message: str, reason: str | None = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(status, message, headers)
        self.reason = reason or REASONS.get(status, "error")


def rejected(event: dict[str, Any]) -> ApiError:
    """The API error for an engine `rejected` event."""
    reason = event["reason"]
    return ApiError(ENGINE_STATUS.get(reason, 400), event["message"], reason)


def body(message: str, reason: str, detail: list[dict[str, Any]] | None = None) -> dict:
    out: dict[str, Any] = {"error": message, "reason": reason}
    if detail is not None:
        out["detail"] = detail
    return out


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


_SUBJECT = re.compile(r"^(Input|String|Value|Decimal|List|Dictionary|Object|Tuple|Set|Data) ")


def sentence(where: str, msg: str, kind: str) -> str:
    """A validation error as a sentence about the field: "name must not be empty"."""
    if kind == "missing":
        return f"{where} is required"
    msg = msg.removeprefix("Value error, ")
    if _SUBJECT.match(msg):  # pydantic's "Input should be ..." -> "side should be ..."
        return f"{where} {_SUBJECT.sub('', msg, count=1)}"
    if msg[:1].islower():  # ours: "must be above 0"
        return f"{where} {msg}"
    return f"{where}: {msg}"


def install(app: FastAPI) -> None:
    """Answer every error as JSON, never with a traceback."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = getattr(exc, "reason", None) or REASONS.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(body(message, reason), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)  # a model built in a route from request data
    async def invalid(
        request: Request, exc: RequestValidationError | ValidationError
    ) -> JSONResponse:
        detail = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]  # fmt: skip
        first = detail[:3]
        text = "; ".join(sentence(_where(d["loc"]), d["msg"], d["type"]) for d in first)
        if len(detail) > 3:
            text += f" (and {len(detail) - 3} more)"
        return JSONResponse(body(text or "invalid request", "invalid_request", detail), 422)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(body("internal error", "internal"), 500)


#: Documented error answers, for the routes' `responses=`.
def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorOut, "description": REASONS.get(c, "error")} for c in codes}
