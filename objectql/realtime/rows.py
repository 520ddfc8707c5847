"""The rows of a view, kept live: every change an equal subscription sees, evaluated and rendered once.

Subscriptions with equal views (object, filter with bound row rules, projected fields) and equal renderers
form one :class:`RowsGroup`: each event is evaluated and rendered once per group, then the same text goes
to every member, framed for its transport. A render that needs I/O (GraphQL lookups) never holds the hub's
dispatcher up: its group finishes that event, and queues the next ones behind it, in a task of its own, so
one slow group delays only its own members.

A new subscription joins between two events; while its snapshot or replay is being read, its live messages
are held in a bounded buffer and released after, minus what the snapshot or replay already covered (see
:mod:`objectql.realtime.opening`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from objectql.engine.events import ChangeEvent
from objectql.engine.views import View
from objectql.realtime import eager
from objectql.realtime.changes import CHANGE, Renderer
from objectql.realtime.connection import Connection
from objectql.realtime.hub import Hub
from objectql.realtime.live import Frame, share_frames
from objectql.realtime.related import Carries, RelatedRows
from objectql.realtime.vocabulary import CLOSE_TRY_AGAIN, SLOW_CONSUMER

log = logging.getLogger("objectql.realtime")

# Overflow policy of a group's render backlog (events waiting behind a render that is doing I/O): past
# this many, every member's connection is closed with 1013 and the backlog dropped; the clients resume
# from their last seq, so nothing is lost to them.
RENDER_BACKLOG = 1000


class Enclosed:
    """A frame that puts a fixed prefix and suffix around the fragment (the subscriber's id, usually).

    Equal frames are one object while any subscription holds them (identity is equality), so a group's
    members framed alike find their shared message by identity.
    """

    __slots__ = ("__weakref__", "prefix", "suffix")
    prefix: bytes
    suffix: bytes
    _interned: ClassVar[weakref.WeakValueDictionary[tuple[str, str], Enclosed]] = weakref.WeakValueDictionary()

    def __new__(cls, prefix: str = "", suffix: str = "") -> Enclosed:
        key = (prefix, suffix)
        frame = cls._interned.get(key)
        if frame is None:
            frame = super().__new__(cls)
            frame.prefix = prefix.encode("utf-8")
            frame.suffix = suffix.encode("utf-8")
            cls._interned[key] = frame
        return frame

    def __call__(self, seq: int, fragment: bytes) -> bytes:
        return self.prefix + fragment + self.suffix


@dataclass(eq=False)
class RowsSubscription:
    """One client's subscription to the rows of a view, delivered to one connection under the client's id."""

    conn: Connection
    client_id: str
    view: View
    frame: Frame = field(default_factory=Enclosed)
    renderer: Renderer = CHANGE
    # While a snapshot or replay is read: held (seq, message) pairs; None once live.
    held: list[tuple[int, bytes]] | None = None
    # Live events at or below this seq were covered by the snapshot or replay.
    covered: int = 0
    group: RowsGroup | None = field(default=None, repr=False)

    def drop(self) -> None:
        """Leave its group (idempotent)."""
        group, self.group = self.group, None
        if group is not None:
            group.leave(self)

    def deliver(self, seq: int, message: bytes) -> None:
        if self.held is not None:
            if len(self.held) >= self.conn.queue_size:
                self.conn.abort_with(CLOSE_TRY_AGAIN, SLOW_CONSUMER)
                return
            self.held.append((seq, message))
        elif seq > self.covered:
            self.conn.push(message)

    def go_live(self, covered: int) -> None:
        """Release held live messages newer than ``covered``; deliver directly from now on."""
        held, self.held = self.held or [], None
        self.covered = covered
        for seq, message in held:
            if seq > covered:
                self.conn.push(message)


class RowsGroup:
    """Subscriptions to the rows of one view with one renderer: one evaluation and one payload per event.

    Events are rendered in seq order. A render that suspends (I/O) is finished by the group's worker
    task, and events arriving meanwhile wait in the group's bounded backlog behind it.
    """

    __slots__ = ("_backlog", "_hub", "_worker", "key", "members", "pinned", "relations", "renderer", "view")

    def __init__(self, hub: Hub, view: View, renderer: Renderer) -> None:
        self._hub = hub
        self.view = view
        self.renderer = renderer
        self.key = group_key(view, renderer)
        self.members: dict[RowsSubscription, None] = {}
        self.pinned = view.equality()
        # The other objects its records carry data of or its view goes through (the hub's dependency index
        # hands it their events).
        self.relations = relations_of(view, renderer)
        # Events waiting behind a render doing I/O, each with whether it is a related record's.
        self._backlog: deque[tuple[ChangeEvent, bool]] = deque()
        self._worker: asyncio.Task[None] | None = None

    @property
    def size(self) -> int:
        return len(self.members)

    def leave(self, sub: RowsSubscription) -> None:
        self.members.pop(sub, None)
        if not self.members:
            self._hub.release(self)

    def close(self) -> None:
        self._backlog.clear()  # a render in flight finishes and finds nobody to deliver to

    def dispatch(self, event: ChangeEvent) -> None:
        """Deliver ``event`` now, or after the renders in flight when there are some."""
        self._take(event, False)

    def related(self, event: ChangeEvent) -> None:
        """An event of an object this group's records carry data of (the hub's dependency index): the
        ``related`` changes it makes, in seq order with the group's own events."""
        self._take(event, True)

    def _take(self, event: ChangeEvent, related: bool) -> None:
        if self._worker is not None:
            if len(self._backlog) >= RENDER_BACKLOG:
                self._overflow()
                return
            self._backlog.append((event, related))
            return
        pending = self._render(event, related)
        if pending is not None:
            self._worker = self._hub.spawn(self._drain(event, *pending))

    @property
    def busy(self) -> bool:
        """Whether renders are in flight (their messages are still to come)."""
        return self._worker is not None

    def _render(self, event: ChangeEvent, related: bool = False) -> tuple[Coroutine[Any, Any, Any], Any] | None:
        """Render and deliver ``event``; returns the suspended render when it needs I/O."""
        try:
            fragment: Any
            relations, read = self.relations, self._hub.related_read
            if related:
                assert relations is not None
                fragment = relations.related(event, partial(_rendered, self.renderer), read)
            elif relations is not None and relations.through:
                fragment = relations.own(event, partial(_rendered, self.renderer), read)
            else:
                fragment = self.renderer(self.view, event)
            if inspect.isawaitable(fragment):
                coro = fragment if inspect.iscoroutine(fragment) else _awaited(fragment)
                fragment, suspended_on = eager.begin(coro)
                if not eager.finished(fragment):
                    return coro, suspended_on
        except Exception:
            self._failed(event)
            return None
        self._deliver(event, fragment)
        return None

    async def _drain(self, event: ChangeEvent, coro: Coroutine[Any, Any, Any], suspended_on: Any) -> None:
        try:
            while True:
                try:
                    fragment = await eager.finish(coro, suspended_on)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self._failed(event)
                else:
                    self._deliver(event, fragment)
                if not self.members:
                    self._backlog.clear()  # the group was dropped: nobody is waiting for these
                pending = None
                while pending is None and self._backlog:
                    event, related = self._backlog.popleft()
                    pending = self._render(event, related)
                if pending is None:
                    return
                coro, suspended_on = pending
        finally:
            self._worker = None

    def _deliver(self, event: ChangeEvent, fragment: str | list[str] | None) -> None:
        if fragment is None:
            return
        seq = event.seq
        members = list(self.members)
        frames = [sub.frame for sub in members]
        for text in [fragment] if isinstance(fragment, str) else fragment:
            # Members framed alike (the same subscription id, say) share one message object.
            for sub, message in zip(members, share_frames(seq, text.encode("utf-8"), frames), strict=True):
                sub.deliver(seq, message)

    def _failed(self, event: ChangeEvent) -> None:
        """A render failed (an expand's read with the database away): its message cannot be sent, and no
        member may silently miss it, so each member's connection is closed with 1013 (try again); clients
        resume from their last seq and get it then."""
        log.exception("rendering seq %s failed; closing the connections of its %d subscribers", event.seq, self.size)
        for sub in list(self.members):
            sub.conn.abort_with(CLOSE_TRY_AGAIN, "try again")

    def _overflow(self) -> None:
        log.warning("a subscription group fell %d events behind rendering; closing its connections", RENDER_BACKLOG)
        self._backlog.clear()
        for sub in list(self.members):
            sub.conn.abort_with(CLOSE_TRY_AGAIN, "overloaded")


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def relations_of(view: View, renderer: Renderer) -> RelatedRows | None:
    """What related changes mean to ``view``'s rows rendered by ``renderer`` (None: it depends on nothing)."""
    carries: tuple[Carries, ...] = getattr(renderer, "carries", ())
    relations = RelatedRows(view, carries)
    return relations if relations.routes else None


async def _rendered(renderer: Renderer, view: View, event: ChangeEvent) -> str | None:
    fragment = renderer(view, event)
    if inspect.isawaitable(fragment):
        fragment = await fragment
    return fragment


def group_key(view: View, renderer: Renderer) -> Hashable:
    return ("rows", view.key, renderer.key)


def join(hub: Hub, sub: RowsSubscription, *, hold: bool = False) -> None:
    """Add ``sub`` to its group (made when there is none): it receives every event dispatched from now on;
    with ``hold``, its messages wait for :meth:`RowsSubscription.go_live`."""
    if hold:
        sub.held = []
    group, new = hub.group_for(group_key(sub.view, sub.renderer), lambda: RowsGroup(hub, sub.view, sub.renderer))
    if not new:
        # Equal keys: share the group's compiled view and renderer, and let this copy go.
        sub.view, sub.renderer = group.view, group.renderer
    group.members[sub] = None
    sub.group = group


async def replay_messages(
    sub: RowsSubscription, events: Iterable[ChangeEvent], read: Callable[..., Awaitable[Any]] | None = None
) -> list[bytes]:
    """Messages for ``sub`` from past events, computed as they would have been live: its object's, and the
    related changes the events of the objects it depends on make (``read``: records as of a seq)."""
    messages: list[bytes] = []
    relations = relations_of(sub.view, sub.renderer)
    render = partial(_rendered, sub.renderer)
    for event in events:
        texts: list[str] = []
        if event.object == sub.view.object:
            if relations is not None and relations.through:
                assert read is not None
                fragment = await relations.own(event, render, read)
            else:
                fragment = await render(sub.view, event)
            if fragment is not None:
                texts.append(fragment)
        if relations is not None and event.object in relations.objects:
            assert read is not None
            texts.extend(await relations.related(event, render, read))
        messages.extend(sub.frame(event.seq, text.encode("utf-8")) for text in texts)
    return messages


__all__ = ["RENDER_BACKLOG", "Enclosed", "RowsGroup", "RowsSubscription", "join", "replay_messages"]
