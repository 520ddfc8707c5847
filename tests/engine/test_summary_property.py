"""Property: after any sequence of writes — creates, moves between parents, filter flips, deletes with cascades and
clearings — every stored summary equals the summary computed here from the children as stored (SQLite and
PostgreSQL), and each write's transaction released one event per record it changed."""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from objectql import ChangeEvent, ObjectQL
from tests.conftest import fresh_database_url, write_objects

OBJECTS = {
    "customers": """
fields:
  paid: {type: summary, summary_object: orders, summary_type: count, filters: [["status", "=", "paid"]]}
  amount: {type: summary, summary_object: orders, summary_type: sum, summary_field: amount}
  biggest: {type: summary, summary_object: orders, summary_type: max, summary_field: qty}
  mean_kg: {type: summary, summary_object: orders, summary_type: avg, summary_field: kg}
  mean_amount: {type: summary, summary_object: orders, summary_type: avg, summary_field: amount}
  grand: {type: summary, summary_object: orders, summary_type: sum, summary_field: lines_total}
""",
    "orders": """
fields:
  customer: {type: lookup, reference_to: customers}
  status: {type: select, options: [pending, paid]}
  amount: {type: currency}
  qty: {type: integer}
  kg: {type: number}
  lines_total: {type: summary, summary_object: lines, summary_type: sum, summary_field: price}
""",
    "lines": """
fields:
  order: {type: master_detail, reference_to: orders}
  product: {type: lookup, reference_to: products}
  price: {type: currency}
""",
    "products": """
fields:
  sold: {type: summary, summary_object: lines, summary_type: count}
  cheapest: {type: summary, summary_object: lines, summary_type: min, summary_field: price}
""",
}
PARENT_FIELDS = {
    "customers": ("paid", "amount", "biggest", "mean_kg", "mean_amount", "grand"),
    "orders": ("lines_total",),
    "products": ("sold", "cheapest"),
}

amounts = st.one_of(st.none(), st.decimals(min_value=-50, max_value=50, places=2))
kgs = st.one_of(st.none(), st.sampled_from([0.1, 0.2, 0.3, 1e-3, 7.5]))
# An op names its targets by index into the records of that object (taken modulo their number).
ops = st.one_of(
    st.tuples(st.just("customer")),
    st.tuples(st.just("product")),
    st.tuples(
        st.just("order"),
        st.integers(0, 9),
        st.sampled_from(["pending", "paid"]),
        amounts,
        st.one_of(st.none(), st.integers(-5, 5)),
        kgs,
    ),
    st.tuples(st.just("line"), st.integers(0, 9), st.integers(-1, 9), amounts),
    st.tuples(st.just("move_order"), st.integers(0, 9), st.integers(-1, 9)),
    st.tuples(st.just("edit_order"), st.integers(0, 9), st.sampled_from(["pending", "paid"]), amounts, kgs),
    st.tuples(st.just("move_line"), st.integers(0, 9), st.integers(0, 9), st.integers(-1, 9), amounts),
    st.tuples(st.just("delete"), st.sampled_from(["customers", "orders", "lines", "products"]), st.integers(0, 9)),
)


def mean(values: list[Any], exact: bool) -> Any:
    if not values:
        return None
    if exact:
        return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)
    return float(sum(Fraction(v) for v in values) / len(values))  # the nearest float to the exact mean


def reference(records: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Every parent's summaries, computed from the stored children."""
    out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in PARENT_FIELDS}
    for order in records["orders"]:
        lines = [ln for ln in records["lines"] if ln["order"] == order["id"]]
        out["orders"][order["id"]] = {
            "lines_total": sum((ln["price"] for ln in lines if ln["price"] is not None), Decimal(0))
        }
    for customer in records["customers"]:
        orders = [o for o in records["orders"] if o["customer"] == customer["id"]]
        amount = [o["amount"] for o in orders if o["amount"] is not None]
        kg = [o["kg"] for o in orders if o["kg"] is not None]
        out["customers"][customer["id"]] = {
            "paid": sum(1 for o in orders if o["status"] == "paid"),
            "amount": sum(amount, Decimal(0)),
            "biggest": max((o["qty"] for o in orders if o["qty"] is not None), default=None),
            "mean_kg": mean(kg, exact=False),
            "mean_amount": mean(amount, exact=True),
            "grand": sum((out["orders"][o["id"]]["lines_total"] for o in orders), Decimal(0)),
        }
    for product in records["products"]:
        lines = [ln for ln in records["lines"] if ln["product"] == product["id"]]
        out["products"][product["id"]] = {
            "sold": len(lines),
            "cheapest": min((ln["price"] for ln in lines if ln["price"] is not None), default=None),
        }
    return out


def test_stored_summaries_equal_the_children_after_any_writes(database: str, tmp_path: Path) -> None:
    url = fresh_database_url(database, tmp_path, "summaries.db")
    with asyncio.Runner() as runner:
        app = ObjectQL(write_objects(tmp_path, OBJECTS), url)
        runner.run(app.init())
        batches: list[list[ChangeEvent]] = []
        app.add_listener(lambda events: batches.append(list(events)))
        seen = {"writes": 0, "parent_updates": 0}

        async def everything() -> dict[str, list[dict[str, Any]]]:
            return {name: await app.object(name).find(limit=1000) for name in OBJECTS}

        def pick(records: list[dict[str, Any]], index: int) -> str | None:
            return records[index % len(records)]["id"] if records and index >= 0 else None

        async def apply(op: tuple[Any, ...], state: dict[str, list[dict[str, Any]]]) -> None:
            kind = op[0]
            if kind == "customer":
                await app.object("customers").create({})
            elif kind == "product":
                await app.object("products").create({})
            elif kind == "order":
                _, c, status, amount, qty, kg = op
                data = {"customer": pick(state["customers"], c), "status": status, "amount": amount}
                await app.object("orders").create({**data, "qty": qty, "kg": kg})
            elif kind == "line" and state["orders"]:
                _, o, p, price = op
                data = {"order": pick(state["orders"], o), "product": pick(state["products"], p), "price": price}
                await app.object("lines").create(data)
            elif kind == "move_order" and state["orders"]:
                _, o, c = op
                await app.object("orders").update(pick(state["orders"], o), {"customer": pick(state["customers"], c)})
            elif kind == "edit_order" and state["orders"]:
                _, o, status, amount, kg = op
                await app.object("orders").update(
                    pick(state["orders"], o), {"status": status, "amount": amount, "kg": kg}
                )
            elif kind == "move_line" and state["lines"] and state["orders"]:
                _, ln, o, p, price = op
                patch = {"order": pick(state["orders"], o), "product": pick(state["products"], p), "price": price}
                await app.object("lines").update(pick(state["lines"], ln), patch)
            elif kind == "delete" and state[op[1]]:
                await app.object(op[1]).delete(pick(state[op[1]], op[2]))
            else:
                return
            seen["writes"] += 1

        async def run(sequence: list[tuple[Any, ...]]) -> None:
            async with app.sql_engine.begin() as conn:
                for name in OBJECTS:
                    await conn.execute(delete(app.tables[name]))
            state = await everything()
            for op in sequence:
                before = len(batches)
                await apply(op, state)
                after = await everything()
                expected = reference(after)
                for name, fields in PARENT_FIELDS.items():
                    stored = {r["id"]: {f: r[f] for f in fields} for r in after[name]}
                    assert stored == expected[name], f"{name} after {op!r}"
                # One transaction per write: at most one batch, each record in it once per change.
                assert len(batches) - before in (0, 1)
                if len(batches) > before:
                    seen["parent_updates"] += sum(
                        1 for e in batches[-1][1:] if e.action == "update" and e.object in PARENT_FIELDS
                    )
                state = after

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(sequence=st.lists(ops, min_size=4, max_size=16))
        def holds(sequence: list[tuple[Any, ...]]) -> None:
            runner.run(run(sequence))

        try:
            holds()
        finally:
            runner.run(app.close())
        # The sequences must actually write, and write parents through their children.
        assert seen["writes"] > 150 and seen["parent_updates"] > 20, seen
