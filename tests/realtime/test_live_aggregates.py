"""Live aggregates over the plain WebSocket: the first message at once, then one after changes, each equal to
the engine's aggregate() at its seq — counts and exact sums kept from events, extremes re-read when they
leave — over the subscriber's visible rows only, coalesced under bursts, shared by identical subscriptions."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from objectql.engine.user import User
from objectql.realtime.aggregates import wire_groups
from tests.conftest import OWNER_ROWS_HIDDEN_COST
from tests.realtime.conftest import SECRET, Client, LiveServer, Outage, ServerFactory, connect, settle

ORDERS = (
    """
fields:
  status: {type: select, options: [pending, paid, shipped]}
  total:  {type: currency}
  qty:    {type: integer}
  owner:  {type: text}
  cost:   {type: currency}
"""
    + OWNER_ROWS_HIDDEN_COST
)
ASKED = {"count": True, "sum": ["total", "qty"], "avg": ["total"], "min": ["total"], "max": ["qty"]}


async def latest(client: Client, server: LiveServer, sid: str = "a") -> dict[str, Any]:
    """The last aggregate message once everything committed has been dispatched and flushed."""
    await settle(server)
    message: dict[str, Any] | None = None
    await client.send({"type": "ping"})
    while True:
        received = await client.recv()
        if received["type"] == "pong":
            break
        assert received["type"] == "aggregate" and received["id"] == sid, received
        message = received
    assert message is not None, "no aggregate message"
    return message


async def expected(server: LiveServer, user: User | None, **kwargs: Any) -> list[dict[str, Any]]:
    groups = await server.engine.context(user).object("orders").aggregate(**kwargs)
    return json.loads(json.dumps(wire_groups(groups), default=str))


async def delete_where(orders: Any, **values: Any) -> None:
    (row,) = await orders.find(filters=[[k, "=", v] for k, v in values.items()])
    await orders.delete(row["id"])


async def update_where(orders: Any, values: dict[str, Any], patch: dict[str, Any]) -> None:
    (row,) = await orders.find(filters=[[k, "=", v] for k, v in values.items()])
    await orders.update(row["id"], patch)


async def test_each_message_equals_the_engine_aggregate_at_its_seq(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    first = await orders.create({"status": "paid", "total": Decimal("0.1"), "qty": 1, "owner": "sam"})
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": ASKED, "group_by": ["status"]})
    assert (await client.expect("subscribed"))["id"] == "a"
    want = await expected(server, None, group_by=["status"], **ASKED)

    initial = await client.expect("aggregate")
    assert initial["groups"] == want and initial["groups"][0]["sum"] == {"total": "0.1", "qty": 1}

    steps = [
        lambda: orders.create({"status": "paid", "total": Decimal("0.2"), "qty": 5, "owner": "kim"}),
        lambda: orders.create({"status": "pending", "total": Decimal("3"), "qty": 2, "owner": "sam"}),
        lambda: orders.update(first["id"], {"status": "shipped"}),  # moves to another group
        lambda: orders.update(first["id"], {"total": Decimal("0.05")}),  # a new minimum within its group
        lambda: orders.delete(first["id"]),  # the minimum of its group leaves: re-read
        lambda: orders.create({"status": None, "qty": None}),
        # Rows leaving a group that keeps others, holding no extreme: kept from the event alone.
        lambda: orders.create({"status": "paid", "total": Decimal("0.15"), "qty": 3, "owner": "kim"}),
        lambda: orders.create({"status": "paid", "total": Decimal("7"), "qty": 9, "owner": "kim"}),
        lambda: orders.create({"status": "paid", "total": Decimal("0.3"), "qty": 4, "owner": "kim"}),
        lambda: delete_where(orders, total=Decimal("0.15")),
        lambda: update_where(orders, {"total": Decimal("0.3")}, {"status": "pending"}),
    ]
    for step in steps:
        await step()
        message = await latest(client, server)
        assert message["seq"] == await server.engine.current_seq()
        assert message["groups"] == await expected(server, None, group_by=["status"], **ASKED), step

    # A write the aggregate does not see changes nothing: no message.
    await orders.update((await orders.find(limit=1))[0]["id"], {"owner": "zed"})
    await client.nothing(server)


async def test_a_user_aggregates_their_visible_rows_and_no_hidden_field(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    await orders.create({"total": Decimal("1"), "owner": "sam"})
    await orders.create({"total": Decimal("10"), "owner": "kim"})
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True, "sum": ["total"]}})
    await sam.expect("subscribed")
    assert (await sam.expect("aggregate"))["groups"] == [{"key": {}, "count": 1, "sum": {"total": "1"}}]
    await orders.create({"total": Decimal("100"), "owner": "kim"})  # not sam's: nothing changes for sam
    await sam.nothing(server)
    await orders.create({"total": Decimal("2"), "owner": "sam"})
    assert (await latest(sam, server))["groups"] == [{"key": {}, "count": 2, "sum": {"total": "3"}}]

    for aggregate, group_by in (({"sum": ["cost"]}, None), ({"count": True}, ["cost"]), ({"max": ["cost"]}, None)):
        await sam.send(
            {"type": "subscribe", "id": "h", "object": "orders", "aggregate": aggregate, "group_by": group_by}
        )
        error = await sam.expect("error")
        assert error["id"] == "h" and error["code"] == "FORBIDDEN" and error["details"]["field"] == "cost"
    await sam.send({"type": "subscribe", "id": "b", "object": "orders", "aggregate": {"sum": ["owner"]}})
    assert (await sam.expect("error"))["code"] == "INVALID_REQUEST"


async def test_a_burst_is_coalesced_and_the_last_message_is_the_final_state(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="100")
    client = await connect(server)
    await client.send(
        {"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True, "sum": ["qty"]}}
    )
    await client.expect("subscribed")
    await client.expect("aggregate")
    orders = server.engine.object("orders")
    for i in range(1000):
        await orders.create({"qty": i})
    messages = []
    await settle(server)
    while True:
        message = await client.recv(timeout=2)
        messages.append(message)
        if message["groups"][0]["count"] == 1000:
            break
    assert len(messages) < 100  # a thousand writes, far fewer messages
    assert messages[-1]["groups"] == [{"key": {}, "count": 1000, "sum": {"qty": sum(range(1000))}}]
    assert messages[-1]["seq"] == await server.engine.current_seq()
    await client.nothing(server)


async def test_identical_aggregates_share_one_group(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    clients = [await connect(server) for _ in range(20)]
    for client in clients:
        await client.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True}})
        await client.expect("subscribed")
        await client.expect("aggregate")
    assert server.realtime.require_aggregates().group_count == 1
    await server.engine.object("orders").create({"qty": 1})
    for client in clients:
        assert (await latest(client, server))["groups"] == [{"key": {}, "count": 1}]
    await clients[0].send({"type": "unsubscribe", "id": "a"})
    await clients[0].expect("unsubscribed")
    for client in clients[1:]:
        await client.ws.close()
    for _ in range(100):
        if server.realtime.require_aggregates().group_count == 0:
            break
        await settle(server)
    assert server.realtime.require_aggregates().group_count == 0


async def test_sse_streams_aggregate_events(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    await orders.create({"status": "paid", "total": Decimal("2.5"), "owner": "sam"})
    token = server.token("sam", ["sales"])
    params = {"aggregate": json.dumps({"count": True, "sum": ["total"]}), "group_by": "status", "access_token": token}
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=10) as http,
        http.stream("GET", "/api/events/orders", params=params) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()

        async def next_event() -> tuple[str, dict[str, Any], str]:
            kind = event_id = ""
            async for line in lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: ") and kind == "aggregate":
                    return kind, json.loads(line[6:]), event_id
            raise AssertionError("the stream ended")

        _, first, first_id = await asyncio.wait_for(next_event(), 5)
        assert first["groups"] == [{"key": {"status": "paid"}, "count": 1, "sum": {"total": "2.5"}}]
        assert first_id == str(first["seq"])
        await orders.create({"status": "paid", "total": Decimal("0.5"), "owner": "sam"})
        _, second, _ = await asyncio.wait_for(next_event(), 5)
        assert second["groups"] == [{"key": {"status": "paid"}, "count": 2, "sum": {"total": "3"}}]
        assert second["seq"] == await server.engine.current_seq()

        hidden = {"aggregate": json.dumps({"sum": ["cost"]}), "access_token": token}
        refused = await http.get("/api/events/orders", params=hidden)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
        bad = await http.get("/api/events/orders", params={"aggregate": "{nope", "access_token": token})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_REQUEST"


async def test_new_roles_re_scope_the_aggregate(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    await orders.create({"owner": "sam"})
    await orders.create({"owner": "kim"})
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True}})
    await sam.expect("subscribed")
    assert (await sam.expect("aggregate"))["groups"] == [{"key": {}, "count": 1}]  # sales: own rows
    await sam.send({"type": "auth", "token": server.token("sam", ["admin"])})
    await sam.expect("auth_ok")
    assert (await sam.expect("aggregate"))["groups"] == [{"key": {}, "count": 2}]  # admin: every row
    await sam.send({"type": "subscribe", "id": "h", "object": "orders", "aggregate": {"max": ["cost"]}})
    await sam.expect("subscribed")  # admins may read cost
    await sam.send({"type": "auth", "token": server.token("sam", ["sales"])})
    await sam.expect("auth_ok")
    seen: list[dict[str, Any]] = []
    while not (
        any(m["type"] == "error" and m["id"] == "h" and m["code"] == "FORBIDDEN" for m in seen)
        and any(m["type"] == "aggregate" and m["id"] == "a" and m["groups"] == [{"key": {}, "count": 1}] for m in seen)
    ):
        seen.append(await sam.recv())  # bounded: recv fails after 5 s
    await sam.send({"type": "unsubscribe", "id": "h"})  # it ended with its error
    assert (await sam.expect("error"))["code"] == "NOT_FOUND"


async def test_an_aggregate_read_during_an_outage_arrives_when_the_database_is_back(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused twice, then waiting for the database: the aggregate comes when it is back, and the log has
    one record of the outage."""
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    await orders.create({"status": "paid", "total": Decimal("1.5"), "qty": 1, "owner": "sam"})
    source = server.realtime.source
    outage = Outage(source.aggregate_snapshot, refused=2)
    monkeypatch.setattr(source, "aggregate_snapshot", outage)
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": ASKED, "group_by": ["status"]})
    assert (await client.expect("subscribed"))["id"] == "a"
    await orders.create({"status": "pending", "total": Decimal("2.25"), "qty": 3, "owner": "kim"})
    await client.send({"type": "ping"})
    assert await client.expect("pong") == {"type": "pong"}  # nothing before the aggregate is read
    await outage.retried(3)  # the second retry, which waits for the database
    reports = [r for r in caplog.records if r.getMessage().startswith("reading a live aggregate failed")]
    assert len(reports) == 1 and reports[0].exc_info is not None

    outage.restore()
    message = await client.expect("aggregate")
    assert message["seq"] == await server.engine.current_seq()
    assert message["groups"] == await expected(server, None, group_by=["status"], **ASKED)
    await orders.create({"status": "paid", "total": Decimal("0.25"), "qty": 2, "owner": "kim"})
    message = await latest(client, server)
    assert message["groups"] == await expected(server, None, group_by=["status"], **ASKED)
