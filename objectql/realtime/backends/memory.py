"""``memory://``: one process, no broker. Published messages come straight back to this process."""

from __future__ import annotations

import asyncio
import logging

from objectql.realtime.backends.base import Backend, BrokerMessage

log = logging.getLogger("objectql.realtime")

# Overflow policy: when nobody reads, the oldest message is dropped. Seq signals are cumulative and
# the hub also gets its own process's events directly, so a dropped signal loses nothing.
QUEUE_SIZE = 10_000


class MemoryBackend(Backend):
    def __init__(self, url: str = "memory://") -> None:
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[BrokerMessage] = asyncio.Queue(maxsize=QUEUE_SIZE)

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def publish(self, channel: str, data: str) -> None:
        if channel not in self._channels:
            return
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(BrokerMessage(channel, data))

    async def next_message(self) -> BrokerMessage:
        return await self._queue.get()
