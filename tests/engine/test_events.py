"""Change events: one per committed write, strictly increasing seqs, none for rolled-back work."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from objectql import ChangeEvent, InvalidRequest, NotFound, ObjectQL, User, ValidationError
from objectql.engine.tables import EVENTS_TABLE

ORDERS = """
fields:
  status: {type: select, options: [pending, paid], default: pending}
  total:  {type: number, min: 0}
"""
NOTES = """
fields:
  text: {type: text}
"""


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine({"orders": ORDERS, "notes": NOTES})
    return engine


async def test_each_write_appends_one_event_with_the_change(app: ObjectQL) -> None:
    assert await app.current_seq() == 0
    orders = app.context(User("sam")).object("orders")
    created = await orders.create({"total": 1})
    await orders.update(created["id"], {"status": "paid"})
    await orders.delete(created["id"])
    events = await app.events(after=0)
    assert [(e.seq, e.action) for e in events] == [(1, "create"), (2, "update"), (3, "delete")]
    create, upd, delete = events
    assert create.record == created and create.previous is None and create.changed is None
    assert create.user_id == "sam" and create.object == "orders" and create.id == created["id"]
    assert upd.previous == created
    assert upd.record is not None and upd.record["status"] == "paid"
    assert set(upd.changed or ()) == {"status", "updated_at"}
    assert delete.record is None and delete.previous == upd.record
    assert all(e.ts.tzinfo is not None for e in events)
    assert await app.current_seq() == 3


async def test_events_can_be_read_after_a_seq_for_one_object_with_a_limit(app: ObjectQL) -> None:
    for i in range(3):
        await app.object("orders").create({"total": i})
        await app.object("notes").create({"text": str(i)})
    notes = await app.events(after=2, object="notes")
    assert [e.seq for e in notes] == [4, 6]
    assert [e.seq for e in await app.events(after=1, limit=2)] == [2, 3]
    with pytest.raises(NotFound):
        await app.events(after=0, object="nope")
    with pytest.raises(InvalidRequest):
        await app.events(after=-1)


async def test_a_failed_write_leaves_no_event(app: ObjectQL) -> None:
    with pytest.raises(ValidationError):
        await app.object("orders").create({"total": -1})
    assert await app.events(after=0) == []


async def test_an_exception_in_a_transaction_leaves_neither_rows_nor_events(app: ObjectQL) -> None:
    await app.object("notes").create({"text": "before"})
    with pytest.raises(KeyError):
        async with app.transaction(user=User("sam")) as tx:
            created = await tx.object("orders").create({"total": 1})
            await tx.object("orders").update(created["id"], {"total": 2})
            raise KeyError("abort")
    assert await app.object("orders").count() == 0
    assert [e.object for e in await app.events(after=0)] == ["notes"]
    assert await app.current_seq() == 1


async def test_a_committed_transaction_gets_consecutive_seqs_in_write_order(app: ObjectQL) -> None:
    async with app.transaction() as tx:
        a = await tx.object("orders").create({"total": 1})
        await tx.object("notes").create({"text": "x"})
        await tx.object("orders").delete(a["id"])
    assert [(e.seq, e.object, e.action) for e in await app.events(after=0)] == [
        (1, "orders", "create"),
        (2, "notes", "create"),
        (3, "orders", "delete"),
    ]


async def test_concurrent_writers_get_unique_gapless_increasing_seqs(app: ObjectQL) -> None:
    await asyncio.gather(*(app.object("orders").create({"total": i}) for i in range(25)))
    events = await app.events(after=0)
    assert [e.seq for e in events] == list(range(1, 26))
    # Seq order is commit order: each event's timestamp is taken before its commit.
    assert len({e.id for e in events}) == 25


async def test_listeners_receive_committed_events_only(app: ObjectQL) -> None:
    received: list[ChangeEvent] = []
    app.add_listener(received.extend)
    await app.object("orders").create({"total": 1})
    with pytest.raises(RuntimeError):
        async with app.transaction() as tx:
            await tx.object("orders").create({"total": 2})
            raise RuntimeError
    assert [(e.seq, e.action) for e in received] == [(1, "create")]
    app.remove_listener(received.extend)


async def test_pruning_deletes_events_older_than_retention_but_keeps_the_newest(app: ObjectQL) -> None:
    for i in range(4):
        await app.object("orders").create({"total": i})
    table = app.outbox.events
    old = datetime.now(UTC) - timedelta(days=2)
    async with app.sql_engine.begin() as conn:
        await conn.execute(update(table).where(table.c.seq <= 2).values(ts=old))
    assert await app.prune_events() == 2
    assert [e.seq for e in await app.events(after=0)] == [3, 4]
    assert await app.oldest_seq() == 3
    async with app.sql_engine.begin() as conn:
        await conn.execute(update(table).values(ts=old))
    await app.prune_events(retention=60)
    assert [e.seq for e in await app.events(after=0)] == [4]
    assert await app.current_seq() == 4
    await app.object("orders").create({"total": 9})
    assert await app.current_seq() == 5


async def test_seq_continues_after_a_restart(app: ObjectQL, database_url: str) -> None:
    await app.object("orders").create({"total": 1})
    await app.close()
    again = ObjectQL(app._objects, database_url)
    async with again:
        await again.object("orders").create({"total": 2})
        assert [e.seq for e in await again.events(after=0)] == [1, 2]
    assert EVENTS_TABLE.startswith("_")
