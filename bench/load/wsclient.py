"""A minimal RFC 6455 client as an asyncio protocol: the load generator's side of every socket.

The ``websockets`` client costs several times more CPU per received message than this; on a 2-core
machine shared with the server, a heavy client would become the bottleneck. This one only does what the
benchmark needs: the opening handshake (optionally one subprotocol, e.g. ``graphql-transport-ws``, and,
as every browser does, an offer of ``permessage-deflate; client_max_window_bits``), masked text frames
out, text frames in (fragments joined, inflated when the server compressed them), pings answered, and the
closing handshake. It never compresses what it sends.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib
from collections.abc import Callable
from typing import cast

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_HANDSHAKE = 16_384
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006

OnText = Callable[["WSClient", bytes, float], None]
# What browsers send (Chromium, Firefox): the server may then compress, and say how.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"
_SYNC_FLUSH_TAIL = b"\x00\x00\xff\xff"


class Inflater:
    """The receiving side of a negotiated permessage-deflate (RFC 7692)."""

    def __init__(self, parameters: str) -> None:
        params = [p.strip() for p in parameters.split(";")[1:]]
        self.no_context_takeover = "server_no_context_takeover" in params
        bits = [p.split("=", 1)[1] for p in params if p.startswith("server_max_window_bits=")]
        self.window_bits = int(bits[0].strip('"')) if bits else 15
        self._decoder = zlib.decompressobj(wbits=-self.window_bits)

    def inflate(self, data: bytes) -> bytes:
        if self.no_context_takeover:
            self._decoder = zlib.decompressobj(wbits=-self.window_bits)
        return self._decoder.decompress(data + _SYNC_FLUSH_TAIL)


def frame(opcode: int, payload: bytes) -> bytes:
    """One final client frame, masked as RFC 6455 requires."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65_536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    if not n:
        return header + mask
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return header + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


class WSClient(asyncio.Protocol):
    """Calls ``on_text(client, payload, received_at)`` for every text message; ``received_at`` is
    ``time.time()`` when the bytes carrying it were read."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        on_text: OnText,
        subprotocol: str | None = None,
        *,
        offer_deflate: bool = True,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.host, self.port, self.path = host, port, path
        self.subprotocol = subprotocol
        self.offer_deflate = offer_deflate
        # Set when the server accepted permessage-deflate.
        self.inflater: Inflater | None = None
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.close_code: int | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._buf = bytearray()
        self._open = False
        self._fragments: list[bytes] | None = None
        self._compressed = False
        self._close_sent = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        protocol = f"Sec-WebSocket-Protocol: {self.subprotocol}\r\n" if self.subprotocol else ""
        extensions = f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n" if self.offer_deflate else ""
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"{protocol}{extensions}\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self._buf
        buf += data
        if not self._open and not self._handshake():
            return
        pos, n = 0, len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:  # a server must not mask
                self._fail()
                return
            end = pos + head + length
            if end > n:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            self._frame(b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), payload, now)
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code if self.close_code is not None else CLOSE_ABNORMAL)

    # -- frames --------------------------------------------------------------------------------

    def _handshake(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HANDSHAKE:
                self._fail()
            return False
        head = bytes(self._buf[:end]).lower()
        del self._buf[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self._key + GUID).digest()).lower()
        if not head.startswith(b"http/1.1 101") or accept not in head:
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            if not self.opened.done():
                self.opened.set_exception(ConnectionError(f"handshake refused: {status}"))
            self._fail()
            return False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip() == b"sec-websocket-extensions" and value.strip().startswith(b"permessage-deflate"):
                self.inflater = Inflater(value.strip().decode())
        self._open = True
        # A waiter that gave up (timeout, Ctrl-C) cancels the future through wait_for.
        if not self.opened.done():
            self.opened.set_result(None)
        return True

    def _frame(self, opcode: int, fin: bool, rsv1: bool, payload: bytes, now: float) -> None:
        if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if opcode != OP_CONT:
                self._fragments = []
                self._compressed = rsv1
            if self._fragments is None:
                return
            self._fragments.append(payload)
            if fin:
                message, self._fragments = b"".join(self._fragments), None
                if self._compressed:
                    if self.inflater is None:  # compressed without having negotiated it
                        self._fail()
                        return
                    message = self.inflater.inflate(message)
                self.on_text(self, message, now)
        elif opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else CLOSE_NO_STATUS
            self.close()

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- API -----------------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        self._write(OP_TEXT, text.encode())

    def close(self, code: int = 1000) -> None:
        """Send a close frame (once) and close the TCP connection once it is written."""
        if not self._close_sent:
            self._close_sent = True
            self._write(OP_CLOSE, code.to_bytes(2, "big"))
        if self.transport is not None:
            self.transport.close()
