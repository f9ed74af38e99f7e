"""`/balance*`: the account's figures, deposits and resets."""

from __future__ import annotations

from fastapi import APIRouter, Body, Path

from ..errors import ApiError, errors, rejected
from ..jsonbody import ExactJSONRoute
from ..orders import balance_body, cents
from ..schemas import AssetBalance, BalanceOut, DepositIn, ResetIn
from ..state import Authed, State

router = APIRouter(route_class=ExactJSONRoute, tags=["balance"])
USD_NAMES = ("USD", "USDC")


@router.get("/balance", response_model=BalanceOut, responses=errors(401))
async def balance(session: Authed, state: State) -> dict:
    """Balance, equity, used and free margin, margin level (decimal strings) and mode."""
    figs, _ = await state.desk.summary(session.account)
    return balance_body(session.account, figs)


@router.get("/balance/{symbol}", response_model=AssetBalance, responses=errors(401, 404, 422))
async def balance_of(
    session: Authed, state: State, symbol: str = Path(min_length=1, max_length=16)
) -> dict:
    """One asset's balance in the seed's shape (USD, or its alias USDC)."""
    sym = symbol.upper()
    if sym not in USD_NAMES:
        raise ApiError(404, f"no balance in {symbol!r}: paper accounts hold USD", "unknown_asset")
    figs, _ = await state.desk.summary(session.account)
    return {"symbol": sym, "balance": cents(figs["balance"]), "decimals": 2}


@router.post("/balance/deposit", response_model=BalanceOut,
             responses=errors(401, 413, 422))  # fmt: skip
async def deposit(body: DepositIn, session: Authed, state: State) -> dict:
    """Add paper USD (positive, bounded: a paper account is not a bank)."""
    ev = await state.desk.deposit(session.account, body.amount)
    if ev["type"] == "rejected":
        raise rejected(ev)
    figs, _ = await state.desk.summary(session.account)
    return balance_body(session.account, figs)


@router.post("/balance/reset", response_model=BalanceOut, responses=errors(401, 413, 422))
async def reset(session: Authed, state: State, body: ResetIn | None = Body(None)) -> dict:
    """Close everything at the engine's prices, restore the demo balance, and optionally
    switch the margin mode (`{"margin_mode": "cross"}`)."""
    mode = body.margin_mode if body is not None else None
    events = await state.desk.reset(session.account, mode)
    bad = [e for e in events if e["type"] == "rejected"]
    if bad:
        raise rejected(bad[0])
    figs, _ = await state.desk.summary(session.account)
    return balance_body(session.account, figs)
