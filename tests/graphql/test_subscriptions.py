"""GraphQL subscriptions on the hub: the core's effects over <x>Changed, projection, permissions, replay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from objectql.resolvers import live
from tests.graphql.wsclient import PROTOCOLS, open_ws, registered
from tests.realtime.conftest import SECRET, ServerFactory, connect, settle

CHANGED = """subscription ($status: String) {
  ordersChanged(where: {status: {eq: $status}}) {
    seq action effect changedFields
    record { id status total }
    previous { id status }
  }
}"""


async def nothing_pending(client: Any, server: Any) -> None:
    """Every commit is dispatched and a round trip shows nothing else was queued."""
    await settle(server)
    assert await client.execute("probe", "{ __typename }") == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_changed_follows_the_effects_table(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server()
    client = await open_ws(server, protocol)
    await client.start("s", CHANGED, {"status": "pending"})
    await registered(server, 1)
    orders = server.engine.object("orders")

    created = await orders.create({"total": 1})
    change = (await client.next("s"))["data"]["ordersChanged"]
    assert (change["action"], change["effect"]) == ("CREATE", "ADDED")
    assert change["record"] == {"id": created["id"], "status": "pending", "total": 1.0}
    assert change["previous"] is None and change["changedFields"] is None
    assert change["seq"] == "1"

    await orders.update(created["id"], {"total": 2})
    change = (await client.next("s"))["data"]["ordersChanged"]
    assert (change["action"], change["effect"]) == ("UPDATE", "MODIFIED")
    assert change["changedFields"] == ["total"]  # updated_at changed too, but is not selected
    assert change["previous"] == {"id": created["id"], "status": "pending"}

    await orders.update(created["id"], {"status": "paid"})
    change = (await client.next("s"))["data"]["ordersChanged"]
    assert change["effect"] == "REMOVED"
    assert change["record"] == {"id": created["id"], "status": None, "total": None}

    await orders.update(created["id"], {"total": 3})  # invisible before and after: nothing
    await nothing_pending(client, server)

    await orders.update(created["id"], {"status": "pending"})
    assert (await client.next("s"))["data"]["ordersChanged"]["effect"] == "ADDED"
    await orders.delete(created["id"])
    change = (await client.next("s"))["data"]["ordersChanged"]
    assert (change["action"], change["effect"]) == ("DELETE", "REMOVED")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_created_updated_and_deleted_match_after_and_before_states(
    live_server: ServerFactory, protocol: str
) -> None:
    server = await live_server()
    client = await open_ws(server, protocol)
    await client.start("c", 'subscription { ordersCreated(where: {status: {eq: "paid"}}) { id total } }')
    await client.start("u", 'subscription { ordersUpdated(filters: [["status", "=", "paid"]]) { id status } }')
    await client.start("d", 'subscription { ordersDeleted(filters: {status: "paid"}) }')
    await registered(server, 3)
    orders = server.engine.object("orders")
    pending = await orders.create({"status": "pending"})
    paid = await orders.create({"status": "paid", "total": 4})
    assert await client.next("c") == {"data": {"ordersCreated": {"id": paid["id"], "total": 4.0}}}
    await orders.update(pending["id"], {"status": "paid"})
    assert await client.next("u") == {"data": {"ordersUpdated": {"id": pending["id"], "status": "paid"}}}
    await orders.delete(paid["id"])
    assert await client.next("d") == {"data": {"ordersDeleted": paid["id"]}}
    await nothing_pending(client, server)


async def test_each_subscriber_sees_only_rows_its_row_rules_allow(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    sam = await open_ws(server, payload={"Authorization": f"Bearer {server.token('sam', ['sales'])}"})
    kim = await open_ws(server, payload={"token": server.token("kim", ["sales"])})
    query = "subscription { ordersChanged { effect record { id owner } } }"
    await sam.start("s", query)
    await kim.start("s", query)
    await registered(server, 2)
    kims = await server.engine.object("orders").create({"owner": "kim"})
    assert (await kim.next("s"))["data"]["ordersChanged"]["record"]["id"] == kims["id"]
    sams = await server.engine.object("orders").create({"owner": "sam"})
    assert (await sam.next("s"))["data"]["ordersChanged"]["record"]["id"] == sams["id"]
    await nothing_pending(kim, server)


async def test_selecting_a_hidden_field_refuses_the_subscription_before_any_event(
    live_server: ServerFactory,
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    client = await open_ws(server, payload={"authorization": server.token("bob", ["clerk"])})
    await client.start("s", "subscription { ordersChanged { record { id cost } } }")
    errors = await client.error("s")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert errors[0]["extensions"]["details"]["field"] == "cost"
    # Named where the document selects it, not by the engine's argument position.
    assert errors[0]["extensions"]["details"]["path"] == "ordersChanged.record.cost"
    admin = await open_ws(server, payload={"authorization": server.token("root", ["admin"])})
    await admin.start("s", "subscription { ordersChanged { record { id cost } } }")
    await registered(server, 1)
    await server.engine.object("orders").create({"cost": 9})
    assert (await admin.next("s"))["data"]["ordersChanged"]["record"]["cost"] == 9.0


PRODUCTS = """
fields:
  name: {type: text}
  cost: {type: number}
permissions:
  fields:
    cost: {read: [admin]}
"""
LINES = """
fields:
  product: {type: lookup, reference_to: products}
  qty: {type: integer}
"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_hidden_field_behind_a_lookup_refuses_the_subscription_before_any_event(
    live_server: ServerFactory, protocol: str
) -> None:
    server = await live_server({"products": PRODUCTS, "lines": LINES}, OBJECTQL_JWT_SECRET=SECRET)
    clerk = await open_ws(server, protocol, payload={"authorization": server.token("bob", ["clerk"])})
    document = """subscription { linesChanged { record { id ...P } } }
      fragment P on Lines { product_ref { name cost } }"""
    await clerk.start("s", document)
    errors = await clerk.error("s")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert errors[0]["extensions"]["details"] == {"field": "cost", "path": "linesChanged.record.product_ref.cost"}
    await clerk.start("c", "subscription { linesCreated { qty product_ref { cost } } }")
    assert (await clerk.error("c"))[0]["extensions"]["details"]["path"] == "linesCreated.product_ref.cost"

    # The readable fields of the lookup are fine, for the clerk and the admin alike.
    await clerk.start("ok", "subscription { linesChanged { record { qty product_ref { name } } } }")
    admin = await open_ws(server, protocol, payload={"authorization": server.token("root", ["admin"])})
    await admin.start("s", "subscription { linesChanged { record { product_ref { name cost } } } }")
    await registered(server, 2)
    product = await server.engine.object("products").create({"name": "pen", "cost": 2})
    await server.engine.object("lines").create({"product": product["id"], "qty": 3})
    assert (await clerk.next("ok"))["data"]["linesChanged"]["record"] == {"qty": 3, "product_ref": {"name": "pen"}}
    record = (await admin.next("s"))["data"]["linesChanged"]["record"]
    assert record == {"product_ref": {"name": "pen", "cost": 2.0}}


async def test_after_replays_missed_events_then_goes_live(live_server: ServerFactory) -> None:
    server = await live_server()
    orders = server.engine.object("orders")
    first = await orders.create({"total": 1})
    missed = [await orders.create({"total": i}) for i in range(2, 5)]
    client = await open_ws(server)
    await client.start("s", 'subscription { ordersChanged(after: "1") { seq record { id } } }')
    replayed = [(await client.next("s"))["data"]["ordersChanged"] for _ in missed]
    assert [c["record"]["id"] for c in replayed] == [m["id"] for m in missed]
    assert [c["seq"] for c in replayed] == ["2", "3", "4"]
    live_one = await orders.create({"total": 9})
    assert (await client.next("s"))["data"]["ordersChanged"]["record"]["id"] == live_one["id"]
    assert first["id"] not in {c["record"]["id"] for c in replayed}


async def test_after_outside_retention_ends_the_subscription_with_reset(live_server: ServerFactory) -> None:
    server = await live_server()
    for i in range(4):
        await server.engine.object("orders").create({"total": i})
    table = server.engine.outbox.events
    async with server.engine.sql_engine.begin() as conn:
        await conn.execute(update(table).values(ts=datetime.now(UTC) - timedelta(days=3)))
    await server.engine.prune_events()
    client = await open_ws(server)
    await client.start("s", 'subscription { ordersChanged(after: "1") { seq } }')
    errors = await client.error("s")
    assert errors[0]["extensions"]["code"] == "RESET"


async def test_record_subscription_with_id(live_server: ServerFactory) -> None:
    server = await live_server()
    orders = server.engine.object("orders")
    mine, other = await orders.create({"total": 1}), await orders.create({"total": 2})
    client = await open_ws(server)
    await client.start(
        "s", "subscription ($id: ID) { ordersChanged(id: $id) { record { id total } } }", {"id": mine["id"]}
    )
    await registered(server, 1)
    await orders.update(other["id"], {"total": 5})
    await orders.update(mine["id"], {"total": 6})
    assert (await client.next("s"))["data"]["ordersChanged"]["record"] == {"id": mine["id"], "total": 6.0}


async def test_identical_subscriptions_execute_once_per_event(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await live_server()
    executions: list[int] = []
    original = live.GraphQLRenderer._execute

    async def counting(self: live.GraphQLRenderer, value: Any) -> str:
        executions.append(1)
        return await original(self, value)

    monkeypatch.setattr(live.GraphQLRenderer, "_execute", counting)
    clients = [await open_ws(server, protocol) for protocol in PROTOCOLS for _ in range(3)]
    for client in clients:
        await client.start("s", CHANGED, {"status": "paid"})
    other = await open_ws(server)
    await other.start("s", CHANGED, {"status": "pending"})  # other variables: its own group
    await registered(server, 7)
    await server.engine.object("orders").create({"status": "paid"})
    for client in clients:
        assert (await client.next("s"))["data"]["ordersChanged"]["effect"] == "ADDED"
    await nothing_pending(other, server)
    assert len(executions) == 1


async def test_lookup_fields_resolve_in_subscription_events(live_server: ServerFactory) -> None:
    objects = {
        "customers": "fields:\n  name: {type: text}\n",
        "orders": "fields:\n  customer: {type: lookup, reference_to: customers}\n  total: {type: number}\n",
    }
    server = await live_server(objects)
    customer = await server.engine.object("customers").create({"name": "Ada"})
    client = await open_ws(server)
    await client.start("s", "subscription { ordersCreated { id customer_ref { name } } }")
    await registered(server, 1)
    await server.engine.object("orders").create({"customer": customer["id"]})
    assert (await client.next("s"))["data"]["ordersCreated"]["customer_ref"] == {"name": "Ada"}


async def test_a_render_waiting_on_the_database_does_not_hold_up_other_subscribers(
    live_server: ServerFactory,
) -> None:
    objects = {
        "customers": "fields:\n  name: {type: text}\n",
        "orders": "fields:\n  customer: {type: lookup, reference_to: customers}\n  total: {type: number}\n",
    }
    server = await live_server(objects)
    customer = await server.engine.object("customers").create({"name": "Ada"})
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow_lookup(ctx: Any) -> None:  # the customer_ref lookup of the GraphQL render
        entered.set()
        await gate.wait()

    server.engine.on("before:find", "customers", slow_lookup)
    graphql = await open_ws(server)
    await graphql.start("s", "subscription { ordersCreated { total customer_ref { name } } }")
    plain = await connect(server)
    await plain.subscribe("p")
    await registered(server, 2)
    orders = server.engine.object("orders")

    await orders.create({"customer": customer["id"], "total": 1})
    await asyncio.wait_for(entered.wait(), 5)
    # The GraphQL render is stuck in its lookup; the plain subscriber still gets the change.
    assert (await plain.expect("change"))["record"]["total"] == 1
    await orders.create({"customer": customer["id"], "total": 2})
    assert (await plain.expect("change"))["record"]["total"] == 2
    gate.set()
    first, second = [(await graphql.next("s"))["data"]["ordersCreated"] for _ in range(2)]
    assert first == {"total": 1.0, "customer_ref": {"name": "Ada"}}
    assert second == {"total": 2.0, "customer_ref": {"name": "Ada"}}
    await nothing_pending(graphql, server)
