"""GraphQL ``where`` and ``orderBy`` through relations: ``customer_ref`` paths, ``orders: {any | none}``,
permissions along the path, and live subscriptions through relations refused."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.graphql.wsclient import PROTOCOLS, codes, open_ws, post, registered
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory

ACCOUNTS = """
fields:
  tier: {type: text}
"""
CUSTOMERS = """
fields:
  name:    {type: text}
  region:  {type: text}
  secret:  {type: text}
  account: {type: lookup, reference_to: accounts}
permissions:
  fields:
    secret: {read: [admin]}
"""
ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers}
  total:    {type: number}
"""
OBJECTS = {"accounts": ACCOUNTS, "customers": CUSTOMERS, "orders": ORDERS}


async def shop(live_server: ServerFactory) -> LiveServer:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    engine = server.engine
    await engine.object("accounts").create({"id": "a1", "tier": "gold"})
    customers = engine.object("customers")
    await customers.create({"id": "c1", "name": "Ada", "region": "EU", "secret": "x", "account": "a1"})
    await customers.create({"id": "c2", "name": "Bob", "region": "US"})
    await customers.create({"id": "c3", "name": "Cy", "region": "EU"})
    for id, customer, total in [("o1", "c1", 10), ("o2", "c2", 200), ("o3", "c1", 300), ("o4", None, 1)]:
        await engine.object("orders").create({"id": id, "customer": customer, "total": total})
    return server


async def data(server: LiveServer, query: str, token: str, variables: dict[str, Any] | None = None) -> Any:
    body = (await post(server, query, variables, token=token)).json()
    assert "errors" not in body, body
    return body["data"]


async def test_where_follows_references_and_related_lists(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    admin = server.token("root", ["admin"])
    eu = await data(server, '{ ordersList(where: {customer_ref: {region: {eq: "EU"}}}) { id } }', admin)
    assert eu == {"ordersList": [{"id": "o1"}, {"id": "o3"}]}
    gold = await data(
        server, '{ ordersCount(where: {customer_ref: {account_ref: {tier: {eq: "gold"}}}, total: {gt: 100}}) }', admin
    )
    assert gold == {"ordersCount": 1}
    either = await data(
        server,
        '{ ordersList(where: {customer_ref: {OR: [{name: {eq: "Bob"}}, {NOT: {region: {eq: "EU"}}}]}}) { id } }',
        admin,
    )
    assert either == {"ordersList": [{"id": "o2"}]}
    big = await data(server, "{ customersList(where: {orders: {any: {total: {gt: 100}}}}) { id } }", admin)
    assert big == {"customersList": [{"id": "c1"}, {"id": "c2"}]}
    none = await data(server, "{ customersList(where: {orders: {none: {}}}) { id } }", admin)
    assert none == {"customersList": [{"id": "c3"}]}
    variables = {"w": {"customer_ref": {"region": {"isNull": True}}}}
    nulls = await data(server, "query ($w: OrdersFilter) { ordersList(where: $w) { id } }", admin, variables)
    assert nulls == {"ordersList": [{"id": "o4"}]}


async def test_order_by_a_path(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    admin = server.token("root", ["admin"])
    query = "{ ordersList(orderBy: [{customer_ref: {field: name, direction: DESC}}, {field: total}]) { id } }"
    assert await data(server, query, admin) == {"ordersList": [{"id": o} for o in ("o2", "o1", "o3", "o4")]}
    query = "{ ordersList(orderBy: [{direction: DESC, customer_ref: {field: region}}]) { id } }"
    assert await data(server, query, admin) == {"ordersList": [{"id": o} for o in ("o2", "o1", "o3", "o4")]}
    both = await post(
        server, "{ ordersList(orderBy: [{field: total, customer_ref: {field: name}}]) { id } }", token=admin
    )
    assert codes(both.json()) == ["INVALID_REQUEST"]
    assert both.json()["errors"][0]["extensions"]["path"] == "orderBy[0]"
    connection = await post(
        server, "{ ordersConnection(orderBy: [{customer_ref: {field: name}}]) { totalCount } }", token=admin
    )
    assert codes(connection.json()) == ["INVALID_REQUEST"]


async def test_a_path_through_a_hidden_field_is_forbidden(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    user = server.token("sam", ["sales"])
    for query in (
        '{ ordersList(where: {customer_ref: {secret: {eq: "x"}}}) { id } }',
        "{ ordersList(orderBy: [{customer_ref: {field: secret}}]) { id } }",
    ):
        body = (await post(server, query, token=user)).json()
        assert codes(body) == ["FORBIDDEN"], body
        assert body["errors"][0]["extensions"]["details"]["field"] == "customer.secret"
    admin = server.token("root", ["admin"])
    assert await data(server, '{ ordersList(where: {customer_ref: {secret: {eq: "x"}}}) { id } }', admin) == {
        "ordersList": [{"id": "o1"}, {"id": "o3"}]
    }


async def test_a_subscription_through_a_relation_is_live_and_a_window_sorted_through_one_refused(
    live_server: ServerFactory,
) -> None:
    server = await shop(live_server)
    admin = server.token("root", ["admin"])
    for n, protocol in enumerate(PROTOCOLS):
        client = await open_ws(server, protocol, {"Authorization": f"Bearer {admin}"})
        await client.start(
            "s",
            'subscription { ordersChanged(where: {customer_ref: {region: {eq: "EU"}}}) '
            "{ action effect changedFields record { id } } }",
        )
        await registered(server, 1)
        # Bob moves to the EU (and back, for the next protocol): his order o2 enters the subscription's rows.
        await server.engine.object("customers").update("c2", {"region": "EU"})
        change = (await client.next("s"))["data"]["ordersChanged"]
        assert change == {"action": "RELATED", "effect": "ADDED", "changedFields": ["customer"], "record": {"id": "o2"}}
        await server.engine.object("customers").update("c2", {"region": "US"})
        change = (await client.next("s"))["data"]["ordersChanged"]
        assert (change["effect"], change["record"]) == ("REMOVED", {"id": "o2"}), n
        await client.start(
            "w", "subscription { ordersWindow(orderBy: [{customer_ref: {field: name}}], limit: 2) { index } }"
        )
        message = await client.recv()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        errors = errors if isinstance(errors, list) else [errors]
        assert errors[0]["extensions"]["code"] == "INVALID_REQUEST", message
        assert "not supported yet" in errors[0]["message"]
        await client.ws.close()
        hub = server.realtime.require_hub()
        for _ in range(500):
            if hub.subscription_count == 0:
                break
            await asyncio.sleep(0.01)
        assert hub.subscription_count == 0
