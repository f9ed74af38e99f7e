"""Both pages on a phone and in the light theme: one column below 700 px, touch-sized
controls, readable light colours.

Panel draws every component in a shadow DOM of its own, where the page's CSS does not
reach, and Bokeh gives each a computed `min-width` (a row of fixed-width parts made the
live page at least 850 px wide). `dress(template)` therefore gives a page's template

* a viewport meta tag, so a phone lays the page out at its own width (without one it
  draws a 980 px desktop page and shrinks it);
* a design (`responsive_design`): Panel's Fast design whose stylesheets, in every
  component's shadow root, add `COMPONENT_CSS`, linked at `CSS_PATH` (not a copy per
  component): a name of its content, served outside `/dashboard/` (whose responses
  are no-store) to be cached for good, since a component that redraws links it again;
* `PAGE_CSS` for what lives outside the components (the template's header).

Below `NARROW` px wide, rows wrap, layouts take the full width and drop Bokeh's minimum
widths, so the page is one column (ticket, account, chart, tables stacked) and a wide
table scrolls inside its own box. On a narrow screen or a touch screen every button and
input is at least 32 px high, the tables' Close/Edit/Cancel buttons included. In the
light theme, the dark cards, the profit/loss/warning colours and the table's P/L colours
get light-theme values with enough contrast.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

NARROW = 700  # px: narrower than this, a page is one column
TOUCH_PX = 32  # the least height of a button or an input on a phone
BUTTON_CELL_PX = 68  # a table's button cell on a phone (Close, Edit, Cancel)
META_VIEWPORT = "width=device-width, initial-scale=1"

SMALL = f"(max-width: {NARROW}px)"
TOUCH = f"{SMALL}, (pointer: coarse)"

#: in every component's shadow root (see the module docstring)
COMPONENT_CSS = f"""
@media {SMALL} {{
  :host(.bk-Row) {{ flex-wrap: wrap !important; row-gap: 2px; }}
  /* layouts and tables take the full width, whatever width they were given */
  :host(.bk-Row), :host(.bk-panel-models-layout-Column), :host(.bk-panel-models-tabs-Tabs),
  :host(.bk-panel-models-layout-Card), :host(.bk-panel-models-tabulator-DataTabulator) {{
    min-width: 0 !important; max-width: 100% !important; width: auto !important;
    align-self: stretch !important; box-sizing: border-box; }}
  /* a layout inside a row takes a line of its own */
  :host(.bk-Row) > .bk-panel-models-layout-Column, :host(.bk-Row) > .bk-Row,
  :host(.bk-Row) > .bk-panel-models-tabs-Tabs {{ flex: 1 1 100% !important; }}
  /* fixed widths of widgets stop at the screen's */
  :host {{ max-width: 100% !important; box-sizing: border-box; }}
  :host(.bk-Spacer) {{ min-width: 0 !important; flex-shrink: 1 !important; }}
  .bk-headers-wrapper {{ flex-wrap: wrap !important; }}
  /* a wide table scrolls in its box; its Edit and Close/Cancel buttons stay in sight */
  .tabulator-row .tabulator-cell:has(> button) {{ position: sticky; z-index: 11;
    width: {BUTTON_CELL_PX}px !important; right: 0;
    background-color: inherit; }}
  .tabulator-row .tabulator-cell:has(> button.edit-btn) {{ right: {BUTTON_CELL_PX}px; }}
}}
@media {TOUCH} {{
  .bk-btn, .bk-input:not([type=checkbox]):not([type=radio]), .choices__inner,
  .bk-tab {{ min-height: {TOUCH_PX}px; box-sizing: border-box; }}
  .bk-input-group label:has(input[type=checkbox]), label:has(> input[type=checkbox]) {{
    min-height: {TOUCH_PX}px; display: inline-flex; align-items: center; gap: 6px; }}
  .tabulator-cell button {{ min-height: {TOUCH_PX}px; min-width: 52px; padding: 0 8px;
    box-sizing: border-box; }}
  .choices__input {{ min-height: {TOUCH_PX}px; }}
  .choices__list--multiple .choices__item {{ min-height: {TOUCH_PX}px; display: inline-flex;
    align-items: center; padding-top: 0; padding-bottom: 0; }}
  .choices__list--multiple .choices__button {{ min-height: {TOUCH_PX}px !important;
    width: 24px !important; background-position: center; }}
  .tabulator-cell {{ padding-top: 2px !important; padding-bottom: 2px !important; }}
}}
/* the light theme: cards drawn dark by the pages, and signed colours with contrast */
:host([style*="background: rgb(30, 34, 45)"]) {{ background: var(--wb-card) !important; }}
:host .profit {{ color: var(--wb-up) !important; }}
:host .loss, :host .ticket-msg-error, :host .a-error {{ color: var(--wb-down) !important; }}
:host .warn, :host .a-warning, :host .confirm {{ color: var(--wb-warn) !important; }}
[data-sign=profit] {{ color: var(--wb-up) !important; }}
[data-sign=loss] {{ color: var(--wb-down) !important; }}
:host .ticket-msg-ok, :host .a-success {{ color: var(--wb-up) !important; }}
:host .quote-box .bid {{ color: var(--wb-down) !important; }}
:host .quote-box .ask {{ color: var(--wb-up) !important; }}
:host .who {{ color: #d1d4dc; }} /* in the header, dark in both themes */
.tabulator-cell[style*="color: rgb(38, 166, 154)"] {{ color: var(--wb-up) !important; }}
.tabulator-cell[style*="color: rgb(239, 83, 80)"] {{ color: var(--wb-down) !important; }}
"""

#: the page outside the components: the colours per theme, and the header on a phone
PAGE_CSS = f"""
:root {{ --wb-card: #1e222d; --wb-up: #26a69a; --wb-down: #ef5350; --wb-warn: #ffb74d; }}
@media {SMALL} {{
  #header {{ flex-wrap: wrap; height: auto !important; padding: 4px 6px !important; }}
  #header .title {{ flex: 1 0 100%; font-size: 17px; line-height: 26px; margin-left: 4px;
                    overflow: hidden; text-overflow: ellipsis; }}
  #header-items {{ width: auto !important; flex: 1 1 auto; padding-left: 0 !important; }}
  .main {{ padding: 2px !important; }}
}}
"""
CSS_PATH = (
    f"/dashboard-assets/responsive-{hashlib.sha256(COMPONENT_CSS.encode()).hexdigest()[:12]}.css"
)
LIGHT_CSS = """
:root { --wb-card: #f3f4f7; --wb-up: #00796b; --wb-down: #c62828; --wb-warn: #a05a00; }
"""


@functools.cache
def responsive_design() -> type:
    """Panel's Fast design plus `COMPONENT_CSS` in every component (made on first use:
    this module is imported before Panel is)."""
    from panel.theme.base import Inherit
    from panel.theme.fast import Fast
    from panel.viewable import Viewable

    # named Fast: Panel finds a design's bundled scripts under its class's name
    return type("Fast", (Fast,), {"modifiers": {Viewable: {"stylesheets": [Inherit, CSS_PATH]}}})


def dress(template: Any) -> Any:
    """A page's template, ready for phones and for the light theme (see the docstring)."""
    template.design = responsive_design()
    template.meta_viewport = META_VIEWPORT
    light = getattr(template.theme, "__name__", "") == "DefaultTheme"
    template.config.raw_css = [*template.config.raw_css, PAGE_CSS,
                               *([LIGHT_CSS] if light else [])]  # fmt: skip
    return template


__all__ = ["COMPONENT_CSS", "CSS_PATH", "META_VIEWPORT", "dress", "responsive_design"]
