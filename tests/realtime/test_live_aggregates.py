"""Live aggregates over the plain WebSocket: the first message at once, then one after changes, each equal to
the engine's aggregate() at its seq — counts and exact sums kept from events, extremes re-read when they
leave — over the subscriber's visible rows only, coalesced under bursts, shared by identical subscriptions."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from objectql.engine.user import User
from objectql.realtime import aggregates
from objectql.realtime.aggregates import AggregateGroup, wire_groups
from tests.conftest import OWNER_ROWS_HIDDEN_COST
from tests.graphql.wsclient import PROTOCOLS, open_ws
from tests.realtime.conftest import SECRET, Client, LiveServer, Outage, ServerFactory, connect, settle

ORDERS = (
    """
fields:
  status: {type: select, options: [pending, paid, shipped]}
  total:  {type: currency}
  qty:    {type: integer}
  weight: {type: number}
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
    started = time.monotonic()
    for i in range(1000):
        await orders.create({"qty": i})
    messages = []
    await settle(server)
    while True:
        message = await client.recv(timeout=2)
        messages.append(message)
        if message["groups"][0]["count"] == 1000:
            break
    # A thousand writes, at most one message per interval while they lasted (and the one after them).
    intervals = (time.monotonic() - started) / 0.1
    assert len(messages) <= intervals + 2 and len(messages) < 1000
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
    assert server.group_count(AggregateGroup) == 1
    await server.engine.object("orders").create({"qty": 1})
    for client in clients:
        assert (await latest(client, server))["groups"] == [{"key": {}, "count": 1}]
    await clients[0].send({"type": "unsubscribe", "id": "a"})
    await clients[0].expect("unsubscribed")
    for client in clients[1:]:
        await client.ws.close()
    for _ in range(100):
        if server.group_count(AggregateGroup) == 0:
            break
        await settle(server)
    assert server.group_count(AggregateGroup) == 0


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
        assert await anext(lines) == "retry: 3000"  # every stream starts alike, whatever it watches

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


# -- joiners, numbers, budgets ------------------------------------------------------------------------


async def test_a_subscriber_joining_while_a_message_is_pending_gets_the_state_at_its_seq(
    live_server: ServerFactory,
) -> None:
    """Coalescing holds the next message back; a subscriber joining meanwhile gets the state as it is, not the
    last message sent with the newer seq."""
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="3000")
    orders = server.engine.object("orders")
    await orders.create({"status": "paid", "qty": 1})
    first = await connect(server)
    await first.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True}})
    await first.expect("subscribed")
    assert (await first.expect("aggregate"))["groups"] == [{"key": {}, "count": 1}]
    await orders.create({"status": "paid", "qty": 2})  # its message waits for the interval
    await settle(server)
    joiner = await connect(server)
    await joiner.send({"type": "subscribe", "id": "j", "object": "orders", "aggregate": {"count": True}})
    await joiner.expect("subscribed")
    joined = await joiner.expect("aggregate")
    assert joined["seq"] == await server.engine.current_seq()
    assert joined["groups"] == await expected(server, None, count=True) == [{"key": {}, "count": 2}]
    # The others get it when the interval is over, and the joiner does not get it twice.
    assert (await first.expect("aggregate", timeout=6))["groups"] == joined["groups"]
    await joiner.nothing(server)


async def test_live_float_sums_equal_the_engine_and_stay_finite(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    asked = {"count": True, "sum": ["weight"], "avg": ["weight"]}
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": asked})
    await client.expect("subscribed")
    await client.expect("aggregate")
    ids = [(await orders.create({"weight": weight}))["id"] for weight in (0.1, 0.2, 0.3)]
    await orders.delete(ids[0])  # kept by adding and subtracting: 0.5000000000000001; read again: 0.5
    message = await latest(client, server)
    assert message["groups"] == await expected(server, None, **asked)
    assert message["groups"][0]["sum"] == {"weight": 0.5}
    await orders.create({"weight": 1e308})
    await orders.create({"weight": 1e308})
    await settle(server)
    await client.send({"type": "ping"})
    raw = ""
    while True:
        raw = await asyncio.wait_for(client.ws.recv(), 5)
        if json.loads(raw)["type"] == "pong":
            break
        last = raw
    assert "Infinity" not in last  # not JSON: a browser's JSON.parse refuses it
    overflowed = json.loads(last)["groups"]
    assert overflowed == await expected(server, None, **asked)
    assert overflowed[0]["sum"] == {"weight": None} and overflowed[0]["count"] == 4


async def test_a_flush_serialises_only_the_groups_that_changed(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    for qty in range(50):
        await orders.create({"qty": qty, "total": Decimal(qty)})
    serialised: list[int] = []
    original = aggregates.dumps

    def counting(value: Any) -> str:
        serialised.append(len(value) if isinstance(value, list) else 1)
        return original(value)

    monkeypatch.setattr(aggregates, "dumps", counting)
    client = await connect(server)
    request = {"type": "subscribe", "id": "a", "object": "orders", "group_by": ["qty"]}
    await client.send({**request, "aggregate": {"count": True, "sum": ["total"]}})
    await client.expect("subscribed")
    assert len((await client.expect("aggregate"))["groups"]) == 50
    assert sum(serialised) == 50
    serialised.clear()
    await orders.create({"qty": 7, "total": Decimal(1)})
    message = await latest(client, server)
    assert message["groups"] == await expected(server, None, count=True, sum=["total"], group_by=["qty"])
    assert sum(serialised) == 1  # the group of qty 7, not all fifty


async def test_an_aggregate_with_too_many_groups_ends_with_too_many_groups(
    live_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0", OBJECTQL_AGGREGATE_MAX_GROUPS="3")
    orders = server.engine.object("orders")
    for qty in range(4):
        await orders.create({"qty": qty})
    client = await connect(server)
    request = {"type": "subscribe", "object": "orders", "aggregate": {"count": True}, "group_by": ["qty"]}
    await client.send({**request, "id": "a"})
    await client.expect("subscribed")
    error = await client.expect("error")
    assert error["id"] == "a" and error["code"] == "TOO_MANY_GROUPS" and error["details"] == {"limit": 3}
    assert server.group_count(AggregateGroup) == 0  # nothing left to read again
    await client.send({"type": "unsubscribe", "id": "a"})
    assert (await client.expect("error"))["code"] == "NOT_FOUND"  # it ended

    # One that grows past the bound later ends then.
    await client.send({**request, "id": "b", "filters": [["qty", "<", 3]]})
    await client.expect("subscribed")
    assert len((await client.expect("aggregate"))["groups"]) == 3
    await orders.update((await orders.find(filters=[["qty", "=", 3]]))[0]["id"], {"qty": -1})
    error = await client.expect("error")
    assert error["id"] == "b" and error["code"] == "TOO_MANY_GROUPS"
    assert server.group_count(AggregateGroup) == 0
    await client.nothing(server)
    assert not [r for r in caplog.records if r.levelname == "ERROR" or "failed" in r.getMessage()]


async def test_too_many_groups_ends_an_sse_stream_and_a_graphql_subscription(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0", OBJECTQL_AGGREGATE_MAX_GROUPS="3")
    for qty in range(4):
        await server.engine.object("orders").create({"qty": qty})
    params = {"aggregate": json.dumps({"count": True}), "group_by": "qty"}
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        async with http.stream("GET", "/api/events/orders", params=params) as stream:
            body = "".join([line + "\n" async for line in stream.aiter_lines()])  # the stream ends
        assert "event: error\n" in body and json.loads(body.split("event: error\ndata: ")[1].split("\n")[0]) == {
            "code": "TOO_MANY_GROUPS",
            "message": "more than 3 groups; group by fewer values or filter the rows",
            "details": {"limit": 3},
        }
        query = "subscription { ordersAggregate(groupBy: [qty]) { count } }"
        headers = {"accept": "text/event-stream"}
        async with http.stream("POST", "/graphql", json={"query": query}, headers=headers) as stream:
            body = "".join([line + "\n" async for line in stream.aiter_lines()])
        assert '"TOO_MANY_GROUPS"' in body
    for protocol in PROTOCOLS:
        client = await open_ws(server, protocol)
        await client.start("s", query)
        errors = await client.error("s")
        assert errors[0]["extensions"]["code"] == "TOO_MANY_GROUPS"
        await client.ws.close()
