"""The uvicorn WebSocket protocol of ``objectql serve``: fan-out frames take its frame writer, built once per
group; without it everything goes through ASGI; compression is off unless asked, and bounded when on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, PerMessageDeflate

from objectql.realtime.transports import sockets
from objectql.realtime.transports.sockets import WebSocketTransport
from objectql.server import websocket_protocol
from tests.graphql.wsclient import open_ws, registered
from tests.realtime.conftest import Client, LiveServer, ServerFactory, connect, live_server, settle

__all__ = ["live_server"]  # the real-server fixture


def frame_transports(server: LiveServer) -> list[WebSocketTransport]:
    return [c.transport for c in server.realtime.connections if isinstance(c.transport, WebSocketTransport)]


async def plain_and_graphql_subscribers(server: LiveServer) -> tuple[list[Client], Any]:
    plain = [await connect(server) for _ in range(3)]
    for client in plain:
        await client.subscribe("s", filters=[["status", "=", "pending"]])
    graphql = await open_ws(server)
    await graphql.start("g", "subscription { ordersCreated { total note } }")
    await registered(server, 4)
    return plain, graphql


async def assert_every_subscriber_gets(server: LiveServer, plain: list[Client], graphql: Any) -> None:
    note = "ünïcødé ✓ " * 50  # multi-byte text, over 125 bytes: a 16-bit length field
    created = await server.engine.object("orders").create({"total": 7, "note": note})
    for client in plain:
        change = await client.expect("change")
        assert change["id"] == "s" and change["record"]["id"] == created["id"] and change["record"]["note"] == note
    result = (await graphql.next("g"))["data"]["ordersCreated"]
    assert result == {"total": 7.0, "note": note}


async def test_fan_out_goes_through_the_frame_writer_one_frame_per_group(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await live_server()
    plain, graphql = await plain_and_graphql_subscribers(server)
    assert frame_transports(server) and all(t.frames is not None for t in frame_transports(server))
    written: list[bytes] = []
    built: list[bytes] = []
    original_write = websocket_protocol.UvicornFrameWriter.try_write
    original_frame = sockets.text_frame

    def write(self: websocket_protocol.UvicornFrameWriter, frame: bytes) -> bool:
        written.append(frame)
        return original_write(self, frame)

    monkeypatch.setattr(websocket_protocol.UvicornFrameWriter, "try_write", write)
    monkeypatch.setattr(sockets, "text_frame", lambda p: built.append(p) or original_frame(p))
    await assert_every_subscriber_gets(server, plain, graphql)
    await settle(server)
    # Four sockets written; the three plain members share one frame (same id), GraphQL has its own.
    assert len(written) == 4 and len(built) == 2
    changes = [frame for frame in written if b'"type":"change"' in frame]
    assert len(changes) == 3 and changes[0] is changes[1] is changes[2]


async def test_without_the_frame_writer_every_message_takes_the_asgi_path(live_server: ServerFactory) -> None:
    server = await live_server(ws="websockets-sansio")
    plain, graphql = await plain_and_graphql_subscribers(server)
    assert frame_transports(server) and all(t.frames is None for t in frame_transports(server))
    await assert_every_subscriber_gets(server, plain, graphql)
    await plain[0].nothing(server)


async def test_compression_is_declined_unless_switched_on(live_server: ServerFactory) -> None:
    server = await live_server()
    async with websockets.connect(server.ws) as ws:  # websockets offers permessage-deflate by default
        assert ws.protocol.extensions == []


async def test_compression_on_negotiates_no_context_takeover_and_compresses_each_group_frame_once(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await live_server(OBJECTQL_WS_COMPRESSION="true")
    offer = ClientPerMessageDeflateFactory(client_max_window_bits=True)  # as a browser offers it
    clients = [await websockets.connect(server.ws, extensions=[offer]) for _ in range(3)]
    compressed: list[bytes] = []
    original = sockets.compressed_text_frame
    monkeypatch.setattr(sockets, "compressed_text_frame", lambda p, d: compressed.append(p) or original(p, d))
    try:
        for ws in clients:
            (extension,) = ws.protocol.extensions
            assert isinstance(extension, PerMessageDeflate)
            # The server keeps no compressor state, and asks the client to keep none either.
            assert extension.remote_no_context_takeover and extension.local_no_context_takeover
            assert extension.remote_max_window_bits == websocket_protocol.WINDOW_BITS
            await ws.send(json.dumps({"type": "auth", "token": None}))
            assert json.loads(await ws.recv())["type"] == "auth_ok"
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "object": "orders"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
        compressed.clear()
        # The middle one is a frame over 65,535 bytes (a 64-bit length) in fewer characters than text may hold.
        notes = ["ünïcødé ✓ " * 40, "ü" * 40_000, "short"]
        for note in notes:
            await server.engine.object("orders").create({"note": note})
        for ws in clients:
            got = [json.loads(await asyncio.wait_for(ws.recv(), 5))["record"]["note"] for _ in notes]
            assert got == notes
        assert len(compressed) == len(notes)  # once per event, for all three sockets
    finally:
        for ws in clients:
            await ws.close()
