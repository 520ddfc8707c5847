"""Opening a subscription, the same way for every transport: ack, snapshot, replay, then live.

:func:`open_subscription` does every step but the wire format:

1. check the request as its user and compile it into a view (permissions, filter, fields);
2. confirm a followed record exists and is visible;
3. register with the hub once it has dispatched everything committed so far (for a live-only
   subscription: everything this process has heard of, without asking the database), live messages held;
4. read the snapshot (rows and seq from one database snapshot), or the replay (outbox events after the
   resume point), or find that the resume point is out of reach (a reset).

It returns an :class:`Opening`; the transport may finish its own handshake (an HTTP response start)
and then calls :meth:`Opening.release`, which sends the ack, the snapshot, the reset or the replay
through the transport's :class:`Framing` and releases the held live messages newer than what those
covered — all without awaiting in between, so nothing can slip between them: none lost, none doubled.

Resuming is lossless: a reset is sent only when an event the client needs is gone from the outbox
(older than the oldest retained event), or the resume point is ahead of every committed seq.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from objectql.engine.user import User
from objectql.realtime.changes import CHANGE, Renderer
from objectql.realtime.connection import Connection
from objectql.realtime.hub import Frame, Hub, Subscription
from objectql.realtime.source import ChangeSource

REPLAY_BATCH = 1000


@dataclass(frozen=True)
class SubscriptionRequest:
    """What a client asked for, on any transport."""

    object: str
    user: User | None
    filters: Any = None
    fields: Any = None
    record_id: str | None = None
    snapshot: bool = False
    resume_from: int | None = None


@dataclass(frozen=True)
class Reset:
    """What a transport sends when the resume point is out of reach, and whether the subscription goes on."""

    messages: tuple[str, ...]
    # True: it continues live from the current seq (the client refetches); False: it ends here.
    live: bool


class Framing(Protocol):
    """One transport's wire format for a subscription."""

    @property
    def frame(self) -> Frame:
        """Wraps each change the group renders for this subscriber."""

    def opened(self, seq: int, records: list[dict[str, Any]] | None) -> list[str]:
        """What precedes everything else: the ack, and the snapshot when one was asked for."""

    def reset(self, seq: int) -> Reset: ...


@dataclass
class Opening:
    """A registered subscription whose first messages are read but not yet sent."""

    hub: Hub
    sub: Subscription
    framing: Framing
    seq: int
    snapshot: list[dict[str, Any]] | None = None
    replay: list[bytes] = field(default_factory=list)
    reset: bool = False

    def release(self) -> Subscription | None:
        """Send the first messages and go live; None when the subscription ended instead.

        It ends when the connection closed meanwhile, or on a reset the transport does not survive.
        """
        conn = self.sub.conn
        if conn.closed.is_set():
            self.cancel()
            return None
        for message in self.framing.opened(self.seq, self.snapshot):
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
        """Unregister without sending anything (the client gave up, or the transport did)."""
        self.hub.remove(self.sub)


async def open_subscription(
    source: ChangeSource,
    hub: Hub,
    conn: Connection,
    client_id: str,
    request: SubscriptionRequest,
    framing: Framing,
    renderer: Renderer = CHANGE,
) -> Opening:
    """Check, compile and register ``request``; raises the engine's errors before registering."""
    view = source.view(
        request.object, request.user, filters=request.filters, fields=request.fields, record_id=request.record_id
    )
    await source.require_visible(view)
    sub = Subscription(conn, client_id, view, frame=framing.frame, renderer=renderer)
    if request.snapshot or request.resume_from is not None:
        await hub.caught_up(await source.current_seq())
    else:
        # Live only: no database round trip. Every commit this process knows of is dispatched first,
        # so the ack's seq covers them; anything later reaches the subscription live.
        await hub.caught_up(hub.feed.known_seq)
    hub.add(sub, hold=True)
    try:
        return await _first_messages(source, hub, sub, framing, request)
    except BaseException:
        hub.remove(sub)
        raise


async def _first_messages(
    source: ChangeSource, hub: Hub, sub: Subscription, framing: Framing, request: SubscriptionRequest
) -> Opening:
    if request.snapshot:
        seq, records = await source.snapshot(sub.view)
        return Opening(hub, sub, framing, seq, snapshot=records)
    resume_from = request.resume_from
    if resume_from is None:
        return Opening(hub, sub, framing, hub.delivered_seq)
    current = await source.current_seq()
    if not await _replayable(source, resume_from, current):
        return Opening(hub, sub, framing, current, reset=True)
    replay: list[bytes] = []
    cursor = resume_from
    while cursor < current:
        events = await source.events(after=cursor, object=sub.view.object, limit=REPLAY_BATCH)
        in_range = [e for e in events if e.seq <= current]
        replay.extend(await hub.replay_messages(sub, in_range))
        if len(events) < REPLAY_BATCH or not in_range or in_range[-1].seq >= current:
            break
        cursor = in_range[-1].seq
    return Opening(hub, sub, framing, current, replay=replay)


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
