"""`FakeBackpack` on its own event loop in a daemon thread, for synchronous code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from workbench.testing.backpack_frames import Frame, Step
from workbench.testing.fake_backpack import FakeBackpack

T = TypeVar("T")


class FakeBackpackThread:
    """`FakeBackpack` on its own event loop in a daemon thread, with blocking methods.

    For synchronous tests and notebooks: `with FakeBackpackThread() as fake: fake.url`.
    """

    def __init__(self, **kwargs: Any) -> None:
        """Start the server; keyword arguments go to `FakeBackpack`."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-backpack", daemon=True
        )
        self._thread.start()
        self.fake = FakeBackpack(**kwargs)
        self.call(self.fake.start())

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the fake's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def url(self) -> str:
        """`ws://127.0.0.1:<port>`."""
        return self.fake.url

    def publish(self, frame: Frame) -> int:
        """See `FakeBackpack.publish`."""
        return self.call(self.fake.publish(frame))

    def send_raw(self, text: str, stream: str | None = None) -> int:
        """See `FakeBackpack.send_raw`."""
        return self.call(self.fake.send_raw(text, stream))

    def send_error(self, code: int, message: str) -> int:
        """See `FakeBackpack.send_error`."""
        return self.call(self.fake.send_error(code, message))

    def drop(self) -> int:
        """See `FakeBackpack.drop`."""
        return self.call(self.fake.drop())

    def close_connections(self, code: int = 1001, reason: str = "going away") -> int:
        """See `FakeBackpack.close_connections`."""
        return self.call(self.fake.close_connections(code, reason))

    def blackhole(self) -> int:
        """See `FakeBackpack.blackhole`."""
        return self.call(self.fake.blackhole())

    def wait_subscribed(
        self, streams: Iterable[str], *, connection: int | None = None, timeout: float = 10.0
    ) -> int:
        """See `FakeBackpack.wait_subscribed`."""
        return self.call(
            self.fake.wait_subscribed(streams, connection=connection, timeout=timeout), timeout + 5
        )

    def refuse(self, count: int) -> None:
        """See `FakeBackpack.refuse`."""
        self._loop.call_soon_threadsafe(self.fake.refuse, count)

    def play(self, script: Iterable[Step]) -> None:
        """See `FakeBackpack.play`."""
        self.call(self.fake.play(list(script)), None)

    def stop(self) -> None:
        """Stop the server and its thread."""
        if self._loop.is_closed():
            return
        self.call(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FakeBackpackThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
