"""The HTTP protocol of ``objectql serve``: a connection whose request head does not arrive whole within
``header_timeout`` is closed — a half-sent head, nothing at all, the next head on a kept-alive connection — while
a slow but complete head is answered and a WebSocket outlives the bound. Against a real ``objectql serve`` over
raw sockets, and in-process over both of uvicorn's HTTP implementations, with the fallback when the seam is gone."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import websockets
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from objectql.server import http_protocol
from objectql.server.http_protocol import HeadDeadlineProtocol
from tests.realtime.conftest import Serve, serve
from tests.realtime.served import start_server, token
from tests.scaleout.conftest import Process

__all__ = ["serve"]  # the real-server fixture

HEADER_TIMEOUT = 3  # seconds: short, so that the tests wait little
WAIT = 30.0  # a bound on a hung test, not an expectation of speed
REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    tmp_path = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    process = start_server(
        tmp_path, url, {"notes": "fields:\n  text: {type: text}\n"}, OBJECTQL_HEADER_TIMEOUT=str(HEADER_TIMEOUT)
    )
    yield process
    process.kill()
    # Closing slow clients is routine: no error, no traceback.
    log = process.log.read_text(errors="replace")
    assert "ERROR" not in log and "Traceback" not in log, log


class Connection:
    """A raw TCP connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def status(self) -> int:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        await asyncio.wait_for(self.reader.readexactly(length), WAIT)
        return int(head.split(b" ")[1])

    async def closed_by_server(self) -> bool:
        """Whether the server ends the connection (end of stream) within WAIT, sending nothing first."""
        try:
            return await asyncio.wait_for(self.reader.read(1), WAIT) == b""
        except ConnectionResetError:
            return True


@pytest.fixture
async def connect() -> AsyncIterator[Any]:
    opened: list[Connection] = []

    async def open_to(port: int) -> Connection:
        connection = Connection(*await asyncio.open_connection("127.0.0.1", port))
        opened.append(connection)
        return connection

    yield open_to
    for connection in opened:
        connection.writer.close()


async def test_a_half_sent_request_head_is_closed_after_the_header_timeout(served: Process, connect: Any) -> None:
    connection = await connect(served.port)
    await connection.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n")
    assert await connection.closed_by_server()


async def test_a_connection_that_sends_nothing_is_closed_too(served: Process, connect: Any) -> None:
    connection = await connect(served.port)
    assert await connection.closed_by_server()


async def test_a_slow_but_complete_head_within_the_timeout_is_answered(served: Process, connect: Any) -> None:
    connection = await connect(served.port)
    pieces = [REQUEST[i : i + 10] for i in range(0, len(REQUEST), 10)]
    for piece in pieces:
        await connection.send(piece)
        await asyncio.sleep(HEADER_TIMEOUT / 3 / len(pieces))  # a third of the bound in all
    assert await connection.status() == 200
    # The deadline is per head: the same connection's next request is answered too.
    await connection.send(REQUEST)
    assert await connection.status() == 200


async def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(served: Process, connect: Any) -> None:
    connection = await connect(served.port)
    await connection.send(REQUEST)
    assert await connection.status() == 200
    await connection.send(b"GET /health HTTP/1.1\r\n")
    assert await connection.closed_by_server()


async def test_a_websocket_outlives_the_header_timeout(served: Process) -> None:
    async with websockets.connect(served.ws) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token("sam", ["admin"])}))
        assert json.loads(await ws.recv())["type"] == "auth_ok"
        await asyncio.sleep(HEADER_TIMEOUT + 1)
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "pong"}


# -- in-process, over each of uvicorn's HTTP implementations ---------------------------------------------


async def health(request: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.mark.parametrize("protocol", [HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
async def test_each_uvicorn_http_implementation_gets_the_deadline(
    serve: Serve, connect: Any, protocol: type[Any]
) -> None:
    http = functools.partial(HeadDeadlineProtocol, head_timeout=1.0, protocol=protocol)
    port = await serve(Starlette(routes=[Route("/health", health)]), http=http)
    answered = await connect(port)
    await answered.send(REQUEST)
    assert await answered.status() == 200
    half_sent = await connect(port)
    await half_sent.send(b"GET /health HTTP/1.1\r\n")
    assert await half_sent.closed_by_server()


class Echo(asyncio.Protocol):
    """An HTTP protocol of a uvicorn release that no longer keeps its request in ``cycle``: the seam is gone."""

    def __init__(self, **options: Any) -> None:
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def test_without_the_seam_connections_are_served_with_no_deadline_and_a_warning(
    connect: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_protocol, "_warned", False)
    caplog.set_level(logging.WARNING, "objectql.server")
    factory = functools.partial(
        HeadDeadlineProtocol, config=None, server_state=None, app_state={}, head_timeout=0.5, protocol=Echo
    )
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    try:
        connection = await connect(server.sockets[0].getsockname()[1])
        await connection.send(b"GET /health HTTP/1.1\r\n")
        await asyncio.sleep(1)  # twice the bound
        await connection.send(b"\r\n")
        expected = b"GET /health HTTP/1.1\r\n\r\n"
        assert await asyncio.wait_for(connection.reader.readexactly(len(expected)), WAIT) == expected
    finally:
        server.close()
    assert [r for r in caplog.records if "header timeout is off" in r.getMessage()]
