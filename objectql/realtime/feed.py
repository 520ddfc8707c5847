"""The event feed: committed change events in seq order, each once, with no gaps.

Committing writers in this process hand their events over directly (the fast path); other processes'
commits arrive as seq signals through the fan-out backend. Either way the feed checks continuity
against the last seq it delivered and reads any gap from the outbox, so events that finish out of order,
signals that were dropped, or a broker that was away never make it skip an event.

Overflow policy of the inbox (bounded): a notification that does not fit is dropped and the feed
marks itself behind; the next pass catches up from the outbox, which has every committed event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from objectql.engine.events import ChangeEvent

INBOX_SIZE = 10_000
READ_BATCH = 1000

ReadEvents = Callable[[int, int], Awaitable[list[ChangeEvent]]]
CurrentSeq = Callable[[], Awaitable[int]]


class EventFeed:
    def __init__(self, read: ReadEvents, current_seq: CurrentSeq, *, start: int = 0) -> None:
        self._read = read
        self._current_seq = current_seq
        self.last_seq = start
        self._inbox: asyncio.Queue[list[ChangeEvent] | int] = asyncio.Queue(maxsize=INBOX_SIZE)
        self._behind = False

    def notify(self, events: list[ChangeEvent]) -> None:
        """Committed events from this process (called after the commit; never waits)."""
        self._offer(events)

    def signal(self, seq: int) -> None:
        """Some process committed up to ``seq``."""
        self._offer(seq)

    def _offer(self, item: list[ChangeEvent] | int) -> None:
        try:
            self._inbox.put_nowait(item)
        except asyncio.QueueFull:
            self._behind = True

    async def next_batch(self) -> list[ChangeEvent]:
        """The next events after ``last_seq``, contiguous and in order (waits until there are some)."""
        while True:
            item = await self._inbox.get()
            if self._behind:
                self._behind = False
                item = await self._current_seq()
            events = await self._continue_to(item)
            if events:
                return events

    async def _continue_to(self, item: list[ChangeEvent] | int) -> list[ChangeEvent]:
        out: list[ChangeEvent] = []
        if isinstance(item, int):
            await self._fill(item, out)
            return out
        for event in sorted(item, key=lambda e: e.seq):
            if event.seq <= self.last_seq:
                continue
            if event.seq > self.last_seq + 1:
                await self._fill(event.seq - 1, out)
            out.append(event)
            self.last_seq = event.seq
        return out

    async def _fill(self, upto: int, out: list[ChangeEvent]) -> None:
        """Read ``(last_seq, upto]`` from the outbox into ``out``."""
        while self.last_seq < upto:
            events = await self._read(self.last_seq, READ_BATCH)
            events = [e for e in events if e.seq <= upto]
            if not events:
                # Seqs are taken at commit, so everything up to a seen seq is committed; an empty
                # read means those rows were pruned: skip to ``upto`` rather than spin.
                self.last_seq = upto
                return
            out.extend(events)
            self.last_seq = events[-1].seq
