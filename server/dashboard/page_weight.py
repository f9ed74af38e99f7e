"""What serving a page costs that it does not need: a model graph walked dozens of times
while the page is built, and a 1.8 MB MathJax bundle sent to pages that show no maths.

Bokeh re-collects every model of a document (a walk of the whole graph) each time a root
is added, a JS callback is linked or a property of an attached model is set, unless the
document's model manager is frozen; Panel's template adds each of its areas as a root
and links a callback per widget, so a live page walked its graph dozens of times: 0.45-0.78 s
of a page's build, 0.30-0.42 s inside one freeze, which walks it once, at the end.
"""

from __future__ import annotations

from typing import Any


def frozen(template: Any) -> Any:
    """The template, whose document is built inside one freeze of its model manager."""
    build = template.server_doc

    def server_doc(doc: Any = None, title: str | None = None, location: Any = True) -> Any:
        import panel as pn

        doc = doc or pn.state.curdoc
        with doc.models.freeze():
            return build(doc, title, location)

    template.server_doc = server_doc
    return template


def no_mathjax() -> None:
    """Pages no longer load bokeh-mathjax.min.js (1.8 MB, a third of a page's scripts).

    Panel adds it to any page with an HTML pane, in case the text holds LaTeX; ours never
    does (prices, names, figures). Bokeh's own test (a model whose text is delimited TeX)
    still applies.
    """
    import panel.io.resources as resources

    resources._panel_use_mathjax = lambda roots: False
