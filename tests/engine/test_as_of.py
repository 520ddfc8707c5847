"""Records as of a seq (``engine/as_of.py``): read now, the events since undone — equal to what a read at that
seq gave, on SQLite and PostgreSQL, however the records changed since (moved, changed, deleted, created)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from objectql import ObjectQL
from objectql.engine import as_of
from objectql.engine.as_of import records_at
from objectql.errors import Unavailable

OBJECTS = {
    "customers": "fields:\n  name: {type: text}\n",
    "orders": """
fields:
  customer: {type: lookup, reference_to: customers}
  total:    {type: integer}
""",
}


async def current(engine: ObjectQL, field: str, values: list[str]) -> list[dict[str, Any]]:
    rows = await engine.object("orders").find([[field, "in", values]], sort=[["id", "asc"]])
    return rows


async def test_records_as_of_every_earlier_seq_equal_what_was_read_then(make_engine: Any) -> None:
    engine: ObjectQL = await make_engine(OBJECTS)
    customers, orders = engine.object("customers"), engine.object("orders")
    for c in ("c1", "c2", "c3"):
        await customers.create({"id": c, "name": c})
    rng = random.Random(7)
    seen: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    made: list[str] = []
    for step in range(40):
        action = rng.choice(["create", "create", "move", "total", "delete"]) if made else "create"
        if action == "create":
            made.append((await orders.create({"customer": rng.choice(["c1", "c2", "c3"]), "total": step}))["id"])
        elif action == "move":
            await orders.update(rng.choice(made), {"customer": rng.choice(["c1", "c2", "c3", None])})
        elif action == "total":
            await orders.update(rng.choice(made), {"total": step})
        else:
            await orders.delete(made.pop(rng.randrange(len(made))))
        seq = await engine.current_seq()
        by_customer = await current(engine, "customer", ["c1", "c2"])
        by_id = await current(engine, "id", made[:5])
        seen[seq] = (by_customer, by_id)
        if step % 8 == 7:
            # Every earlier seq, read now: what was read then (the records' every field).
            for at, (then_by_customer, then_by_id) in seen.items():
                ids = [r["id"] for r in then_by_id]
                assert await records_at(engine, "orders", "customer", ["c1", "c2"], at) == then_by_customer, at
                got = await records_at(engine, "orders", "id", ids, at)
                assert got == then_by_id, at


async def test_too_many_changes_since_is_unavailable(make_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    engine: ObjectQL = await make_engine(OBJECTS)
    orders = engine.object("orders")
    created = await orders.create({"total": 1})
    seq = await engine.current_seq()
    for total in range(2, 6):
        await orders.update(created["id"], {"total": total})
    monkeypatch.setattr(as_of, "MAX_UNDONE", 3)
    monkeypatch.setattr(as_of, "_PAGE", 2)
    with pytest.raises(Unavailable):
        await records_at(engine, "orders", "id", [created["id"]], seq)
    assert [r["total"] for r in await records_at(engine, "orders", "id", [created["id"]], seq + 2)] == [3]
