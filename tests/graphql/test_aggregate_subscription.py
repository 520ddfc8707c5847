"""``<x>Aggregate`` as a subscription over both GraphQL WebSocket protocols and graphql-sse: the first result
at once, then one after changes, each the query's answer at that moment; identical documents share one
live aggregate; errors name what the document wrote (``groupBy[0]``, ``ordersAggregate.sum.cost``)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from objectql.realtime.aggregates import AggregateGroup
from objectql.resolvers import live
from tests.graphql.wsclient import PROTOCOLS, TRANSPORTS, open_ws, result
from tests.realtime.conftest import SECRET, ServerFactory, settle
from tests.realtime.test_live_aggregates import ORDERS

SUBSCRIPTION = """subscription {
  ordersAggregate(groupBy: [status], where: {qty: {gte: 0}}) { key { status } count sum { total } max { qty } }
}"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_each_result_is_the_aggregate_query_at_that_moment(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    orders = server.engine.object("orders")
    await orders.create({"status": "paid", "total": Decimal("1.25"), "qty": 1})
    clients = [await open_ws(server, protocol) for _ in range(3)]
    for client in clients:
        await client.start("s", SUBSCRIPTION)
    query = SUBSCRIPTION.replace("subscription", "query", 1)
    for client in clients:
        first = await client.next("s")
        assert first == {
            "data": {
                "ordersAggregate": [
                    {"key": {"status": "paid"}, "count": 1, "sum": {"total": "1.25"}, "max": {"qty": 1}}
                ]
            }
        }
    assert server.group_count(AggregateGroup) == 1

    await orders.create({"status": "paid", "total": Decimal("0.75"), "qty": 4})
    await orders.create({"status": "pending", "total": Decimal("2"), "qty": 2})
    await settle(server)
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        now = (await http.post("/graphql", json={"query": query})).json()
    for client in clients:
        latest = await client.next("s")
        while latest != now:
            latest = await client.next("s")
    for client in clients:
        await client.ws.close()
    for _ in range(100):
        if not server.group_count(AggregateGroup):
            break
        await settle(server)
    assert server.group_count(AggregateGroup) == 0  # closing released the shared state


async def test_graphql_sse_streams_the_aggregate(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    await server.engine.object("orders").create({"status": "paid", "total": Decimal("3"), "qty": 1})
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=10) as http,
        http.stream("POST", "/graphql", json={"query": SUBSCRIPTION}, headers={"accept": "text/event-stream"}) as r,
    ):
        assert r.status_code == 200
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                assert data["data"]["ordersAggregate"][0]["sum"] == {"total": "3"}
                break


async def test_many_subscribers_of_one_document_cost_one_execution_per_message(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    executions = 0
    original = live.AggregateRenderer.__call__

    async def counted(self: live.AggregateRenderer, groups: list[dict[str, object]]) -> str:
        nonlocal executions
        executions += 1
        return await original(self, groups)

    monkeypatch.setattr(live.AggregateRenderer, "__call__", counted)
    server = await live_server({"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    clients = [await open_ws(server) for _ in range(10)]
    for client in clients:
        await client.start("s", SUBSCRIPTION)
    for client in clients:
        await client.next("s")
    first = executions
    assert first <= 10  # the first result: once, or once per subscriber that joined before it was read
    await server.engine.object("orders").create({"status": "paid", "total": Decimal("1"), "qty": 1})
    for client in clients:
        assert (await client.next("s"))["data"]["ordersAggregate"][0]["count"] == 1
    assert executions - first == 1  # ten subscribers, one execution for the change


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_errors_name_the_arguments_and_selections_as_the_document_writes_them(
    live_server: ServerFactory, transport: str
) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET)
    sam = server.token("sam", ["sales"])  # may not read cost
    kind = "query" if transport == "http" else "subscription"
    refused = {
        f"{kind} {{ ordersAggregate(groupBy: [status, cost]) {{ count }} }}": "groupBy[1]",
        f"{kind} {{ ordersAggregate {{ count sum {{ total cost }} }} }}": "ordersAggregate.sum.cost",
        f"{kind} {{ ordersAggregate {{ min {{ cost }} }} }}": "ordersAggregate.min.cost",
    }
    if kind == "subscription":
        window = "subscription { ordersWindow(orderBy: [{field: total}, {field: cost}], limit: 2) { index } }"
        refused[window] = "orderBy[1]"
    for query, path in refused.items():
        body = await result(server, transport, query, token=sam)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN", query
        assert error["extensions"]["details"] == {"field": "cost", "path": path}, query
