"""The hub's dependency index: a related record's change costs one evaluation per dependent group however many
subscribers it has, the reads are shared between groups, and a write nothing depends on reaches no group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from objectql.engine import source as engine_source
from objectql.engine.as_of import records_at
from objectql.realtime import related as related_module
from objectql.realtime.related import RelatedRows
from tests.realtime.conftest import SECRET, ServerFactory, connect, settle
from tests.realtime.test_expand_subscriptions import CUSTOMERS, ORDERS

NOTES = "fields:\n  body: {type: text}\n"


async def test_a_rename_costs_one_evaluation_per_group_and_one_read_per_seq(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await live_server({"customers": CUSTOMERS, "orders": ORDERS, "notes": NOTES}, OBJECTQL_JWT_SECRET=SECRET)
    await shop_data(server)
    evaluations: list[str] = []
    reads: list[tuple[Any, ...]] = []
    related = RelatedRows.related

    async def counted(self: RelatedRows, event: Any, render: Any, read: Any) -> list[str]:
        evaluations.append(self.view.object)
        return await related(self, event, render, read)

    monkeypatch.setattr(RelatedRows, "related", counted)

    async def counted_read(engine: Any, *args: Any) -> Any:
        reads.append(args)
        return await records_at(engine, *args)

    monkeypatch.setattr(engine_source, "records_at", counted_read)
    clients = {}
    for user in ("sam", "kim"):  # two row scopes: two groups, 40 subscribers each
        clients[user] = client = await connect(server, server.token(user, ["sales"]))
        for i in range(40):
            await client.subscribe(f"s{i}", expand={"customer": {"fields": ["name"]}})
    assert server.realtime.require_hub().group_count == 2

    await server.engine.object("notes").create({"body": "nothing depends on notes"})
    await server.engine.object("customers").update("c2", {"name": "Bo"})  # c2 has sam's o3 only
    await settle(server)
    assert evaluations == ["orders", "orders"]  # the rename: one per group; the note: none
    # The orders reaching c2 as of the seq before and as of the rename: two reads, shared by both groups.
    assert len(reads) == 2 and {r[:3] for r in reads} == {("orders", "customer", ("c2",))}
    sam_changes = [await clients["sam"].expect("change") for _ in range(40)]
    assert {c["record"]["id"] for c in sam_changes} == {"o3"} and {c["action"] for c in sam_changes} == {"related"}
    await clients["sam"].nothing(server)
    await clients["kim"].nothing(server)  # kim sees no order of c2


async def shop_data(server: Any) -> None:
    customers, orders = server.engine.object("customers"), server.engine.object("orders")
    await customers.create({"id": "c1", "name": "Ada", "owner": "sam"})
    await customers.create({"id": "c2", "name": "Bob", "owner": "kim"})
    await orders.create({"id": "o1", "total": 10, "owner": "sam", "customer": "c1"})
    await orders.create({"id": "o2", "total": 20, "owner": "kim", "customer": "c1"})
    await orders.create({"id": "o3", "total": 30, "owner": "sam", "customer": "c2"})


async def test_shared_reads_are_bounded_by_reads_and_by_records_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(related_module, "SHARED_READS", 3)
    monkeypatch.setattr(related_module, "SHARED_RECORDS", 10)
    asked: list[tuple[Any, ...]] = []

    async def read(object_name: str, field: str, values: Any, seq: int) -> list[dict[str, Any]]:
        asked.append((object_name, field, tuple(values), seq))
        return [{"id": f"r{i}"} for i in range(int(values[0]))]

    reads = related_module.RelatedReads(read, asyncio.ensure_future)
    first = await reads.read("orders", "customer", ["4"], 1)
    assert await reads.read("orders", "customer", ["4"], 1) is first and len(asked) == 1  # shared, not read again
    await reads.read("orders", "customer", ["4"], 2)
    assert (len(reads), reads.held) == (2, 8)
    await reads.read("orders", "customer", ["4"], 3)  # 12 records: over the bound, the oldest goes
    assert (len(reads), reads.held) == (2, 8)
    await reads.read("orders", "customer", ["4"], 1)
    assert len(asked) == 4  # the first was forgotten, so it is read again
    for seq in range(10, 14):
        await reads.read("orders", "customer", ["1"], seq)
    assert (len(reads), reads.held) == (3, 3)  # at most three reads
    await reads.read("orders", "customer", ["50"], 20)
    assert (len(reads), reads.held) == (1, 50)  # the newest is kept whatever its size
