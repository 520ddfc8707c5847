"""The shared states of live aggregates, driven event by event over an in-memory source: a group that ended
reads and sends nothing more, a joiner is never sent the same groups twice, and a subscription whose first
messages overflow its connection leaves nothing behind in the group."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from objectql.engine.aggregates import AggregateSpec
from objectql.engine.events import ChangeEvent
from objectql.errors import ObjectQLError
from objectql.realtime.aggregates import AggregateSubscription, LiveAggregates
from objectql.realtime.connection import Connection
from objectql.realtime.policy import Limits
from objectql.realtime.transports.protocols.plain.handlers import PlainSession

VIEW = SimpleNamespace(key=("orders", "all"), object="orders", match=lambda record: True)


class Source:
    """Answers aggregate reads from ``answers`` in turn; a read past them waits for ``gate`` (the database
    away) and then fails. ``reads`` counts them."""

    def __init__(self, *answers: list[dict[str, Any]], max_groups: int = 1000) -> None:
        self.answers = list(answers)
        self.max_groups = max_groups
        self.reads = 0
        self.gate = asyncio.Event()

    async def aggregate_snapshot(self, view: Any, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
        self.reads += 1
        if self.answers:
            return 0, self.answers.pop(0)
        await self.gate.wait()
        raise ConnectionError("the database is away")

    def aggregate_view(self, *args: Any, **kwargs: Any) -> tuple[Any, AggregateSpec]:
        return VIEW, AggregateSpec(count=True)


class Pushed:
    """A connection that keeps what is pushed to it."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def push(self, message: str) -> None:
        self.messages.append(message)


def event(seq: int, action: str, rid: str, record: Any, previous: Any) -> ChangeEvent:
    return ChangeEvent(seq, "orders", action, rid, record, previous, None, None, datetime.now(UTC))


def subscriber(conn: Any, ended: list[ObjectQLError] | None = None) -> AggregateSubscription:
    return AggregateSubscription(conn, lambda fragment, seq: fragment, (ended if ended is not None else []).append)


class Tasks:
    """Spawns and owns the groups' tasks, as the hub does."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[None]] = set()

    def __call__(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return task


async def test_a_group_ended_while_its_waiting_events_replay_reads_nothing_more() -> None:
    """Two events wait for the first read: the first takes the aggregate past its bound (it ends), the second
    removes the row holding the minimum, which would read again — the ended group must not."""
    source = Source([{"key": {"g": 1}, "count": 2, "min": {"v": 5}}], max_groups=1)
    source.gate = asyncio.Event()
    tasks = Tasks()
    live = LiveAggregates(source, tasks, 0.0)  # type: ignore[arg-type]
    ended: list[ObjectQLError] = []
    spec = AggregateSpec(count=True, min=("v",), group_by=("g",))
    first_read = asyncio.Event()
    original = source.aggregate_snapshot

    async def held_read(view: Any, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
        await first_read.wait()
        return await original(view, spec)

    source.aggregate_snapshot = held_read  # type: ignore[method-assign]
    live.add(VIEW, spec, subscriber(Pushed(), ended))  # type: ignore[arg-type]
    live.dispatch(event(1, "create", "b", {"g": 2, "v": 1}, None))  # a second group: one too many
    live.dispatch(event(2, "delete", "a", None, {"g": 1, "v": 5}))  # the minimum leaves
    first_read.set()
    for _ in range(50):
        await asyncio.sleep(0)
    assert [e.code for e in ended] == ["TOO_MANY_GROUPS"]
    assert live.group_count == 0
    assert source.reads == 1 and not tasks.running  # no read again, no task left behind


async def test_a_joiner_is_not_sent_the_groups_it_was_given_again() -> None:
    """A joiner gets the state as it is; when the state changes and changes back before the next message,
    the others get that message and the joiner nothing new."""
    source = Source([{"key": {"g": 1}, "count": 1}])
    live = LiveAggregates(source, Tasks(), 0.3)  # type: ignore[arg-type]
    spec = AggregateSpec(count=True, group_by=("g",))
    first, joiner = Pushed(), Pushed()
    live.add(VIEW, spec, subscriber(first))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert len(first.messages) == 1
    live.dispatch(event(1, "create", "x", {"g": 1}, None))  # count 2, its message held back
    live.add(VIEW, spec, subscriber(joiner))  # type: ignore[arg-type]
    live.dispatch(event(2, "create", "y", {"g": 1}, None))  # count 3
    live.dispatch(event(3, "delete", "y", None, {"g": 1}))  # count 2 again
    await asyncio.sleep(0.5)
    counts = [json.loads("{" + m + "}")["groups"][0]["count"] for m in first.messages]
    assert counts == [1, 2]
    assert [json.loads("{" + m + "}")["groups"][0]["count"] for m in joiner.messages] == [2]


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
    live = LiveAggregates(source, Tasks(), 0.0)  # type: ignore[arg-type]
    other = Pushed()
    live.add(VIEW, AggregateSpec(count=True), subscriber(other))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # the group is read and sending
    realtime = SimpleNamespace(
        require_hub=lambda: SimpleNamespace(delivered_seq=0),
        source=source,
        require_aggregates=lambda: live,
        presence=SimpleNamespace(drop=lambda conn: None),
    )
    conn = Connection(StuckTransport(), queue_size=2)  # type: ignore[arg-type]
    session = PlainSession(realtime, SimpleNamespace(auth_required=False, limits=Limits(queue_size=2)), conn)  # type: ignore[arg-type]
    session.start()
    conn.push("{}")  # one message queued: the ack and the first aggregate overflow the queue
    session.receive_text(json.dumps({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True}}))
    await asyncio.sleep(0.05)
    assert conn.closed.is_set()
    (group,) = live._groups.values()
    assert len(group.subscribers) == 1  # only the other connection's
    assert session.subscriptions == {}
