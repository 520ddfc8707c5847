"""Live subscriptions through relations: the rows of a view follow paths and ``any`` / ``none`` in filters and
row rules — a related record's change makes rows enter or leave, as a ``related`` change at its seq — while
live windows and aggregates through relations are still refused at subscribe time."""

from __future__ import annotations

from typing import Any

from tests.realtime.conftest import SECRET, ServerFactory, connect
from tests.realtime.test_sse import open_stream, refused

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


async def test_live_windows_and_aggregates_through_relations_are_refused(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    await server.engine.object("customers").create({"id": "c1", "name": "Ada", "owner": "sam", "region": "EU"})
    await server.engine.object("orders").create({"id": "o1", "customer": "c1", "total": 5})
    client = await connect(server, server.token("root", ["admin"]))
    refused: list[tuple[str, dict[str, Any], str | None]] = [
        ("orders", {"filters": {"customer.region": "EU"}, "limit": 5}, "filters"),
        ("orders", {"filters": [["customer.region", "=", "EU"]], "aggregate": {"count": True}}, "filters"),
        ("orders", {"sort": [["customer.name", "asc"]], "limit": 5}, "sort[0]"),
        ("customers", {"filters": {"orders": {"$none": {}}}, "limit": 5}, "filters"),
    ]
    for i, (object_name, extra, path) in enumerate(refused):
        await client.send({"type": "subscribe", "id": f"r{i}", "object": object_name, **extra})
        error = await client.expect("error")
        assert error["id"] == f"r{i}" and error["code"] == "INVALID_REQUEST", error
        assert error.get("path") == path and "not supported yet" in error["message"], error
    # The connection is fine, and the rows of the same view open.
    assert (await client.subscribe("ok", filters=[["customer.region", "=", "EU"]]))["id"] == "ok"


async def test_a_row_scope_through_a_path_refuses_live_windows_and_aggregates(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token("sam", ["sales"]))
    for i, extra in enumerate([{"limit": 5}, {"aggregate": {"count": True}}]):
        await client.send({"type": "subscribe", "id": f"s{i}", "object": "orders", **extra})
        error = await client.expect("error")
        assert error["code"] == "INVALID_REQUEST" and "row permissions" in error["message"], error
    assert (await client.subscribe("c", obj="customers"))["id"] == "c"


async def shop(live_server: ServerFactory) -> Any:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    customers, orders = server.engine.object("customers"), server.engine.object("orders")
    await customers.create({"id": "c1", "name": "Ada", "owner": "sam", "region": "EU"})
    await customers.create({"id": "c2", "name": "Bob", "owner": "kim", "region": "US"})
    await orders.create({"id": "o1", "customer": "c1", "total": 5})
    await orders.create({"id": "o2", "customer": "c1", "total": 7})
    await orders.create({"id": "o3", "customer": "c2", "total": 9})
    return server


async def test_a_path_filter_lets_rows_enter_and_leave_when_the_related_record_changes(
    live_server: ServerFactory,
) -> None:
    server = await shop(live_server)
    customers, orders = server.engine.object("customers"), server.engine.object("orders")
    client = await connect(server, server.token("root", ["admin"]))
    await client.subscribe("eu", filters=[["customer.region", "=", "EU"]], fields=["total"])
    await customers.update("c2", {"region": "EU"})
    seq = await server.engine.current_seq()
    added = await client.expect("change")
    assert (added["seq"], added["action"], added["effect"], added["changed"]) == (seq, "related", "added", ["customer"])
    assert added["record"] == {"id": "o3", "total": 9} and "previous" not in added
    await client.nothing(server)
    await customers.update("c1", {"region": "US"})
    seq = await server.engine.current_seq()
    gone = [await client.expect("change") for _ in range(2)]
    assert [(c["seq"], c["action"], c["effect"], c["record"]) for c in gone] == [
        (seq, "related", "removed", {"id": "o1"}),
        (seq, "related", "removed", {"id": "o2"}),
    ]
    await customers.update("c1", {"name": "Ada L."})  # no flip, nothing carried: nothing
    await client.nothing(server)
    await orders.update("o1", {"customer": "c2"})  # its own change, judged through Bob (now EU)
    own = await client.expect("change")
    assert (own["action"], own["effect"], own["record"]) == ("update", "added", {"id": "o1", "total": 5})
    await client.nothing(server)


async def test_a_row_rule_through_a_path_follows_the_related_owner(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    customers = server.engine.object("customers")
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.subscribe("mine", fields=["total"])
    await customers.update("c2", {"owner": "sam"})
    assert (await sam.expect("change"))["record"] == {"id": "o3", "total": 9}
    await customers.update("c1", {"owner": "kim"})
    gone = [await sam.expect("change") for _ in range(2)]
    assert [(c["effect"], c["record"]["id"]) for c in gone] == [("removed", "o1"), ("removed", "o2")]
    await sam.nothing(server)


async def test_any_over_a_related_list_follows_the_children(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    orders = server.engine.object("orders")
    client = await connect(server, server.token("root", ["admin"]))
    await client.subscribe("big", obj="customers", filters=[["orders", "any", [["total", ">", 8]]]], fields=["name"])
    await orders.update("o1", {"total": 10})  # Ada gains a big order
    added = await client.expect("change")
    assert (added["action"], added["effect"], added["changed"]) == ("related", "added", ["orders"])
    assert added["record"] == {"id": "c1", "name": "Ada"}
    await orders.update("o2", {"total": 11})  # Ada stays in
    await client.nothing(server)
    await orders.delete("o3")  # Bob loses his only big one
    removed = await client.expect("change")
    assert (removed["effect"], removed["record"]) == ("removed", {"id": "c2"})
    await client.nothing(server)


async def test_a_resumed_subscription_through_a_path_replays_the_same_changes(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    customers = server.engine.object("customers")
    client = await connect(server, server.token("root", ["admin"]))
    await client.subscribe("eu", filters=[["customer.region", "=", "EU"]], fields=["total"])
    start = await server.engine.current_seq()
    await customers.update("c2", {"region": "EU"})
    await customers.update("c1", {"region": "US"})
    await customers.update("c2", {"region": "US"})
    live = [await client.expect("change") for _ in range(4)]
    await client.nothing(server)
    await client.send(
        {
            "type": "subscribe",
            "id": "again",
            "object": "orders",
            "resume_from": start,
            "fields": ["total"],
            "filters": [["customer.region", "=", "EU"]],
        }
    )
    await client.expect("subscribed")
    replayed = [await client.expect("change") for _ in range(4)]
    assert [{**c, "id": "eu"} for c in replayed] == live
    assert [(c["effect"], c["record"]["id"]) for c in live] == [
        ("added", "o3"),
        ("removed", "o1"),
        ("removed", "o2"),
        ("removed", "o3"),
    ]


async def test_an_sse_stream_through_a_relation_is_live(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    token = server.token("root", ["admin"])
    params = {"filters": '[["customer.region","=","EU"]]', "fields": "total"}
    async with open_stream(server, token=token, params=params) as stream:
        await server.engine.object("customers").update("c2", {"region": "EU"})
        _, change = await stream.change()
        assert (change["action"], change["effect"], change["record"]) == ("related", "added", {"id": "o3", "total": 9})
    status, error = await refused(
        server, "orders", token=token, params={"filters": '[["customer.region","=","EU"]]', "limit": "5"}
    )
    assert status == 400 and error["code"] == "INVALID_REQUEST" and "not supported yet" in error["message"]
