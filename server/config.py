"""Settings of one server process (from `workbench serve` flags or the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from workbench.live.host import SNAPSHOT_EVERY, SNAPSHOT_SECONDS


def _list_from_env(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    return tuple(o.strip() for o in raw.split(",") if o.strip())


def _origins_from_env() -> tuple[str, ...]:
    return _list_from_env("WORKBENCH_CORS_ORIGINS")


def _proxies_from_env() -> tuple[str, ...]:
    return _list_from_env("WORKBENCH_TRUSTED_PROXIES")


def parse_limit(text: str) -> tuple[int, float]:
    """`"10/600"` (attempts per seconds) as (10, 600.0); ValueError saying what is wrong."""
    count, sep, seconds = text.partition("/")
    try:
        limit = (int(count), float(seconds))
    except ValueError:
        limit = (0, 0.0)
    if not sep or not text.isascii() or limit[0] < 1 or not 0 < limit[1] < 10**9:
        raise ValueError(f"a rate limit is ATTEMPTS/SECONDS such as 10/600, not {text!r}")
    return limit


def register_limit_from_env() -> tuple[int, float]:
    """`WORKBENCH_REGISTER_LIMIT` (ATTEMPTS/SECONDS), else 10 per 10 minutes."""
    raw = os.environ.get("WORKBENCH_REGISTER_LIMIT", "").strip()
    try:
        return parse_limit(raw) if raw else (10, 600.0)
    except ValueError as e:
        raise ValueError(f"WORKBENCH_REGISTER_LIMIT: {e}") from None


@dataclass
class ServerConfig:
    """Everything a server needs; the defaults are what `make run` uses."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    feed: str = "backpack"
    symbols: tuple[str, ...] = ("BTC_USDC", "ETH_USDC", "SOL_USDC")
    backpack_url: str = "wss://ws.backpack.exchange"
    fallback_after: float = 5.0
    replay_speed: float = 1.0
    replay_delay: float = 0.0  # seconds before a replay feed starts
    cors_origins: tuple[str, ...] = field(default_factory=_origins_from_env)
    max_body_bytes: int = 64 * 1024
    token_ttl_s: int = 24 * 3600
    login_per_email: tuple[int, float] = (5, 300.0)
    login_per_client: tuple[int, float] = (30, 60.0)
    # registrations per client address; None: `WORKBENCH_REGISTER_LIMIT` or 10 per 10 min
    register_per_client: tuple[int, float] | None = None
    # proxies whose X-Forwarded-For is believed (addresses or networks)
    trusted_proxies: tuple[str, ...] = field(default_factory=_proxies_from_env)
    snapshot_every: int = SNAPSHOT_EVERY
    snapshot_seconds: float = SNAPSHOT_SECONDS
    secure_cookies: bool = False  # set on when served over https
    dashboard: bool = True  # the Panel pages at /dashboard
    replay_workers: int = 2  # replay pages playing at once, each in a worker process
    local_account: str | None = None  # `workbench dashboard`: one local user, no login
    tick_store: Path | None = None  # default: data_dir / workbench.duckdb

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def tick_db(self) -> Path:
        return self.tick_store or self.data_dir / "workbench.duckdb"
