"""The subscription hub: every transport's subscriptions, fed by the engine's committed change events.

Subscriptions with equal views (object, filter with bound row rules, projected fields) form one
:class:`Group`: each event is evaluated and serialised once per group, then the same text goes to every
member. Groups whose view pins a field to values (``status = "paid"``, ``id = "ord_1"``) are indexed by
those values, so an event only touches the groups it can match plus the few unpinned ones.

Delivery order and exactness: one dispatcher task takes events from the :class:`EventFeed` in seq order
and fans each out synchronously, so every subscription sees events in seq order, each at most once.
A new subscription is registered between two events; while its snapshot or replay is being read, live
messages for it are held in a bounded buffer and released after, minus what the snapshot or replay
already covered.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from objectql.engine.events import ChangeEvent
from objectql.engine.views import View
from objectql.realtime.connection import CLOSE_TRY_AGAIN, Connection
from objectql.realtime.feed import EventFeed
from objectql.realtime.wire import dumps

log = logging.getLogger("objectql.realtime")

ADDED = "added"
MODIFIED = "modified"
REMOVED = "removed"


def effect_of(view: View, event: ChangeEvent) -> tuple[str | None, bool]:
    """The §7 effect of ``event`` for ``view`` and whether the before-state was visible."""
    before = event.previous is not None and view.match(event.previous)
    after = event.record is not None and view.match(event.record)
    if after:
        return (MODIFIED if before else ADDED), before
    return (REMOVED if before else None), before


def render(view: View, event: ChangeEvent) -> tuple[str, dict[str, Any]] | None:
    """The change as this view carries it: ``(effect, fields)`` or None when it sees nothing."""
    effect, before_visible = effect_of(view, event)
    if effect is None:
        return None
    fields = view.fields
    if effect == REMOVED:
        record: dict[str, Any] = {"id": event.id}
    else:
        assert event.record is not None
        record = {f: event.record.get(f) for f in fields}
    body: dict[str, Any] = {
        "seq": event.seq,
        "object": event.object,
        "action": event.action,
        "effect": effect,
        "record": record,
    }
    if before_visible and event.previous is not None:
        body["previous"] = {f: event.previous.get(f) for f in fields}
    if event.action == "update" and event.changed is not None:
        carried = set(fields)
        body["changed"] = [f for f in event.changed if f in carried]
    return effect, body


def body_fragment(body: dict[str, Any]) -> str:
    """``body`` as JSON without its opening brace, ready to follow a per-subscriber prefix."""
    return dumps(body)[1:]


class Renderer(Protocol):
    """Turns an event into the text shared by one group (None: the group sees nothing).

    ``key`` joins the group key: subscriptions share a group only when they render alike.
    """

    @property
    def key(self) -> Hashable: ...

    def __call__(self, view: View, event: ChangeEvent) -> str | Awaitable[str | None] | None: ...


class ChangeRenderer:
    """The §9 change object (plain WebSocket and SSE share it)."""

    key = "change"

    def __call__(self, view: View, event: ChangeEvent) -> str | None:
        rendered = render(view, event)
        return body_fragment(rendered[1]) if rendered is not None else None


CHANGE = ChangeRenderer()


@dataclass(eq=False)
class Subscription:
    """One client subscription: a view delivered to one connection under the client's id."""

    conn: Connection
    client_id: str
    view: View
    prefix: str = ""
    suffix: str = ""
    renderer: Renderer = CHANGE
    # SSE frames carry the seq as the event id: they are composed per event, not from a fixed prefix.
    sse: bool = False
    # While a snapshot or replay is read: held (seq, message) pairs; None once live.
    held: list[tuple[int, str]] | None = None
    # Live events at or below this seq were covered by the snapshot or replay.
    covered: int = 0
    group: Group | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def compose(self, seq: int, fragment: str) -> str:
        if self.sse:
            return f"id: {seq}\nevent: change\ndata: {{{fragment}\n\n"
        return self.prefix + fragment + self.suffix

    def deliver(self, seq: int, message: str) -> None:
        if self.held is not None:
            if len(self.held) >= self.conn.queue_size:
                self.conn.abort_with(CLOSE_TRY_AGAIN, "slow consumer")
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
    """Subscriptions sharing one view and renderer: one evaluation and one payload per event."""

    __slots__ = ("key", "members", "pinned", "renderer", "view")

    def __init__(self, view: View, renderer: Renderer) -> None:
        self.view = view
        self.renderer = renderer
        self.key = (view.key, renderer.key)
        self.members: dict[Subscription, None] = {}
        self.pinned = view.equality()

    def dispatch(self, event: ChangeEvent) -> Awaitable[None] | None:
        """Deliver ``event``; returns an awaitable when rendering needs I/O (GraphQL lookups)."""
        try:
            fragment = self.renderer(self.view, event)
        except Exception:
            log.exception("rendering seq %s failed", event.seq)
            return None
        if inspect.isawaitable(fragment):
            return self._finish(event, fragment)
        self._deliver(event, fragment)
        return None

    async def _finish(self, event: ChangeEvent, pending: Awaitable[str | None]) -> None:
        try:
            fragment = await pending
        except Exception:
            log.exception("rendering seq %s failed", event.seq)
            return
        self._deliver(event, fragment)

    def _deliver(self, event: ChangeEvent, fragment: str | None) -> None:
        if fragment is None:
            return
        for sub in list(self.members):
            sub.deliver(event.seq, sub.compose(event.seq, fragment))


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
    """Owns subscriptions and the dispatcher task; transports register and drop subscriptions."""

    def __init__(self, feed: EventFeed) -> None:
        self.feed = feed
        self._groups: dict[Any, Group] = {}
        self._indexes: dict[str, _ObjectIndex] = {}
        self._task: asyncio.Task[None] | None = None
        self.delivered_seq = feed.last_seq
        self._progress = asyncio.Event()
        # Held while an event is dispatched: subscriptions are only added between events.
        self.lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="objectql hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

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
            async with self.lock:
                for event in events:
                    pending = self.dispatch(event)
                    if pending:
                        await asyncio.gather(*pending)
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

    # -- subscriptions -------------------------------------------------------------------------

    def add(self, sub: Subscription, *, hold: bool = False) -> None:
        """Register ``sub``: it receives every event after the one being dispatched now."""
        if hold:
            sub.held = []
        key = (sub.view.key, sub.renderer.key)
        group = self._groups.get(key)
        if group is None:
            group = Group(sub.view, sub.renderer)
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

    def dispatch(self, event: ChangeEvent) -> list[Awaitable[None]]:
        """Fan ``event`` out; returns the renderings still in flight (await them before the next event)."""
        pending: list[Awaitable[None]] = []
        index = self._indexes.get(event.object)
        if index is not None:
            for group in index.candidates(event):
                waiting = group.dispatch(event)
                if waiting is not None:
                    pending.append(waiting)
        self.delivered_seq = event.seq
        return pending

    async def replay_messages(self, sub: Subscription, events: Iterable[ChangeEvent]) -> list[str]:
        """Messages for ``sub`` from past events, computed as they would have been live."""
        messages: list[str] = []
        for event in events:
            if event.object != sub.view.object:
                continue
            fragment = sub.renderer(sub.view, event)
            if inspect.isawaitable(fragment):
                fragment = await fragment
            if fragment is not None:
                messages.append(sub.compose(event.seq, fragment))
        return messages

    # -- introspection (tests, metrics) --------------------------------------------------------

    @property
    def subscription_count(self) -> int:
        return sum(len(g.members) for g in self._groups.values())

    @property
    def group_count(self) -> int:
        return len(self._groups)
