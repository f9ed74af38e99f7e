"""Exact JSON in, clear errors out.

Request bodies are parsed with every JSON number as a `Decimal` (never a binary float);
`NaN`, `Infinity` and numbers too large or too long to be a price or an amount are
refused with a 422 that says so. `DecimalIn` is the field type for such numbers: a JSON
number or a decimal string of ASCII digits (Python's `Decimal` would read "١٠٠" as 100; we
do not), documented as both in the OpenAPI schema. `PriceIn` is one that must be above 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

MAX_DIGITS = 30  # more significant digits than any price, size or amount needs
MAX_ABS = Decimal(10) ** 15
DECIMAL_TEXT = r"^[ \t\r\n]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[ \t\r\n]*$"  # ASCII only
_DECIMAL_RE = re.compile(DECIMAL_TEXT)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this API accepts")


def parse_json(body: bytes) -> Any:
    """JSON with exact decimals; raises HTTPException(422) saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the request body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise HTTPException(
            422, f"the request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except (ValueError, RecursionError) as e:
        raise HTTPException(422, f"the request body is not acceptable JSON: {e}") from None


def to_exact(value: Any) -> Decimal:
    """A JSON number or decimal string as an exact, bounded Decimal (else ValueError)."""
    if isinstance(value, (bool, float)):
        raise ValueError('must be a decimal number (a JSON number or a string like "61837.63")')
    if isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        if len(value) > 64 or not _DECIMAL_RE.match(value):
            raise ValueError(f'must be a decimal number such as "61837.63", not {value[:40]!r}')
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"must be a decimal number, not {value[:40]!r}") from None
    else:
        raise ValueError("must be a decimal number (a JSON number or a string)")
    if not d.is_finite():
        raise ValueError("must be a finite number")
    if abs(d) >= MAX_ABS:
        raise ValueError(f"is out of range (at most {MAX_ABS:,.0f})")
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    if exp < -18 or len(digits) > MAX_DIGITS:
        raise ValueError("has too many digits")
    return d


def _above_zero(d: Decimal) -> Decimal:
    if d <= 0:
        raise ValueError("must be above 0")
    return d


DecimalIn = Annotated[
    Decimal,
    BeforeValidator(to_exact),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "pattern": DECIMAL_TEXT}]}),
]
PriceIn = Annotated[
    Decimal,
    BeforeValidator(to_exact),
    AfterValidator(_above_zero),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                              {"type": "string", "pattern": DECIMAL_TEXT}]}),
]  # fmt: skip


class ExactJSONRequest(Request):
    """A request whose `json()` keeps numbers exact and refuses NaN and Infinity."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    """An API route that parses its JSON body with `ExactJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_handler
