"""The hub without sockets: groups share evaluation, the equality index limits work, order is kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from objectql import ObjectQL, User
from objectql.engine.events import ChangeEvent
from objectql.engine.views import build_view
from objectql.realtime import changes
from objectql.realtime import rows as rows_module
from objectql.realtime.connection import Connection
from objectql.realtime.feed import EventFeed
from objectql.realtime.hub import Hub
from objectql.realtime.rows import Enclosed, RowsSubscription, join

ORDERS = """
fields:
  status:   {type: select, options: [pending, paid]}
  customer: {type: text}
  owner:    {type: text}
permissions:
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
"""


class Recorder:
    """A transport that records what it is sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def write_now(self, message: str | bytes) -> bool:
        return False

    def write_all_now(self, messages: Sequence[str | bytes]) -> bool:
        return False

    async def send(self, message: str | bytes) -> None:
        self.sent.append(message if isinstance(message, str) else message.decode())

    async def close(self, code: int, reason: str) -> None:
        return None

    def abort(self) -> None:
        return None


@pytest.fixture
async def engine(make_engine: Any) -> ObjectQL:
    app: ObjectQL = await make_engine({"orders": ORDERS})
    return app


def event(seq: int, record: dict[str, Any] | None, previous: dict[str, Any] | None = None) -> ChangeEvent:
    action = "create" if previous is None else ("delete" if record is None else "update")
    rid = (record or previous or {})["id"]
    return ChangeEvent(seq, "orders", action, rid, record, previous, None, None, datetime.now(UTC))


def make_hub() -> Hub:
    async def read(after: int, limit: int) -> list[ChangeEvent]:
        return []

    async def current() -> int:
        return 0

    return Hub(EventFeed(read, current))


def subscribe(hub: Hub, engine: ObjectQL, sid: str, user: User | None = None, **kw: Any) -> Connection:
    conn = Connection(Recorder(), queue_size=100)
    view = build_view(engine, "orders", user, **kw)
    join(hub, RowsSubscription(conn, sid, view, frame=Enclosed(f'{{"id":"{sid}",')))
    return conn


async def test_subscribers_with_equal_views_share_one_group_and_one_evaluation(
    engine: ObjectQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = make_hub()
    conns = [subscribe(hub, engine, f"s{i}", filters=[["status", "=", "paid"]]) for i in range(50)]
    assert hub.group_count == 1 and hub.subscription_count == 50
    calls = []
    original = changes.render
    monkeypatch.setattr(changes, "render", lambda v, e: calls.append(e.seq) or original(v, e))
    hub.dispatch(event(1, {"id": "o1", "status": "paid", "customer": "c", "owner": None}))
    assert calls == [1]
    assert all(c.pending == 1 for c in conns)


async def test_an_event_only_touches_the_groups_its_values_can_match(
    engine: ObjectQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = make_hub()
    for i in range(2000):
        subscribe(hub, engine, "s", filters=[["customer", "=", f"c{i}"]])
    unpinned = subscribe(hub, engine, "all", filters=[["status", "!=", "pending"]])
    assert hub.group_count == 2001
    evaluated: list[Any] = []
    original = changes.render
    monkeypatch.setattr(changes, "render", lambda v, e: evaluated.append(v.node) or original(v, e))
    hub.dispatch(event(1, {"id": "o1", "status": "paid", "customer": "c7", "owner": None}))
    assert len(evaluated) == 2  # the c7 group and the one unpinned group
    evaluated.clear()
    # An update moving a record between customers touches the groups of both values.
    hub.dispatch(
        event(
            2,
            {"id": "o1", "status": "paid", "customer": "c9", "owner": None},
            {"id": "o1", "status": "paid", "customer": "c7", "owner": None},
        )
    )
    assert len(evaluated) == 3
    assert unpinned.pending == 2


async def test_row_rules_split_groups_by_the_bound_user(engine: ObjectQL) -> None:
    hub = make_hub()
    sam = subscribe(hub, engine, "s", User("sam", ("sales",)))
    kim = subscribe(hub, engine, "s", User("kim", ("sales",)))
    subscribe(hub, engine, "s", User("sam", ("sales",)))
    assert hub.group_count == 2
    hub.dispatch(event(1, {"id": "o1", "status": "paid", "customer": "c", "owner": "kim"}))
    assert sam.pending == 0 and kim.pending == 1


async def test_removing_the_last_member_drops_the_group_and_its_index_entries(engine: ObjectQL) -> None:
    hub = make_hub()
    conn = Connection(Recorder(), queue_size=10)
    view = build_view(engine, "orders", None, filters=[["customer", "in", ["a", "b"]]])
    sub = RowsSubscription(conn, "s", view)
    join(hub, sub)
    sub.drop()
    sub.drop()  # idempotent
    assert hub.group_count == 0 and hub.subscription_count == 0
    hub.dispatch(event(1, {"id": "o1", "status": "paid", "customer": "a", "owner": None}))
    assert conn.pending == 0


async def test_held_messages_are_released_after_what_the_snapshot_covered(engine: ObjectQL) -> None:
    hub = make_hub()
    conn = Connection(Recorder(), queue_size=10)
    sub = RowsSubscription(conn, "s", build_view(engine, "orders", None), frame=Enclosed('{"id":"s",'))
    join(hub, sub, hold=True)
    for seq in (1, 2, 3):
        hub.dispatch(event(seq, {"id": f"o{seq}", "status": "paid", "customer": "c", "owner": None}))
    assert conn.pending == 0
    sub.go_live(2)
    assert conn.pending == 1
    hub.dispatch(event(4, {"id": "o4", "status": "paid", "customer": "c", "owner": None}))
    assert conn.pending == 2


async def test_queue_overflow_closes_the_connection_with_1013(engine: ObjectQL) -> None:
    hub = make_hub()
    conn = subscribe(hub, engine, "s")
    conn.queue_size = 3
    for seq in range(1, 6):
        hub.dispatch(event(seq, {"id": f"o{seq}", "status": "paid", "customer": "c", "owner": None}))
    assert conn.closed.is_set() and conn.close_code == 1013 and conn.pending == 0
    await conn.wait_closed()


async def test_the_feed_fills_gaps_from_the_outbox_and_skips_duplicates() -> None:
    stored = [event(i, {"id": f"o{i}", "status": "paid", "customer": "c", "owner": None}) for i in range(1, 8)]

    async def read(after: int, limit: int) -> list[ChangeEvent]:
        return [e for e in stored if e.seq > after][:limit]

    async def current() -> int:
        return 7

    feed = EventFeed(read, current)
    feed.notify([stored[3]])  # seq 4 arrives first: 1-3 are read from the outbox
    assert [e.seq for e in await feed.next_batch()] == [1, 2, 3, 4]
    feed.notify([stored[1], stored[4]])  # 2 again (dropped) and 5
    assert [e.seq for e in await feed.next_batch()] == [5]
    feed.signal(7)  # another process committed up to 7
    assert [e.seq for e in await feed.next_batch()] == [6, 7]


async def test_a_failed_outbox_read_loses_nothing() -> None:
    stored = [event(i, {"id": f"o{i}", "status": "paid", "customer": "c", "owner": None}) for i in range(1, 6)]
    failures = [True]

    async def read(after: int, limit: int) -> list[ChangeEvent]:
        if failures and after >= 2:
            failures.pop()
            raise ConnectionError("database away")
        return [e for e in stored if e.seq > after][:2]

    async def current() -> int:
        return 5

    feed = EventFeed(read, current)
    feed.signal(5)
    with pytest.raises(ConnectionError):
        await feed.next_batch()
    assert feed.last_seq == 0
    feed.mark_behind()
    assert [e.seq for e in await feed.next_batch()] == [1, 2, 3, 4, 5]


class GatedRenderer:
    """A renderer doing I/O: it waits for ``gate`` before producing each event's text."""

    key = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls: list[int] = []

    def __call__(self, view: Any, event: ChangeEvent) -> Any:
        self.calls.append(event.seq)
        return self._render(event.seq)

    async def _render(self, seq: int) -> str:
        await self.gate.wait()
        return f'"seq":{seq}}}'


def sent_seqs(recorder: Recorder) -> list[int]:
    return [json.loads(m)["seq"] for m in recorder.sent]


async def test_a_slow_renderer_delays_only_its_own_group(engine: ObjectQL) -> None:
    hub = make_hub()
    slow = GatedRenderer()
    slow_sockets = [Recorder() for _ in range(3)]
    for i, socket in enumerate(slow_sockets):
        conn = Connection(socket, queue_size=100)
        conn.start()
        join(
            hub, RowsSubscription(conn, f"g{i}", build_view(engine, "orders", None), frame=Enclosed("{"), renderer=slow)
        )
    fast_socket = Recorder()
    fast = Connection(fast_socket, queue_size=100)
    fast.start()
    join(hub, RowsSubscription(fast, "p", build_view(engine, "orders", None), frame=Enclosed('{"id":"p",')))
    for seq in (1, 2, 3):
        hub.dispatch(event(seq, {"id": f"o{seq}", "status": "paid", "customer": "c", "owner": None}))
    # The dispatcher went on while the slow group's first render waits: the other group has everything.
    assert sent_seqs(fast_socket) == [1, 2, 3]
    assert all(s.sent == [] for s in slow_sockets)
    slow.gate.set()
    await hub.drained()
    # Each event rendered once for the whole group, every member in seq order.
    assert slow.calls == [1, 2, 3]
    assert all(sent_seqs(s) == [1, 2, 3] for s in slow_sockets)
    await hub.stop()


async def test_a_render_backlog_past_its_bound_closes_the_group_with_1013(
    engine: ObjectQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows_module, "RENDER_BACKLOG", 5)
    hub = make_hub()
    slow = GatedRenderer()
    conn = Connection(Recorder(), queue_size=100)
    join(hub, RowsSubscription(conn, "g", build_view(engine, "orders", None), renderer=slow))
    bystander = subscribe(hub, engine, "p")
    for seq in range(1, 8):  # one in flight, five waiting, the seventh overflows
        hub.dispatch(event(seq, {"id": f"o{seq}", "status": "paid", "customer": "c", "owner": None}))
    assert conn.closed.is_set() and conn.close_code == 1013
    assert not bystander.closed.is_set() and bystander.pending == 7
    await hub.stop()
    await conn.wait_closed()
