"""Opening a subscription with the §7 order: ack, snapshot, replay, then live — none lost, none doubled.

The subscription is registered with the hub once the hub has dispatched everything committed so far,
with its live messages held. Then the snapshot (read in one database snapshot together with its seq)
or the replay (outbox events after the resume point) is read; the caller pushes the ack, snapshot and
replay messages and releases the held live messages newer than what those covered — all without
awaiting in between, so nothing can slip between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from objectql.engine.core import ObjectQL
from objectql.engine.views import snapshot as read_snapshot
from objectql.realtime.hub import Hub, Subscription

REPLAY_BATCH = 1000


@dataclass
class Opening:
    """What a transport sends before going live."""

    seq: int
    snapshot: list[dict[str, Any]] | None = None
    replay: list[str] = field(default_factory=list)
    reset: bool = False


async def open_subscription(
    app: ObjectQL,
    hub: Hub,
    sub: Subscription,
    *,
    snapshot: bool = False,
    resume_from: int | None = None,
) -> Opening:
    """Register ``sub`` and read its snapshot or replay; call ``sub.go_live(opening.seq)`` after sending."""
    current = await app.current_seq()
    await hub.caught_up(current)
    async with hub.lock:
        hub.add(sub, hold=True)
    try:
        if snapshot:
            seq, records = await read_snapshot(app, sub.view)
            return Opening(seq=seq, snapshot=records)
        if resume_from is None:
            return Opening(seq=hub.delivered_seq)
        current = await app.current_seq()
        oldest = await app.oldest_seq()
        if resume_from > current or (oldest is not None and resume_from + 1 < oldest):
            return Opening(seq=current, reset=True)
        replay: list[str] = []
        cursor = resume_from
        while cursor < current:
            events = [e for e in await app.events(after=cursor, object=sub.view.object, limit=REPLAY_BATCH)]
            in_range = [e for e in events if e.seq <= current]
            replay.extend(await hub.replay_messages(sub, in_range))
            if len(events) < REPLAY_BATCH or not in_range or in_range[-1].seq >= current:
                break
            cursor = in_range[-1].seq
        return Opening(seq=current, replay=replay)
    except BaseException:
        hub.remove(sub)
        raise
