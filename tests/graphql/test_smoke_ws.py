"""A first end-to-end pass over graphql-transport-ws."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.realtime.conftest import ServerFactory


async def test_subscription_receives_a_mutation_change(live_server: ServerFactory) -> None:
    server = await live_server()
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/graphql", subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": "subscription { ordersChanged { seq action effect record { id status total } } }"},
            }
        )
    )
    await asyncio.sleep(0.2)
    await ws.send(
        json.dumps(
            {
                "id": "2",
                "type": "subscribe",
                "payload": {"query": 'mutation { createOrders(input: {status: "paid", total: 3}) { id status } }'},
            }
        )
    )
    messages = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    print(messages)
    kinds = sorted((m["id"], m["type"]) for m in messages)
    assert kinds == [("1", "next"), ("2", "complete"), ("2", "next")]
    await ws.close()
