"""Deleting a record: each reference field's delete_behavior (restrict, set_null, cascade, master_detail) acts in
the same transaction, every record it touches is one ordinary change event, and a restrict anywhere refuses all."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from objectql import ChangeEvent, Conflict, ObjectQL, User
from objectql.engine.hooks import HookContext

ACCOUNTS = """
fields:
  name: {type: text}
permissions:
  read: [admin, sales]
  delete: [admin, sales]
"""
# Every kind of child of an account; the sales role sees only its own rows of each.
CHILD = """
fields:
  account: {{type: lookup, reference_to: accounts{extra}}}
  label: {{type: text}}
  owner: {{type: text}}
permissions:
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
"""
ORDERS = """
fields:
  account: {type: master_detail, reference_to: accounts}
  label: {type: text}
"""
LINES = """
fields:
  order: {type: master_detail, reference_to: orders}
  label: {type: text}
"""
SHIPMENTS = """
fields:
  line: {type: lookup, reference_to: lines, required: true}
"""
ADMIN = User("root", roles=("admin",))


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine(
        {
            "accounts": ACCOUNTS,
            "notes": CHILD.format(extra=""),
            "contracts": CHILD.format(extra=", delete_behavior: restrict"),
            "tasks": CHILD.format(extra=", delete_behavior: cascade"),
            "orders": ORDERS,
            "lines": LINES,
            "shipments": SHIPMENTS,
        }
    )
    return engine


def capture(app: ObjectQL) -> list[list[ChangeEvent]]:
    batches: list[list[ChangeEvent]] = []
    app.add_listener(lambda events: batches.append(list(events)))
    return batches


async def test_a_restricting_child_refuses_the_delete_with_conflict_naming_it_and_writes_nothing(
    app: ObjectQL,
) -> None:
    account = await app.object("accounts").create({"name": "a"})
    for label in ("x", "y"):
        await app.object("contracts").create({"account": account["id"], "label": label})
    note = await app.object("notes").create({"account": account["id"]})
    seq = await app.current_seq()
    with pytest.raises(Conflict) as info:
        await app.context(ADMIN).object("accounts").delete(account["id"])
    assert info.value.details == {
        "object": "accounts",
        "id": account["id"],
        "child": "contracts",
        "field": "account",
        "parent": "accounts",
        "count": 2,
    }
    assert "contracts.account" in info.value.message and "restrict" in info.value.message
    assert await app.current_seq() == seq
    assert await app.object("accounts").find_one(account["id"]) == account
    assert (await app.object("notes").find_one(note["id"]) or {})["account"] == account["id"]
    assert await app.object("contracts").count() == 2


async def test_set_null_clears_each_child_as_an_ordinary_update_in_the_same_transaction(app: ObjectQL) -> None:
    account = await app.object("accounts").create({"name": "a"})
    other = await app.object("accounts").create({"name": "b"})
    notes = [await app.object("notes").create({"account": account["id"], "label": str(i)}) for i in range(3)]
    kept = await app.object("notes").create({"account": other["id"]})
    batches = capture(app)
    await app.context(ADMIN).object("accounts").delete(account["id"])
    (batch,) = batches  # one transaction: one batch of events
    assert [(e.object, e.action, e.id) for e in batch] == [
        *(("notes", "update", n["id"]) for n in sorted(notes, key=lambda n: n["id"])),
        ("accounts", "delete", account["id"]),
    ]
    assert [e.seq for e in batch] == list(range(batch[0].seq, batch[0].seq + 4))
    for event in batch[:3]:
        assert event.previous is not None and event.record is not None
        assert event.previous["account"] == account["id"] and event.record["account"] is None
        assert set(event.changed or ()) == {"account", "updated_at"}
        assert event.record["updated_at"] > event.previous["updated_at"]
        assert event.user_id == "root"
    for note in notes:
        stored = await app.object("notes").find_one(note["id"])
        assert stored is not None and stored["account"] is None and stored["label"] == note["label"]
    assert await app.object("notes").find_one(kept["id"]) == kept
    # The same events are what the outbox replays.
    replayed = await app.events(after=batch[0].seq - 1)
    assert [(e.seq, e.action, e.id, e.changed) for e in replayed] == [(e.seq, e.action, e.id, e.changed) for e in batch]


async def test_cascade_deletes_children_the_deleting_user_cannot_see(app: ObjectQL) -> None:
    account = await app.object("accounts").create({"name": "a"})
    mine = await app.object("tasks").create({"account": account["id"], "owner": "sam"})
    theirs = await app.object("tasks").create({"account": account["id"], "owner": "kim"})
    seller = User("sam", roles=("sales",))
    assert [t["id"] for t in await app.context(seller).object("tasks").find()] == [mine["id"]]
    batches = capture(app)
    await app.context(seller).object("accounts").delete(account["id"])
    (batch,) = batches
    assert [(e.object, e.action, e.id) for e in batch] == [
        *(("tasks", "delete", t["id"]) for t in sorted([mine, theirs], key=lambda t: t["id"])),
        ("accounts", "delete", account["id"]),
    ]
    assert all(e.record is None and e.previous is not None for e in batch)
    assert await app.object("tasks").count() == 0


async def test_master_detail_cascades_two_levels_details_before_their_master_in_one_transaction(
    app: ObjectQL,
) -> None:
    account = await app.object("accounts").create({"name": "a"})
    other = await app.object("accounts").create({"name": "b"})
    orders = [await app.object("orders").create({"account": account["id"], "label": str(i)}) for i in range(2)]
    lines = [
        await app.object("lines").create({"order": o["id"], "label": f"{o['label']}.{j}"})
        for o in orders
        for j in range(2)
    ]
    survivor = await app.object("orders").create({"account": other["id"]})
    survivor_line = await app.object("lines").create({"order": survivor["id"]})
    note = await app.object("notes").create({"account": account["id"]})
    batches = capture(app)
    await app.context(ADMIN).object("accounts").delete(account["id"])
    (batch,) = batches
    by_id = sorted
    assert [(e.object, e.action, e.id) for e in batch] == [
        ("notes", "update", note["id"]),
        *(("lines", "delete", i) for i in by_id(ln["id"] for ln in lines)),
        *(("orders", "delete", i) for i in by_id(o["id"] for o in orders)),
        ("accounts", "delete", account["id"]),
    ]
    deleted_lines = {e.id: e.previous for e in batch if e.object == "lines"}
    assert deleted_lines == {ln["id"]: ln for ln in lines}
    assert [o["id"] for o in await app.object("orders").find()] == [survivor["id"]]
    assert [ln["id"] for ln in await app.object("lines").find()] == [survivor_line["id"]]


async def test_a_restrict_met_mid_cascade_refuses_the_whole_delete_and_rolls_everything_back(
    app: ObjectQL,
) -> None:
    account = await app.object("accounts").create({"name": "a"})
    order = await app.object("orders").create({"account": account["id"]})
    line = await app.object("lines").create({"order": order["id"]})
    await app.object("lines").create({"order": order["id"]})
    # A required lookup holds its parent: the shipment restricts deleting the line the cascade reaches.
    await app.object("shipments").create({"line": line["id"]})
    note = await app.object("notes").create({"account": account["id"]})
    seq = await app.current_seq()
    batches = capture(app)
    with pytest.raises(Conflict) as info:
        await app.context(ADMIN).object("accounts").delete(account["id"])
    assert info.value.details is not None
    assert (info.value.details["child"], info.value.details["field"], info.value.details["count"]) == (
        "shipments",
        "line",
        1,
    )
    assert info.value.details["parent"] == "lines"
    assert batches == [] and await app.current_seq() == seq
    assert await app.object("lines").count() == 2 and await app.object("orders").count() == 1
    assert (await app.object("notes").find_one(note["id"]) or {})["account"] == account["id"]


async def test_a_restrict_inside_an_explicit_transaction_rolls_back_the_transaction(app: ObjectQL) -> None:
    account = await app.object("accounts").create({"name": "a"})
    await app.object("contracts").create({"account": account["id"]})
    with pytest.raises(Conflict):
        async with app.transaction() as tx:
            await tx.object("notes").create({"account": account["id"], "label": "new"})
            await tx.object("accounts").delete(account["id"])
    assert await app.object("notes").count() == 0


async def test_after_hooks_run_for_every_cascaded_record_with_its_seq(app: ObjectQL) -> None:
    account = await app.object("accounts").create({"name": "a"})
    order = await app.object("orders").create({"account": account["id"]})
    line = await app.object("lines").create({"order": order["id"]})
    seen: list[tuple[str, str, str | None, int | None]] = []

    def after(ctx: HookContext) -> None:
        seen.append((ctx.object, ctx.action, ctx.id, ctx.seq))

    for name in ("accounts", "orders", "lines"):
        app.on("after:delete", name, after)
    await app.object("accounts").delete(account["id"])
    top = await app.current_seq()
    assert seen == [
        ("lines", "delete", line["id"], top - 2),
        ("orders", "delete", order["id"], top - 1),
        ("accounts", "delete", account["id"], top),
    ]


async def test_a_self_reference_cascading_to_itself_deletes_the_whole_chain_once(make_engine: Any) -> None:
    app: ObjectQL = await make_engine(
        {"nodes": "fields:\n  up: {type: lookup, reference_to: nodes, delete_behavior: cascade}\n"}
    )
    root = await app.object("nodes").create({})
    child = await app.object("nodes").create({"up": root["id"]})
    grandchild = await app.object("nodes").create({"up": child["id"]})
    # A cycle back to the root: the cascade must not visit it twice.
    await app.object("nodes").update(root["id"], {"up": grandchild["id"]})
    batches = capture(app)
    await app.object("nodes").delete(root["id"])
    (batch,) = batches
    assert [(e.action, e.id) for e in batch] == [
        ("delete", grandchild["id"]),
        ("delete", child["id"]),
        ("delete", root["id"]),
    ]
    assert await app.object("nodes").count() == 0


async def test_a_parent_delete_racing_a_summarised_child_write_both_succeed(make_engine: Any) -> None:
    # The delete locks the parent then its children; the child's write locks the child then, for the summary,
    # the parent. On PostgreSQL that is a deadlock the server breaks by rolling one back: it is run again.
    app: ObjectQL = await make_engine(
        {
            "customers": "fields:\n  total: {type: summary, summary_object: orders, summary_type: count}\n",
            "orders": "fields:\n  customer: {type: lookup, reference_to: customers, delete_behavior: cascade}\n"
            "  paid: {type: boolean}\n",
        }
    )
    customer = await app.object("customers").create({})
    order = await app.object("orders").create({"customer": customer["id"]})
    child_locked, release = asyncio.Event(), asyncio.Event()

    async def hold(ctx: HookContext) -> None:
        child_locked.set()
        await release.wait()

    app.on("before:update", "orders", hold)
    update = asyncio.create_task(app.object("orders").update(order["id"], {"customer": None}))
    await child_locked.wait()
    deletion = asyncio.create_task(app.object("customers").delete(customer["id"]))
    await asyncio.sleep(0.3)  # the delete now waits for the order's lock (PostgreSQL), or for the writer (SQLite)
    release.set()
    updated, deleted = await asyncio.gather(update, deletion)
    assert updated["customer"] is None and deleted is None
    assert await app.object("customers").count() == 0
    # The order left the customer before the customer went (or was retried after it): it survives either way.
    assert [o["id"] for o in await app.object("orders").find()] == [order["id"]]
