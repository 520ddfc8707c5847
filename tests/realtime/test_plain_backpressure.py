"""Slow consumers and churn: a stuck reader is cut off alone, and nothing leaks after many connections."""

from __future__ import annotations

import asyncio
import socket

from tests.realtime.conftest import ServerFactory, connect, settle

BIG = "x" * 50_000


def masked_frame(text: str) -> bytes:
    """A client text frame (clients must mask; a zero mask keeps the payload as is)."""
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


async def stuck_reader(port: int, messages: list[str]) -> socket.socket:
    """A WebSocket client on a raw socket with a tiny receive window, which stops reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window is set then
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = (
        f"GET /api/realtime HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 1)
    assert response.startswith(b"HTTP/1.1 101")
    for message in messages:
        await loop.sock_sendall(sock, masked_frame(message))
    return sock


async def test_a_slow_consumer_is_closed_while_the_others_keep_receiving(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_WS_QUEUE="20")
    hub = server.realtime.require_hub()
    # A reader that stops reading: a raw socket with a tiny receive buffer that never reads again.
    stuck = await stuck_reader(
        server.port, ['{"type":"auth","token":null}', '{"type":"subscribe","id":"s","object":"orders"}']
    )
    for _ in range(100):
        if hub.subscription_count == 1:
            break
        await asyncio.sleep(0.02)
    (stuck_conn,) = server.realtime.connections
    healthy = await connect(server)
    await healthy.subscribe("h")
    assert hub.subscription_count == 2

    writes = 200
    received = 0
    orders = server.engine.object("orders")

    async def read_all() -> int:
        count = 0
        while count < writes:
            message = await healthy.recv(timeout=30)
            assert message["type"] == "change"
            count += 1
        return count

    reader = asyncio.create_task(read_all())
    for i in range(writes):
        await orders.create({"note": BIG, "total": i})
    received = await reader
    assert received == writes
    await settle(server)
    for _ in range(100):
        if hub.subscription_count == 1:
            break
        await asyncio.sleep(0.05)
    assert hub.subscription_count == 1  # the stuck reader's subscription is released
    assert len(server.realtime.connections) == 1
    assert stuck_conn.close_code == 1013
    stuck.close()


async def test_a_thousand_connect_subscribe_drop_cycles_leave_nothing_behind(live_server: ServerFactory) -> None:
    server = await live_server()
    hub = server.realtime.require_hub()
    tasks_before = len(asyncio.all_tasks())
    for i in range(1000):
        client = await connect(server)
        await client.subscribe("s", filters=[["owner", "=", f"u{i % 7}"]])
        await client.send({"type": "join", "channel": "room:1"})
        await client.expect("presence_state")
        if i % 2:
            await client.ws.close()
        else:
            client.ws.transport.abort()
    for _ in range(200):
        if (
            hub.subscription_count == 0
            and server.realtime.presence.entry_count == 0
            and not server.realtime.connections
        ):
            break
        await asyncio.sleep(0.05)
    assert hub.subscription_count == 0 and hub.group_count == 0
    assert server.realtime.presence.entry_count == 0
    assert not server.realtime.connections
    for _ in range(100):
        if len(asyncio.all_tasks()) <= tasks_before:
            break
        await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) <= tasks_before
