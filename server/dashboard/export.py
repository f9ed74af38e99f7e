"""The order history as a CSV file a person downloads: their own closed orders, exact.

Each row is one closed order in the REST API's shape (`server.orders.closed_order`), so
the file says what `GET /trade/orders?status=closed` says: decimal text, never floats.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

COLUMNS = [("id", "id"), ("asset", "symbol"), ("side", "side"), ("qty", "qty"),
           ("leverage", "leverage"), ("margin", "margin"), ("openingPrice", "open price"),
           ("closingPrice", "close price"), ("pnl", "pnl"), ("fee", "fee"),
           ("closeReason", "reason"), ("takeProfit", "take profit"),
           ("stopLoss", "stop loss"), ("trailingStop", "trailing stop"),
           ("openedAt", "opened at"), ("closedAt", "closed at")]  # fmt: skip


def orders_csv(orders: Iterable[dict[str, Any]]) -> str:
    """CSV text (a header, then one row per order as given, newest first)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([title for _, title in COLUMNS])
    for o in orders:
        w.writerow(["" if o.get(key) is None else str(o[key]) for key, _ in COLUMNS])
    return out.getvalue()
