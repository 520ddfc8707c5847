"""Every reach into a third party's private internals (docs/architecture.md, "Seams") holds on the releases
installed: the attribute or shape each one reads is there. The behaviour behind each seam, and its fallback
when the reach finds nothing, is tested where the seam is used (the test named in each docstring); an
upgrade that moves what a seam reads fails here first, by name."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import aiosqlite
import pytest
from graphql import GraphQLSchema
from starlette.websockets import WebSocket

from objectql.engine import sqlite_driver
from objectql.metadata.registry import Registry
from objectql.realtime import eager
from objectql.resolvers.executor import graphql_schema_of
from objectql.schema import build_schema
from objectql.server import http_protocol, websocket_protocol

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_every_seam_is_listed_on_the_architecture_page() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Seams", 1)[1].split("\n## ", 1)[0]
    for module in (
        "server/websocket_protocol.py",
        "server/http_protocol.py",
        "engine/sqlite_driver.py",
        "realtime/transports/sockets.py",
        "resolvers/executor.py",
        "realtime/eager.py",
    ):
        assert module in section, module


def test_uvicorns_websocket_protocol_is_the_class_ours_extends() -> None:
    """tests/server/test_websocket_protocol.py: frames written whole, and the ASGI path without it."""
    base = websocket_protocol.FramesProtocol.__mro__[1]
    assert base.__module__.startswith("uvicorn.protocols.websockets")
    source = inspect.getsource(base)
    for reached in ("def handle_connect", "self.conn ", "self.writable", "self.close_sent", "self.transport"):
        assert reached in source, reached


def test_uvicorns_http_protocols_keep_their_request_in_cycle() -> None:
    """tests/server/test_http_protocol.py: the head deadline, and no deadline (with a warning) without it."""
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    for protocol in (H11Protocol, HttpToolsProtocol):
        source = inspect.getsource(protocol)
        assert "self.cycle" in source and "response_complete" in source, protocol
    assert http_protocol.HeadDeadlineProtocol is not None


def test_the_sqlite_adapter_and_aiosqlite_have_the_shape_the_driver_reaches_for() -> None:
    """tests/engine/test_sqlite_driver.py: one trip per statement, and the exact-sum aggregate registered."""
    assert sqlite_driver.AVAILABLE
    assert hasattr(aiosqlite.Connection, "_execute")
    assert isinstance(aiosqlite.Connection.__dict__.get("_conn"), property)


def test_starlettes_websocket_keeps_its_asgi_send() -> None:
    """tests/realtime/test_plain_backpressure.py: a slow consumer's socket is aborted, not waited for."""

    async def receive() -> dict[str, str]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, str]) -> None:
        return None

    websocket = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
    assert getattr(websocket, "_send", None) is send


def test_strawberry_keeps_its_graphql_core_schema() -> None:
    """Every GraphQL test runs documents against it."""
    shop = Path(__file__).resolve().parents[1] / "examples" / "shop"
    assert isinstance(graphql_schema_of(build_schema(Registry.from_directory(shop))), GraphQLSchema)


async def test_an_asyncio_future_takes_the_blocking_flag_a_task_clears() -> None:
    """tests/realtime/test_hub.py: a render that suspends is finished by its group's worker."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    assert hasattr(future, "_asyncio_future_blocking")

    async def waits() -> int:
        return await future

    coro = waits()
    result, suspended_on = eager.begin(coro)
    assert not eager.finished(result) and suspended_on is future
    loop.call_soon(future.set_result, 7)
    assert await eager.finish(coro, suspended_on) == 7


@pytest.mark.parametrize("name", ["aiosqlite", "uvicorn[standard]"])
def test_the_packages_reached_into_are_capped_below_their_next_release(name: str) -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    (line,) = [line for line in pyproject.splitlines() if line.strip().startswith(f'"{name}>=')]
    assert ",<" in line, line
