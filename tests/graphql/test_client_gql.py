"""``/graphql`` driven by the Python ``gql`` client: WebSocket under each subprotocol, named explicitly, and HTTP.

Every test runs a query, a mutation and a subscription that receives the mutation's change. A subscription
is started as a task; the mutation is sent once the server's hub holds it, so the change is a live event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import pytest
from gql import Client, GraphQLRequest, gql
from gql.client import AsyncClientSession
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from tests.realtime.conftest import SECRET, LiveServer, ServerFactory

WAIT = 10.0

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # "graphql-transport-ws" (the graphql-ws library)
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # "graphql-ws" (subscriptions-transport-ws)
SUBPROTOCOLS = [pytest.param(TRANSPORT_WS, id="graphql-transport-ws"), pytest.param(LEGACY_WS, id="graphql-ws")]

LIST = gql("query { ordersList(orderBy: [{field: total}]) { id status total owner } }")
CREATE = gql("mutation Create($input: OrdersInput!) { createOrders(input: $input) { id status total owner } }")
CHANGED = gql("subscription { ordersChanged { seq action effect record { id status total owner } } }")
CREATED = gql("subscription { ordersCreated { id total owner } }")


def create(**fields: Any) -> GraphQLRequest:
    return GraphQLRequest(CREATE, variable_values={"input": fields})


def ws_transport(server: LiveServer, subprotocol: str, token: str | None = None) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=f"ws://127.0.0.1:{server.port}/graphql",
        subprotocols=[subprotocol],
        init_payload={"Authorization": f"Bearer {token}"} if token else {},
        connect_timeout=WAIT,
        ack_timeout=WAIT,
        close_timeout=WAIT,
    )


def http_transport(server: LiveServer, token: str | None = None) -> HTTPXAsyncTransport:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return HTTPXAsyncTransport(url=f"{server.http}/graphql", headers=headers, timeout=WAIT)


@asynccontextmanager
async def session_of(transport: WebsocketsTransport | HTTPXAsyncTransport) -> AsyncIterator[AsyncClientSession]:
    client = Client(transport=transport, fetch_schema_from_transport=False, execute_timeout=WAIT)
    async with client as session:
        assert isinstance(session, AsyncClientSession)
        yield session


async def collect(session: AsyncClientSession, request: GraphQLRequest, count: int) -> list[dict[str, Any]]:
    """The first ``count`` results of a subscription, which is then stopped."""
    received: list[dict[str, Any]] = []
    async with aclosing(session.subscribe(request)) as results:
        async for data in results:
            received.append(data)
            if len(received) == count:
                break
    return received


async def subscribed(server: LiveServer, count: int, *pending: asyncio.Task[Any]) -> None:
    """Wait until the hub holds ``count`` subscriptions; a subscription task that ended early raises here."""
    hub = server.realtime.require_hub()
    for _ in range(int(WAIT * 100)):
        if hub.subscription_count >= count:
            return
        for task in pending:
            if task.done():
                task.result()
                raise AssertionError("the subscription ended before any event")
        await asyncio.sleep(0.01)
    raise AssertionError(f"{hub.subscription_count} of {count} subscriptions registered within {WAIT}s")


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_gql_websocket_query_mutation_and_subscription_receives_the_created_record(
    live_server: ServerFactory, subprotocol: str
) -> None:
    server = await live_server()
    seeded = await server.engine.object("orders").create({"status": "paid", "total": 1})
    transport = ws_transport(server, subprotocol)
    async with session_of(transport) as session:
        assert transport.subprotocol == subprotocol
        listed = await session.execute(LIST)
        assert listed == {"ordersList": [{"id": seeded["id"], "status": "paid", "total": 1.0, "owner": None}]}

        events = asyncio.create_task(collect(session, CHANGED, 1))
        await subscribed(server, 1, events)
        created = (await session.execute(create(status="pending", total=7, owner="sam")))["createOrders"]
        [event] = await asyncio.wait_for(events, WAIT)

    assert created["status"] == "pending" and created["total"] == 7.0
    change = event["ordersChanged"]
    assert change["action"] == "CREATE" and change["effect"] == "ADDED"
    assert change["record"] == created
    assert int(change["seq"]) > 0


async def test_gql_http_mutation_reaches_websocket_subscribers_of_both_subprotocols(live_server: ServerFactory) -> None:
    server = await live_server()
    async with (
        session_of(http_transport(server)) as http,
        session_of(ws_transport(server, TRANSPORT_WS)) as modern,
        session_of(ws_transport(server, LEGACY_WS)) as legacy,
    ):
        assert await http.execute(LIST) == {"ordersList": []}
        tasks = [asyncio.create_task(collect(s, CREATED, 1)) for s in (modern, legacy)]
        await subscribed(server, 2, *tasks)
        created = (await http.execute(create(total=3, owner="kim")))["createOrders"]
        received = await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
        assert await http.execute(LIST) == {"ordersList": [created]}

    expected = {"id": created["id"], "total": 3.0, "owner": "kim"}
    assert received == [[{"ordersCreated": expected}], [{"ordersCreated": expected}]]


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_gql_bearer_token_in_init_payload_applies_row_rules_to_query_mutation_and_events(
    live_server: ServerFactory, subprotocol: str
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    own = await orders.create({"owner": "sam", "total": 1})
    await orders.create({"owner": "kim", "total": 2})
    sam, admin = server.token("sam", ["sales"]), server.token("root", ["admin"])
    async with (
        session_of(ws_transport(server, subprotocol, sam)) as session,
        session_of(http_transport(server, admin)) as admin_http,
    ):
        listed = await session.execute(LIST)
        assert [row["id"] for row in listed["ordersList"]] == [own["id"]]

        events = asyncio.create_task(collect(session, CHANGED, 2))
        await subscribed(server, 1, events)
        # Sam's row rule (owner = $user.id) hides kim's rows: seq order puts kim's first if it leaked.
        await admin_http.execute(create(owner="kim", total=10))
        for_sam = (await admin_http.execute(create(owner="sam", total=11)))["createOrders"]
        await admin_http.execute(create(owner="kim", total=12))
        by_sam = (await session.execute(create(owner="sam", total=13)))["createOrders"]
        received = await asyncio.wait_for(events, WAIT)

    changes = [event["ordersChanged"] for event in received]
    assert [change["record"]["id"] for change in changes] == [for_sam["id"], by_sam["id"]]
    assert {change["record"]["owner"] for change in changes} == {"sam"}
    assert {change["effect"] for change in changes} == {"ADDED"}
