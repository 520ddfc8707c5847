"""Expand: parents under ``<field>_ref`` and related lists in each record, three levels deep, as the user sees
them, one query per relation and level."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from objectql import Forbidden, InvalidFilter, InvalidRequest, ObjectQL, User

ACCOUNTS = """
fields:
  tier: {type: text}
"""
CUSTOMERS = """
fields:
  name:    {type: text}
  owner:   {type: text}
  secret:  {type: text}
  account: {type: lookup, reference_to: accounts}
permissions:
  fields:
    secret: {read: [admin]}
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
"""
ORDERS = """
fields:
  total:    {type: integer}
  owner:    {type: text}
  customer: {type: lookup, reference_to: customers}
permissions:
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
"""
LINES = """
fields:
  qty:   {type: integer}
  order: {type: master_detail, reference_to: orders}
"""
NOTES = """
fields:
  text:     {type: text}
  customer: {type: lookup, reference_to: customers}
permissions:
  read: [admin]
"""
SAM = User("sam", ("sales",))


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine(
        {"accounts": ACCOUNTS, "customers": CUSTOMERS, "orders": ORDERS, "lines": LINES, "notes": NOTES}
    )
    await engine.object("accounts").create({"id": "a1", "tier": "gold"})
    customers = engine.object("customers")
    await customers.create({"id": "c1", "name": "Ada", "owner": "sam", "secret": "s1", "account": "a1"})
    await customers.create({"id": "c2", "name": "Bob", "owner": "kim", "secret": "s2"})
    await customers.create({"id": "c3", "name": "Cy", "owner": "sam"})
    orders = engine.object("orders")
    for id, total, owner, customer in [
        ("o1", 10, "sam", "c1"),
        ("o2", 30, "sam", "c1"),
        ("o3", 20, "kim", "c1"),
        ("o4", 5, "sam", "c2"),
        ("o5", 7, "sam", None),
    ]:
        await orders.create({"id": id, "total": total, "owner": owner, "customer": customer})
    lines = engine.object("lines")
    for id, qty, order in [("l1", 1, "o1"), ("l2", 2, "o1"), ("l3", 3, "o2")]:
        await lines.create({"id": id, "qty": qty, "order": order})
    return engine


@contextmanager
def counted_selects(engine: ObjectQL) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sync_engine = engine.sql_engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)


async def test_a_parent_is_nested_under_ref_and_the_id_stays(app: ObjectQL) -> None:
    rows = await app.object("orders").find(sort=[["id", "asc"]], expand={"customer": {"fields": ["name"]}})
    by_id = {r["id"]: r for r in rows}
    assert by_id["o1"]["customer"] == "c1"
    assert by_id["o1"]["customer_ref"] == {"id": "c1", "name": "Ada"}
    assert by_id["o4"]["customer_ref"] == {"id": "c2", "name": "Bob"}
    assert by_id["o5"]["customer"] is None and by_id["o5"]["customer_ref"] is None


async def test_a_reference_field_left_out_of_fields_is_read_to_expand_but_not_returned(app: ObjectQL) -> None:
    (row,) = await app.object("orders").find(filters=[["id", "=", "o1"]], fields=["total"], expand={"customer": {}})
    assert set(row) == {"id", "total", "customer_ref"}
    assert row["customer_ref"]["name"] == "Ada"


async def test_a_related_list_is_sorted_and_limited_per_parent(app: ObjectQL) -> None:
    rows = await app.object("customers").find(
        sort=[["name", "asc"]],
        fields=["name"],
        expand={"orders": {"sort": [["total", "desc"]], "limit": 2, "fields": ["total"]}},
    )
    assert [(r["name"], r["orders"]) for r in rows] == [
        ("Ada", [{"id": "o2", "total": 30}, {"id": "o3", "total": 20}]),
        ("Bob", [{"id": "o4", "total": 5}]),
        ("Cy", []),
    ]
    skipped = await app.object("customers").find(
        filters=[["id", "=", "c1"]], expand={"orders": {"sort": [["total", "asc"]], "skip": 1, "limit": 1}}
    )
    assert [o["id"] for o in skipped[0]["orders"]] == ["o3"]


async def test_a_related_list_takes_filters(app: ObjectQL) -> None:
    (ada,) = await app.object("customers").find(
        filters=[["id", "=", "c1"]], expand={"orders": {"filters": [["total", ">=", 20]], "sort": ["id"]}}
    )
    assert [o["id"] for o in ada["orders"]] == ["o2", "o3"]
    assert ada["orders"][0]["customer"] == "c1"


async def test_three_levels_down_and_up(app: ObjectQL) -> None:
    (ada,) = await app.object("customers").find(
        filters=[["id", "=", "c1"]],
        fields=["name"],
        expand={
            "account": {"fields": ["tier"]},
            "orders": {
                "sort": ["id"],
                "fields": ["total"],
                "expand": {"lines": {"sort": ["id"], "fields": ["qty"], "expand": {"order": {"fields": ["total"]}}}},
            },
        },
    )
    assert ada["account_ref"] == {"id": "a1", "tier": "gold"}
    assert "account" not in ada
    o1, o2, o3 = ada["orders"]
    assert o1 == {
        "id": "o1",
        "total": 10,
        "lines": [
            {"id": "l1", "qty": 1, "order_ref": {"id": "o1", "total": 10}},
            {"id": "l2", "qty": 2, "order_ref": {"id": "o1", "total": 10}},
        ],
    }
    assert [line["id"] for line in o2["lines"]] == ["l3"] and o3["lines"] == []
    (line,) = await app.object("lines").find(
        filters=[["id", "=", "l3"]],
        expand={"order": {"expand": {"customer": {"expand": {"account": {"fields": ["tier"]}}}}}},
    )
    assert line["order_ref"]["customer_ref"]["account_ref"] == {"id": "a1", "tier": "gold"}


async def test_a_fourth_level_is_refused_with_its_path(app: ObjectQL) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await app.object("lines").find(
            expand={"order": {"expand": {"customer": {"expand": {"account": {"expand": {}}}}}}},
        )
    assert caught.value.path == "expand.order.expand.customer.expand.account.expand"


@pytest.mark.parametrize(
    ("expand", "path"),
    [
        ({"nope": {}}, "expand.nope"),
        ({"name": {}}, "expand.name"),
        ({"orders": {"limit": 0}}, "expand.orders.limit"),
        ({"orders": {"limit": 1001}}, "expand.orders.limit"),
        ({"orders": {"limit": "10"}}, "expand.orders.limit"),
        ({"orders": {"skip": -1}}, "expand.orders.skip"),
        ({"orders": {"bogus": 1}}, "expand.orders.bogus"),
        ({"account": {"limit": 2}}, "expand.account.limit"),
        ({"orders": {"fields": ["nope"]}}, "expand.orders.fields[0]"),
        ({"orders": {"sort": [["nope", "asc"]]}}, "expand.orders.sort[0]"),
        ({"orders": {"expand": {"nope": {}}}}, "expand.orders.expand.nope"),
        ({"orders": 3}, "expand.orders"),
        (["orders"], "expand"),
    ],
)
async def test_a_bad_expand_is_invalid_request_at_its_path(app: ObjectQL, expand: Any, path: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await app.object("customers").find(expand=expand)
    assert caught.value.code == "INVALID_REQUEST" and caught.value.path == path


async def test_a_bad_filter_in_expand_is_invalid_filter_at_its_path(app: ObjectQL) -> None:
    with pytest.raises(InvalidFilter) as caught:
        await app.object("customers").find(expand={"orders": {"filters": [["total", "~", 1]]}})
    assert caught.value.path.startswith("expand.orders.filters[")


async def test_bad_expand_is_refused_even_when_nothing_would_be_expanded(app: ObjectQL) -> None:
    with pytest.raises(InvalidRequest):
        await app.object("customers").find(filters=[["id", "=", "none"]], expand={"orders": {"limit": 0}})


async def test_permissions_apply_at_every_level(app: ObjectQL) -> None:
    sam = app.context(SAM)
    # Sam sees his customers (c1, c3) and his orders (o1, o2, o4, o5): o3 is absent from Ada's list, and Bob,
    # whom he may not see, is the None parent of o4.
    customers = await sam.object("customers").find(sort=["id"], expand={"orders": {"sort": ["id"]}})
    assert [c["id"] for c in customers] == ["c1", "c3"]
    assert [o["id"] for o in customers[0]["orders"]] == ["o1", "o2"]
    assert "secret" not in customers[0]
    orders = await sam.object("orders").find(sort=["id"], expand={"customer": {}})
    by_id = {o["id"]: o for o in orders}
    assert set(by_id) == {"o1", "o2", "o4", "o5"}
    assert by_id["o4"]["customer"] == "c2" and by_id["o4"]["customer_ref"] is None
    assert by_id["o1"]["customer_ref"]["name"] == "Ada"
    assert "secret" not in by_id["o1"]["customer_ref"]  # a field he may not read is absent, as in find
    # Two levels down, the rules of each level still hold.
    (line,) = await sam.object("lines").find(
        filters=[["id", "=", "l1"]], expand={"order": {"expand": {"customer": {"fields": ["name"]}}}}
    )
    assert line["order_ref"]["customer_ref"] == {"id": "c1", "name": "Ada"}


async def test_an_unreadable_field_or_object_in_expand_is_forbidden(app: ObjectQL) -> None:
    sam = app.context(SAM)
    with pytest.raises(Forbidden) as caught:
        await sam.object("orders").find(expand={"customer": {"fields": ["secret"]}})
    assert caught.value.details["field"] == "secret"
    with pytest.raises(Forbidden):
        await sam.object("customers").find(expand={"notes": {}})
    with pytest.raises(Forbidden):
        await sam.object("customers").find(expand={"orders": {"filters": [["customer", "=", "c1"]]}, "notes": {}})
    admin = app.context(User("root", ("admin",)))
    (ada,) = await admin.object("customers").find(filters=[["id", "=", "c1"]], expand={"notes": {}})
    assert ada["notes"] == []


async def test_find_one_expands_too(app: ObjectQL) -> None:
    order = await app.object("orders").find_one("o2", expand={"customer": {"fields": ["name"]}, "lines": {}})
    assert order is not None
    assert order["customer_ref"] == {"id": "c1", "name": "Ada"}
    assert [line["id"] for line in order["lines"]] == ["l3"]


async def test_each_relation_of_each_level_is_one_query_whatever_the_number_of_records(app: ObjectQL) -> None:
    customers = app.object("customers")
    orders = app.object("orders")
    for i in range(50):
        await customers.create({"id": f"k{i:02}", "name": f"k{i}", "owner": "zed"})
        for j in range(3):
            await orders.create({"total": j, "owner": "zed", "customer": f"k{i:02}"})
    with counted_selects(app) as statements:
        rows = await customers.find(
            filters=[["owner", "=", "zed"]],
            expand={"orders": {"limit": 2, "sort": [["total", "desc"]], "expand": {"customer": {"fields": ["name"]}}}},
        )
    assert len(rows) == 50
    assert all([o["total"] for o in r["orders"]] == [2, 1] for r in rows)
    assert all(o["customer_ref"]["name"] == r["name"] for r in rows for o in r["orders"])
    # The customers, their orders (all 50 customers' at once), the orders' customers.
    assert len(statements) == 3, statements
    assert sum("FROM orders" in s for s in statements) == 1


async def test_hooks_see_one_find_per_expanded_level_and_may_narrow_it(app: ObjectQL) -> None:
    seen: list[dict[str, Any]] = []

    def narrow(ctx: Any) -> None:
        seen.append(dict(ctx.query))
        ctx.query["filters"] = [["total", "<", 25]]

    app.on("before:find", "orders", narrow)
    rows = await app.object("customers").find(sort=["id"], expand={"orders": {"sort": ["id"]}})
    assert len(seen) == 1 and seen[0]["sort"] == ["id"]
    assert [[o["id"] for o in r["orders"]] for r in rows] == [["o1", "o3"], ["o4"], []]
