"""A client that goes away is a normal end: on every transport, even in the middle of a send, the server
releases everything and logs nothing above INFO, and no task exception goes unretrieved."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
import struct
from collections.abc import Iterator

import pytest

from tests.realtime.conftest import LiveServer, ServerFactory, settle
from tests.realtime.test_plain_backpressure import BIG

SUBSCRIPTION = "subscription { ordersCreated { id note } }"


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[Captured]:
    """Every record at WARNING or above, from the app, uvicorn (which does not propagate) and asyncio."""
    handler = Captured()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def client_frame(text: str) -> bytes:
    """A masked client text frame (a zero mask keeps the payload as is)."""
    payload = text.encode()
    if len(payload) < 126:
        header = bytes([0x81, 0x80 | len(payload)])
    else:
        header = bytes([0x81, 0x80 | 126]) + struct.pack("!H", len(payload))
    return header + b"\0\0\0\0" + payload


def websocket_request(port: int, path: str, subprotocol: str | None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def plain_ws(port: int) -> tuple[bytes, list[str]]:
    messages = [
        json.dumps({"type": "auth", "token": None}),
        json.dumps({"type": "subscribe", "id": "s", "object": "orders"}),
    ]
    return websocket_request(port, "/api/realtime", None), messages


def graphql_ws(port: int) -> tuple[bytes, list[str]]:
    messages = [
        json.dumps({"type": "connection_init"}),
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}),
    ]
    return websocket_request(port, "/graphql", "graphql-transport-ws"), messages


def sse(port: int) -> tuple[bytes, list[str]]:
    return f"GET /api/events/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(), []


def graphql_sse(port: int) -> tuple[bytes, list[str]]:
    body = json.dumps({"query": SUBSCRIPTION}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body, []


TRANSPORTS = {"plain": plain_ws, "graphql-transport-ws": graphql_ws, "sse": sse, "graphql-sse": graphql_sse}


async def stuck_client(port: int, transport: str) -> socket.socket:
    """A client on a raw socket with a tiny receive window that subscribes, then never reads again."""
    request, messages = TRANSPORTS[transport](port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window is set then
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, request)
    if messages:
        response = b""
        while b"\r\n\r\n" not in response:
            response += await loop.sock_recv(sock, 1)
        assert response.startswith(b"HTTP/1.1 101"), response
        for message in messages:
            await loop.sock_sendall(sock, client_frame(message))
    return sock


def reset(sock: socket.socket) -> None:
    """Drop the connection the hard way: an RST, not a close handshake."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def until(condition: object, what: str) -> None:
    for _ in range(300):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def problems(log: Captured) -> list[str]:
    gc.collect()  # an unretrieved task exception is reported when the task is collected
    return [f"{r.name} {r.levelname}: {r.getMessage()}" for r in log.records]


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_a_client_dropping_mid_send_is_released_and_logs_nothing(
    live_server: ServerFactory, server_log: Captured, transport: str
) -> None:
    server: LiveServer = await live_server()
    hub = server.realtime.require_hub()
    server_log.records.clear()  # the start-up's open-server warning is not the subject here
    sock = await stuck_client(server.port, transport)
    await until(lambda: hub.subscription_count == 1, "the subscription")
    (conn,) = server.realtime.connections
    orders = server.engine.object("orders")
    for i in range(400):
        await orders.create({"note": BIG, "total": i})
        if conn.pending:  # a message waits behind a send the socket cannot take: that send is in flight
            break
    await settle(server)
    assert conn.pending, "the socket never backed up: no send was in flight"
    reset(sock)
    await until(lambda: not server.realtime.connections and hub.subscription_count == 0, "the release")
    await asyncio.sleep(0.2)
    assert problems(server_log) == []


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_a_client_dropping_while_idle_logs_nothing(
    live_server: ServerFactory, server_log: Captured, transport: str
) -> None:
    server = await live_server()
    hub = server.realtime.require_hub()
    server_log.records.clear()
    sock = await stuck_client(server.port, transport)
    await until(lambda: hub.subscription_count == 1, "the subscription")
    reset(sock)
    await until(lambda: not server.realtime.connections and hub.subscription_count == 0, "the release")
    await server.engine.object("orders").create({"total": 1})
    await settle(server)
    await asyncio.sleep(0.2)
    assert problems(server_log) == []


async def test_clients_dropping_at_random_moments_of_a_burst_log_nothing(
    live_server: ServerFactory, server_log: Captured
) -> None:
    server = await live_server()
    hub = server.realtime.require_hub()
    server_log.records.clear()
    socks = []
    for i in range(24):
        socks.append(await stuck_client(server.port, list(TRANSPORTS)[i % len(TRANSPORTS)]))
    await until(lambda: hub.subscription_count == len(socks), "the subscriptions")
    orders = server.engine.object("orders")
    for i in range(60):
        await orders.create({"note": BIG if i % 2 else "small", "total": i})
        if i % 2 and socks:
            sock = socks.pop()
            if i % 4 == 1:
                reset(sock)
            else:
                sock.close()
    for sock in socks:
        reset(sock)
    await until(lambda: not server.realtime.connections and hub.subscription_count == 0, "the release")
    await settle(server)
    await asyncio.sleep(0.2)
    assert problems(server_log) == []


@pytest.mark.parametrize(("path", "subprotocol"), [("/api/realtime", None), ("/graphql", "graphql-transport-ws")])
async def test_a_client_gone_before_the_handshake_completes_logs_nothing(
    live_server: ServerFactory, server_log: Captured, path: str, subprotocol: str | None
) -> None:
    server = await live_server()
    server_log.records.clear()
    loop = asyncio.get_running_loop()
    for _ in range(20):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        await loop.sock_sendall(sock, websocket_request(server.port, path, subprotocol))
        reset(sock)  # the request arrives, the peer is gone before the server can answer it
    await until(lambda: not server.realtime.connections, "the release")
    await asyncio.sleep(0.3)
    assert problems(server_log) == []
