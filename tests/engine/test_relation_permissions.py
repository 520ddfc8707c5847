"""Permissions through relations: readable fields along a path, invisible parents are null, row rules with
paths (evaluated without the reader's permissions), and master_detail details shown only with their parent."""

from __future__ import annotations

from typing import Any

import pytest

from objectql import DefinitionError, Forbidden, ObjectQL, User, ValidationError

CUSTOMERS = """
fields:
  name:   {type: text}
  owner:  {type: text}
  region: {type: text}
  secret: {type: text}
permissions:
  read: [admin, sales, viewer]
  fields:
    secret: {read: [admin]}
  rows:
    - roles: [viewer]
      filters: [["region", "=", "$user.region"]]
"""
ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers}
  total:    {type: number}
  margin:   {type: number}
permissions:
  read:   [admin, sales, viewer, clerk, support]
  create: [admin, sales]
  update: [admin, sales]
  fields:
    margin: {read: [admin]}
  rows:
    - roles: [sales]
      filters: [["customer.owner", "=", "$user.id"]]
    - roles: [viewer]
      filters: [["total", "<", 100]]
    - roles: [support]
      filters: [["customer.region", "=", "$user.region"]]
"""
LINES = """
fields:
  order: {type: master_detail, reference_to: orders}
  qty:   {type: integer}
permissions:
  read: [admin, sales, clerk, picker]
"""

ADMIN = User("root", ("admin",))
SAM = User("sam", ("sales",))
KIM = User("kim", ("sales",))
VIEWER = User("vi", ("viewer",), {"region": "EU"})
CLERK = User("cl", ("clerk",))
SUPPORT = User("su", ("support",), {"region": "US"})
PICKER = User("pi", ("picker",))


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine({"customers": CUSTOMERS, "orders": ORDERS, "lines": LINES})
    customers, orders, lines = engine.object("customers"), engine.object("orders"), engine.object("lines")
    await customers.create({"id": "c1", "name": "Ada", "owner": "sam", "region": "EU", "secret": "s1"})
    await customers.create({"id": "c2", "name": "Bob", "owner": "kim", "region": "US"})
    await customers.create({"id": "c3", "name": "Cy", "owner": "sam", "region": "US"})
    await customers.create({"id": "c4", "name": "Dee", "owner": "kim", "region": "EU"})
    for id, customer, total in [("o1", "c1", 150), ("o2", "c1", 20), ("o3", "c2", 500), ("o4", "c3", 5)]:
        await orders.create({"id": id, "customer": customer, "total": total, "margin": 1})
    await orders.create({"id": "o5", "customer": None, "total": 1})
    await orders.create({"id": "o6", "customer": "c4", "total": 300})
    for id, order in [("l1", "o1"), ("l2", "o3"), ("l3", "o4")]:
        await lines.create({"id": id, "order": order, "qty": 1})
    return engine


async def ids(app: ObjectQL, user: User, object_name: str, filters: Any = None, **kw: Any) -> list[str]:
    rows = await app.context(user=user).object(object_name).find(filters=filters, fields=["id"], **kw)
    return [r["id"] for r in rows]


async def test_a_path_through_a_field_the_user_cannot_read_is_forbidden(app: ObjectQL) -> None:
    orders = app.context(user=VIEWER).object("orders")
    for attempt in (
        orders.find(filters=[["customer.secret", "=", "s1"]]),
        orders.find(filters={"customer.secret": {"$null": True}}),
        orders.count(filters=[["total", ">", 0], ["customer.secret", "=", "s1"]]),
        orders.find(sort=[["customer.secret", "asc"]]),
    ):
        with pytest.raises(Forbidden) as caught:
            await attempt
        assert caught.value.details["field"] == "customer.secret"
    customers = app.context(user=VIEWER).object("customers")
    with pytest.raises(Forbidden) as caught:
        await customers.find(filters=[["orders", "any", [["margin", ">", 0]]]])
    assert caught.value.details == {"field": "margin", "path": "[0][2][0][0]"}
    # The admin may name the same fields.
    assert await ids(app, ADMIN, "orders", [["customer.secret", "=", "s1"]]) == ["o1", "o2"]


async def test_a_parent_the_user_cannot_see_makes_the_path_null(app: ObjectQL) -> None:
    # The viewer sees EU customers only, and orders under 100: o2 (c1, EU), o4 (c3, US), o5 (none).
    assert await ids(app, VIEWER, "orders") == ["o2", "o4", "o5"]
    assert await ids(app, VIEWER, "orders", [["customer.name", "=", "Cy"]]) == []
    assert await ids(app, VIEWER, "orders", [["customer.region", "is_null"]]) == ["o4", "o5"]
    assert await app.context(user=VIEWER).object("orders").count([["customer.region", "=", "US"]]) == 0
    # Sorting cannot reveal an invisible parent's name: it sorts as a null, last, by id.
    assert await ids(app, VIEWER, "orders", sort=[["customer.name", "desc"]]) == ["o2", "o4", "o5"]
    # Without read permission on customers at all, every path into them is null.
    assert await ids(app, CLERK, "orders", [["customer.name", "=", "Ada"]]) == []
    assert await ids(app, CLERK, "orders", [["customer.name", "is_null"]]) == ["o1", "o2", "o3", "o4", "o5", "o6"]
    assert await ids(app, CLERK, "orders", sort=[["customer.name", "asc"]]) == ["o1", "o2", "o3", "o4", "o5", "o6"]


async def test_any_and_none_count_only_children_the_user_can_see(app: ObjectQL) -> None:
    # c4's only order (300) is hidden from the viewer: it has no orders as far as the viewer can tell.
    assert await ids(app, VIEWER, "customers") == ["c1", "c4"]
    assert await ids(app, VIEWER, "customers", ["orders", "any"]) == ["c1"]
    assert await ids(app, VIEWER, "customers", ["orders", "none"]) == ["c4"]
    assert await ids(app, ADMIN, "customers", ["orders", "none"]) == []


async def test_row_rules_follow_paths_without_the_users_own_permissions(app: ObjectQL) -> None:
    assert await ids(app, SAM, "orders") == ["o1", "o2", "o4"]
    assert await ids(app, KIM, "orders") == ["o3", "o6"]
    # Support may not read customers, yet its rule reads customer.region: a rule sees every record.
    assert await ids(app, SUPPORT, "orders") == ["o3", "o4"]
    # Its own filters through customers still see nothing there.
    assert await ids(app, SUPPORT, "orders", [["customer.region", "=", "US"]]) == []
    assert await app.context(user=SUPPORT).object("orders").find_one("o1") is None


async def test_a_write_whose_result_a_path_rule_hides_is_forbidden(app: ObjectQL) -> None:
    orders = app.context(user=SAM).object("orders")
    created = await orders.create({"id": "o7", "customer": "c3", "total": 9})
    assert created["id"] == "o7"
    with pytest.raises(Forbidden):
        await orders.create({"id": "o8", "customer": "c2", "total": 9})
    with pytest.raises(Forbidden):
        await orders.update("o7", {"customer": "c4"})
    assert await ids(app, ADMIN, "orders", [["id", "in", ["o7", "o8"]]]) == ["o7"]
    assert (await app.object("orders").find_one("o7"))["customer"] == "c3"  # type: ignore[index]
    with pytest.raises(ValidationError):
        await orders.create({"customer": "nowhere", "total": 1})


async def test_a_master_detail_detail_is_readable_only_with_its_parent(app: ObjectQL) -> None:
    assert await ids(app, ADMIN, "lines") == ["l1", "l2", "l3"]
    assert await ids(app, SAM, "lines") == ["l1", "l3"]
    assert await ids(app, KIM, "lines") == ["l2"]
    assert await app.context(user=KIM).object("lines").find_one("l1") is None
    assert await app.context(user=SAM).object("lines").count() == 2
    # The clerk sees every order, so every line.
    assert await ids(app, CLERK, "lines") == ["l1", "l2", "l3"]
    # The picker may read lines but not orders: no line has a parent it can see.
    assert await ids(app, PICKER, "lines") == []
    assert await app.context(user=PICKER).object("lines").count() == 0


REPS_CUSTOMERS = """
fields:
  name: {type: text}
permissions:
  rows:
    - roles: [rep]
      filters: [["orders", "any", [["owner", "=", "$user.id"]]]]
"""
REPS_ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers}
  owner:    {type: text}
permissions:
  fields:
    owner: {read: [admin]}
"""


async def test_a_row_rule_may_quantify_over_a_related_list_with_user_tokens(make_engine: Any) -> None:
    engine: ObjectQL = await make_engine({"customers": REPS_CUSTOMERS, "orders": REPS_ORDERS})
    for id in ("c1", "c2", "c3"):
        await engine.object("customers").create({"id": id, "name": id})
    await engine.object("orders").create({"customer": "c1", "owner": "ann"})
    await engine.object("orders").create({"customer": "c2", "owner": "ann"})
    await engine.object("orders").create({"customer": "c2", "owner": "ben"})
    # The rule reads orders.owner, which reps may not read: a rule sees every field.
    assert await ids(engine, User("ann", ("rep",)), "customers") == ["c1", "c2"]
    assert await ids(engine, User("ben", ("rep",)), "customers") == ["c2"]
    assert await ids(engine, User("cat", ("rep",)), "customers") == []


async def test_a_bad_path_in_a_row_rule_is_a_definition_error(make_engine: Any) -> None:
    broken = REPS_ORDERS.replace(
        "owner: {read: [admin]}",
        'owner: {read: [admin]}\n  rows:\n    - roles: [rep]\n      filters: [["customer.nme", "=", "$user.id"]]',
    )
    with pytest.raises(DefinitionError) as info:
        await make_engine({"customers": REPS_CUSTOMERS, "orders": broken})
    assert "orders.object.yml" in info.value.message
    assert "permissions.rows[0].filters[0][0]" in info.value.message
    assert "unknown field 'nme' on customers" in info.value.message
