"""Summary fields: stored on the parent, read-only, recomputed in the transaction of every child write that changes
them — creates, moves, filter flips, deletes, cascades — as ordinary update events of the parent; exact under
concurrent writers on both databases."""

from __future__ import annotations

import asyncio
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from objectql import ChangeEvent, DefinitionError, ObjectQL, User, ValidationError
from objectql.engine.hooks import HookContext

CUSTOMERS = """
fields:
  name: {type: text}
  order_count: {type: summary, summary_object: orders, summary_type: count}
  paid_count: {type: summary, summary_object: orders, summary_type: count, filters: [["status", "=", "paid"]]}
  total: {type: summary, summary_object: orders, summary_type: sum, summary_field: amount}
  smallest: {type: summary, summary_object: orders, summary_type: min, summary_field: amount}
  largest: {type: summary, summary_object: orders, summary_type: max, summary_field: amount}
  mean: {type: summary, summary_object: orders, summary_type: avg, summary_field: amount}
  items: {type: summary, summary_object: orders, summary_type: sum, summary_field: qty}
  mean_qty: {type: summary, summary_object: orders, summary_type: avg, summary_field: qty}
  weight: {type: summary, summary_object: orders, summary_type: sum, summary_field: kg}
  heaviest: {type: summary, summary_object: orders, summary_type: max, summary_field: kg}
permissions:
  fields:
    weight: {read: [admin]}
"""
ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers}
  status: {type: select, options: [pending, paid], default: pending}
  amount: {type: currency}
  qty: {type: integer}
  kg: {type: number}
  note: {type: text}
  lines_total: {type: summary, summary_object: lines, summary_type: sum, summary_field: price}
"""
LINES = """
fields:
  order: {type: master_detail, reference_to: orders}
  product: {type: lookup, reference_to: products}
  price: {type: currency}
"""
PRODUCTS = """
fields:
  sold: {type: summary, summary_object: lines, summary_type: count}
  grand: {type: summary, summary_object: lines, summary_type: sum, summary_field: price}
"""
SUMMARY_FIELDS = (
    "order_count",
    "paid_count",
    "total",
    "smallest",
    "largest",
    "mean",
    "items",
    "mean_qty",
    "weight",
    "heaviest",
)


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine(
        {"customers": CUSTOMERS, "orders": ORDERS, "lines": LINES, "products": PRODUCTS}
    )
    return engine


def summaries(record: dict[str, Any] | None) -> dict[str, Any]:
    assert record is not None
    return {f: record[f] for f in SUMMARY_FIELDS}


async def expected(app: ObjectQL, customer: str) -> dict[str, Any]:
    """The summaries of ``customer`` computed here from its orders as stored."""
    orders = await app.object("orders").find(filters=[["customer", "=", customer]])
    amounts = [o["amount"] for o in orders if o["amount"] is not None]
    qtys = [o["qty"] for o in orders if o["qty"] is not None]
    kgs = [o["kg"] for o in orders if o["kg"] is not None]
    return {
        "order_count": len(orders),
        "paid_count": sum(1 for o in orders if o["status"] == "paid"),
        "total": sum(amounts, Decimal(0)),
        "smallest": min(amounts, default=None),
        "largest": max(amounts, default=None),
        "mean": (sum(amounts, Decimal(0)) / len(amounts)).quantize(Decimal("0.0001")) if amounts else None,
        "items": sum(qtys),
        "mean_qty": sum(qtys) / len(qtys) if qtys else None,
        "weight": math.fsum(kgs),
        "heaviest": max(kgs, default=None),
    }


def capture(app: ObjectQL) -> list[list[ChangeEvent]]:
    batches: list[list[ChangeEvent]] = []
    app.add_listener(lambda events: batches.append(list(events)))
    return batches


async def test_a_new_parent_starts_with_zero_counts_and_sums_and_null_extremes(app: ObjectQL) -> None:
    customer = await app.object("customers").create({"name": "a"})
    assert summaries(customer) == {
        "order_count": 0,
        "paid_count": 0,
        "total": Decimal(0),
        "smallest": None,
        "largest": None,
        "mean": None,
        "items": 0,
        "mean_qty": None,
        "weight": 0.0,
        "heaviest": None,
    }
    assert summaries(await app.object("customers").find_one(customer["id"])) == summaries(customer)


async def test_every_summary_type_follows_creates_exactly(app: ObjectQL) -> None:
    customer = await app.object("customers").create({"name": "a"})
    rows = [
        {"amount": Decimal("0.1"), "qty": 2, "kg": 1.5, "status": "paid"},
        {"amount": Decimal("0.2"), "qty": 3, "kg": 0.25},
        {"amount": Decimal("10"), "qty": None, "kg": None, "status": "paid"},
        {"amount": None, "qty": 1, "kg": 2.0},
    ]
    for row in rows:
        await app.object("orders").create({"customer": customer["id"], **row})
    stored = summaries(await app.object("customers").find_one(customer["id"]))
    assert stored == {
        "order_count": 4,
        "paid_count": 2,
        "total": Decimal("10.3"),
        "smallest": Decimal("0.1"),
        "largest": Decimal("10"),
        "mean": Decimal("3.4333"),
        "items": 6,
        "mean_qty": 2.0,
        "weight": 3.75,
        "heaviest": 2.0,
    }
    assert stored == await expected(app, customer["id"])
    assert isinstance(stored["total"], Decimal) and isinstance(stored["items"], int)


async def test_the_parents_change_is_an_ordinary_update_event_in_the_childs_transaction(app: ObjectQL) -> None:
    customer = await app.object("customers").create({"name": "a"})
    batches = capture(app)
    order = await app.context(User("sam")).object("orders").create({"customer": customer["id"], "amount": Decimal("5")})
    (batch,) = batches
    assert [(e.object, e.action, e.id) for e in batch] == [
        ("orders", "create", order["id"]),
        ("customers", "update", customer["id"]),
    ]
    assert batch[1].seq == batch[0].seq + 1
    update = batch[1]
    assert update.previous is not None and update.record is not None
    assert update.previous == customer
    assert set(update.changed or ()) == {
        "order_count",
        "total",
        "smallest",
        "largest",
        "mean",
        "updated_at",
    }
    assert update.record["total"] == Decimal(5) and update.record["order_count"] == 1
    assert update.record["updated_at"] > customer["updated_at"] and update.user_id == "sam"
    assert (await app.events(after=batch[0].seq))[0].changed == update.changed


async def test_a_child_write_that_changes_no_summary_writes_no_parent_event(app: ObjectQL) -> None:
    customer = await app.object("customers").create({"name": "a"})
    order = await app.object("orders").create({"customer": customer["id"], "amount": Decimal("5")})
    before = await app.object("customers").find_one(customer["id"])
    batches = capture(app)
    await app.object("orders").update(order["id"], {"note": "call first"})
    await app.object("orders").update(order["id"], {"amount": Decimal("5.0000")})
    assert [[(e.object, e.action) for e in b] for b in batches] == [[("orders", "update")], [("orders", "update")]]
    assert await app.object("customers").find_one(customer["id"]) == before


async def test_moving_a_child_updates_both_parents_in_its_transaction(app: ObjectQL) -> None:
    a = await app.object("customers").create({"name": "a"})
    b = await app.object("customers").create({"name": "b"})
    order = await app.object("orders").create({"customer": a["id"], "amount": Decimal("7"), "qty": 2})
    await app.object("orders").create({"customer": a["id"], "amount": Decimal("1")})
    batches = capture(app)
    await app.object("orders").update(order["id"], {"customer": b["id"]})
    (batch,) = batches
    assert [(e.object, e.id) for e in batch] == [
        ("orders", order["id"]),
        *sorted(("customers", i) for i in (a["id"], b["id"])),
    ]
    for cid in (a["id"], b["id"]):
        assert summaries(await app.object("customers").find_one(cid)) == await expected(app, cid)
    stored_b = await app.object("customers").find_one(b["id"])
    assert stored_b is not None and (stored_b["order_count"], stored_b["total"]) == (1, Decimal(7))
    # Moving to no parent at all.
    await app.object("orders").update(order["id"], {"customer": None})
    stored_b = await app.object("customers").find_one(b["id"])
    assert stored_b is not None and summaries(stored_b) == await expected(app, b["id"])
    assert stored_b["order_count"] == 0 and stored_b["largest"] is None


async def test_a_child_leaving_or_entering_the_summary_filter_changes_only_the_filtered_summary(
    app: ObjectQL,
) -> None:
    customer = await app.object("customers").create({"name": "a"})
    order = await app.object("orders").create({"customer": customer["id"], "amount": Decimal("3")})
    batches = capture(app)
    await app.object("orders").update(order["id"], {"status": "paid"})
    (batch,) = batches
    assert batch[1].changed is not None and set(batch[1].changed) == {"paid_count", "updated_at"}
    assert (await app.object("customers").find_one(customer["id"]) or {})["paid_count"] == 1
    await app.object("orders").update(order["id"], {"status": "pending"})
    assert (await app.object("customers").find_one(customer["id"]) or {})["paid_count"] == 0


async def test_deleting_a_child_and_cascades_recompute_the_surviving_parents(app: ObjectQL) -> None:
    customer = await app.object("customers").create({"name": "a"})
    first = await app.object("orders").create({"customer": customer["id"], "amount": Decimal("2")})
    second = await app.object("orders").create({"customer": customer["id"], "amount": Decimal("3")})
    await app.object("orders").delete(first["id"])
    assert summaries(await app.object("customers").find_one(customer["id"])) == await expected(app, customer["id"])
    # Lines of an order are details: deleting the order deletes them, and the product they were sold as is
    # recomputed in that transaction; the order's own summary dies with it.
    product = await app.object("products").create({})
    for price in (Decimal("1.5"), Decimal("2.25")):
        await app.object("lines").create({"order": second["id"], "product": product["id"], "price": price})
    other = await app.object("orders").create({"customer": customer["id"]})
    await app.object("lines").create({"order": other["id"], "product": product["id"], "price": Decimal("4")})
    stored = await app.object("products").find_one(product["id"])
    assert stored is not None and (stored["sold"], stored["grand"]) == (3, Decimal("7.75"))
    assert (await app.object("orders").find_one(second["id"]) or {})["lines_total"] == Decimal("3.75")
    batches = capture(app)
    await app.object("orders").delete(second["id"])
    (batch,) = batches
    assert [(e.object, e.action) for e in batch] == [
        ("lines", "delete"),
        ("lines", "delete"),
        ("orders", "delete"),
        ("customers", "update"),
        ("products", "update"),
    ]
    stored = await app.object("products").find_one(product["id"])
    assert stored is not None and (stored["sold"], stored["grand"]) == (1, Decimal(4))
    assert summaries(await app.object("customers").find_one(customer["id"])) == await expected(app, customer["id"])


async def test_a_summary_of_a_summary_follows_a_grandchild_write(make_engine: Any) -> None:
    app: ObjectQL = await make_engine(
        {
            "customers": "fields:\n  grand: {type: summary, summary_object: orders, summary_type: sum, "
            "summary_field: lines_total}\n",
            "orders": ORDERS,
            "lines": LINES,
            "products": "fields: {name: {type: text}}\n",
        }
    )
    customer = await app.object("customers").create({})
    order = await app.object("orders").create({"customer": customer["id"]})
    batches = capture(app)
    line = await app.object("lines").create({"order": order["id"], "price": Decimal("2.5")})
    (batch,) = batches
    assert [(e.object, e.action) for e in batch] == [
        ("lines", "create"),
        ("orders", "update"),
        ("customers", "update"),
    ]
    assert (await app.object("customers").find_one(customer["id"]) or {})["grand"] == Decimal("2.5")
    await app.object("lines").delete(line["id"])
    assert (await app.object("customers").find_one(customer["id"]) or {})["grand"] == Decimal(0)


async def test_setting_a_summary_on_create_or_update_is_a_validation_error_naming_it(app: ObjectQL) -> None:
    with pytest.raises(ValidationError) as info:
        await app.object("customers").create({"name": "a", "order_count": 3})
    assert [(e["field"], e["code"]) for e in info.value.errors] == [("order_count", "read_only")]
    customer = await app.object("customers").create({"name": "a"})
    with pytest.raises(ValidationError) as info:
        await app.object("customers").update(customer["id"], {"total": Decimal("1")})
    assert [(e["field"], e["code"]) for e in info.value.errors] == [("total", "read_only")]
    assert "summary of orders" in info.value.errors[0]["message"]


async def test_summaries_filter_sort_and_aggregate_like_fields_of_their_kind_under_field_permissions(
    app: ObjectQL,
) -> None:
    small = await app.object("customers").create({"name": "small"})
    big = await app.object("customers").create({"name": "big"})
    await app.object("orders").create({"customer": small["id"], "amount": Decimal("1"), "kg": 1.0})
    for amount in (Decimal(5), Decimal(6)):
        await app.object("orders").create({"customer": big["id"], "amount": amount, "kg": 2.0})
    customers = app.object("customers")
    assert [c["name"] for c in await customers.find(filters=[["order_count", ">", 1]])] == ["big"]
    assert [c["name"] for c in await customers.find(filters={"total": {"$lt": 2}})] == ["small"]
    assert [c["name"] for c in await customers.find(sort=[["total", "desc"]])] == ["big", "small"]
    (group,) = await customers.aggregate(sum=["total"], max=["order_count"])
    assert group["sum"]["total"] == Decimal(12) and group["max"]["order_count"] == 2
    sales = app.context(User("sam", roles=("sales",))).object("customers")
    assert "weight" not in (await sales.find(sort=[["name", "asc"]]))[0]
    with pytest.raises(Exception) as info:
        await sales.find(filters=[["weight", ">", 0]])
    assert getattr(info.value, "code", None) == "FORBIDDEN"


async def test_a_filter_that_is_not_a_filter_on_the_child_is_a_definition_error_at_init(make_engine: Any) -> None:
    bad = CUSTOMERS.replace('[["status", "=", "paid"]]', '[["nope", "=", "paid"]]')
    with pytest.raises(DefinitionError) as info:
        await make_engine({"customers": bad, "orders": ORDERS, "lines": LINES, "products": PRODUCTS})
    assert info.value.key_path == "fields.paid_count.filters" and info.value.file.endswith("customers.object.yml")
    assert "a filter on orders" in info.value.expected and "nope" in info.value.expected


async def test_after_update_hooks_run_for_a_parent_whose_summary_changed(app: ObjectQL) -> None:
    customer = await app.object("customers").create({"name": "a"})
    seen: list[tuple[str | None, int | None]] = []

    def after(ctx: HookContext) -> None:
        seen.append((ctx.id, ctx.result["order_count"] if ctx.result else None))

    app.on("after:update", "customers", after)
    await app.object("orders").create({"customer": customer["id"]})
    assert seen == [(customer["id"], 1)]


async def test_summaries_stay_exact_under_concurrent_writers_of_one_parents_children(app: ObjectQL) -> None:
    a = await app.object("customers").create({"name": "a"})
    b = await app.object("customers").create({"name": "b"})
    parents = [a["id"], b["id"]]
    rnd = random.Random(23)
    existing: list[str] = []

    async def step() -> None:
        # A summary recomputed from scratch heals on the next write, so every round ends on a race: a
        # burst of concurrent writes, then the stored values are checked.
        choice = rnd.random()
        if choice < 0.5 or len(existing) < 4:
            created = await app.object("orders").create(
                {
                    "customer": rnd.choice(parents),
                    "amount": Decimal(rnd.randint(0, 10_000)) / 100,
                    "qty": rnd.randint(1, 5),
                    "kg": rnd.choice([0.1, 0.2, 0.7]),
                    "status": rnd.choice(["paid", "pending"]),
                }
            )
            existing.append(created["id"])
        elif choice < 0.8:
            patch = {"customer": rnd.choice(parents), "amount": Decimal(rnd.randint(0, 500)) + Decimal("0.5")}
            # Taken out while written, so no concurrent step deletes it meanwhile.
            target = existing.pop(rnd.randrange(len(existing)))
            await app.object("orders").update(target, {**patch, "status": "paid"})
            existing.append(target)
        else:
            await app.object("orders").delete(existing.pop(rnd.randrange(len(existing))))

    for _ in range(6):
        await asyncio.gather(*(step() for _ in range(10)))
        for cid in parents:
            assert summaries(await app.object("customers").find_one(cid)) == await expected(app, cid)
    assert await app.object("orders").count() > 0


async def test_a_summary_added_to_a_table_with_rows_is_filled_from_the_children_at_init(make_engine: Any) -> None:
    plain_customers = "fields:\n  name: {type: text}\n"
    plain_orders = "fields:\n  customer: {type: lookup, reference_to: customers}\n  amount: {type: currency}\n"
    first: ObjectQL = await make_engine({"customers": plain_customers, "orders": plain_orders})
    a = await first.object("customers").create({"name": "a"})
    b = await first.object("customers").create({"name": "b"})
    for amount in (Decimal("1.25"), Decimal("2.5")):
        await first.object("orders").create({"customer": a["id"], "amount": amount})
    assert await first.current_seq() == 4
    await first.close()
    summarised = (
        plain_customers
        + "  n: {type: summary, summary_object: orders, summary_type: count}\n"
        + "  total: {type: summary, summary_object: orders, summary_type: sum, summary_field: amount}\n"
    )
    second: ObjectQL = await make_engine({"customers": summarised, "orders": plain_orders})
    stored = {c["name"]: (c["n"], c["total"]) for c in await second.object("customers").find()}
    assert stored == {"a": (2, Decimal("3.75")), "b": (0, Decimal(0))}
    assert await second.current_seq() == 4  # filling is part of the schema change: no event
    assert (await second.object("customers").find_one(b["id"]) or {})["n"] == 0


async def test_one_aggregate_query_per_filter_recomputes_every_affected_parent(app: ObjectQL) -> None:
    a = await app.object("customers").create({"name": "a"})
    b = await app.object("customers").create({"name": "b"})
    order = await app.object("orders").create({"customer": a["id"], "amount": Decimal(1), "status": "paid"})
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(app.sql_engine.sync_engine, "before_cursor_execute", record)
    try:
        # Moving the order touches both customers' ten summaries: two filters (none, and status = paid).
        await app.object("orders").update(order["id"], {"customer": b["id"]})
    finally:
        event.remove(app.sql_engine.sync_engine, "before_cursor_execute", record)
    aggregates = [s for s in statements if "GROUP BY" in s and "FROM orders" in s]
    assert len(aggregates) == 2, aggregates
    parent_updates = [s for s in statements if s.startswith("UPDATE customers")]
    assert len(parent_updates) == 2
    for cid in (a["id"], b["id"]):
        assert summaries(await app.object("customers").find_one(cid)) == await expected(app, cid)
