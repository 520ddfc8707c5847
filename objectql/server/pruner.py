"""The outbox pruner: deletes change events older than ``outbox_retention``, periodically.

The engine keeps every event until asked to prune; this task owns the asking. A failed run (the
database briefly unreachable, say) is logged and retried at the next interval rather than ending the
task, since an outbox that is pruned late is harmless and one that is never pruned again is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from objectql.engine.core import ObjectQL

log = logging.getLogger("objectql.server")

MAX_INTERVAL = 3600.0


def prune_interval(retention: float) -> float:
    """A tenth of the retention window, capped at an hour: events outlive retention by ≤ 10 %."""
    return max(1.0, min(MAX_INTERVAL, retention / 10))


class OutboxPruner:
    def __init__(self, app: ObjectQL, interval: float | None = None) -> None:
        self.app = app
        self.interval = interval if interval is not None else prune_interval(app.outbox_retention)
        self._task: asyncio.Task[None] | None = None

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
        deleted = await self.app.prune_events()
        if deleted:
            log.info("outbox: pruned %d event(s) older than %ss", deleted, self.app.outbox_retention)
        return deleted

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("outbox: pruning failed; retrying in %ss", self.interval)
            await asyncio.sleep(self.interval)


__all__ = ["OutboxPruner", "prune_interval"]
