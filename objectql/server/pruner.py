"""The outbox pruner: deletes change events older than ``outbox_retention``, periodically.

The engine keeps every event until asked to prune; this task owns the asking. Each batch of deletions
is a write like any other (on SQLite it waits its turn for the one writer), so pruning never fails for
a lock other writers hold and never holds the writer long. A failed run (the database briefly
unreachable, say) is reported once per outage and retried at the next interval rather than ending the
task, since an outbox that is pruned late is harmless and one that is never pruned again is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from objectql.engine.core import DEFAULT_PRUNE_BATCH, ObjectQL
from objectql.engine.database import Outage
from objectql.errors import ObjectQLError

log = logging.getLogger("objectql.server")

MAX_INTERVAL = 3600.0


def prune_interval(retention: float) -> float:
    """A tenth of the retention window, capped at an hour: events outlive retention by ≤ 10 %."""
    return max(1.0, min(MAX_INTERVAL, retention / 10))


class OutboxPruner:
    def __init__(self, engine: ObjectQL, interval: float | None = None, *, batch: int = DEFAULT_PRUNE_BATCH) -> None:
        self.engine = engine
        self.interval = interval if interval is not None else prune_interval(engine.outbox_retention)
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._outage = Outage(
            log, f"outbox: pruning failed; retrying every {self.interval:g} s", "outbox: pruning works again"
        )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="objectql-outbox-pruner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """Prune now; returns how many events were deleted."""
        deleted = await self.engine.prune_events(batch=self.batch)
        if deleted:
            log.info("outbox: pruned %d event(s) older than %ss", deleted, self.engine.outbox_retention)
        return deleted

    async def tick(self) -> None:
        """One run as the task makes it: a failure is reported (once per outage), not raised."""
        try:
            await self.run_once()
        except ObjectQLError as exc:
            self._outage.failed(exc)
            return
        self._outage.recovered()

    async def _run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.interval)


__all__ = ["OutboxPruner", "prune_interval"]
