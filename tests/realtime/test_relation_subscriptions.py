"""Live subscriptions through relations are refused at subscribe time (the realtime core cannot yet keep them
exact when a related record changes); the same filters work in one-shot reads."""

from __future__ import annotations

from typing import Any

from tests.realtime.conftest import SECRET, ServerFactory, connect
from tests.realtime.test_sse import refused

CUSTOMERS = """
fields:
  name:   {type: text}
  owner:  {type: text}
  region: {type: text}
"""
ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers}
  total:    {type: number}
permissions:
  rows:
    - roles: [sales]
      filters: [["customer.owner", "=", "$user.id"]]
"""
OBJECTS = {"customers": CUSTOMERS, "orders": ORDERS}


async def test_live_rows_windows_and_aggregates_through_relations_are_refused(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    await server.engine.object("customers").create({"id": "c1", "name": "Ada", "owner": "sam", "region": "EU"})
    await server.engine.object("orders").create({"id": "o1", "customer": "c1", "total": 5})
    client = await connect(server, server.token("root", ["admin"]))
    refused: list[tuple[str, dict[str, Any], str | None]] = [
        ("orders", {"filters": [["customer.region", "=", "EU"]]}, "filters"),
        ("orders", {"filters": {"customer.region": "EU"}, "limit": 5}, "filters"),
        ("orders", {"filters": [["customer.region", "=", "EU"]], "aggregate": {"count": True}}, "filters"),
        ("orders", {"sort": [["customer.name", "asc"]], "limit": 5}, "sort[0]"),
        ("customers", {"filters": [["orders", "any", [["total", ">", 1]]]]}, "filters"),
        ("customers", {"filters": {"orders": {"$none": {}}}, "limit": 5}, "filters"),
    ]
    for i, (object_name, extra, path) in enumerate(refused):
        await client.send({"type": "subscribe", "id": f"r{i}", "object": object_name, **extra})
        error = await client.expect("error")
        assert error["id"] == f"r{i}" and error["code"] == "INVALID_REQUEST", error
        assert error.get("path") == path and "not supported yet" in error["message"], error
    # The connection is fine, and a subscription without relations opens.
    assert (await client.subscribe("ok", filters=[["total", ">", 1]]))["id"] == "ok"
    # One-shot reads take the same filter.
    assert [r["id"] for r in await server.engine.object("orders").find([["customer.region", "=", "EU"]])] == ["o1"]


async def test_a_row_scope_through_a_path_refuses_the_live_subscription(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token("sam", ["sales"]))
    for i, extra in enumerate([{}, {"limit": 5}, {"aggregate": {"count": True}}, {"record_id": "o1"}]):
        await client.send({"type": "subscribe", "id": f"s{i}", "object": "orders", **extra})
        error = await client.expect("error")
        assert error["code"] == "INVALID_REQUEST" and "row permissions" in error["message"], error
    # Customers carry no relation in sam's scope: live as ever.
    assert (await client.subscribe("c", obj="customers"))["id"] == "c"


async def test_an_sse_stream_through_a_relation_is_refused(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    token = server.token("root", ["admin"])
    status, error = await refused(server, "orders", token=token, params={"filters": '[["customer.region","=","EU"]]'})
    assert status == 400 and error["code"] == "INVALID_REQUEST" and "not supported yet" in error["message"]
