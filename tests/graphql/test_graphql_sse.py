"""graphql-sse (distinct connections): results as `event: next`, the end as `event: complete`, errors in-band."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.graphql.wsclient import STREAM, events, registered, stream
from tests.realtime.conftest import SECRET, ServerFactory


async def test_a_query_is_one_next_then_complete(live_server: ServerFactory) -> None:
    server = await live_server()
    assert await stream(server, "{ ordersCount }") == [("next", {"data": {"ordersCount": 0}}), ("complete", None)]


async def test_a_refused_document_is_an_error_result_then_complete(live_server: ServerFactory) -> None:
    server = await live_server()
    result = await stream(server, "{ ordersCont }")
    assert [kind for kind, _ in result] == ["next", "complete"]
    assert result[0][1]["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_subscription_selecting_a_hidden_field_is_refused_in_band(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    token = server.token("bob", ["clerk"])
    result = await stream(
        server, "subscription { ordersChanged { record { id cost } } }", {"authorization": f"Bearer {token}"}
    )
    assert [kind for kind, _ in result] == ["next", "complete"]
    assert result[0][1]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert server.realtime.require_hub().subscription_count == 0


async def test_a_subscription_streams_the_change_of_a_mutation(live_server: ServerFactory) -> None:
    server = await live_server()
    received: list[Any] = []

    async def listen() -> None:
        async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
            query = "subscription { ordersCreated { id total } }"
            async with client.stream("POST", "/graphql", json={"query": query}, headers=STREAM) as r:
                async for kind, data in events(r):
                    received.append((kind, json.loads(data)))
                    return

    listener = asyncio.create_task(listen())
    await registered(server, 1)
    created = await server.engine.object("orders").create({"total": 4})
    await asyncio.wait_for(listener, 10)
    assert received == [("next", {"data": {"ordersCreated": {"id": created["id"], "total": 4.0}}})]
    for _ in range(200):  # the closed stream releases its subscription
        if server.realtime.require_hub().subscription_count == 0:
            break
        await asyncio.sleep(0.01)
    assert server.realtime.require_hub().subscription_count == 0


async def test_an_idle_subscription_stream_gets_a_heartbeat_like_api_events(live_server: ServerFactory) -> None:
    server = await live_server()
    server.set_limits(sse_ping_interval=0.2)
    query = "subscription { ordersCreated { id } }"
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=10) as client,
        client.stream("POST", "/graphql", json={"query": query}, headers=STREAM) as response,
    ):
        assert response.status_code == 200
        received = ""
        async with asyncio.timeout(5):
            async for chunk in response.aiter_text():
                received += chunk
                if received.count(": ping\n\n") >= 2:
                    break
    assert received.startswith(": ping\n\n"), received  # nothing else came: only the heartbeat
