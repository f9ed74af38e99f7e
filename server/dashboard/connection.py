"""What a page does when its server goes away: say so, stop trading, come back.

A dashboard page lives on one WebSocket. When it drops (the server stopped, restarted,
or the network failed), `ConnectionWatch` (in the page's header, added to both pages by
`watched`) marks the page stale at once: a banner "Disconnected — prices stale", the
feed badge turned DISCONNECTED, every button and input disabled and the page under the
banner greyed out, so nothing looks live and no click seems to trade. It then asks
`/health` with a growing pause (0.5 s, 1, 2, 4, then every 5 s) and reloads the page as
soon as the server answers with its dashboards ready: the login survives (the cookie),
and the new page's ticket waits for the feed (see ticket.feed).
"""

from __future__ import annotations

import html
from typing import Any

from panel.reactive import ReactiveHTML

BANNER_ID = "wb-offline"
BANNER = "Disconnected — prices stale. Trading is off until the server is back"
STALE_BADGE = (
    '<span class="feed-badge feed-STOPPED" data-state="DISCONNECTED" title="the connection '
    'to the server is lost: the prices shown are stale">DISCONNECTED</span>'
)
DELAYS_MS = (500, 1000, 2000, 4000, 5000)

WATCH_JS = f"""
if (window.__wbWatch) {{ return }}
window.__wbWatch = true
const doc = view.model.document
const delays = {list(DELAYS_MS)}
let tries = 0
let banner = null
const say = (text) => {{ if (banner) banner.querySelector('span').textContent = text }}
const stale = () => {{
  document.documentElement.dataset.wbConnection = 'lost'
  banner = document.createElement('div')
  banner.id = {BANNER_ID!r}
  banner.setAttribute('role', 'alert')
  banner.style.cssText = 'position:fixed;inset:0;z-index:100000;background:rgba(19,23,34,.72);' +
    'display:flex;align-items:flex-start;justify-content:center;padding-top:72px;' +
    'font:600 15px sans-serif;color:#ffb74d'
  banner.innerHTML = '<div style="background:#2a2e39;border:1px solid #ffb74d;' +
    'border-radius:6px;padding:10px 18px"><b>{BANNER}</b><br><span></span></div>'
  document.body.appendChild(banner)
  for (const m of doc.all_models) {{
    try {{
      const badge = typeof m.text === 'string' && m.text.includes('feed-badge')
      if (badge) {{ m.text = {html.escape(STALE_BADGE)!r} }}  // escaped, as Panel sends it
      if (m.properties.disabled != null) {{ m.disabled = true }}
    }} catch (e) {{}}
  }}
}}
const poll = () => {{
  const wait = delays[Math.min(tries, delays.length - 1)]
  tries += 1
  say(`this page reloads when the server answers: asking again in ${{wait / 1000}} s ` +
      `(attempt ${{tries}})`)
  setTimeout(() => {{
    fetch('/health', {{cache: 'no-store'}})
      .then(r => r.ok ? r.json() : null)
      .catch(() => null)
      .then(h => {{
        if (h && (h.dashboard == null || h.dashboard.ready)) {{
          document.documentElement.dataset.wbConnection = 'back'
          say('the server is back: reloading')
          window.location.reload()
        }} else {{ poll() }}
      }})
  }}, wait)
}}
doc.on_event('connection_lost', () => {{
  if (document.documentElement.dataset.wbConnection === 'lost') {{ return }}
  stale()
  poll()
}})
document.documentElement.dataset.wbConnection = 'up'
"""


class ConnectionWatch(ReactiveHTML):  # type: ignore[misc]
    """Invisible; its script watches the page's WebSocket (see the module docstring)."""

    _template = '<div id="watch" class="wb-connection"></div>'
    _scripts = {"render": WATCH_JS}  # noqa: RUF012 (Panel's declaration)


def watched(page: Any) -> Any:
    """A page's template with the connection watch in its header."""
    page.header.append(ConnectionWatch(width=0, height=0, margin=0))
    return page


__all__ = ["ConnectionWatch", "watched"]
