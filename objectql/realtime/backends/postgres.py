"""``postgresql://``: LISTEN/NOTIFY on a dedicated asyncpg connection (it may be the data's database).

NOTIFY payloads stay tiny (seq numbers and presence entries, far under the 8000-byte limit); events are
read from the outbox. A dropped LISTEN connection is re-opened with backoff, and :meth:`next_message`
raises :class:`BackendReconnected` once so the hub catches up from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import asyncpg

from objectql.realtime.backends.backoff import Backoff
from objectql.realtime.backends.base import Backend, BackendReconnected, BrokerMessage

log = logging.getLogger("objectql.realtime")

BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
HEALTH_INTERVAL = 2.0
MAX_PAYLOAD = 7900
APPLICATION_NAME = "objectql-listen"  # findable in pg_stat_activity
# Overflow policy: a full inbox means this process fell behind; the oldest notification is dropped and
# the next read reports a reconnect, so the hub re-reads the outbox and presence resyncs.
QUEUE_SIZE = 10_000


def channel_name(channel: str) -> str:
    """A LISTEN-able identifier (PostgreSQL truncates at 63 bytes): long names are hashed."""
    if len(channel) <= 60 and all(c.isalnum() or c in "_:.-" for c in channel):
        return channel
    return "oq_" + hashlib.sha256(channel.encode()).hexdigest()[:40]


class PostgresBackend(Backend):
    def __init__(self, url: str) -> None:
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._conn: asyncpg.Connection | None = None
        self._channels: dict[str, str] = {}
        self._queue: asyncio.Queue[BrokerMessage | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._lost = False

    async def connect(self) -> None:
        await self._open()

    async def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close(timeout=2)

    async def subscribe(self, channel: str) -> None:
        name = channel_name(channel)
        self._channels[name] = channel
        if self._conn is not None:
            await self._conn.add_listener(name, self._on_notify)

    async def publish(self, channel: str, data: str) -> None:
        if len(data.encode()) > MAX_PAYLOAD:
            raise ValueError("NOTIFY payload too large")
        conn = self._conn
        if conn is None or conn.is_closed():
            raise ConnectionError("the LISTEN connection is down")
        await conn.execute("SELECT pg_notify($1, $2)", channel_name(channel), data)

    async def next_message(self) -> BrokerMessage:
        while True:
            if self._lost:
                await self._reconnect()
                raise BackendReconnected()
            try:
                message = await asyncio.wait_for(self._queue.get(), HEALTH_INTERVAL)
            except TimeoutError:
                await self._check()
                continue
            if message is None:  # the connection went away
                continue
            return message

    # -- connection management -----------------------------------------------------------------

    async def _open(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5, server_settings={"application_name": APPLICATION_NAME})
        conn.add_termination_listener(self._on_terminated)
        for name in self._channels:
            await conn.add_listener(name, self._on_notify)
        self._conn = conn

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        message = BrokerMessage(self._channels.get(channel, channel), payload)
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._queue.get_nowait()
            self._queue.put_nowait(message)
            self._lost = True

    def _on_terminated(self, _conn: Any) -> None:
        self._lost = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def _check(self) -> None:
        conn = self._conn
        try:
            if conn is None or conn.is_closed():
                raise ConnectionError
            await conn.execute("SELECT 1", timeout=5)
        except (OSError, ConnectionError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            self._lost = True

    async def _reconnect(self) -> None:
        backoff = Backoff(BACKOFF_START, BACKOFF_MAX)
        self.reconnects += 1
        old, self._conn = self._conn, None
        if old is not None and not old.is_closed():
            old.terminate()
        while True:
            delay = backoff.next()
            log.warning("LISTEN connection lost; reconnecting in %.1fs", delay)
            await asyncio.sleep(delay)
            try:
                await self._open()
                self._lost = False
                log.warning("LISTEN connection restored")
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                continue
