"""The hub: every live group of one process, fed by the engine's committed change events in seq order.

Subscriptions asking the same thing share one group (:class:`objectql.realtime.live.LiveGroup`) — the rows
of a view, a live window or a live aggregate alike — found here by key. Groups whose view pins a field to
values (``status = "paid"``, ``id = "ord_1"``) are indexed by those values, so an event only visits the
groups it can affect plus the few unpinned ones, whatever their kind. The hub knows no kind and no wire
format: what a change means to a group is the group's (:mod:`~objectql.realtime.rows`,
:mod:`~objectql.realtime.windows`, :mod:`~objectql.realtime.aggregates`), how it is framed the transport's.

Delivery order and exactness: one dispatcher task takes events from the :class:`EventFeed` in seq order and
hands each to its groups without awaiting anything, so groups are only ever joined or left between two
events, and every group sees events in seq order, each at most once. A group that needs I/O (a GraphQL
render, a read of the database) does it in a task of its own, spawned here, so it never holds the
dispatcher up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Hashable, Sequence
from typing import Any, TypeVar

from objectql.engine.events import ChangeEvent
from objectql.realtime.feed import EventFeed
from objectql.realtime.live import LiveGroup
from objectql.realtime.related import Read, RelatedReads, RelatedRows

log = logging.getLogger("objectql.realtime")

G = TypeVar("G", bound=LiveGroup)


class _ObjectIndex:
    """The groups of one object, indexed by the field values their views pin."""

    def __init__(self) -> None:
        self.by_value: dict[str, dict[Any, set[LiveGroup]]] = {}
        self.unpinned: set[LiveGroup] = set()

    def add(self, group: LiveGroup) -> None:
        pinned = group.pinned
        if pinned is None:
            self.unpinned.add(group)
            return
        name, values = pinned
        slots = self.by_value.setdefault(name, {})
        for value in values:
            slots.setdefault(value, set()).add(group)

    def remove(self, group: LiveGroup) -> None:
        pinned = group.pinned
        if pinned is None:
            self.unpinned.discard(group)
            return
        name, values = pinned
        slots = self.by_value.get(name, {})
        for value in values:
            bucket = slots.get(value)
            if bucket is not None:
                bucket.discard(group)
                if not bucket:
                    del slots[value]
        if not slots:
            self.by_value.pop(name, None)

    def candidates(self, event: ChangeEvent) -> list[LiveGroup]:
        found: dict[LiveGroup, None] = dict.fromkeys(self.unpinned)
        for name, slots in self.by_value.items():
            for state in (event.record, event.previous):
                if state is None:
                    continue
                value = state.get(name)
                if value is None:
                    continue
                try:
                    bucket = slots.get(value)
                except TypeError:  # an unhashable value cannot equal a pinned scalar
                    continue
                if bucket:
                    found.update(dict.fromkeys(bucket))
        return list(found)

    def __len__(self) -> int:
        return len(self.unpinned) + sum(len(s) for slots in self.by_value.values() for s in slots.values())


def _depends_on(group: LiveGroup) -> set[str]:
    """The objects ``group`` depends on (its records carry their data, or its view goes through them)."""
    relations: RelatedRows | None = getattr(group, "relations", None)
    return set(relations.objects) if relations is not None else set()


async def _no_reads(object_name: str, field: str, values: Sequence[Any], seq: int) -> list[dict[str, Any]]:
    raise RuntimeError("this hub was made without a way to read related records")


class Hub:
    """Owns the groups, the dispatcher task and the tasks the groups run."""

    def __init__(self, feed: EventFeed, read: Read | None = None) -> None:
        self.feed = feed
        self._groups: dict[Hashable, LiveGroup] = {}
        self._indexes: dict[str, _ObjectIndex] = {}
        # The dependency index: an object -> the groups whose records carry data of its records.
        self._dependents: dict[str, dict[LiveGroup, None]] = {}
        # Records as of a seq, read once for every dependent group asking the same about one event.
        self._reads = RelatedReads(read or _no_reads, self.spawn)
        self._task: asyncio.Task[None] | None = None
        self._workers: set[asyncio.Task[None]] = set()
        self.delivered_seq = feed.last_seq
        # The seq of the last event dispatched of each object (the state of a group of that object is as of it).
        self._object_seqs: dict[str, int] = {}
        self.dispatched = 0  # events fanned out since start (a metric)
        self._progress = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="objectql hub")

    async def stop(self) -> None:
        for group in list(self._groups.values()):
            group.close()
        self._groups.clear()
        self._indexes.clear()
        tasks = [t for t in (self._task, *self._workers) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self._workers.clear()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start a task the hub owns (a group's render or read): cancelled and awaited by :meth:`stop`."""
        task = asyncio.get_running_loop().create_task(coro, name="objectql group")
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)
        return task

    async def _run(self) -> None:
        while True:
            try:
                events = await self.feed.next_batch()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The outbox could not be read (database away): retry; nothing is skipped because
                # the feed only advances past events it has returned.
                log.exception("reading change events failed; retrying")
                await asyncio.sleep(1.0)
                self.feed.mark_behind()
                continue
            for event in events:
                self.dispatch(event)
            self._progress.set()
            self._progress = asyncio.Event()

    async def caught_up(self, seq: int, limit: float = 5.0) -> bool:
        """Wait until every event up to ``seq`` has been dispatched (False on timeout)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while self.delivered_seq < seq:
            if self.feed.last_seq < seq:
                self.feed.signal(seq)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        return True

    async def drained(self) -> None:
        """Wait until the tasks the groups run now (renders and reads, and what queued behind them) are done."""
        while self._workers:
            await asyncio.gather(*list(self._workers), return_exceptions=True)

    # -- groups --------------------------------------------------------------------------------

    def group_for(self, key: Hashable, make: Callable[[], G]) -> tuple[G, bool]:
        """The group of ``key``, made by ``make`` and indexed when there is none yet; whether it is new."""
        group = self._groups.get(key)
        if group is not None:
            return group, False  # type: ignore[return-value]  # one key, one kind
        made = make()
        self._groups[key] = made
        self._indexes.setdefault(made.view.object, _ObjectIndex()).add(made)
        for name in _depends_on(made):
            self._dependents.setdefault(name, {})[made] = None
        return made, True

    async def related_read(self, object_name: str, field: str, values: Sequence[Any], seq: int) -> list[dict[str, Any]]:
        """The records of ``object_name`` whose ``field`` holds one of ``values`` as of ``seq`` (shared)."""
        # Each reader waits on its own future (shield): the shared read is neither cancelled by one reader's
        # group closing nor awaited twice as one future.
        found: list[dict[str, Any]] = await asyncio.shield(self._reads.read(object_name, field, values, seq))
        return found

    def release(self, group: LiveGroup) -> None:
        """Close ``group`` and forget it (its last subscription left, or it ended); idempotent."""
        group.close()
        if self._groups.get(group.key) is not group:
            return
        del self._groups[group.key]
        index = self._indexes.get(group.view.object)
        if index is not None:
            index.remove(group)
            if not len(index):
                del self._indexes[group.view.object]
        for name in _depends_on(group):
            dependents = self._dependents.get(name)
            if dependents is not None:
                dependents.pop(group, None)
                if not dependents:
                    del self._dependents[name]

    def dispatch(self, event: ChangeEvent) -> None:
        """Hand ``event`` to the groups it can concern; never waits."""
        index = self._indexes.get(event.object)
        if index is not None:
            for group in index.candidates(event):
                group.dispatch(event)
        dependents = self._dependents.get(event.object)
        if dependents is not None:
            for group in list(dependents):
                group.related(event)
        self.dispatched += 1
        self.delivered_seq = self._object_seqs[event.object] = event.seq

    def object_seq(self, object_name: str) -> int:
        """The seq of the last event of ``object_name`` dispatched (0 when none was, since start)."""
        return self._object_seqs.get(object_name, 0)

    # -- introspection (tests, metrics) --------------------------------------------------------

    def groups_of(self, kind: type[G]) -> list[G]:
        """The groups of one kind."""
        return [g for g in self._groups.values() if isinstance(g, kind)]

    @property
    def subscription_count(self) -> int:
        return sum(g.size for g in self._groups.values())

    @property
    def group_count(self) -> int:
        return len(self._groups)


__all__ = ["Hub"]
