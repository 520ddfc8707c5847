"""WebSocket endpoints: ``/api/realtime`` (the plain protocol) and the lifecycle every session shares.

A session receives frames in order from one reader task and answers through its :class:`Connection`;
the connection's writer owns the socket's sending side. A peer that disconnects — at any moment, also
in the middle of a send — is a normal end: everything is released and nothing is logged as an error
(uvicorn itself treats a ``ClientDisconnected`` escaping the handshake as one).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from starlette.websockets import WebSocket

from objectql.realtime.connection import Connection
from objectql.realtime.policy import ConnectionPolicy
from objectql.realtime.service import Realtime
from objectql.realtime.transports.protocols.plain.handlers import PlainSession
from objectql.realtime.transports.sockets import WebSocketTransport
from objectql.realtime.transports.state import policy_of, realtime_of
from objectql.realtime.vocabulary import CLOSE_POLICY


class Session(Protocol):
    def start(self) -> None: ...

    def release(self) -> None: ...

    def receive_text(self, text: str) -> None: ...

    def receive_bytes(self) -> None: ...


async def origin_refused(websocket: WebSocket, policy: ConnectionPolicy) -> bool:
    """Refuse a foreign Origin before the handshake completes (the client sees HTTP 403)."""
    headers = websocket.headers
    if policy.origin_allowed(headers.get("origin"), websocket.url.scheme, headers.get("host")):
        return False
    await websocket.close(CLOSE_POLICY)
    return True


def accepted_connection(
    websocket: WebSocket, realtime: Realtime, policy: ConnectionPolicy, kind: str = "websocket"
) -> Connection:
    conn = Connection(WebSocketTransport(websocket), queue_size=policy.limits.queue_size, kind=kind)
    realtime.track(conn)
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
    """``/api/realtime``."""
    realtime, policy = realtime_of(websocket.scope), policy_of(websocket.scope)
    if await origin_refused(websocket, policy):
        return
    await websocket.accept()
    conn = accepted_connection(websocket, realtime, policy)
    await serve(websocket, conn, PlainSession(realtime, policy, conn))
