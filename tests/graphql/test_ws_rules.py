"""WebSocket rules, the same for graphql-transport-ws and legacy graphql-ws (docs/graphql.md)."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
import websockets

from tests.graphql.wsclient import LEGACY_WS, PROTOCOLS, TRANSPORT_WS, open_ws
from tests.realtime.conftest import SECRET, ServerFactory

QUERY = "{ ordersCount }"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_no_connection_init_in_time_closes_4408(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server()
    server.set_limits(auth_timeout=0.3)
    client = await open_ws(server, protocol, init=False)
    assert await client.closed_with() == 4408


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_operation_before_the_ack_closes_4401(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server()
    client = await open_ws(server, protocol, init=False)
    await client.start("1", QUERY)
    assert await client.closed_with() == 4401


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_bad_token_closes_4403(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    client = await open_ws(server, protocol, init=False)
    await client.send({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
    assert await client.closed_with() == 4403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_token_expiry_closes_a_live_connection_4403_not_before_exp(
    live_server: ServerFactory, protocol: str
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_JWT_LEEWAY="0")
    token = server.token("sam", ["admin"], ttl=2)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    client = await open_ws(server, protocol, {"authorization": token})
    await client.start("s", "subscription { ordersChanged { seq } }")
    assert await client.closed_with(timeout=10) == 4403
    assert time.time() >= exp  # never before exp + leeway (leeway 0 here)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_duplicate_operation_id_closes_4409(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server()
    client = await open_ws(server, protocol)
    await client.start("1", "subscription { ordersChanged { seq } }")
    await client.start("1", "subscription { ordersChanged { seq } }")
    assert await client.closed_with() == 4409


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_second_connection_init_closes_4429(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server()
    client = await open_ws(server, protocol)
    await client.send({"type": "connection_init"})
    assert await client.closed_with() == 4429


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_more_than_100_active_operations_get_an_error_and_the_socket_stays(
    live_server: ServerFactory, protocol: str
) -> None:
    server = await live_server()
    client = await open_ws(server, protocol)
    for i in range(100):
        await client.start(f"s{i}", "subscription { ordersChanged { seq } }")
    await client.start("s100", "subscription { ordersChanged { seq } }")
    errors = await client.error("s100")
    assert errors[0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    # The socket stays open: finish one subscription and a query runs.
    await client.send({"id": "s0", "type": "complete" if protocol == TRANSPORT_WS else "stop"})
    if protocol == LEGACY_WS:
        assert (await client.recv())["type"] == "complete"
    assert (await client.execute("q", QUERY))["data"] == {"ordersCount": 0}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_credentials_in_connection_init_make_the_connection_that_user(
    live_server: ServerFactory, protocol: str
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    await server.engine.object("orders").create({"owner": "sam"})
    await server.engine.object("orders").create({"owner": "kim"})
    for payload in (
        {"Authorization": f"Bearer {server.token('sam', ['sales'])}"},
        {"AUTHORIZATION": server.token("sam", ["sales"])},
        {"token": server.token("sam", ["sales"])},
    ):
        client = await open_ws(server, protocol, payload)
        assert (await client.execute("q", QUERY))["data"] == {"ordersCount": 1}
    anonymous = await open_ws(server, protocol)
    result = await anonymous.execute("q", QUERY)
    assert result["data"] is None and result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_legacy_start_before_connection_init_is_refused_4401(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await open_ws(server, LEGACY_WS, init=False)
    await client.send({"id": "1", "type": "start", "payload": {"query": QUERY}})
    assert await client.closed_with() == 4401


async def test_a_missing_subprotocol_is_refused(live_server: ServerFactory) -> None:
    server = await live_server()
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/graphql")
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4406


async def test_a_foreign_origin_is_refused_before_the_handshake(live_server: ServerFactory) -> None:
    server = await live_server()
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(
            f"ws://127.0.0.1:{server.port}/graphql",
            subprotocols=[TRANSPORT_WS],
            origin=websockets.Origin("http://evil.example"),
        )
    assert info.value.response.status_code == 403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stopping_an_operation_releases_its_subscription(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server()
    client = await open_ws(server, protocol)
    await client.start("s", "subscription { ordersChanged { seq } }")
    hub = server.realtime.require_hub()
    for _ in range(200):
        if hub.subscription_count == 1:
            break
        await asyncio.sleep(0.01)
    await client.send({"id": "s", "type": "complete" if protocol == TRANSPORT_WS else "stop"})
    for _ in range(200):
        if hub.subscription_count == 0:
            break
        await asyncio.sleep(0.01)
    assert hub.subscription_count == 0
    await client.ws.close()
    for _ in range(200):
        if not server.realtime.connections:
            break
        await asyncio.sleep(0.01)
    assert not server.realtime.connections
