"""Socket adapters: what a :class:`Connection` needs (write, send, close, abort) over WebSockets and streams.

WebSocket messages take the short road when the server offers it: the ``objectql.websocket.frames`` ASGI
extension (a :class:`WebSocketFrameWriter`, offered by ``objectql serve``'s uvicorn protocol) takes complete frames,
which are built here once per distinct payload — every member of a group that gets the same bytes gets the
same frame object, compressed once when the connection negotiated permessage-deflate. Without the extension
the adapter sends through plain ASGI. Either way a send waits for a socket that is backed up (flow control),
which is what makes a slow consumer fill its connection's bounded queue.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import Send
from starlette.websockets import WebSocket

from objectql.realtime.connection import Message

FRAMES_EXTENSION = "objectql.websocket.frames"


@dataclass(frozen=True, slots=True)
class Deflate:
    """Negotiated permessage-deflate without context takeover: each message compressed on its own."""

    window_bits: int
    mem_level: int


class WebSocketFrameWriter(Protocol):
    """What a server offers under ``scope["extensions"]["objectql.websocket.frames"]``."""

    @property
    def deflate(self) -> Deflate | None:
        """The connection's permessage-deflate parameters, None when it did not negotiate compression."""

    def try_write(self, frame: bytes) -> bool:
        """Write one complete frame if the socket takes it now (True); False when it is backed up.

        ConnectionError when the connection closed.
        """

    async def wait_writable(self) -> None:
        """Wait until a frame can be written; ConnectionError when the connection closed."""

    def write(self, frame: bytes) -> None:
        """Write one complete frame; ConnectionError when the connection closed."""


def _header(opcode_byte: int, length: int) -> bytes:
    if length < 126:
        return bytes((opcode_byte, length))
    if length < 65_536:
        return bytes((opcode_byte, 126)) + length.to_bytes(2, "big")
    return bytes((opcode_byte, 127)) + length.to_bytes(8, "big")


_TEXT = 0x81  # FIN + text
_TEXT_COMPRESSED = 0xC1  # FIN + RSV1 (permessage-deflate) + text
_SYNC_FLUSH_TAIL = b"\x00\x00\xff\xff"


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame carrying ``payload`` (a server's frame)."""
    return _header(_TEXT, len(payload)) + payload


def compressed_text_frame(payload: bytes, deflate: Deflate) -> bytes:
    """A text frame carrying ``payload`` deflated on its own (RFC 7692, no context takeover)."""
    encoder = zlib.compressobj(wbits=-deflate.window_bits, memLevel=deflate.mem_level)
    data = encoder.compress(payload) + encoder.flush(zlib.Z_SYNC_FLUSH)
    if data.endswith(_SYNC_FLUSH_TAIL):
        data = data[: -len(_SYNC_FLUSH_TAIL)]
    return _header(_TEXT_COMPRESSED, len(data)) + data


class _FrameCache:
    """The frame of the payload sent last, plain and compressed.

    A group hands every member the same payload object, so one identity check finds the frame built for the
    previous member; the cache keeps the payload alive so its identity cannot be reused meanwhile.
    """

    __slots__ = ("deflate", "deflated", "deflated_of", "plain", "plain_of")

    def __init__(self) -> None:
        self.plain_of: bytes | None = None
        self.plain = b""
        self.deflated_of: bytes | None = None
        self.deflate: Deflate | None = None
        self.deflated = b""

    def frame(self, payload: bytes, deflate: Deflate | None) -> bytes:
        if deflate is None:
            if payload is not self.plain_of:
                self.plain, self.plain_of = text_frame(payload), payload
            return self.plain
        if payload is not self.deflated_of or deflate != self.deflate:
            self.deflated = compressed_text_frame(payload, deflate)
            self.deflated_of, self.deflate = payload, deflate
        return self.deflated


_frames = _FrameCache()


def _as_bytes(message: Message) -> bytes:
    return message.encode("utf-8") if isinstance(message, str) else message


def abort_asgi(send: Send) -> None:
    """Drop the TCP connection under an ASGI ``send`` without a handshake (a peer that stopped reading).

    ASGI has no abort; uvicorn's protocol objects own the transport, so reach it when it is there (a seam:
    docs/architecture.md). Where it is not, nothing happens: the connection counts as closed all the same, and
    the server's own timeouts end the socket.
    """
    protocol: Any = getattr(send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        transport.abort()


class WebSocketTransport:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        extensions = websocket.scope.get("extensions") or {}
        self.frames: WebSocketFrameWriter | None = extensions.get(FRAMES_EXTENSION)

    def write_now(self, message: Message) -> bool:
        """Write ``message`` at once if the socket takes it (True); False: :meth:`send` it instead."""
        frames = self.frames
        if frames is None:
            return False
        return frames.try_write(_frames.frame(_as_bytes(message), frames.deflate))

    def write_all_now(self, messages: Sequence[Message]) -> bool:
        """Write ``messages`` as consecutive frames in one socket write if it takes them (True)."""
        frames = self.frames
        if frames is None:
            return False
        deflate = frames.deflate
        return frames.try_write(b"".join([_frames.frame(_as_bytes(message), deflate) for message in messages]))

    async def send(self, message: Message) -> None:
        frames = self.frames
        if frames is None:
            await self.websocket.send_text(message if isinstance(message, str) else message.decode("utf-8"))
            return
        await frames.wait_writable()
        frames.write(_frames.frame(_as_bytes(message), frames.deflate))

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code, reason)

    def abort(self) -> None:
        send = getattr(self.websocket, "_send", None)  # Starlette's ASGI send (a seam: docs/architecture.md)
        if send is not None:
            abort_asgi(send)


class StreamTransport:
    """An HTTP response body kept open (SSE): each message is one body chunk."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.finished = False

    def write_now(self, message: Message) -> bool:
        return False  # ASGI bodies have no synchronous path

    def write_all_now(self, messages: Sequence[Message]) -> bool:
        return False

    async def send(self, message: Message) -> None:
        await self._send({"type": "http.response.body", "body": _as_bytes(message), "more_body": True})

    async def close(self, code: int, reason: str) -> None:
        if not self.finished:
            self.finished = True
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    def abort(self) -> None:
        self.finished = True
        abort_asgi(self._send)
