"""The subscription hub: every transport's subscriptions, fed by the engine's committed change events.

Subscriptions with equal views (object, filter with bound row rules, projected fields) and equal
renderers form one :class:`Group`: each event is evaluated and rendered once per group, then the same
text goes to every member, framed for its transport by the subscription's :class:`Frame`. Groups whose
view pins a field to values (``status = "paid"``, ``id = "ord_1"``) are indexed by those values, so an
event only touches the groups it can match plus the few unpinned ones. The hub knows no wire format:
what a change means is :mod:`objectql.realtime.changes`, how it is framed is the transport's.

Delivery order and exactness: one dispatcher task takes events from the :class:`EventFeed` in seq order
and fans each out without awaiting anything, so subscriptions are only ever added or removed between two
events, and every subscription sees events in seq order, each at most once. A renderer that needs I/O
(GraphQL lookups) never holds the dispatcher up: its group finishes that event, and queues the next
ones behind it, in a task of its own, so one slow group delays only its own members.

A new subscription is registered between two events; while its snapshot or replay is being read, live
messages for it are held in a bounded buffer and released after, minus what the snapshot or replay
already covered (see :mod:`objectql.realtime.opening`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from objectql.engine.events import ChangeEvent
from objectql.engine.views import View
from objectql.realtime import eager
from objectql.realtime.changes import CHANGE, Renderer
from objectql.realtime.connection import Connection
from objectql.realtime.feed import EventFeed
from objectql.realtime.vocabulary import CLOSE_TRY_AGAIN, SLOW_CONSUMER

log = logging.getLogger("objectql.realtime")

# Overflow policy of a group's render backlog (events waiting behind a render that is doing I/O): past
# this many, every member's connection is closed with 1013 and the backlog dropped; the clients resume
# from their last seq, so nothing is lost to them.
RENDER_BACKLOG = 1000


class Frame(Protocol):
    """How a transport wraps a group's rendered text (UTF-8) for one subscriber.

    Frames must be hashable and equal when they frame alike: members with equal frames share one message.
    """

    def __call__(self, seq: int, fragment: bytes) -> bytes: ...


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
class Subscription:
    """One client subscription: a view delivered to one connection under the client's id."""

    conn: Connection
    client_id: str
    view: View
    frame: Frame = field(default_factory=Enclosed)
    renderer: Renderer = CHANGE
    # While a snapshot or replay is read: held (seq, message) pairs; None once live.
    held: list[tuple[int, bytes]] | None = None
    # Live events at or below this seq were covered by the snapshot or replay.
    covered: int = 0
    group: Group | None = field(default=None, repr=False)

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


class Group:
    """Subscriptions sharing one view and renderer: one evaluation and one payload per event.

    Events are rendered in seq order. A render that suspends (I/O) is finished by the group's worker
    task, and events arriving meanwhile wait in the group's bounded backlog behind it.
    """

    __slots__ = ("_backlog", "_hub", "_worker", "key", "members", "pinned", "renderer", "view")

    def __init__(self, hub: Hub, view: View, renderer: Renderer) -> None:
        self._hub = hub
        self.view = view
        self.renderer = renderer
        self.key = (view.key, renderer.key)
        self.members: dict[Subscription, None] = {}
        self.pinned = view.equality()
        self._backlog: deque[ChangeEvent] = deque()
        self._worker: asyncio.Task[None] | None = None

    def dispatch(self, event: ChangeEvent) -> None:
        """Deliver ``event`` now, or after the renders in flight when there are some."""
        if self._worker is not None:
            if len(self._backlog) >= RENDER_BACKLOG:
                self._overflow()
                return
            self._backlog.append(event)
            return
        pending = self._render(event)
        if pending is not None:
            self._worker = self._hub.spawn(self._drain(event, *pending))

    @property
    def busy(self) -> bool:
        """Whether renders are in flight (their messages are still to come)."""
        return self._worker is not None

    def _render(self, event: ChangeEvent) -> tuple[Coroutine[Any, Any, Any], Any] | None:
        """Render and deliver ``event``; returns the suspended render when it needs I/O."""
        try:
            fragment = self.renderer(self.view, event)
            if inspect.isawaitable(fragment):
                coro = fragment if inspect.iscoroutine(fragment) else _awaited(fragment)
                fragment, suspended_on = eager.begin(coro)
                if not eager.finished(fragment):
                    return coro, suspended_on
        except Exception:
            log.exception("rendering seq %s failed", event.seq)
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
                    log.exception("rendering seq %s failed", event.seq)
                else:
                    self._deliver(event, fragment)
                if not self.members:
                    self._backlog.clear()  # the group was dropped: nobody is waiting for these
                pending = None
                while pending is None and self._backlog:
                    event = self._backlog.popleft()
                    pending = self._render(event)
                if pending is None:
                    return
                coro, suspended_on = pending
        finally:
            self._worker = None

    def _deliver(self, event: ChangeEvent, fragment: str | None) -> None:
        if fragment is None:
            return
        seq = event.seq
        data = fragment.encode("utf-8")
        # Members framed alike (the same subscription id, say) share one message object.
        messages: dict[Frame, bytes] = {}
        for sub in list(self.members):
            frame = sub.frame
            message = messages.get(frame)
            if message is None:
                message = messages[frame] = frame(seq, data)
            sub.deliver(seq, message)

    def _overflow(self) -> None:
        log.warning("a subscription group fell %d events behind rendering; closing its connections", RENDER_BACKLOG)
        self._backlog.clear()
        for sub in list(self.members):
            sub.conn.abort_with(CLOSE_TRY_AGAIN, "overloaded")


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _ObjectIndex:
    """The groups of one object, indexed by the field values their views pin."""

    def __init__(self) -> None:
        self.by_value: dict[str, dict[Any, set[Group]]] = {}
        self.unpinned: set[Group] = set()

    def add(self, group: Group) -> None:
        if group.pinned is None:
            self.unpinned.add(group)
            return
        name, values = group.pinned
        slots = self.by_value.setdefault(name, {})
        for value in values:
            slots.setdefault(value, set()).add(group)

    def remove(self, group: Group) -> None:
        if group.pinned is None:
            self.unpinned.discard(group)
            return
        name, values = group.pinned
        slots = self.by_value.get(name, {})
        for value in values:
            bucket = slots.get(value)
            if bucket is not None:
                bucket.discard(group)
                if not bucket:
                    del slots[value]
        if not slots:
            self.by_value.pop(name, None)

    def candidates(self, event: ChangeEvent) -> list[Group]:
        found: dict[Group, None] = dict.fromkeys(self.unpinned)
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


class Hub:
    """Owns subscriptions, the dispatcher task and the groups' render tasks."""

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed
        self._groups: dict[Any, Group] = {}
        self._indexes: dict[str, _ObjectIndex] = {}
        self._task: asyncio.Task[None] | None = None
        self._workers: set[asyncio.Task[None]] = set()
        self.delivered_seq = feed.last_seq
        self.dispatched = 0  # events fanned out since start (a metric)
        # Called with every event after the groups, in seq order (live aggregates).
        self.listeners: list[Callable[[ChangeEvent], None]] = []
        self._progress = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="objectql hub")

    async def stop(self) -> None:
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
        """Start a task the hub owns (a group's render worker): cancelled and awaited by :meth:`stop`."""
        task = asyncio.get_running_loop().create_task(coro, name="objectql render")
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
        """Wait until the renders in flight now (and what queued behind them) have been delivered."""
        while self._workers:
            await asyncio.gather(*list(self._workers), return_exceptions=True)

    # -- subscriptions -------------------------------------------------------------------------

    def add(self, sub: Subscription, *, hold: bool = False) -> None:
        """Register ``sub``: it receives every event dispatched from now on."""
        if hold:
            sub.held = []
        key = (sub.view.key, sub.renderer.key)
        group = self._groups.get(key)
        if group is None:
            group = Group(self, sub.view, sub.renderer)
            self._groups[key] = group
            self._indexes.setdefault(sub.view.object, _ObjectIndex()).add(group)
        else:
            # Equal keys: share the group's compiled view and renderer, and let this copy go.
            sub.view, sub.renderer = group.view, group.renderer
        group.members[sub] = None
        sub.group = group

    def remove(self, sub: Subscription) -> None:
        group = sub.group
        if group is None:
            return
        sub.group = None
        group.members.pop(sub, None)
        if not group.members:
            del self._groups[group.key]
            index = self._indexes.get(group.view.object)
            if index is not None:
                index.remove(group)
                if not len(index):
                    del self._indexes[group.view.object]

    def dispatch(self, event: ChangeEvent) -> None:
        """Fan ``event`` out to the groups it can concern; never waits."""
        index = self._indexes.get(event.object)
        if index is not None:
            for group in index.candidates(event):
                group.dispatch(event)
        for listener in self.listeners:
            listener(event)
        self.dispatched += 1
        self.delivered_seq = event.seq

    async def replay_messages(self, sub: Subscription, events: Iterable[ChangeEvent]) -> list[bytes]:
        """Messages for ``sub`` from past events, computed as they would have been live."""
        messages: list[bytes] = []
        for event in events:
            if event.object != sub.view.object:
                continue
            fragment = sub.renderer(sub.view, event)
            if inspect.isawaitable(fragment):
                fragment = await fragment
            if fragment is not None:
                messages.append(sub.frame(event.seq, fragment.encode("utf-8")))
        return messages

    # -- introspection (tests, metrics) --------------------------------------------------------

    @property
    def subscription_count(self) -> int:
        return sum(len(g.members) for g in self._groups.values())

    @property
    def group_count(self) -> int:
        return len(self._groups)
