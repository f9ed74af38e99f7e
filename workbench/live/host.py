"""A live engine in a data directory: recovered on start, sequenced, journaled, with history.

    data/
      journal/journal-<first record>.jsonl    every input, as scenario lines
      snapshots/snapshot-<record>.snap        checksummed engine snapshots
      accounts.duckdb                         the history of events (and the server's users)

`LiveEngine(data_dir).start()` recovers (latest valid snapshot + the journal after it),
stores the replayed events the history is missing, and starts the sequencer.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..feeds.backpack_client import now_us
from .history import History
from .journal import JournalWriter
from .recovery import Recovered, recover
from .sequencer import Sequencer
from .sink import QuoteColumns
from .snapshots import SnapshotStore

log = logging.getLogger(__name__)

Event = dict[str, Any]

#: Snapshot after this many inputs or this many seconds, whichever comes first (see
#: docs/server.md: recovery replays at most this many journal records).
SNAPSHOT_EVERY = 100_000
SNAPSHOT_SECONDS = 300.0


@dataclass
class LivePaths:
    root: Path

    @property
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def accounts_db(self) -> Path:
        return self.root / "accounts.duckdb"


class LiveEngine:
    """Owns the engine of a data directory while running; talk to it through `sequencer`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Callable[[], int] = now_us,
        snapshot_every: int = SNAPSHOT_EVERY,
        snapshot_seconds: float = SNAPSHOT_SECONDS,
        history: History | None = None,
    ) -> None:
        self.paths = LivePaths(Path(data_dir))
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.snapshot_every = snapshot_every
        self.snapshot_seconds = snapshot_seconds
        self.history = history or History.open(self.paths.accounts_db)
        self.snapshots = SnapshotStore(self.paths.snapshots)
        self._publishers: list[Callable[[list[Event], QuoteColumns], None]] = []
        self.recovered: Recovered | None = None
        self.sequencer: Sequencer | None = None

    def add_publisher(self, fn: Callable[[list[Event], QuoteColumns], None]) -> None:
        """Call `fn(events, quotes)` after each durable batch (must not block)."""
        self._publishers.append(fn)

    def _publish(self, events: list[Event], quotes: QuoteColumns) -> None:
        for fn in self._publishers:
            fn(events, quotes)

    def start(self) -> Recovered:
        """Recover the engine and start its sequencer."""
        rec = recover(
            self.paths.journal, self.snapshots, history_seq=self.history.max_seq,
            history_idx=self.history.max_idx, freeze=True,
        )  # fmt: skip
        log.debug(
            "recovered in %.3f s: snapshot %s + %d journal records (%d events to store again)",
            rec.seconds, rec.snapshot_index, rec.replayed, len(rec.events),
        )  # fmt: skip
        journal = JournalWriter(self.paths.journal, rec.index + 1)
        self.sequencer = Sequencer(
            rec.engine,
            journal,
            self.snapshots,
            clock=self.clock,
            on_durable=self.history.put,
            before_snapshot=self.history.wait,
            on_publish=self._publish,
            snapshot_every=self.snapshot_every,
            snapshot_seconds=self.snapshot_seconds,
        )
        # The replayed events the history lacks are stored by its writer, first thing: ready
        # to serve meanwhile (reads of the history wait for them).
        self.history.start(0)
        self.history.put(rec.events, rec.commands, rec.index)
        self.sequencer.start()
        self.recovered = rec
        return rec

    def stop(self) -> None:
        """Apply and journal what is queued, write a last snapshot, stop."""
        if self.sequencer is not None:
            self.sequencer.stop()
        self.history.stop()
        gc.unfreeze()  # what recovery froze may be freed again (and at exit, cleanly)
