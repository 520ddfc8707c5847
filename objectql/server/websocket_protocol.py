"""The WebSocket protocol ``objectql serve`` runs under uvicorn: uvicorn's own, plus a frame writer.

Fan-out sends one change to thousands of sockets. Through ASGI each send walks Starlette's and uvicorn's
send path and has websockets build the same frame again; here the realtime core builds a group's frame once
and hands the bytes to each socket through the ``objectql.websocket.frames`` ASGI extension
(:class:`objectql.realtime.transports.sockets.WebSocketFrameWriter`). Everything else — the handshake, reading,
pings, closing, flow control — stays uvicorn's. Without this protocol (another server, another uvicorn
WebSocket implementation) the extension is absent and the transports send through plain ASGI.

Compression: permessage-deflate is negotiated only when ``ws_compression`` is on, and then with no context
takeover in either direction and a small window (``WINDOW_BITS``), so a connection keeps no compressor or
decompressor between messages; the realtime core compresses a group's frame once for all its sockets.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.server import ServerProtocol

from objectql.realtime.transports.sockets import FRAMES_EXTENSION, Deflate

# A 4 KiB window: change messages are small JSON, and a larger one buys little ratio for its memory.
WINDOW_BITS = 12
MEM_LEVEL = 5


class FramesProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol offering pre-built frames a direct path to the socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        extensions = []
        if self.config.ws_per_message_deflate:
            extensions = [
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    client_no_context_takeover=True,
                    server_max_window_bits=WINDOW_BITS,
                    client_max_window_bits=WINDOW_BITS,
                    compress_settings={"memLevel": MEM_LEVEL},
                )
            ]
        self.conn = ServerProtocol(
            extensions=extensions,
            max_size=self.config.ws_max_size,
            logger=logging.getLogger("uvicorn.error"),
        )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][FRAMES_EXTENSION] = UvicornFrameWriter(self)


class UvicornFrameWriter:
    """Writes complete frames to one socket, between uvicorn's own frames (never inside one)."""

    __slots__ = ("_protocol", "deflate")

    def __init__(self, protocol: FramesProtocol) -> None:
        self._protocol = protocol
        self.deflate: Deflate | None = None
        for extension in protocol.conn.extensions:
            if isinstance(extension, PerMessageDeflate):
                self.deflate = Deflate(extension.local_max_window_bits, MEM_LEVEL)

    def _open(self) -> bool:
        # Every way a WebSocket ends sets close_sent (our close, a keepalive timeout, a protocol error) or
        # closes the transport (the peer's close, a lost connection); frames exist only after the handshake.
        protocol = self._protocol
        return not protocol.close_sent and not protocol.transport.is_closing()

    def try_write(self, frame: bytes) -> bool:
        """Write one complete frame if the socket's buffer is below its high mark (True), else False.

        ConnectionError when the connection is closing or gone.
        """
        protocol = self._protocol
        if protocol.close_sent or protocol.transport.is_closing():
            raise ConnectionError("the WebSocket is closed")
        if not protocol.writable.is_set():
            return False
        protocol.transport.write(frame)
        return True

    async def wait_writable(self) -> None:
        """Wait for the buffer to drain; ConnectionError when the connection is closing or gone."""
        protocol = self._protocol
        if not protocol.writable.is_set():
            await protocol.writable.wait()
        if not self._open():
            raise ConnectionError("the WebSocket is closed")

    def write(self, frame: bytes) -> None:
        """Write one complete frame; ConnectionError when the connection is closing or gone."""
        if not self._open():
            raise ConnectionError("the WebSocket is closed")
        self._protocol.transport.write(frame)
