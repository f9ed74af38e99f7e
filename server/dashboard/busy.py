"""Panel's busy spinner, off: it is one state for the whole process, shown in every page.

Panel keeps `pn.state.busy` process-wide and, whenever any session runs a callback (its
periodic ones included), sets the spinner of every open page to it, twice. With N pages
that is 2N model updates per callback and O(N²) a second on the event loop: with 10
pages open it took most of the loop (and the GIL) during a full-speed replay, and it
showed one user's activity in everyone's header.
"""

from __future__ import annotations


def no_shared_busy_indicator() -> None:
    """Templates made from now on have no busy indicator (none is synced with the state)."""
    from panel.template.base import BasicTemplate

    BasicTemplate.param.busy_indicator.default = None
