"""HTML text that changes often (a status line, an account strip), as a plain Bokeh Div.

Setting a Panel HTML pane's `object` re-sends its stylesheets too, and Bokeh then walks
every model of the document to find the references that changed: on a page with tables,
charts and a ticket that costs milliseconds each time, on the event loop every session
shares. A Div's `text` is a plain string property: setting it sends the new text and
nothing else (and nothing at all when it is unchanged).
"""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.models import Div

from .view import CSS


class Text:
    """A Div with the dashboard's styles; `object` is its HTML, as on an HTML pane. Unlike
    a pane's, it is a Bokeh model: set it with the document locked (in a callback of the
    document, or through `doc.add_next_tick_callback` after an await)."""

    def __init__(self, name: str, **layout: Any) -> None:
        self.div = Div(text="", name=name, stylesheets=[CSS], **layout)
        # the pane's too: the page's design sets the Div's stylesheets to its own + the pane's
        self.panel = pn.pane.Bokeh(self.div, stylesheets=[CSS], **layout)

    @property
    def object(self) -> str:
        return str(self.div.text)

    @object.setter
    def object(self, html: str) -> None:
        self.div.text = html
