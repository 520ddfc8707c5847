"""Socket adapters: what a :class:`Connection` needs (send, close, abort) over ASGI WebSockets and streams."""

from __future__ import annotations

from typing import Any

from starlette.types import Send
from starlette.websockets import WebSocket


def abort_asgi(send: Send) -> None:
    """Drop the TCP connection under an ASGI ``send`` without a handshake (a peer that stopped reading).

    ASGI has no abort; uvicorn's protocol objects own the transport, so reach it when it is there.
    """
    protocol: Any = getattr(send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        transport.abort()


class WebSocketTransport:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send(self, message: str) -> None:
        await self.websocket.send_text(message)

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code, reason)

    def abort(self) -> None:
        abort_asgi(self.websocket._send)


class StreamTransport:
    """An HTTP response body kept open (SSE): each message is one body chunk."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.finished = False

    async def send(self, message: str) -> None:
        await self._send({"type": "http.response.body", "body": message.encode("utf-8"), "more_body": True})

    async def close(self, code: int, reason: str) -> None:
        if not self.finished:
            self.finished = True
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    def abort(self) -> None:
        self.finished = True
        abort_asgi(self._send)
