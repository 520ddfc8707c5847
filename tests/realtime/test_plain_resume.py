"""Snapshot, resume and reset over /api/realtime: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from tests.realtime.conftest import ServerFactory, connect, drain, settle


async def test_subscribe_acks_with_the_highest_committed_seq(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    assert (await client.subscribe("s", filters=[["status", "=", "cancelled"]]))["seq"] == 0
    for _ in range(3):
        await server.engine.object("orders").create({})
    await settle(server)
    assert (await client.subscribe("t"))["seq"] == 3


async def test_snapshot_comes_after_the_ack_in_id_order_with_its_seq(live_server: ServerFactory) -> None:
    server = await live_server()
    orders = server.engine.object("orders")
    for i in range(3):
        await orders.create({"id": f"o{2 - i}", "status": "paid", "total": i})
    await orders.create({"id": "x", "status": "pending"})
    client = await connect(server)
    await client.send(
        {
            "type": "subscribe",
            "id": "s",
            "object": "orders",
            "snapshot": True,
            "filters": [["status", "=", "paid"]],
            "fields": ["total"],
        }
    )
    ack = await client.expect("subscribed")
    snap = await client.expect("snapshot")
    assert snap["id"] == "s" and snap["seq"] == ack["seq"] == 4
    assert snap["records"] == [{"id": "o0", "total": 2}, {"id": "o1", "total": 1}, {"id": "o2", "total": 0}]


async def test_snapshot_then_live_misses_and_doubles_nothing_while_writes_race(live_server: ServerFactory) -> None:
    server = await live_server()
    orders = server.engine.object("orders")
    created: list[str] = []

    async def writer() -> None:
        for i in range(60):
            created.append((await orders.create({"total": i}))["id"])
            await asyncio.sleep(0.002)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.03)
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "s", "object": "orders", "snapshot": True})
    ack = await client.expect("subscribed")
    snap = await client.expect("snapshot")
    await task
    live = await drain(client, server)
    snapshot_ids = [r["id"] for r in snap["records"]]
    live_ids = [m["record"]["id"] for m in live]
    assert all(m["type"] == "change" and m["effect"] == "added" for m in live)
    assert not set(snapshot_ids) & set(live_ids)
    assert sorted(snapshot_ids + live_ids) == sorted(created)
    assert all(m["seq"] > ack["seq"] for m in live)
    assert [m["seq"] for m in live] == sorted(m["seq"] for m in live)


async def test_resume_replays_exactly_the_missed_events_in_order_before_live(live_server: ServerFactory) -> None:
    server = await live_server()
    orders = server.engine.object("orders")
    client = await connect(server)
    await client.subscribe("s", filters=[["status", "=", "pending"]])
    first = await orders.create({"total": 0})
    seen = (await client.expect("change"))["seq"]
    await client.ws.close()
    missed = [await orders.create({"total": i}) for i in range(1, 4)]
    await orders.update(first["id"], {"status": "paid"})  # leaves the filter: removed
    await orders.create({"status": "shipped"})  # never in the filter: nothing
    await orders.update(missed[0]["id"], {"total": 10})
    again = await connect(server)
    await again.send(
        {
            "type": "subscribe",
            "id": "s",
            "object": "orders",
            "filters": [["status", "=", "pending"]],
            "resume_from": seen,
        }
    )
    ack = await again.expect("subscribed")
    replay = [await again.expect("change") for _ in range(5)]
    assert [(m["action"], m["effect"]) for m in replay] == [
        ("create", "added"),
        ("create", "added"),
        ("create", "added"),
        ("update", "removed"),
        ("update", "modified"),
    ]
    assert [m["seq"] for m in replay] == sorted(m["seq"] for m in replay) and replay[0]["seq"] > seen
    assert replay[-1]["seq"] <= ack["seq"]
    live = await orders.create({"total": 99})
    assert (await again.expect("change"))["record"]["id"] == live["id"]
    assert await drain(again, server) == []


async def test_resume_from_a_pruned_seq_gets_reset_then_live(live_server: ServerFactory) -> None:
    server = await live_server()
    orders = server.engine.object("orders")
    for i in range(5):
        await orders.create({"total": i})
    table = server.engine.outbox.events
    async with server.engine.sql_engine.begin() as conn:
        await conn.execute(update(table).values(ts=datetime.now(UTC) - timedelta(days=3)))
    await server.engine.prune_events()
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "s", "object": "orders", "resume_from": 1})
    ack = await client.expect("subscribed")
    reset = await client.expect("reset")
    assert reset["id"] == "s" and reset["seq"] == ack["seq"] == 5 and reset["reason"]
    created = await orders.create({"total": 7})
    change = await client.expect("change")
    assert change["record"]["id"] == created["id"] and change["seq"] == 6


async def test_resume_from_the_future_gets_reset(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "s", "object": "orders", "resume_from": 999})
    await client.expect("subscribed")
    assert (await client.expect("reset"))["seq"] == 0


async def test_resume_from_the_current_seq_replays_nothing(live_server: ServerFactory) -> None:
    server = await live_server()
    await server.engine.object("orders").create({})
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "s", "object": "orders", "resume_from": 1})
    await client.expect("subscribed")
    assert await drain(client, server) == []
