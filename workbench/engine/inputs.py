"""One input record (a scenario or journal line) applied to an engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..domain import INSTRUMENT_FIELDS, Account, Instrument
from ..money import BadNumber
from .errors import BadInput
from .positions import KEEP

if TYPE_CHECKING:
    from .core import Engine

_OPEN = {"account", "ref", "symbol", "side", "leverage", "margin", "qty", "take_profit",
         "stop_loss", "trailing_stop"}  # fmt: skip
INPUT_FIELDS: dict[str, set[str]] = {
    "quote": {"symbol", "bid", "ask"},
    "open": _OPEN,
    "order": _OPEN | {"kind", "price", "expires"},
    "cancel": {"account", "ref"},
    "modify": {"account", "ref", "take_profit", "stop_loss", "trailing_stop", "price",
               "expires"},
    "close": {"account", "ref", "qty"},
    "deposit": {"account", "amount"},
    "reset": {"account", "margin_mode"},
    "instrument": set(INSTRUMENT_FIELDS),
    "account": {"account", "balance", "margin_mode", "maintenance_rate", "margin_call_level",
                "stop_out_level"},
}  # fmt: skip


def apply_record(eng: Engine, record: dict[str, Any]) -> Any:
    """Apply one input record; BadInput (nothing changed) for a malformed one."""
    if not isinstance(record, dict):
        raise BadInput(f"an input is a JSON object, not {type(record).__name__}")
    kind = record.get("type")
    t = record.get("t")
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        raise BadInput(f"'t' must be a non-negative integer of microseconds, not {t!r}")
    fields = INPUT_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise BadInput(f"unknown input type {kind!r}")
    unknown = set(record) - fields - {"t", "type"}
    if unknown:
        raise BadInput(f"unknown {kind} field(s): {', '.join(sorted(unknown))}")
    g = record.get
    if kind == "quote":
        return eng.quote(_req(record, "symbol"), t, _req(record, "bid"), _req(record, "ask"))
    if kind == "open":
        return eng.open(
            _req(record, "account"), g("symbol"), g("side"), g("leverage"),
            margin=g("margin"), qty=g("qty"), take_profit=g("take_profit"),
            stop_loss=g("stop_loss"), trailing_stop=g("trailing_stop"), ref=g("ref"), t=t,
        )  # fmt: skip
    if kind == "order":
        return eng.order(
            _req(record, "account"), g("symbol"), g("side"), g("kind"), g("price"),
            g("leverage"), margin=g("margin"), qty=g("qty"), take_profit=g("take_profit"),
            stop_loss=g("stop_loss"), trailing_stop=g("trailing_stop"), expires=g("expires"),
            ref=g("ref"), t=t,
        )  # fmt: skip
    if kind == "cancel":
        return eng.cancel(_req(record, "account"), _req(record, "ref"), t=t)
    if kind == "modify":
        changes = {k: record[k] for k in fields - {"account", "ref"} if k in record}
        for k in ("take_profit", "stop_loss", "trailing_stop", "price", "expires"):
            changes.setdefault(k, KEEP)
        return eng.modify(_req(record, "account"), _req(record, "ref"), t=t, **changes)
    if kind == "close":
        return eng.close(_req(record, "account"), _req(record, "ref"), qty=g("qty"), t=t)
    if kind == "deposit":
        return eng.deposit(_req(record, "account"), _req(record, "amount"), t=t)
    if kind == "reset":
        return eng.reset(_req(record, "account"), g("margin_mode"), t=t)
    if kind in ("instrument", "account") and t > eng.now and not eng._busy:
        eng._advance(t)  # "before any input at time t": what is due (expiry, swap) first
    if kind == "instrument":
        try:
            inst = Instrument.from_fields(record)
        except BadNumber as e:
            raise BadInput(str(e)) from None
        eng.add_instrument(inst)
        return None
    opts = {k: record[k] for k in fields - {"account"} if k in record}
    acct: Account = eng.create_account(_req(record, "account"), **opts)
    return acct


def _req(record: dict[str, Any], key: str) -> Any:
    if key not in record:
        raise BadInput(f"{record.get('type')} input needs {key!r}")
    return record[key]
