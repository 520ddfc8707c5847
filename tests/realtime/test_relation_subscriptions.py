"""Live subscriptions through relations: rows, windows and aggregates follow paths and ``any`` / ``none`` in
filters and row rules — a related record's change makes rows enter or leave (a ``related`` change at its seq),
re-ranks a window, recounts an aggregate — while a window sorted through a relation is still refused."""

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


async def test_a_live_window_sorted_through_a_relation_is_refused(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token("root", ["admin"]))
    await client.send(
        {"type": "subscribe", "id": "w", "object": "orders", "sort": [["customer.name", "asc"]], "limit": 5}
    )
    error = await client.expect("error")
    assert (error["code"], error.get("path")) == ("INVALID_REQUEST", "sort[0]") and "not supported yet" in error[
        "message"
    ]
    # The connection is fine, and a window filtered through the relation opens.
    await client.send(
        {"type": "subscribe", "id": "ok", "object": "orders", "filters": {"customer.region": "EU"}, "limit": 5}
    )
    assert (await client.expect("subscribed"))["id"] == "ok"


async def test_a_window_through_a_path_re_ranks_when_the_related_record_changes(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    customers = server.engine.object("customers")
    client = await connect(server, server.token("root", ["admin"]))
    request = {
        "filters": [["customer.region", "=", "EU"]],
        "fields": ["total"],
        "sort": [["total", "desc"]],
        "limit": 2,
    }
    await client.send({"type": "subscribe", "id": "w", "object": "orders", **request})
    await client.expect("subscribed")
    assert [r["id"] for r in (await client.expect("snapshot"))["records"]] == ["o2", "o1"]
    await customers.update("c2", {"region": "EU"})  # o3 (9) enters first, o1 (5) is pushed out
    seq = await server.engine.current_seq()
    changes = [await client.expect("change") for _ in range(2)]
    assert [(c["seq"], c["effect"], c.get("index"), c["record"]["id"]) for c in changes] == [
        (seq, "removed", None, "o1"),
        (seq, "added", 0, "o3"),
    ]
    await customers.update("c1", {"region": "US"})  # o2 leaves, nothing comes in its place
    change = await client.expect("change")
    assert (change["effect"], change["record"]) == ("removed", {"id": "o2"})
    await client.nothing(server)


async def test_an_aggregate_through_a_path_row_rule_recounts_when_the_related_owner_changes(
    live_server: ServerFactory,
) -> None:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_AGGREGATE_INTERVAL="0")
    await seed(server)
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True, "sum": ["total"]}})
    await sam.expect("subscribed")
    assert (await sam.expect("aggregate"))["groups"] == [{"key": {}, "count": 2, "sum": {"total": 12}}]
    await server.engine.object("customers").update("c2", {"owner": "sam"})  # Bob's o3 becomes sam's to count
    seq = await server.engine.current_seq()
    message = await sam.expect("aggregate")
    assert message["seq"] == seq and message["groups"] == [{"key": {}, "count": 3, "sum": {"total": 21}}]
    await server.engine.object("customers").update("c1", {"name": "Ada L."})  # nothing the count reads
    await server.engine.object("customers").update("c1", {"owner": "kim"})
    message = await sam.expect("aggregate")
    assert message["groups"] == [{"key": {}, "count": 1, "sum": {"total": 9}}]
    await sam.nothing(server)


async def shop(live_server: ServerFactory) -> Any:
    server = await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)
    await seed(server)
    return server


async def seed(server: Any) -> None:
    customers, orders = server.engine.object("customers"), server.engine.object("orders")
    await customers.create({"id": "c1", "name": "Ada", "owner": "sam", "region": "EU"})
    await customers.create({"id": "c2", "name": "Bob", "owner": "kim", "region": "US"})
    await orders.create({"id": "o1", "customer": "c1", "total": 5})
    await orders.create({"id": "o2", "customer": "c1", "total": 7})
    await orders.create({"id": "o3", "customer": "c2", "total": 9})


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
        server, "orders", token=token, params={"sort": '[["customer.name","asc"]]', "limit": "5"}
    )
    assert status == 400 and error["code"] == "INVALID_REQUEST" and "not supported yet" in error["message"]
