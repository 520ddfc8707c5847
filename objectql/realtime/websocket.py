"""WebSocket endpoints: ``/api/realtime`` (plain protocol) and the lifecycle every session shares."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from starlette.websockets import WebSocket

from objectql.realtime.connection import Connection
from objectql.realtime.protocols.plain.handlers import PlainSession
from objectql.realtime.service import Realtime
from objectql.realtime.transports import WebSocketTransport

CLOSE_POLICY = 1008


class Session(Protocol):
    def start(self) -> None: ...

    def release(self) -> None: ...

    def receive_text(self, text: str) -> None: ...

    def receive_bytes(self) -> None: ...


async def origin_refused(websocket: WebSocket, rt: Realtime) -> bool:
    """Refuse a foreign Origin before the handshake completes (the client sees HTTP 403)."""
    if rt.origin_allowed(websocket.headers.get("origin"), websocket.url.scheme, websocket.headers.get("host")):
        return False
    await websocket.close(CLOSE_POLICY)
    return True


def accepted_connection(websocket: WebSocket, rt: Realtime) -> Connection:
    conn = Connection(WebSocketTransport(websocket), queue_size=rt.limits.queue_size)
    rt.track(conn)
    return conn


async def serve(websocket: WebSocket, conn: Connection, session: Session) -> None:
    """Run ``session`` on an accepted socket until the connection closes, then release everything."""
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


async def _read(websocket: WebSocket, session: Session, conn: Connection) -> None:
    while not conn.closed.is_set():
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            conn.peer_gone()
            return
        if message.get("text") is not None:
            session.receive_text(message["text"])
        elif message.get("bytes") is not None:
            session.receive_bytes()


async def realtime_websocket(websocket: WebSocket) -> None:
    rt: Realtime = websocket.app.state.realtime
    if await origin_refused(websocket, rt):
        return
    await websocket.accept()
    conn = accepted_connection(websocket, rt)
    await serve(websocket, conn, PlainSession(rt, conn))
