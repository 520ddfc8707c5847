"""The shared states of live aggregates, driven event by event over an in-memory source: a group that ended
reads and sends nothing more, a joiner is never sent the same groups twice, and a subscription whose first
messages overflow its connection leaves nothing behind in the group."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from objectql.engine.aggregates import AggregateSpec
from objectql.engine.events import ChangeEvent
from objectql.engine.filters.ast import TRUE
from objectql.errors import ObjectQLError
from objectql.realtime import aggregates, read_state
from objectql.realtime.aggregates import AggregateGroup, AggregateSubscription
from objectql.realtime.connection import Connection
from objectql.realtime.feed import EventFeed
from objectql.realtime.hub import Hub
from objectql.realtime.opening import LiveContext, open_live
from objectql.realtime.policy import Limits
from objectql.realtime.transports.protocols.plain.handlers import PlainSession
from objectql.realtime.windows import WindowBudget

VIEW = SimpleNamespace(
    key=("orders", "all"), object="orders", node=TRUE, match=lambda record: True, equality=lambda: None
)


class Source:
    """Answers aggregate reads from ``answers`` in turn; a read past them waits for ``gate`` (the database
    away) and then fails. ``reads`` counts them."""

    def __init__(self, *answers: list[dict[str, Any]], max_groups: int = 1000) -> None:
        self.answers = list(answers)
        self.max_groups = max_groups
        self.reads = 0
        self.gate = asyncio.Event()
        self.seq = 0  # the seq every read is consistent with

    async def aggregate_snapshot(self, view: Any, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
        self.reads += 1
        if self.answers:
            return self.seq, self.answers.pop(0)
        await self.gate.wait()
        raise ConnectionError("the database is away")

    def aggregate_view(self, *args: Any, **kwargs: Any) -> tuple[Any, AggregateSpec]:
        return VIEW, AggregateSpec(count=True)


class Pushed:
    """A connection that keeps what is pushed to it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def push(self, message: str | bytes) -> None:
        self.messages.append(message.decode() if isinstance(message, bytes) else message)

    def counts(self) -> list[int]:
        return [json.loads("{" + m + "}")["groups"][0]["count"] for m in self.messages]


def event(seq: int, action: str, rid: str, record: Any, previous: Any) -> ChangeEvent:
    return ChangeEvent(seq, "orders", action, rid, record, previous, None, None, datetime.now(UTC))


def subscriber(conn: Any, ended: list[ObjectQLError] | None = None) -> AggregateSubscription:
    return AggregateSubscription(conn, lambda seq, fragment: fragment, (ended if ended is not None else []).append)


def make_hub() -> Hub:
    async def read(after: int, limit: int) -> list[ChangeEvent]:
        return []

    async def current() -> int:
        return 0

    return Hub(EventFeed(read, current))


async def test_a_group_ended_while_its_waiting_events_replay_reads_nothing_more() -> None:
    """Two events wait for the first read: the first takes the aggregate past its bound (it ends), the second
    removes the row holding the minimum, which would read again — the ended group must not."""
    source = Source([{"key": {"g": 1}, "count": 2, "min": {"v": 5}}], max_groups=1)
    source.gate = asyncio.Event()
    hub = make_hub()
    ended: list[ObjectQLError] = []
    spec = AggregateSpec(count=True, min=("v",), group_by=("g",))
    first_read = asyncio.Event()
    original = source.aggregate_snapshot

    async def held_read(view: Any, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
        await first_read.wait()
        return await original(view, spec)

    source.aggregate_snapshot = held_read  # type: ignore[method-assign]
    aggregates.join(hub, source, VIEW, spec, subscriber(Pushed(), ended), 0.0)  # type: ignore[arg-type]
    hub.dispatch(event(1, "create", "b", {"g": 2, "v": 1}, None))  # a second group: one too many
    hub.dispatch(event(2, "delete", "a", None, {"g": 1, "v": 5}))  # the minimum leaves
    first_read.set()
    for _ in range(50):
        await asyncio.sleep(0)
    assert [e.code for e in ended] == ["TOO_MANY_GROUPS"]
    assert hub.group_count == 0
    await asyncio.wait_for(hub.drained(), 2)  # a read still running would never finish
    assert source.reads == 1  # no read again, no task left behind


async def test_a_joiner_is_not_sent_the_groups_it_was_given_again() -> None:
    """A joiner gets the state as it is; when the state changes and changes back before the next message,
    the others get that message and the joiner nothing new."""
    source = Source([{"key": {"g": 1}, "count": 1}])
    hub = make_hub()
    spec = AggregateSpec(count=True, group_by=("g",))
    first, joiner = Pushed(), Pushed()
    aggregates.join(hub, source, VIEW, spec, subscriber(first), 0.3)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert len(first.messages) == 1
    hub.dispatch(event(1, "create", "x", {"g": 1}, None))  # count 2, its message held back
    aggregates.join(hub, source, VIEW, spec, subscriber(joiner), 0.3)  # type: ignore[arg-type]
    hub.dispatch(event(2, "create", "y", {"g": 1}, None))  # count 3
    hub.dispatch(event(3, "delete", "y", None, {"g": 1}))  # count 2 again
    await asyncio.sleep(0.5)
    assert first.counts() == [1, 2]
    assert joiner.counts() == [2]


class StuckTransport:
    """A socket that takes nothing: every message queues."""

    def write_now(self, message: Any) -> bool:
        return False

    def write_all_now(self, messages: Any) -> bool:
        return False

    async def send(self, message: Any) -> None:
        await asyncio.sleep(3600)

    async def close(self, code: int, reason: str) -> None:
        return None

    def abort(self) -> None:
        return None


async def test_a_subscription_whose_first_messages_overflow_the_queue_leaves_its_group() -> None:
    source = Source([{"key": {}, "count": 0}])
    hub = make_hub()
    other = Pushed()
    aggregates.join(hub, source, VIEW, AggregateSpec(count=True), subscriber(other), 0.0)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # the group is read and sending
    context = LiveContext(source, hub, WindowBudget(100), 0.0)  # type: ignore[arg-type]

    async def open_request(*args: Any, **kwargs: Any) -> Any:
        return await open_live(context, *args, **kwargs)

    realtime = SimpleNamespace(open=open_request, presence=SimpleNamespace(drop=lambda conn: None))
    conn = Connection(StuckTransport(), queue_size=2)  # type: ignore[arg-type]
    session = PlainSession(realtime, SimpleNamespace(auth_required=False, limits=Limits(queue_size=2)), conn)  # type: ignore[arg-type]
    session.start()
    conn.push("{}")  # one message queued: the ack and the first aggregate overflow the queue
    session.receive_text(json.dumps({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True}}))
    await asyncio.sleep(0.05)
    assert conn.closed.is_set()
    (group,) = hub.groups_of(AggregateGroup)
    assert len(group.subscribers) == 1  # only the other connection's
    assert session.subscriptions == {}


async def test_events_waiting_for_a_slow_read_are_bounded_and_a_fresh_read_covers_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the bound, the events waiting for a read are dropped and the state is read again: what the
    subscriber gets is the second read, never a state missing the dropped events."""
    monkeypatch.setattr(read_state, "WAITING", 3)
    source = Source([{"key": {}, "count": 1}], [{"key": {}, "count": 6}])
    gate = asyncio.Event()
    original = source.aggregate_snapshot

    async def slow(view: Any, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
        if source.reads == 0:
            await gate.wait()
        return await original(view, spec)

    source.aggregate_snapshot = slow  # type: ignore[method-assign]
    hub = make_hub()
    pushed = Pushed()
    aggregates.join(hub, source, VIEW, AggregateSpec(count=True), subscriber(pushed), 0.0)  # type: ignore[arg-type]
    for seq in range(1, 6):  # five creates while the first read is slow: two more than may wait
        hub.dispatch(event(seq, "create", f"r{seq}", {}, None))
    source.seq = 5  # a read now sees all five
    gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert source.reads == 2
    assert pushed.counts() == [6]  # the second read (taken after the five), not 1 + the two kept events
