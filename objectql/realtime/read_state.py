"""Read-then-keep state: what a live window or aggregate starts from and keeps up to date.

The state is read from the database together with the seq it is consistent with, then kept from the change
events the hub hands its group after that seq. Events arriving while it is read wait and are applied after
it. A group is made and started when its first subscription comes and closed when its last one goes (or
when it ends: a request the state cannot be kept for).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from objectql.engine.events import ChangeEvent
from objectql.engine.views import View
from objectql.errors import InternalError, ObjectQLError, Unavailable
from objectql.realtime.hub import Hub
from objectql.realtime.related import RelatedRows
from objectql.realtime.source import ChangeSource

log = logging.getLogger("objectql.realtime")

# How often a group whose read failed reads again.
RETRY_SECONDS = 1.0
# Overflow policy of the events waiting for a read (a slow database): past this many, they are dropped and the
# state is read once more when the read under way returns — that read, taken after them, covers them all.
WAITING = 10_000


class ReadState:
    """A group's state: read from the database together with the seq it is consistent with, then kept from
    the change events after that seq. Events arriving while it is read wait and are applied after it; a
    read that failed because the database is away (or any error but the request's own) is retried every
    :data:`RETRY_SECONDS`; one refused for what it asks (an :class:`ObjectQLError` that retrying cannot
    mend, such as too many groups) ends the group through :meth:`end`. Subclasses read in :meth:`fetch`,
    take the result in :meth:`loaded`, apply an event in :meth:`apply` (which may call :meth:`read` again),
    act once the state is current in :meth:`settled`, when a read failed in :meth:`failed`, and end every
    subscription in :meth:`end`."""

    what = "state"  # for the log

    def __init__(self, hub: Hub, source: ChangeSource, view: View) -> None:
        self.hub = hub
        self.source = source
        self.view = view
        self.object = view.object
        self.pinned = view.equality()
        # A view through relations (paths, any / none) depends on other objects: the hub's dependency index
        # hands it their events, and every change it sees reads the state again rather than applying it.
        relations = RelatedRows(view, ())
        self.relations = relations if relations.routes else None
        self.seq = 0
        self._ready = False
        self._waiting: list[ChangeEvent] = []
        # Waiting events were dropped: the read under way is too old, read again.
        self._stale = False
        # The events that waited for a read are being applied.
        self._replaying = False
        self._reading: asyncio.Task[None] | None = None
        # The last read failed and a retry is due.
        self.failing = False
        # Closed (its last subscriber left, or it ended): it reads, applies and sends nothing more.
        self.closed = False

    def start(self) -> None:
        self.read()

    def related(self, event: ChangeEvent) -> None:
        """An event of an object the view goes through (the hub's dependency index): it may change the state
        in ways the event's record alone does not tell, so the state is read again (that read covers it)."""
        self.dispatch(event)

    def read(self) -> None:
        self._ready = False
        if self._reading is None and not self.closed:
            self._reading = self.hub.spawn(self._load())

    async def _load(self) -> None:
        while True:
            try:
                seq, data = await self.fetch()
                if self._stale:
                    self._stale = False
                    continue  # events it may not cover were dropped: read again, at once
                break
            except Exception as exc:
                if isinstance(exc, ObjectQLError) and not isinstance(exc, Unavailable | InternalError):
                    self._reading = None  # refused for what it asks: retrying would not mend it
                    self.end(exc)
                    return
                if not self.failing:  # one report per outage
                    log.exception("reading a live %s failed; retrying every %g s", self.what, RETRY_SECONDS)
                self.failing = True
                self.failed()
            await asyncio.sleep(RETRY_SECONDS)  # still this group's task: closing the group cancels it
        self._reading = None
        self.failing = False
        self.seq = max(self.seq, seq)
        self._ready = True
        self.loaded(seq, data)
        waiting, self._waiting = self._waiting, []
        self._replaying = True
        try:
            for event in waiting:
                self.dispatch(event)
        finally:
            self._replaying = False
        if self._ready and not self.closed:
            self.settled()

    @property
    def label(self) -> int:
        """The seq the kept state is consistent with now: the last event of its object, which the group saw
        or, when the hub's index kept it from the group, could not have changed it."""
        if self._ready and not self._waiting and not self._replaying:
            return max(self.seq, self.hub.object_seq(self.object))
        return self.seq

    def dispatch(self, event: ChangeEvent) -> None:
        if self.closed or event.seq <= self.seq:
            return  # closed meanwhile (an event before this one ended it), or covered by what was read
        if not self._ready:
            if len(self._waiting) >= WAITING:
                self._waiting.clear()
                self._stale = True
            self._waiting.append(event)
            return
        self.seq = event.seq
        if self.relations is not None:
            self.reread()
            return
        self.apply(event)

    async def fetch(self) -> tuple[int, Any]:
        raise NotImplementedError

    def loaded(self, seq: int, data: Any) -> None:
        raise NotImplementedError

    def reread(self) -> None:
        """Read the state again after an event it cannot apply (a view through relations)."""
        self.read()

    def apply(self, event: ChangeEvent) -> None:
        raise NotImplementedError

    def settled(self) -> None:
        """The state is current (a read and the events that waited for it are applied)."""

    def failed(self) -> None:
        """A read failed; it is retried in :data:`RETRY_SECONDS`."""

    def end(self, error: ObjectQLError) -> None:
        """The state cannot be kept for what it was asked: end every subscription with ``error``."""
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True
        if self._reading is not None:
            self._reading.cancel()


__all__ = ["RETRY_SECONDS", "WAITING", "ReadState"]
