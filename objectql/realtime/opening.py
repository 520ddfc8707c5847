"""Opening a request, the same way for every kind and every transport: check, join, first messages, live.

:func:`open_live` takes a :data:`~objectql.realtime.live.LiveRequest` and does every step but the wire format:

1. check the request as its user and compile it (permissions, filter, fields; a window's sort and limit, an
   aggregate's parts) — the engine's errors are raised here, before anything is registered;
2. for rows: confirm a followed record is visible, join the group once the hub has dispatched everything
   committed so far (for a live-only subscription: everything this process has heard of, without asking the
   database) with its live messages held, and read the snapshot, the replay, or find that the resume point is
   out of reach (a reset); for a window: reserve its rows in the connection's budget;
3. return an :class:`Opening`. The transport may finish its own handshake (an HTTP response start) and then
   calls :meth:`Opening.release`, which sends the first messages through the transport's
   :class:`~objectql.realtime.live.Framing` and goes live without awaiting in between, so nothing can slip
   between them: none lost, none doubled. Rows send the ack, the snapshot, the reset or the replay, then
   the held live messages newer than what those covered. A window or an aggregate joins its group, which
   sends the ack and the window's rows, or the aggregate, as soon as its state is read (at once when another
   subscription already keeps it).

What :meth:`Opening.release` returns is the subscription (a :data:`Live`), which the transport keeps and
drops when the client unsubscribes or goes. :func:`rescope` moves it to what a new user (new roles or
claims) may see, sending only what changed.

Resuming is lossless: a reset is sent only when an event the client needs is gone from the outbox
(older than the oldest retained event), or the resume point is ahead of every committed seq. Windows and
aggregates are not replayed: they start from their current state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from objectql.engine.aggregates import AggregateSpec
from objectql.engine.views import View
from objectql.engine.windows import WindowSpec
from objectql.realtime import aggregates, rows, windows
from objectql.realtime.aggregates import AggregateSubscription
from objectql.realtime.changes import CHANGE, ExpandedChangeRenderer, Renderer
from objectql.realtime.connection import Connection
from objectql.realtime.hub import Hub
from objectql.realtime.live import AggregateRequest, Ending, Framing, LiveRequest, RowsRequest, WindowRequest
from objectql.realtime.rows import RowsSubscription
from objectql.realtime.source import ChangeSource
from objectql.realtime.windows import WindowBudget, WindowSubscription

REPLAY_BATCH = 1000

# What a transport keeps of an opened request.
Live = RowsSubscription | WindowSubscription | AggregateSubscription


@dataclass(frozen=True)
class LiveContext:
    """What opening a request needs of the process's realtime service."""

    source: ChangeSource
    hub: Hub
    budget: WindowBudget
    interval: float  # seconds between two messages of one live aggregate


class Opening(Protocol):
    """A checked request, ready to send its first messages."""

    def release(self) -> Live | None:
        """Send the first messages and go live; None when the subscription ended instead (the connection
        closed meanwhile, or a reset the transport does not survive)."""

    def cancel(self) -> None:
        """Give it up without sending anything (the client gave up, or the transport did)."""

    async def started(self) -> None:
        """Wait until its first messages are queued, or cannot be for now (the database away)."""


@dataclass
class RowsOpening:
    """Rows whose subscription is registered and whose first messages are read but not yet sent."""

    sub: RowsSubscription
    framing: Framing
    seq: int
    ack: bool = True
    snapshot: list[dict[str, Any]] | None = None
    replay: list[bytes] = field(default_factory=list)
    reset: bool = False

    def release(self) -> RowsSubscription | None:
        conn = self.sub.conn
        if conn.closed.is_set():
            self.cancel()
            return None
        for message in self.framing.opened(self.seq, self.snapshot, ack=self.ack):
            conn.push(message)
        if self.reset:
            reset = self.framing.reset(self.seq)
            for message in reset.messages:
                conn.push(message)
            if not reset.live:
                self.cancel()
                return None
        for replayed in self.replay:
            conn.push(replayed)
        self.sub.go_live(self.seq)
        return self.sub

    def cancel(self) -> None:
        self.sub.drop()

    async def started(self) -> None:
        return None


@dataclass
class WindowOpening:
    """A window whose rows are reserved in its connection's budget; it joins its group on release."""

    context: LiveContext
    view: View
    spec: WindowSpec
    sub: WindowSubscription

    def release(self) -> WindowSubscription | None:
        if self.sub.conn.closed.is_set():
            self.cancel()
            return None
        context = self.context
        windows.join(context.hub, context.source, self.view, self.spec, self.sub)
        return self.sub

    def cancel(self) -> None:
        self.sub.drop()

    async def started(self) -> None:
        await self.sub.ready.wait()


@dataclass
class AggregateOpening:
    """An aggregate that acks and joins its group on release."""

    context: LiveContext
    view: View
    spec: AggregateSpec
    sub: AggregateSubscription
    framing: Framing
    ack: bool = True

    def release(self) -> AggregateSubscription | None:
        conn = self.sub.conn
        if conn.closed.is_set():
            return None
        context = self.context
        for message in self.framing.opened(context.hub.delivered_seq, None, ack=self.ack):
            conn.push(message)
        aggregates.join(context.hub, context.source, self.view, self.spec, self.sub, context.interval)
        return self.sub

    def cancel(self) -> None:
        self.sub.drop()

    async def started(self) -> None:
        return None


def _rows_view(source: ChangeSource, request: RowsRequest, renderer: Renderer) -> View:
    fields = request.fields
    if isinstance(renderer, ExpandedChangeRenderer) and isinstance(fields, list | tuple):
        # The reference fields an expand follows travel with the records (the id stays under <field>).
        fields = [*fields, *(f for f in renderer.expander.needs if f not in fields)]
    return source.view(
        request.object, request.user, filters=request.filters, fields=fields, record_id=request.record_id
    )


def _rows_renderer(source: ChangeSource, request: RowsRequest) -> Renderer:
    """How the request's changes are rendered: its own renderer (GraphQL), the change object with the expanded
    data (``expand``), or the plain change object."""
    if request.renderer is not None:
        return request.renderer
    if request.expand is not None:
        return ExpandedChangeRenderer(source.expander(request.object, request.user, request.expand))
    return CHANGE


def _window_view(source: ChangeSource, request: WindowRequest) -> tuple[View, WindowSpec]:
    return source.window_view(
        request.object,
        request.user,
        filters=request.filters,
        fields=request.fields,
        sort=request.sort,
        limit=request.limit,
    )


def _aggregate_view(source: ChangeSource, request: AggregateRequest) -> tuple[View, AggregateSpec]:
    return source.aggregate_view(
        request.object, request.user, filters=request.filters, aggregate=request.aggregate, group_by=request.group_by
    )


async def open_live(
    context: LiveContext,
    conn: Connection,
    client_id: str,
    request: LiveRequest,
    framing: Framing,
    *,
    end: Ending | None = None,
    ack: bool = True,
) -> Opening:
    """Check and compile ``request``, then prepare its first messages; raises the engine's errors before
    registering anything. ``end`` ends a window or an aggregate whose state can no longer be kept (too many
    groups); ``ack`` False leaves the ack out (a request opened again for new permissions)."""
    ending = end if end is not None else _unended
    if isinstance(request, WindowRequest):
        return _window_opening(context, conn, request, framing, ending, ack)
    if isinstance(request, AggregateRequest):
        return _aggregate_opening(context, conn, request, framing, ending, ack)
    renderer = _rows_renderer(context.source, request)
    view = _rows_view(context.source, request, renderer)
    return await _open_rows(context, conn, client_id, view, renderer, request, framing, ack)


def _window_opening(
    context: LiveContext, conn: Connection, request: WindowRequest, framing: Framing, end: Ending, ack: bool
) -> WindowOpening:
    view, spec = _window_view(context.source, request)
    # A GraphQL window's rows are rendered results like its changes; the plain protocols send an ack and a snapshot.
    opened = None if request.renderer is not None else _opened(framing, ack)
    sub = WindowSubscription(conn, framing.change, end, opened=opened, render=request.renderer)
    context.budget.charge(sub, spec)
    return WindowOpening(context, view, spec, sub)


def _aggregate_opening(
    context: LiveContext, conn: Connection, request: AggregateRequest, framing: Framing, end: Ending, ack: bool
) -> AggregateOpening:
    view, spec = _aggregate_view(context.source, request)
    sub = AggregateSubscription(conn, framing.aggregate, end, render=request.renderer)
    return AggregateOpening(context, view, spec, sub, framing, ack)


def _opened(framing: Framing, ack: bool) -> windows.Opened:
    def opened(seq: int, records: list[dict[str, Any]]) -> list[Any]:
        return framing.opened(seq, records, ack=ack)

    return opened


def _unended(error: Any) -> None:
    return None


async def _open_rows(
    context: LiveContext,
    conn: Connection,
    client_id: str,
    view: View,
    renderer: Renderer,
    request: RowsRequest,
    framing: Framing,
    ack: bool,
) -> RowsOpening:
    source, hub = context.source, context.hub
    await source.require_visible(view)
    sub = RowsSubscription(conn, client_id, view, frame=framing.change, renderer=renderer)
    if request.snapshot or request.resume_from is not None:
        await hub.caught_up(await source.current_seq())
    else:
        # Live only: no database round trip. Every commit this process knows of is dispatched first,
        # so the ack's seq covers them; anything later reaches the subscription live.
        await hub.caught_up(hub.feed.known_seq)
    rows.join(hub, sub, hold=True)
    try:
        return await _first_messages(source, hub, sub, framing, request, ack)
    except BaseException:
        sub.drop()
        raise


async def _first_messages(
    source: ChangeSource, hub: Hub, sub: RowsSubscription, framing: Framing, request: RowsRequest, ack: bool
) -> RowsOpening:
    if request.snapshot:
        seq, records = await source.snapshot(sub.view)
        if isinstance(sub.renderer, ExpandedChangeRenderer):
            # Read after the rows: the nested data is as of now, at or after the snapshot's seq.
            await sub.renderer.expander(records)
        return RowsOpening(sub, framing, seq, ack, snapshot=records)
    resume_from = request.resume_from
    if resume_from is None:
        return RowsOpening(sub, framing, hub.delivered_seq, ack)
    current = await source.current_seq()
    if not await _replayable(source, resume_from, current):
        return RowsOpening(sub, framing, current, ack, reset=True)
    replay: list[bytes] = []
    cursor = resume_from
    # A subscription whose records carry related data replays the related objects' events too.
    only = None if rows.relations_of(sub.view, sub.renderer) is not None else sub.view.object
    while cursor < current:
        events = await source.events(after=cursor, object=only, limit=REPLAY_BATCH)
        in_range = [e for e in events if e.seq <= current]
        replay.extend(await rows.replay_messages(sub, in_range, source.records_at))
        if len(events) < REPLAY_BATCH or not in_range or in_range[-1].seq >= current:
            break
        cursor = in_range[-1].seq
    return RowsOpening(sub, framing, current, ack, replay=replay)


async def _replayable(source: ChangeSource, resume_from: int, current: int) -> bool:
    """Whether every event after ``resume_from`` up to ``current`` is still in the outbox.

    Seqs are taken at commit from one counter, so every seq up to ``current`` has an event; one that is
    not retained was pruned.
    """
    if resume_from > current:
        return False
    if resume_from == current:
        return True
    oldest = await source.oldest_seq()
    return oldest is not None and oldest <= resume_from + 1


def rescope(
    context: LiveContext, live: Live, request: LiveRequest, framing: Framing, end: Ending | None = None
) -> Live | None:
    """``live`` as ``request`` (its own request, for another user: new roles or claims) may see it: itself when
    nothing changed; rows moved to their new view without a message; a window or an aggregate opened again
    (its rows or its aggregate sent, with no second ack). None when its connection closed meanwhile. Raises the
    engine's errors when the new user may not have it (``live`` is dropped then)."""
    try:
        return _rescope(context, live, request, framing, end)
    except BaseException:
        live.drop()
        raise


def _rescope(
    context: LiveContext, live: Live, request: LiveRequest, framing: Framing, end: Ending | None
) -> Live | None:
    group = live.group
    if isinstance(live, RowsSubscription):
        assert isinstance(request, RowsRequest)
        # An expand is checked again: the new user's permissions decide what it nests.
        renderer = _rows_renderer(context.source, request)
        view = _rows_view(context.source, request, renderer)
        if group is not None and group.key == rows.group_key(view, renderer):
            return live
        live.drop()
        live.view, live.renderer = view, renderer
        rows.join(context.hub, live)
        return live
    ending = end if end is not None else live.end
    opening: WindowOpening | AggregateOpening
    if isinstance(live, WindowSubscription):
        assert isinstance(request, WindowRequest)
        view, window_spec = _window_view(context.source, request)
        if group is not None and group.key == windows.group_key(view, window_spec):
            return live
        # A window not read yet (the database away) has not been announced.
        ack = not live.started
        live.drop()
        opening = _window_opening(context, live.conn, request, framing, ending, ack)
    else:
        assert isinstance(request, AggregateRequest)
        view, aggregate_spec = _aggregate_view(context.source, request)
        if group is not None and group.key == aggregates.group_key(view, aggregate_spec):
            return live
        live.drop()
        opening = _aggregate_opening(context, live.conn, request, framing, ending, False)
    return opening.release()


__all__ = [
    "REPLAY_BATCH",
    "AggregateOpening",
    "Live",
    "LiveContext",
    "Opening",
    "RowsOpening",
    "WindowOpening",
    "open_live",
    "rescope",
]
