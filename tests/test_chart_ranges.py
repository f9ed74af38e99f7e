"""Charts with no data yet render without BokehJS's "could not set initial ranges", in
Debian's Chromium: the live chart before any quote, the replay page before its tape."""

from __future__ import annotations

import time
from pathlib import Path

from browser_helpers import chromium
from server_helpers import Market, running_server


def test_empty_charts_have_ranges(tmp_path: Path) -> None:
    quiet = Market()  # a Backpack that sends no quote: the live chart stays empty
    try:
        with (
            running_server(tmp_path / "data", feed="backpack", backpack_url=quiet.url,
                           extra=["--fallback-after", "600"]) as srv,
            chromium() as browser,
        ):  # fmt: skip
            said: dict[str, list[str]] = {}
            for path in ("/dashboard", "/dashboard/replay"):
                page = browser.new_page()
                said[path] = lines = []
                page.on("console", lambda m, lines=lines: lines.append(m.text))
                page.goto(srv.url + path)
                page.wait_for_function(
                    "() => window.Bokeh && Bokeh.documents.length > 0 && "
                    "Bokeh.documents[0].all_models.size > 0", timeout=60_000,
                )  # fmt: skip
            time.sleep(3)  # renders go on (resizes, pushes of the feed's state)
            prices = page.evaluate(
                "() => Bokeh.documents[0].get_model_by_name('quotes').data.t.length"
            )
    finally:
        quiet.stop()
    assert prices == 0, "the replay chart was not empty"
    assert all(any("Bokeh items were rendered" in m for m in s) for s in said.values()), said
    warned = {p: [m for m in s if "initial ranges" in m] for p, s in said.items()}
    assert warned == {"/dashboard": [], "/dashboard/replay": []}, warned
