"""Result.report (one standalone HTML page, opened in headless Chromium), plots, compare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import chromium, model_js, shot, wait_for
from test_backtest_stats import QUOTES, Plan, X

from workbench.backtest import backtest
from workbench.backtest.compare import compare, compare_equity
from workbench.backtest.report import fmt

PANELS = ("price", "equity", "drawdown", "trade_pnl", "margin_level")
#: Pixels drawn (not white, not transparent) on each big canvas: a plot's drawing layer.
DRAWN_JS = """cs => cs.filter(c => c.width >= 800).map(c => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) n++;
  return n; })"""


@pytest.fixture(scope="module")
def result() -> Any:
    return backtest(Plan, QUOTES, instruments=[X], balance="1000", sample_every="1h")


def test_the_report_opens_offline_with_its_plots_drawn(result: Any, tmp_path: Path) -> None:
    path = result.report(tmp_path / "report.html")
    page_text = path.read_text()
    assert "<script src=" not in page_text and "<link " not in page_text  # all inline
    requests: list[str] = []
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 1800})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        def route(r: Any) -> None:
            requests.append(r.request.url)
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                r.abort()  # nothing leaves the machine, even if the page asked

        page.route("**/*", route)
        page.goto(path.as_uri())
        for name in PANELS:
            wait_for(lambda n=name: page.evaluate(model_js(n, "m.renderers.length")), name)

        def drawn() -> list[int] | None:
            counts = page.locator("canvas").evaluate_all(DRAWN_JS)
            return counts if len([n for n in counts if n > 1000]) == len(PANELS) else None

        wait_for(drawn, "the five plots drawn")
        assert page.get_by_text("Sharpe Ratio").is_visible()
        sharpe = f"{result.stats['sharpe'][0]:,.3f}"
        assert page.locator("td", has_text=sharpe).count() == 1
        assert page.get_by_text("Buy & Hold Return [%]").is_visible()
        assert page.get_by_text("test_backtest_stats.Plan()").is_visible()
        order = page.evaluate(model_js("price", "m.renderers.map(r => r.name)"))
        sizes = {
            n: page.evaluate(model_js(n, "m.glyph.size.value"))
            for n in ("exit manual", "open short")
        }
        shot(page, "backtest-report")
    assert errors == []
    assert requests == [path.as_uri()]  # the page only: no other file, no host
    # the flip at 120 (long closed, short opened on one quote): the entry is drawn after
    # (above) the exit, and fits inside its ring
    assert order.index("open short") > order.index("exit manual")
    assert sizes["open short"] < sizes["exit manual"]


def test_the_plot_panels_hold_what_they_say(result: Any) -> None:
    layout = result.plot()
    names = [c.name for c in layout.children]
    assert names == list(PANELS)
    pnl = layout.children[3].select_one({"name": "trades main"}).data_source.data
    assert pnl["net"] == [20.0, 12.0, -5.0]
    assert pnl["color"] == ["#2ca02c", "#2ca02c", "#d62728"]
    area = layout.children[2].renderers[0].data_source.data
    assert min(area["y1"]) == pytest.approx(-12 / 1020 * 100)  # the max drawdown, in %
    price = layout.children[0]
    entries = price.select_one({"name": "open short"}).data_source.data
    exits = price.select_one({"name": "exit manual"}).data_source.data
    flip = (entries["time"][0], entries["price"][0])
    assert flip in list(zip(exits["time"], exits["price"], strict=True))  # same quote


def test_a_bad_report_request_writes_nothing(result: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no symbol 'Y' in this run: one of X"):
        result.report(tmp_path / "r.html", symbol="Y")
    with pytest.raises(ValueError, match="no account 'nobody'"):
        result.report(tmp_path / "r.html", account="nobody")
    with pytest.raises(IsADirectoryError):
        result.report(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_formats() -> None:
    assert fmt(0.1234, "pct") == "12.34 %" and fmt(None, "pct") == "–"
    assert fmt(Decimal("1234.5678"), "money") == "1,234.57"
    assert fmt(timedelta(days=2, hours=3, seconds=5), "span") == "2d 03:00:05"
    assert fmt(timedelta(minutes=90), "span") == "01:30:00"
    assert fmt(datetime(2024, 8, 9, 6, tzinfo=UTC), "time") == "2024-08-09 06:00:00 UTC"
    assert fmt(6.1059, "ratio") == "6.106" and fmt(12345, "int") == "12,345"


def test_summary_reads_like_the_report(result: Any) -> None:
    table = result.summary()
    assert (
        table.columns == ["stat", "main"] and table.height == result.stats.width - 1
    )  # every column
    row = dict(zip(table["stat"], table["main"], strict=True))
    assert row["Exposure Time [%]"] == "75.00 %" and row["Max. Trade Duration"] == "1d 14:00:00"
    assert row["Sharpe Ratio"] == f"{result.stats['sharpe'][0]:.3f}" and row["Notes"] == "–"


def test_compare_side_by_side(result: Any) -> None:
    other = backtest(Plan, QUOTES[:6], instruments=[X], balance="2000", sample_every="1h")
    two = backtest(Plan, QUOTES, instruments=[X], accounts=["a", "b"], sample_every="1h")
    wide = compare([result, other, two], names=["full", "short", "two"])
    assert wide.columns == ["stat", "full", "short", "two:a", "two:b"]
    row = dict(zip(wide["stat"], wide["full"], strict=True))
    assert row["Return [%]"] == "2.70 %" and row["# Trades"] == "3"
    assert dict(zip(wide["stat"], wide["short"], strict=True))["# Trades"] == "2"
    rows = compare([result, other, two], wide=False)
    assert rows["name"].to_list() == ["r1", "r2", "r3", "r3"]
    assert rows["account"].to_list() == ["main", "main", "a", "b"]
    assert rows.drop("name").head(1).equals(result.stats)  # typed, exact
    assert result.stats.columns[0] == "account"  # the result's own frame is untouched
    with pytest.raises(ValueError, match="at least one result"):
        compare([])
    with pytest.raises(ValueError, match="2 names for 1 results"):
        compare([result], names=["a", "b"])
    with pytest.raises(ValueError, match="the names must differ"):
        compare([result, other], names=["x", "x"])


def test_compare_equity_overlays_returns(result: Any) -> None:
    other = backtest(Plan, QUOTES, instruments=[X], balance="2000", sample_every="1h")
    fig = compare_equity([result, other], names=["1000", "2000"])
    lines = [r.data_source.data["y"] for r in fig.renderers]
    assert len(lines) == 2 and lines[0][0] == 0.0
    assert lines[0][-1] == pytest.approx(2.7)  # % of 1000
    assert lines[1][-1] == pytest.approx(27 / 2000 * 100)
    assert [i.label["value"] for i in fig.legend.items] == ["1000", "2000"]


def test_the_report_stays_inline_when_panel_is_imported(result: Any, tmp_path: Path) -> None:
    """Panel registers external scripts with Bokeh when imported (a notebook, the server, a
    full test run): the report must not link them, or it breaks offline."""
    import panel  # noqa: F401

    page = result.report(tmp_path / "report.html").read_text()
    assert "<script src=" not in page and "<link " not in page
