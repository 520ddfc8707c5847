"""Queries and mutations over HTTP through the engine: arguments, errors, permissions, cursors, lookups."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event

from tests.graphql.wsclient import codes, post
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory

SHOP = {
    "customers": "fields:\n  name: {type: text, required: true}\n  email: {type: email, unique: true}\n",
    "orders": """
fields:
  customer: {type: lookup, reference_to: customers}
  status:   {type: select, options: [pending, paid], default: pending}
  total:    {type: currency, min: 0}
  owner:    {type: text}
  cost:     {type: number}
permissions:
  fields:
    cost: {read: [admin], update: [admin]}
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
""",
}


async def gql(server: LiveServer, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
    response = await post(server, query, variables, token)
    assert response.status_code == 200, response.text
    return response.json()


async def test_query_list_count_and_get_with_where_filters_order_and_paging(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    orders = server.engine.object("orders")
    for i, status in enumerate(["pending", "paid", "paid", "pending", "paid"]):
        await orders.create({"id": f"o{i}", "status": status, "total": i * 10})
    body = await gql(
        server,
        """{
          ordersList(where: {status: {eq: "paid"}}, filters: [["total", ">", 10]],
                     orderBy: [{field: total, direction: DESC}], limit: 1, offset: 1) { id total }
          ordersCount(where: {OR: [{status: {eq: "pending"}}, {total: {gte: 40}}]})
          one: orders(id: "o2") { id status }
          missing: orders(id: "nope") { id }
        }""",
    )
    assert body == {
        "data": {
            "ordersList": [{"id": "o2", "total": "20"}],
            "ordersCount": 3,
            "one": {"id": "o2", "status": "paid"},
            "missing": None,
        }
    }


async def test_where_and_filters_errors_carry_codes_and_paths(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    body = await gql(server, '{ ordersList(filters: [["total", "~", 1]]) { id } }')
    assert codes(body) == ["INVALID_FILTER"] and body["errors"][0]["extensions"]["path"] == "[0][1]"
    body = await gql(server, '{ ordersList(where: {created_at: {gt: "2020-01-01T00:00:00Z"}}, limit: 0) { id } }')
    assert codes(body) == ["INVALID_REQUEST"] and body["errors"][0]["extensions"]["path"] == "limit"
    # orderBy.field is an enum of the object's sortable fields: a field it does not list is refused up front.
    body = await gql(server, "{ ordersList(orderBy: [{field: nope}]) { id } }")
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"] and "OrdersSortField" in body["errors"][0]["message"]
    body = await gql(server, "{ ordersConnection(first: 1001) { totalCount } }")
    assert codes(body) == ["INVALID_REQUEST"] and body["errors"][0]["extensions"]["path"] == "first"


async def test_mutations_create_update_delete_through_the_engine(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    created = (await gql(server, 'mutation { createCustomers(input: {name: "Ada", email: "a@x.io"}) { id name } }'))[
        "data"
    ]["createCustomers"]
    order = (
        await gql(
            server,
            "mutation ($c: ID!) { createOrders(input: {customer: $c, total: 12.5}) { id status total customer } }",
            {"c": created["id"]},
        )
    )["data"]["createOrders"]
    assert order["status"] == "pending" and order["total"] == "12.5" and order["customer"] == created["id"]
    # Currency is exact: a string in and out, no binary floating point on the way (0.1 + 0.2 stays 0.3).
    exact = await gql(
        server,
        'mutation ($c: ID!) { createOrders(input: {customer: $c, total: "1234567890.1234"}) { total } }',
        {"c": created["id"]},
    )
    assert exact["data"]["createOrders"]["total"] == "1234567890.1234"
    summed = await gql(server, '{ ordersList(where: {total: {eq: "1234567890.1234"}}) { total } }')
    assert summed["data"]["ordersList"] == [{"total": "1234567890.1234"}]
    bad = await gql(server, 'mutation { createOrders(input: {total: "twelve"}) { id } }')
    assert codes(bad) == ["GRAPHQL_VALIDATION_FAILED"]
    updated = await gql(
        server, 'mutation ($id: ID!) { updateOrders(id: $id, input: {status: "paid"}) { status } }', {"id": order["id"]}
    )
    assert updated["data"]["updateOrders"] == {"status": "paid"}
    assert (await gql(server, "mutation ($id: ID!) { deleteOrders(id: $id) }", {"id": order["id"]}))["data"] == {
        "deleteOrders": True
    }
    missing = await gql(server, 'mutation { deleteOrders(id: "gone") }')
    assert codes(missing) == ["NOT_FOUND"]


async def test_validation_errors_list_fields_in_extensions(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    body = await gql(server, 'mutation { createCustomers(input: {name: "", email: "nope"}) { id } }')
    assert codes(body) == ["VALIDATION_ERROR"]
    assert set(body["errors"][0]["extensions"]["fields"]) == {"name", "email"}


async def test_text_over_the_default_bound_is_a_validation_error_naming_the_field(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    create = "mutation($name: String!) { createCustomers(input: {name: $name}) { id } }"
    body = await gql(server, create, {"name": "n" * 65_537})
    assert codes(body) == ["VALIDATION_ERROR"]
    assert body["errors"][0]["extensions"]["fields"] == {"name": "must be at most 65536 characters"}
    created = await gql(server, create, {"name": "n" * 65_536})
    update = "mutation($id: ID!, $name: String) { updateCustomers(id: $id, input: {name: $name}) { id } }"
    body = await gql(server, update, {"id": created["data"]["createCustomers"]["id"], "name": "n" * 65_537})
    assert codes(body) == ["VALIDATION_ERROR"]
    assert await server.engine.object("customers").count([["name", "=", "n" * 65_536]]) == 1


async def test_the_text_bound_is_a_setting(live_server: ServerFactory) -> None:
    server = await live_server(SHOP, OBJECTQL_MAX_TEXT_LENGTH="100000")
    create = "mutation($name: String!) { createCustomers(input: {name: $name}) { name } }"
    body = await gql(server, create, {"name": "n" * 100_000})
    assert body == {"data": {"createCustomers": {"name": "n" * 100_000}}}


async def test_connection_cursors_are_keyset_positions(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    orders = server.engine.object("orders")
    for i in range(5):
        await orders.create({"id": f"o{i}", "total": 50 - i * 10})
    query = """query ($after: String) {
      ordersConnection(first: 2, after: $after, orderBy: [{field: total}]) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id total } }
      }
    }"""
    page = (await gql(server, query))["data"]["ordersConnection"]
    assert [e["node"]["id"] for e in page["edges"]] == ["o4", "o3"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"] and not page["pageInfo"]["hasPreviousPage"]
    cursor = page["pageInfo"]["endCursor"]
    # Writes before the cursor do not shift the next page; the cursor's own record may even be gone.
    await orders.create({"id": "early", "total": 1})
    await orders.delete("o3")
    page = (await gql(server, query, {"after": cursor}))["data"]["ordersConnection"]
    assert [e["node"]["id"] for e in page["edges"]] == ["o2", "o1"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasPreviousPage"]
    last = (await gql(server, query, {"after": page["pageInfo"]["endCursor"]}))["data"]["ordersConnection"]
    assert [e["node"]["id"] for e in last["edges"]] == ["o0"] and not last["pageInfo"]["hasNextPage"]
    bad = await gql(server, query, {"after": "not-a-cursor"})
    assert codes(bad) == ["INVALID_REQUEST"]


async def test_hidden_fields_row_rules_and_forbidden_filters(live_server: ServerFactory) -> None:
    server = await live_server(SHOP, OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    await orders.create({"id": "s1", "owner": "sam", "cost": 5})
    await orders.create({"id": "k1", "owner": "kim", "cost": 6})
    sam = server.token("sam", ["sales"])
    body = await gql(server, "{ ordersList { id } ordersCount }", token=sam)
    assert body["data"] == {"ordersList": [{"id": "s1"}], "ordersCount": 1}
    body = await gql(server, "{ ordersList { id cost } }", token=sam)
    assert body["data"] == {"ordersList": [{"id": "s1", "cost": None}]}
    assert codes(body) == ["FORBIDDEN"] and body["errors"][0]["path"] == ["ordersList", 0, "cost"]
    body = await gql(server, '{ ordersList(filters: [["cost", ">", 1]]) { id } }', token=sam)
    assert codes(body) == ["FORBIDDEN"]
    body = await gql(server, "{ ordersList(where: {cost: {gt: 1}}) { id } }", token=sam)
    assert codes(body) == ["FORBIDDEN"]
    body = await gql(server, "{ ordersList(orderBy: [{field: cost}]) { id } }", token=sam)
    assert codes(body) == ["FORBIDDEN"] and body["errors"][0]["extensions"]["details"]["path"] == "orderBy[0]"
    body = await gql(server, "{ ordersConnection(orderBy: [{field: cost}]) { totalCount } }", token=sam)
    assert body["errors"][0]["extensions"]["details"]["path"] == "orderBy[0]"
    body = await gql(server, '{ orders(id: "k1") { id } }', token=sam)
    assert body["data"] == {"orders": None}
    admin = server.token("root", ["admin"])
    rows = (await gql(server, "{ ordersList { id cost } }", token=admin))["data"]["ordersList"]
    assert rows == [{"id": "k1", "cost": 6.0}, {"id": "s1", "cost": 5.0}]


async def test_auth_errors_over_http(live_server: ServerFactory) -> None:
    server = await live_server(SHOP, OBJECTQL_JWT_SECRET=SECRET)
    anonymous = await gql(server, "{ ordersCount }")
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    for token in ("garbage", server.token("sam", ["sales"], ttl=-60)):
        response = await post(server, "{ ordersCount }", token=token)
        assert response.status_code == 401
        assert codes(response.json()) == ["UNAUTHENTICATED"]


async def test_lookup_refs_are_batched_into_one_query(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    for i in range(5):
        await server.engine.object("customers").create({"id": f"c{i}", "name": f"n{i}"})
    for i in range(30):
        await server.engine.object("orders").create({"customer": f"c{i % 5}"})
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sync_engine = server.engine.sql_engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        body = await gql(server, "{ ordersList { id customer_ref { name } } }")
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert len(body["data"]["ordersList"]) == 30
    assert {o["customer_ref"]["name"] for o in body["data"]["ordersList"]} == {f"n{i}" for i in range(5)}
    customer_selects = [s for s in statements if "FROM customers" in s]
    assert len(customer_selects) == 1


async def test_get_requests_run_queries_but_not_mutations(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    async with httpx.AsyncClient(base_url=server.http) as client:
        ok = await client.get("/graphql", params={"query": "{ ordersCount }"}, headers={"accept": "application/json"})
        assert ok.json() == {"data": {"ordersCount": 0}}
        refused = await client.get(
            "/graphql",
            params={"query": 'mutation { createCustomers(input: {name: "x", email: "x@y.io"}) { id } }'},
            headers={"accept": "application/json"},
        )
        assert refused.status_code == 405
        bad = await client.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
        assert bad.status_code == 400


async def test_every_refusal_before_execution_has_its_own_code(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    assert codes(await gql(server, "{ ordersList { id ")) == ["GRAPHQL_PARSE_FAILED"]
    assert codes(await gql(server, "{ ordersLst { id } }")) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(await gql(server, "query A { ordersCount } query B { ordersCount }")) == ["BAD_REQUEST"]
    created = 'mutation { createCustomers(input: {id: "c1", name: "Ada", email: "a@x.io"}) { id } }'
    assert "errors" not in await gql(server, created)
    again = 'mutation { createCustomers(input: {id: "c1", name: "Bob", email: "b@x.io"}) { id } }'
    assert codes(await gql(server, again)) == ["CONFLICT"]
