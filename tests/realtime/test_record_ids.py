"""Ids outside the record id alphabet on every door: a record subscription (plain WebSocket, GraphQL) and a
GraphQL lookup, update or delete are simply not found — the socket stays open, nothing is an internal error."""

from __future__ import annotations

import json

from tests.graphql.wsclient import codes, open_ws, post
from tests.realtime.conftest import SECRET, ServerFactory, connect

OUTSIDE = ["a:b", "a b", "a\nb", "a\x00b", "_a", "x" * 129, ""]


async def test_a_record_subscription_to_an_id_outside_the_alphabet_is_not_found(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token("root", ["admin"]))
    for record_id in OUTSIDE[:-1]:  # an empty record_id is a malformed message (INVALID_REQUEST)
        await client.send({"type": "subscribe", "id": "r", "object": "orders", "record_id": record_id})
        error = await client.expect("error")
        assert error["code"] == "NOT_FOUND" and error["id"] == "r", error
    created = await server.engine.object("orders").create({"total": 1})
    await client.subscribe("ok", record_id=created["id"])  # the connection went on


async def test_graphql_ids_outside_the_alphabet_are_not_found(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    admin = server.token("root", ["admin"])
    ws = await open_ws(server, payload={"authorization": admin})
    for n, record_id in enumerate(OUTSIDE):
        literal = json.dumps(record_id)
        await ws.start(f"s{n}", f"subscription {{ ordersChanged(id: {literal}) {{ seq }} }}")
        assert [e["extensions"]["code"] for e in await ws.error(f"s{n}")] == ["NOT_FOUND"]
        body = (await post(server, f"{{ orders(id: {literal}) {{ id }} }}", token=admin)).json()
        assert body == {"data": {"orders": None}}
        for mutation in (f"updateOrders(id: {literal}, input: {{total: 2}}) {{ id }}", f"deleteOrders(id: {literal})"):
            body = (await post(server, f"mutation {{ {mutation} }}", token=admin)).json()
            assert codes(body) == ["NOT_FOUND"], body
