"""The shared states of one process's live aggregates or live windows, found by key and fed by the hub.

Subscriptions asking for the same thing (equal view and equal aggregate or window) share one group; the
hub hands every change event to :meth:`LiveGroups.dispatch`, which passes it to the groups of its object.
A group is made and started when its first subscriber comes and closed when its last one goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, Protocol, TypeVar

from objectql.engine.events import ChangeEvent
from objectql.errors import InternalError, ObjectQLError, Unavailable
from objectql.realtime.source import ChangeSource

log = logging.getLogger("objectql.realtime")

Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
# Frames a group's shared text (a fragment, or a rendered GraphQL result) as one subscriber's message,
# given the seq it is consistent with.
Frame = Callable[[str, int], str]
# Ends one subscription of a group with an error, the transport's way (an error message, the end of a stream).
Ending = Callable[[ObjectQLError], None]
# How often a group whose read failed reads again.
RETRY_SECONDS = 1.0


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

    def __init__(self, spawn: Spawn) -> None:
        self._spawn = spawn
        self.seq = 0
        self._ready = False
        self._waiting: list[ChangeEvent] = []
        self._reading: asyncio.Task[None] | None = None
        # The last read failed and a retry is due.
        self.failing = False
        # Closed (its last subscriber left, or it ended): it reads, applies and sends nothing more.
        self.closed = False

    def start(self) -> None:
        self.read()

    def read(self) -> None:
        self._ready = False
        if self._reading is None and not self.closed:
            self._reading = self._spawn(self._load())

    async def _load(self) -> None:
        while True:
            try:
                seq, data = await self.fetch()
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
        for event in waiting:
            self.dispatch(event)
        if self._ready and not self.closed:
            self.settled()

    def dispatch(self, event: ChangeEvent) -> None:
        if self.closed or event.seq <= self.seq:
            return  # closed meanwhile (an event before this one ended it), or covered by what was read
        if not self._ready:
            self._waiting.append(event)
            return
        self.seq = event.seq
        self.apply(event)

    async def fetch(self) -> tuple[int, Any]:
        raise NotImplementedError

    def loaded(self, seq: int, data: Any) -> None:
        raise NotImplementedError

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


class LiveGroup(Protocol):
    @property
    def key(self) -> Hashable: ...

    @property
    def object(self) -> str: ...

    def start(self) -> None: ...

    def dispatch(self, event: ChangeEvent) -> None: ...

    def close(self) -> None: ...


G = TypeVar("G", bound=LiveGroup)


class LiveGroups(Generic[G]):
    def __init__(self, source: ChangeSource, spawn: Spawn) -> None:
        self.source = source
        self.spawn = spawn
        self._groups: dict[Hashable, G] = {}
        self._by_object: dict[str, set[G]] = {}

    def group_for(self, key: Hashable, make: Callable[[], G]) -> G:
        """The group of ``key``; made by ``make`` and started when there is none yet."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = make()
            self._by_object.setdefault(group.object, set()).add(group)
            group.start()
        return group

    def release(self, group: G) -> None:
        """Close ``group`` (its last subscriber left)."""
        group.close()
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
        siblings = self._by_object.get(group.object)
        if siblings is not None:
            siblings.discard(group)
            if not siblings:
                del self._by_object[group.object]

    def dispatch(self, event: ChangeEvent) -> None:
        for group in list(self._by_object.get(event.object, ())):
            group.dispatch(event)

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def close(self) -> None:
        for group in self._groups.values():
            group.close()
        self._groups.clear()
        self._by_object.clear()
