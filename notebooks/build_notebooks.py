"""Write the notebooks from plain cells (kept here so they review as code)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

ENGINE_AND_REPLAY = [
    new_markdown_cell(
        "# The engine on real ticks\n\n"
        "Import the real Binance captures kept beside the repository into a DuckDB tick "
        "store, look at candles, replay the quotes through the engine with a small bracket "
        "strategy, and study the result as DataFrames and plots. Money stays exact "
        "(`Decimal`); floats appear only in the plots."
    ),
    new_code_cell(
        "from decimal import Decimal\n"
        "from pathlib import Path\n\n"
        "import pandas as pd\n"
        "from bokeh.io import output_notebook, show\n"
        "from bokeh.plotting import figure\n\n"
        "from workbench.candles import candles_frame\n"
        "from workbench.demo import shared_captures\n"
        "from workbench.domain import Instrument\n"
        "from workbench.engine import Engine, restore, snapshot\n"
        "from workbench.importers.hftbacktest import import_captures\n"
        "from workbench.replay import Replay\n"
        "from workbench.store.schema import connect\n\n"
        "output_notebook(hide_banner=True)\n"
        "db = Path('..') / 'data' / 'notebook.duckdb'\n"
        "con = connect(db)\n"
        "files = shared_captures()\n"
        "result = import_captures(con, files)\n"
        "print(f'{len(files)} files, {result.quotes:,} new quotes, {result.trades:,} new trades')"
    ),
    new_markdown_cell("## One-minute candles of BTCUSDT (mid prices, volume from trades)"),
    new_code_cell(
        "bars = candles_frame(con, 'BTCUSDT', '1m', backend='pandas')\n"
        "bars['time'] = bars.time.dt.tz_localize(None)  # bokeh plots naive UTC\n"
        "p = figure(x_axis_type='datetime', height=300, width=800, title='BTCUSDT 1m (mid)')\n"
        "up = bars.close >= bars.open\n"
        "w = 50_000  # ms\n"
        "p.segment(bars.time, bars.high.astype(float), bars.time, bars.low.astype(float),"
        " color='black')\n"
        "o, c = bars.open.astype(float), bars.close.astype(float)\n"
        "p.vbar(bars.time[up], w, o[up], c[up], color='#26a69a')\n"
        "p.vbar(bars.time[~up], w, o[~up], c[~up], color='#ef5350')\n"
        "show(p)\n"
        "bars[['time', 'open', 'high', 'low', 'close', 'volume', 'partial']].tail(3)"
    ),
    new_markdown_cell(
        "## Replay with a bracket strategy\n\n"
        "A listener re-enters after every close, the other way round. Commands issued by a "
        "listener run right after the quote that caused the event, at its time."
    ),
    new_code_cell(
        "eng = Engine([Instrument('BTCUSDT', tick_size=Decimal('0.01'))])\n"
        "eng.create_account('me', maintenance_rate='0.05')\n"
        "events = []\n"
        "band = Decimal('0.001')\n\n"
        "def enter(side):\n"
        "    q = eng.last_quote('BTCUSDT')\n"
        "    p = q['ask'] if side == 'long' else q['bid']\n"
        "    hi, lo = (p * (1 + band)).quantize(Decimal('0.01')), "
        "(p * (1 - band)).quantize(Decimal('0.01'))\n"
        "    tp, sl = (hi, lo) if side == 'long' else (lo, hi)\n"
        "    eng.open('me', 'BTCUSDT', side, '50', margin='100', take_profit=tp, stop_loss=sl)\n\n"
        "def strategy(ev):\n"
        "    events.append(ev)\n"
        "    if ev['type'] == 'closed':\n"
        "        enter('short' if ev['pnl'].startswith('-') else 'long')\n\n"
        "eng.subscribe(strategy)\n"
        "sid = eng.symbol_id('BTCUSDT')\n"
        "sql = \"SELECT t, bid, ask FROM quotes WHERE symbol = 'BTCUSDT' ORDER BY t LIMIT 1\"\n"
        "first = con.execute(sql).fetchall()[0]\n"
        "eng.quote('BTCUSDT', first[0], first[1], first[2])\n"
        "enter('long')\n"
        "status = Replay(eng, con, ['BTCUSDT'], start=first[0] + 1).run()\n"
        "print(f'{status.fed:,} quotes replayed; {len(events)} events')"
    ),
    new_code_cell(
        "ev = pd.DataFrame(events)\n"
        "closed = ev[ev.type == 'closed'].copy()\n"
        "closed['pnl'] = closed.pnl.map(Decimal)\n"
        "closed['time'] = pd.to_datetime(closed.t, unit='us')  # UTC\n"
        "print(closed.groupby('reason').pnl.agg(['count', 'sum']))\n"
        "eng.figures('me')"
    ),
    new_code_cell(
        "closed['balance_f'] = closed.balance.map(Decimal).astype(float)  # float: plot only\n"
        "p = figure(x_axis_type='datetime', height=250, width=800,\n"
        "           title='balance after each close')\n"
        "p.step(closed.time, closed.balance_f, mode='after')\n"
        "show(p)"
    ),
    new_markdown_cell(
        "## Snapshots\n\nThe whole state as checksummed bytes; a restored engine carries on "
        "exactly as the original would."
    ),
    new_code_cell(
        "saved = snapshot(eng)\n"
        "twin = restore(saved)\n"
        "assert twin.account_state('me') == eng.account_state('me')\n"
        "print(len(saved), 'bytes,', saved[:80])"
    ),
]


def write_all() -> list[Path]:
    nb = new_notebook(cells=ENGINE_AND_REPLAY)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = HERE / "01_engine_and_replay.ipynb"
    nbformat.write(nb, path)
    return [path]


if __name__ == "__main__":
    for p in write_all():
        print("wrote", p)
