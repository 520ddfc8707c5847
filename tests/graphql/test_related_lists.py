"""Related lists in GraphQL: ``Customers.orders(...)`` and ``Customers.ordersCount(...)``, with the top-level
list's arguments applied to each parent, permissions applied, and one query per level per request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from sqlalchemy import event

from objectql import ObjectQL
from objectql.resolvers.executor import graphql_schema_of
from objectql.resolvers.measure import measure
from objectql.schema.builder import build_schema
from tests.graphql.test_http import gql
from tests.graphql.wsclient import codes, open_ws, registered
from tests.realtime.conftest import SECRET, ServerFactory

SHOP = {
    "customers": """
fields:
  name:  {type: text, required: true}
  owner: {type: text}
permissions:
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
""",
    "orders": """
fields:
  customer: {type: lookup, reference_to: customers}
  total:    {type: integer}
  owner:    {type: text}
  cost:     {type: number}
permissions:
  fields:
    cost: {read: [admin]}
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
""",
}


@contextmanager
def selects(engine: ObjectQL) -> Iterator[list[str]]:
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


async def seed(engine: ObjectQL) -> None:
    customers = engine.object("customers")
    orders = engine.object("orders")
    await customers.create({"id": "c1", "name": "Ada", "owner": "sam"})
    await customers.create({"id": "c2", "name": "Bob", "owner": "kim"})
    await customers.create({"id": "c3", "name": "Cy", "owner": "sam"})
    for id, total, owner, customer in [
        ("o1", 10, "sam", "c1"),
        ("o2", 30, "sam", "c1"),
        ("o3", 20, "kim", "c1"),
        ("o4", 5, "sam", "c2"),
    ]:
        await orders.create({"id": id, "total": total, "owner": owner, "customer": customer, "cost": 1})


async def test_50_customers_with_their_orders_and_counts_take_one_query_per_level(
    live_server: ServerFactory,
) -> None:
    server = await live_server(SHOP)
    customers = server.engine.object("customers")
    orders = server.engine.object("orders")
    for i in range(50):
        await customers.create({"id": f"c{i:02}", "name": f"n{i:02}"})
        for j in range(i % 4):
            await orders.create({"id": f"o{i:02}{j}", "customer": f"c{i:02}", "total": j})
    query = "{ customersList(limit: 50) { id orders { id customer_ref { name } } ordersCount } }"
    with selects(server.engine) as statements:
        body = await gql(server, query)
    rows = body["data"]["customersList"]
    assert len(rows) == 50 and "errors" not in body
    for row in rows:
        i = int(row["id"][1:])
        assert row["ordersCount"] == i % 4
        assert [o["id"] for o in row["orders"]] == [f"o{i:02}{j}" for j in range(i % 4)]
        assert all(o["customer_ref"] == {"name": f"n{i:02}"} for o in row["orders"])
    # customersList, orders (every customer's at once), ordersCount, and the orders' customers.
    assert len(statements) == 4, statements
    assert sum("count(" in s.lower() for s in statements) == 1
    assert sum("FROM orders" in s for s in statements) == 2
    assert sum("FROM customers" in s for s in statements) == 2


async def test_arguments_apply_to_each_parent_and_differing_ones_are_batched_apart(
    live_server: ServerFactory,
) -> None:
    server = await live_server(SHOP)
    await seed(server.engine)
    query = """{ customersList(orderBy: [{field: name}]) {
        name
        top: orders(orderBy: [{field: total, direction: DESC}], limit: 1) { id }
        rest: orders(orderBy: [{field: total, direction: DESC}], offset: 1) { id }
        big: orders(where: {total: {gte: 20}}, orderBy: [{field: id}]) { id }
        json: orders(filters: [["total", "<", 20]], orderBy: [{field: id}]) { id }
        ordersCount
        bigCount: ordersCount(where: {total: {gte: 20}})
    } }"""
    with selects(server.engine) as statements:
        body = await gql(server, query)
    assert "errors" not in body, body
    assert body["data"]["customersList"] == [
        {
            "name": "Ada",
            "top": [{"id": "o2"}],
            "rest": [{"id": "o3"}, {"id": "o1"}],
            "big": [{"id": "o2"}, {"id": "o3"}],
            "json": [{"id": "o1"}],
            "ordersCount": 3,
            "bigCount": 2,
        },
        {
            "name": "Bob",
            "top": [{"id": "o4"}],
            "rest": [],
            "big": [],
            "json": [{"id": "o4"}],
            "ordersCount": 1,
            "bigCount": 0,
        },
        {"name": "Cy", "top": [], "rest": [], "big": [], "json": [], "ordersCount": 0, "bigCount": 0},
    ]
    # The customers, then one query per distinct (list, arguments): four lists, two counts.
    assert len(statements) == 7


async def test_related_lists_and_counts_are_what_the_user_may_see(live_server: ServerFactory) -> None:
    server = await live_server(SHOP, OBJECTQL_JWT_SECRET=SECRET)
    await seed(server.engine)
    sam = server.token("sam", ["sales"])
    body = await gql(
        server,
        "{ customersList(orderBy: [{field: name}]) { name orders(orderBy: [{field: id}]) { id } ordersCount } }",
        token=sam,
    )
    # Kim's order o3 is neither listed nor counted under Ada; Bob (kim's) is not listed at all.
    assert body["data"]["customersList"] == [
        {"name": "Ada", "orders": [{"id": "o1"}, {"id": "o2"}], "ordersCount": 2},
        {"name": "Cy", "orders": [], "ordersCount": 0},
    ]
    body = await gql(server, "{ ordersList(orderBy: [{field: id}]) { id customer_ref { name } } }", token=sam)
    assert body["data"]["ordersList"] == [
        {"id": "o1", "customer_ref": {"name": "Ada"}},
        {"id": "o2", "customer_ref": {"name": "Ada"}},
        {"id": "o4", "customer_ref": None},
    ]
    body = await gql(server, "{ customersList { orders(orderBy: [{field: cost}]) { id } } }", token=sam)
    assert set(codes(body)) == {"FORBIDDEN"}
    assert body["errors"][0]["extensions"]["details"]["path"] == "orderBy[0]"
    body = await gql(server, "{ customersList { ordersCount(where: {cost: {gt: 0}}) } }", token=sam)
    assert set(codes(body)) == {"FORBIDDEN"}
    body = await gql(server, "{ customersList { orders { id cost } } }", token=sam)
    assert set(codes(body)) == {"FORBIDDEN"} and body["errors"][0]["path"][-1] == "cost"


async def test_a_bad_related_list_argument_names_the_argument(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    await seed(server.engine)
    body = await gql(server, '{ customers(id: "c1") { orders(limit: 0) { id } } }')
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID_REQUEST" and error["extensions"]["path"] == "limit"
    body = await gql(server, '{ customers(id: "c1") { orders(offset: -1) { id } } }')
    assert body["errors"][0]["extensions"]["path"] == "offset"
    body = await gql(server, '{ customers(id: "c1") { orders(filters: [["total", "~", 1]]) { id } } }')
    assert codes(body) == ["INVALID_FILTER"]


async def test_nested_lists_multiply_the_cost_so_the_bound_still_holds(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    schema = graphql_schema_of(build_schema(server.engine.registry))

    def cost(query: str) -> int:
        document = parse(query)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        return measure(schema, operation, fragments, {}).cost

    assert cost("{ customersList(limit: 10) { orders(limit: 20) { id } } }") == 1 + 10 * (1 + 20 * 1)
    # Without a limit, a related list counts its default page (100), as the top-level list does.
    assert cost("{ customersList(limit: 10) { orders { id } ordersCount } }") == 1 + 10 * (1 + 100 + 1)
    refused = await gql(server, "{ customersList(limit: 1000) { orders(limit: 1000) { id } } }")
    assert codes(refused) == ["QUERY_TOO_COMPLEX"] and refused.get("data") is None


async def test_a_subscription_renders_related_lists_as_read_at_delivery(live_server: ServerFactory) -> None:
    server = await live_server(SHOP, OBJECTQL_JWT_SECRET=SECRET)
    await seed(server.engine)
    sam = await open_ws(server, payload={"authorization": server.token("sam", ["sales"])})
    await sam.start(
        "s", "subscription { customersChanged { record { name orders(orderBy: [{field: id}]) { id } ordersCount } } }"
    )
    await registered(server, 1)
    await server.engine.object("customers").update("c1", {"name": "Ada L."})
    record = (await sam.next("s"))["data"]["customersChanged"]["record"]
    assert record == {"name": "Ada L.", "orders": [{"id": "o1"}, {"id": "o2"}], "ordersCount": 2}
    # A field the user may not read, under a related list, refuses the subscription before any event.
    await sam.start("h", "subscription { customersChanged { record { orders { id cost } } } }")
    errors = await sam.error("h")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert errors[0]["extensions"]["details"]["path"] == "customersChanged.record.orders.cost"
