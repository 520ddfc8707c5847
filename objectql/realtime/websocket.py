"""``/api/realtime``: the plain WebSocket endpoint, running a :class:`PlainSession` per connection."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket

from objectql.realtime.connection import Connection
from objectql.realtime.protocols.plain.handlers import PlainSession
from objectql.realtime.service import Realtime
from objectql.realtime.transports import WebSocketTransport

CLOSE_POLICY = 1008


async def realtime_websocket(websocket: WebSocket) -> None:
    rt: Realtime = websocket.app.state.realtime
    if not rt.origin_allowed(websocket.headers.get("origin"), websocket.url.scheme, websocket.headers.get("host")):
        # Refused before the handshake completes: the client sees HTTP 403.
        await websocket.close(CLOSE_POLICY)
        return
    await websocket.accept()
    conn = Connection(WebSocketTransport(websocket), queue_size=rt.limits.queue_size)
    rt.track(conn)
    session = PlainSession(rt, conn)
    session.start()
    conn.start()
    reader = asyncio.get_running_loop().create_task(_read(websocket, session, conn), name=f"reader {conn.id}")
    try:
        await conn.closed.wait()
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        session.release()
        await conn.wait_closed()


async def _read(websocket: WebSocket, session: PlainSession, conn: Connection) -> None:
    while not conn.closed.is_set():
        message = await websocket.receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            conn.peer_gone()
            return
        if message.get("text") is not None:
            session.receive_text(message["text"])
        elif message.get("bytes") is not None:
            session.receive_bytes()
