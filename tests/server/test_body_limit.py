"""Request bodies are bounded for the whole app, served and embedded: a declared Content-Length over the bound is
refused before a byte of the body is read, a chunked body as soon as what was read passes it, a body exactly at the
bound is served; the refusal is a typed error in the shape of the route (GraphQL errors on /graphql)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from objectql.server.embed import asgi_app, lifespan
from objectql.server.settings import SETTINGS_BY_NAME
from tests.conftest import write_objects
from tests.realtime.conftest import Serve, ServerFactory, live_server, serve

__all__ = ["live_server", "serve"]  # the real-server fixtures


@pytest.fixture
def database() -> str:
    """The body bound is the HTTP layer's: one database is enough."""
    return "sqlite"


DEFAULT_BOUND = SETTINGS_BY_NAME["max_body_bytes"].default
QUERY = b'{"query": "{ ordersCount }"}'


class Response:
    """An HTTP response read off a raw socket."""

    def __init__(self, status_code: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One HTTP/1.1 response with a Content-Length, as a server writes it."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines if line)
    headers = {name.lower(): value for name, value in headers.items()}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return Response(int(status_line.split(" ")[1]), headers, body)


def head(path: str, port: int, *framing: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json", *framing]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def post_declared(port: int, path: str, length: int, body: bytes = b"") -> Response:
    """A POST declaring ``length`` bytes; only ``body`` is sent before the response is read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head(path, port, f"Content-Length: {length}") + body)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()


async def post_chunked(base: str, path: str, total: int, piece: int = 64 * 1024) -> tuple[httpx.Response, int]:
    """A chunked POST (a body of unknown length) of ``total`` bytes, the query then JSON whitespace, sent whole
    before the response is read (as httpx does): the response, and how many body bytes were handed over."""
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        sent = len(QUERY)
        yield QUERY
        while sent < total:
            data = b" " * min(piece, total - sent)
            sent += len(data)
            yield data

    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        response = await http.post(path, content=body(), headers=headers)
    return response, sent


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def send_chunks_until_answered(port: int, path: str, total: int) -> tuple[Response, int]:
    """A chunked POST of up to ``total`` bytes, written while the answer is read: the answer, and how many body
    bytes had been written when it came (the writing stops there)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answered = asyncio.ensure_future(read_response(reader))
    try:
        writer.write(head(path, port, "Transfer-Encoding: chunked") + chunk(QUERY))
        sent = len(QUERY)
        while sent < total and not answered.done():
            writer.write(chunk(b" " * 64 * 1024))
            await writer.drain()
            sent += 64 * 1024
        return await answered, sent
    finally:
        answered.cancel()
        writer.close()


def padded_to(size: int) -> bytes:
    """The query as a JSON body of exactly ``size`` bytes (whitespace after the object is valid JSON)."""
    return QUERY + b" " * (size - len(QUERY))


def assert_graphql_refusal(response: Response | httpx.Response, bound: int) -> None:
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert error["extensions"]["details"] == {"max_bytes": bound}
    assert str(bound) in error["message"]


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_a_declared_length_over_the_bound_is_refused_before_the_body_is_sent(
    live_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await live_server()
    # 100 MB announced, not one byte of it sent: the answer comes anyway.
    response = await post_declared(server.port, "/graphql", 100 * 1024 * 1024)
    assert_graphql_refusal(response, DEFAULT_BOUND)
    response = await post_declared(server.port, "/graphql", DEFAULT_BOUND + 1)
    assert_graphql_refusal(response, DEFAULT_BOUND)
    no_errors_logged(caplog)


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_bound(
    live_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await live_server()
    total = 128 * 1024 * 1024
    response, sent = await send_chunks_until_answered(server.port, "/graphql", total)
    assert_graphql_refusal(response, DEFAULT_BOUND)
    # The server answered while most of the body was still with the client: it stopped reading at the bound.
    assert sent < total // 8, f"{sent} of {total} bytes sent before the answer"
    no_errors_logged(caplog)


async def test_a_client_that_sends_its_whole_body_before_reading_gets_the_refusal(
    live_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await live_server()
    response, sent = await post_chunked(server.http, "/graphql", 16 * 1024 * 1024)
    assert sent == 16 * 1024 * 1024
    assert_graphql_refusal(response, DEFAULT_BOUND)
    no_errors_logged(caplog)


async def test_a_body_exactly_at_the_bound_is_served(live_server: ServerFactory) -> None:
    server = await live_server()
    body = padded_to(DEFAULT_BOUND)
    response = await post_declared(server.port, "/graphql", len(body), body)
    assert (response.status_code, response.json()) == (200, {"data": {"ordersCount": 0}})
    response, sent = await post_chunked(server.http, "/graphql", DEFAULT_BOUND)
    assert sent == DEFAULT_BOUND
    assert (response.status_code, response.json()) == (200, {"data": {"ordersCount": 0}})


async def test_the_bound_is_a_setting(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_MAX_BODY_BYTES="4096")
    body = padded_to(4096)
    assert (await post_declared(server.port, "/graphql", len(body), body)).status_code == 200
    assert_graphql_refusal(await post_declared(server.port, "/graphql", 4097), 4096)
    response, _ = await post_chunked(server.http, "/graphql", 4097, piece=1024)
    assert_graphql_refusal(response, 4096)


async def test_other_routes_refuse_with_the_plain_error_shape(live_server: ServerFactory) -> None:
    server = await live_server()
    for path in ("/health", "/api/events/orders"):
        response = await post_declared(server.port, path, DEFAULT_BOUND + 1)
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "PAYLOAD_TOO_LARGE" and str(DEFAULT_BOUND) in error["message"]


async def test_an_embedded_app_bounds_its_bodies_under_its_prefix(tmp_path: Path, serve: Serve) -> None:
    app_dir = write_objects(tmp_path / "app", {"orders": "fields:\n  total: {type: number}\n"})
    api = asgi_app(app_dir, database_url=f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}", max_body_bytes=4096)

    async def page(request: Any) -> PlainTextResponse:
        return PlainTextResponse("the host's own page")

    host = Starlette(routes=[Route("/", page, methods=["POST"]), Mount("/data", app=api)], lifespan=lifespan(api))
    port = await serve(host)
    assert_graphql_refusal(await post_declared(port, "/data/graphql", 4097), 4096)
    response, _ = await post_chunked(f"http://127.0.0.1:{port}", "/data/graphql", 1024 * 1024, piece=1024)
    assert_graphql_refusal(response, 4096)
    body = padded_to(4096)
    response = await post_declared(port, "/data/graphql", len(body), body)
    assert (response.status_code, response.json()) == (200, {"data": {"ordersCount": 0}})
    # The host's own routes are the host's business.
    assert (await post_declared(port, "/", 5000, b" " * 5000)).status_code == 200
