"""A stuck SSE reader: its stream ends when its queue overflows, and other streams are not slowed."""

from __future__ import annotations

import asyncio
import socket

from tests.realtime.conftest import ServerFactory, settle
from tests.realtime.test_plain_backpressure import BIG


async def stuck_stream(port: int, path: str) -> socket.socket:
    """An SSE request on a raw socket with a tiny receive window, which never reads the body."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    return sock


async def test_a_stuck_sse_reader_is_cut_off_and_a_healthy_stream_gets_everything(
    live_server: ServerFactory,
) -> None:
    server = await live_server(OBJECTQL_WS_QUEUE="20")
    hub = server.realtime.require_hub()
    stuck = await stuck_stream(server.port, "/api/events/orders")
    for _ in range(100):
        if hub.subscription_count == 1:
            break
        await asyncio.sleep(0.02)
    (stuck_conn,) = server.realtime.connections
    healthy = await asyncio.open_connection("127.0.0.1", server.port)
    reader, writer = healthy
    writer.write(f"GET /api/events/orders HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
    await writer.drain()
    for _ in range(100):
        if hub.subscription_count == 2:
            break
        await asyncio.sleep(0.02)
    writes = 150

    async def count_changes() -> int:
        seen = 0
        while seen < writes:
            line = await asyncio.wait_for(reader.readline(), 30)
            if line.startswith(b"event: change"):
                seen += 1
        return seen

    counting = asyncio.create_task(count_changes())
    for i in range(writes):
        await server.engine.object("orders").create({"note": BIG, "total": i})
    assert await counting == writes
    await settle(server)
    for _ in range(100):
        if hub.subscription_count == 1:
            break
        await asyncio.sleep(0.05)
    assert hub.subscription_count == 1
    assert stuck_conn.closed.is_set() and stuck_conn.close_code == 1013
    writer.close()
    stuck.close()
