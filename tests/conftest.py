"""Test configuration: the helper modules in tests/ importable, and the shared fixtures of
the server tests (a fake Backpack, a real server fed by it, and a headless Chromium)."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from server_helpers import Market, Server, start_server, wait_price  # noqa: E402
from ticks_helpers import CAPTURES  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the real captures skip, saying why, in a clone without them (a user's);
    CI has them beside the repository, where these tests run."""
    if CAPTURES:
        return
    why = pytest.mark.skip(reason="the real captures are not beside this clone (../shared/data)")
    for item in items:
        if item.get_closest_marker("real_data"):
            item.add_marker(why)


@pytest.fixture(scope="module")
def market() -> Iterator[Market]:
    """A fake Backpack over real websockets, for one test module."""
    m = Market()
    yield m
    m.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, market: Market) -> Iterator[Server]:
    """A real `workbench serve` on `market`, LIVE with BTC_USDC at 60000 / 60000.5."""
    # a loaded machine can keep the fake quiet for seconds: no SIMULATED fallback meanwhile
    srv = start_server(tmp_path_factory.mktemp("served") / "data", feed="backpack",
                       backpack_url=market.url, extra=["--fallback-after", "120"])  # fmt: skip
    try:
        market.fake.wait_subscribed(["bookTicker.BTC_USDC"])
        with srv.client() as c:
            market.set("BTC_USDC", "60000", "60000.5")
            wait_price(c, "BTC_USDC", "60000")
        yield srv
    finally:
        assert srv.stop() == 0, srv.output()


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """Headless Chromium for one test module (imported here only when a test asks)."""
    from browser_helpers import chromium

    with chromium() as b:
        yield b
