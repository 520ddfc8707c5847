"""A client connection as the hub sees it: a bounded outgoing queue drained by the connection's own writer.

The hub only ever calls :meth:`Connection.push`, which never waits: fan-out is never slowed by a slow
client. Overflow policy: when a push would exceed ``queue_size`` messages, the queue is dropped and the
connection is closed with 1013 (try again later); if the close handshake cannot be written within a
second, the socket is aborted. Either way the connection counts as closed at once, so its
subscriptions and presence entries are released without waiting for the peer.

Eager sending: when nothing is queued or in flight, ``push`` writes the message itself — through the
transport's synchronous ``write_now`` when it has one, else by starting its send coroutine, which into a
socket that is not backed up completes without ever suspending. The common case costs no task switch; a
send that does suspend is handed to the writer, which finishes it before anything queued after it.
:meth:`Connection.push_all` does the same for several messages at once (the messages of one step of a
live window): into an idle socket they go out as one write, so one step costs one system call per
subscriber, not one per message.

Messages are text, as ``str`` or as UTF-8 ``bytes`` (the hub's fan-out hands every member of a group the
same bytes object, which lets a transport build its frame once).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from objectql.realtime import eager
from objectql.realtime.vocabulary import CLOSE_GOING_AWAY, CLOSE_TIMEOUT, CLOSE_TRY_AGAIN, SLOW_CONSUMER, clip_reason

log = logging.getLogger("objectql.realtime")

_NODE = f"{os.getpid():x}{secrets.token_hex(3)}"
_counter = itertools.count(1)


def node_id() -> str:
    """This process's id in the deployment (random per start)."""
    return _NODE


def new_connection_id() -> str:
    """Opaque and unique in the deployment: a per-process random node id and a counter."""
    return f"c{_NODE}.{next(_counter)}"


Message = str | bytes


class Transport(Protocol):
    """What a connection needs from its socket or stream."""

    def write_now(self, message: Message) -> bool:
        """Write ``message`` without waiting if the socket takes it now; False when it must be sent."""

    def write_all_now(self, messages: Sequence[Message]) -> bool:
        """Write all of ``messages`` in one write if the socket takes them now; False (none written) when
        they must be sent one by one."""

    def send(self, message: Message) -> Coroutine[Any, Any, None]:
        """Write ``message``, waiting while the socket is backed up."""

    async def close(self, code: int, reason: str) -> None: ...

    def abort(self) -> None: ...


class Connection:
    # Process-wide counts, read by /metrics: messages handed to connections, and slow consumers cut off.
    messages_pushed = 0
    slow_consumer_closes = 0

    def __init__(
        self, transport: Transport, *, queue_size: int, conn_id: str | None = None, kind: str = "websocket"
    ) -> None:
        self.id = conn_id or new_connection_id()
        # Which door it came in by (a metrics label): websocket, graphql-ws, sse, graphql-sse.
        self.kind = kind
        self.transport = transport
        self.queue_size = queue_size
        self._queue: deque[Message] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._graceful: tuple[int, str] | None = None
        self.state: dict[str, Any] = {}
        self._on_close: list[Callable[[Connection], None]] = []
        # True while the writer owns the socket (a send in flight or the queue draining).
        self._busy = False
        self._inflight: tuple[Coroutine[Any, Any, None], Any] | None = None

    # -- hub side ------------------------------------------------------------------------------

    def push(self, message: Message) -> None:
        """Queue a message; never waits. Overflow closes the connection with 1013."""
        if self.closed.is_set() or self._graceful is not None:
            return
        Connection.messages_pushed += 1
        if not self._busy and self._writer is not None:
            try:
                if self.transport.write_now(message):
                    return
            except Exception:
                self.peer_gone()
                return
            self._send_now(message)
            return
        if len(self._queue) >= self.queue_size:
            Connection.slow_consumer_closes += 1
            self.abort_with(CLOSE_TRY_AGAIN, SLOW_CONSUMER)
            return
        self._queue.append(message)
        self._wake.set()

    def push_all(self, messages: Sequence[Message]) -> None:
        """Queue ``messages`` in order, as :meth:`push` would each; into an idle socket they go out in one
        write (the messages of one step of a live window, say), else one by one."""
        if len(messages) > 1 and not self._busy and self._writer is not None:
            if self.closed.is_set() or self._graceful is not None:
                return
            try:
                written = self.transport.write_all_now(messages)
            except Exception:
                self.peer_gone()
                return
            if written:
                Connection.messages_pushed += len(messages)
                return
        for message in messages:
            self.push(message)

    def _send_now(self, message: Message) -> None:
        coro = self.transport.send(message)
        try:
            result, suspended_on = eager.begin(coro)
        except Exception:
            self.peer_gone()
            return
        if eager.finished(result):
            return
        self._busy = True
        self._inflight = (coro, suspended_on)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def on_close(self, callback: Callable[[Connection], None]) -> None:
        self._on_close.append(callback)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name=f"writer {self.id}")

    def close(self, code: int, reason: str = "") -> None:
        """Send what is queued, then close with ``code``."""
        if self.closed.is_set() or self._graceful is not None:
            return
        self._graceful = (code, clip_reason(reason))
        self._wake.set()

    def abort_with(self, code: int, reason: str) -> None:
        """Drop what is queued and close now, within a second even if the socket is stuck."""
        if self.closed.is_set():
            return
        self._queue.clear()
        self._mark_closed(code)
        if self._writer is not None:
            self._writer.cancel()
        self._closer = asyncio.get_running_loop().create_task(
            self._close_transport(code, clip_reason(reason)), name=f"closer {self.id}"
        )

    def peer_gone(self) -> None:
        """The peer disconnected: release everything, there is nothing left to send."""
        if self.closed.is_set():
            return
        self._queue.clear()
        self._mark_closed(CLOSE_GOING_AWAY)
        if self._writer is not None:
            self._writer.cancel()

    async def wait_closed(self) -> None:
        """Wait until closed, then until the writer and closer tasks have finished."""
        await self.closed.wait()
        for task in (self._writer, self._closer):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _mark_closed(self, code: int) -> None:
        self.close_code = code
        self.closed.set()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("close callback failed for %s", self.id)

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._busy = True
                if self._inflight is not None:
                    coro, suspended_on = self._inflight
                    self._inflight = None
                    await eager.finish(coro, suspended_on)
                transport = self.transport
                while self._queue:
                    message = self._queue.popleft()
                    if not transport.write_now(message):
                        await transport.send(message)
                self._busy = False
                if self._graceful is not None:
                    code, reason = self._graceful
                    self._mark_closed(code)
                    await self._close_transport(code, reason)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            # The socket went away under us: the peer is gone.
            self.peer_gone()

    async def _close_transport(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.transport.close(code, reason), CLOSE_TIMEOUT)
        except (TimeoutError, Exception):
            self.transport.abort()
