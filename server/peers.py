"""Who is calling: the client's address and the server's own origins, through trusted proxies.

Forwarding headers (`X-Forwarded-For`, `-Proto`, `-Host`) are anyone's to send, so they are
ignored unless the connection comes from a proxy named by `--trusted-proxy` (or
`WORKBENCH_TRUSTED_PROXIES`). Then the client is the right-most address of
`X-Forwarded-For` that is not itself a trusted proxy: what the proxies appended, not what
the client wrote at the left.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import Scope

from .config import ServerConfig

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 32  # forwarding chains longer than this are cut (their left end is the client's)


def parse_proxies(entries: Iterable[str]) -> tuple[Network, ...]:
    """The networks of `--trusted-proxy` entries (an address or a CIDR network each)."""
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"trusted proxy {entry!r} is not an IP address or network "
                "(e.g. 127.0.0.1, ::1 or 10.0.0.0/8)"
            ) from None
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_proxies(entries)


def _address(text: str) -> Address | None:
    """An address as written in a peer or a forwarding header ("1.2.3.4:80", "[::1]")."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(addr: Address, networks: tuple[Network, ...]) -> bool:
    mapped = getattr(addr, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return any(addr in n or (mapped is not None and mapped in n) for n in networks)


def _scope_of(request_or_scope: Any) -> Scope:
    return getattr(request_or_scope, "scope", request_or_scope)  # type: ignore[no-any-return]


def _from_trusted_proxy(scope: Scope, config: ServerConfig) -> bool:
    networks = _networks(tuple(config.trusted_proxies))
    client = scope.get("client")
    peer = _address(str(client[0])) if client else None
    return bool(networks) and peer is not None and _trusted(peer, networks)


def client_address(request_or_scope: Any, config: ServerConfig) -> str:
    """The calling client's address, for rate limits and logs (a Request, WebSocket or scope).

    The connection's peer, unless the peer is a trusted proxy: then the right-most
    `X-Forwarded-For` address that is not a trusted proxy (if an entry there is not an
    address, the trusted hop that passed it on is the client as far as we can know).
    """
    scope = _scope_of(request_or_scope)
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not _from_trusted_proxy(scope, config):
        return peer
    networks = _networks(tuple(config.trusted_proxies))
    hops = [h for v in Headers(scope=scope).getlist("x-forwarded-for") for h in v.split(",")]
    last = str(_address(peer))
    for hop in reversed(hops[-MAX_HOPS:]):
        addr = _address(hop)
        if addr is None:
            return last
        if not _trusted(addr, networks):
            return str(addr)
        last = str(addr)
    return last


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL or an Origin header, lower-case; "" if it has none."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origins(request_or_scope: Any, config: ServerConfig) -> set[str]:
    """The origins whose pages may call this server with its cookie.

    This server as the request addressed it (scheme and `Host`), as a trusted proxy says it
    was addressed (`X-Forwarded-Proto` and `-Host`), and every `--cors-origin`.
    """
    scope = _scope_of(request_or_scope)
    headers = Headers(scope=scope)
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    host = headers.get("host", "")
    out = {o for o in (origin_of(f"{scheme}://{host}"),) if o}
    if _from_trusted_proxy(scope, config):
        proto = headers.get("x-forwarded-proto", scheme).split(",")[0].strip().lower()
        fwd_host = headers.get("x-forwarded-host", host).split(",")[0].strip()
        if proto in ("http", "https") and fwd_host:
            out.add(origin_of(f"{proto}://{fwd_host}"))
    out.update(origin_of(o) for o in config.cors_origins)
    out.discard("")
    return out
