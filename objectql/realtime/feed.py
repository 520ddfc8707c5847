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
        # The highest seq this process has heard of (its own commits, other processes' signals): at
        # least what any commit that finished before now in this process took.
        self.known_seq = start
        self._inbox: asyncio.Queue[list[ChangeEvent] | int] = asyncio.Queue(maxsize=INBOX_SIZE)
        self._behind = False

    def notify(self, events: list[ChangeEvent]) -> None:
        """Committed events from this process (called after the commit; never waits)."""
        if events:
            self.known_seq = max(self.known_seq, max(e.seq for e in events))
        self._offer(events)

    def signal(self, seq: int) -> None:
        """Some process committed up to ``seq``."""
        self.known_seq = max(self.known_seq, seq)
        self._offer(seq)

    def mark_behind(self) -> None:
        """Catch up from the outbox on the next pass (after a failed read, or a broker gap)."""
        self._behind = True
        self._offer(self.last_seq)

    def _offer(self, item: list[ChangeEvent] | int) -> None:
        try:
            self._inbox.put_nowait(item)
        except asyncio.QueueFull:
            self._behind = True

    async def next_batch(self) -> list[ChangeEvent]:
        """The next events after ``last_seq``, contiguous and in order (waits until there are some).

        ``last_seq`` only moves when events are returned: a failed read loses nothing.
        """
        while True:
            item = await self._inbox.get()
            if self._behind:
                item = await self._current_seq()
                self._behind = False
            events = await self._continue_to(item)
            if events:
                self.last_seq = events[-1].seq
                return events

    async def _continue_to(self, item: list[ChangeEvent] | int) -> list[ChangeEvent]:
        out: list[ChangeEvent] = []
        cursor = self.last_seq
        if isinstance(item, int):
            await self._fill(cursor, item, out)
            return out
        for event in sorted(item, key=lambda e: e.seq):
            cursor = out[-1].seq if out else cursor
            if event.seq <= cursor:
                continue
            if event.seq > cursor + 1:
                await self._fill(cursor, event.seq - 1, out)
            out.append(event)
        return out

    async def _fill(self, after: int, upto: int, out: list[ChangeEvent]) -> None:
        """Read ``(after, upto]`` from the outbox into ``out``."""
        while after < upto:
            events = [e for e in await self._read(after, READ_BATCH) if e.seq <= upto]
            if not events:
                # Seqs are taken at commit, so everything up to a seen seq is committed; an empty
                # read means those rows were pruned: nothing to deliver below ``upto``.
                return
            out.extend(events)
            after = events[-1].seq
