"""``redis://``: Redis pub/sub through redis-py's asyncio client.

Pub/sub loses what is published while a subscriber is away; that is fine here because messages are seq
signals and presence announcements: after a reconnect :meth:`next_message` raises
:class:`BackendReconnected` once, and the hub catches up from the outbox (presence resyncs).
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from objectql.realtime.backends.backoff import Backoff
from objectql.realtime.backends.base import Backend, BackendReconnected, BrokerMessage

log = logging.getLogger("objectql.realtime")

BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
_FAILURES = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisBackend(Backend):
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None
        self._channels: set[str] = set()

    async def connect(self) -> None:
        self._client = aioredis.Redis.from_url(self.url, socket_connect_timeout=5, health_check_interval=5)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)

    async def disconnect(self) -> None:
        # PubSub.aclose is typed from redis-py 8 on and untyped before: the ignore serves the older releases.
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        if self._client is not None:
            await self._client.aclose()
        self._pubsub = self._client = None

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        assert self._pubsub is not None, "connect() first"
        await self._pubsub.subscribe(channel)

    async def publish(self, channel: str, data: str) -> None:
        assert self._client is not None, "connect() first"
        await self._client.publish(channel, data)

    async def next_message(self) -> BrokerMessage:
        assert self._pubsub is not None, "connect() first"
        while True:
            try:
                raw = await self._pubsub.get_message(timeout=1.0)
            except _FAILURES:
                await self._reconnect()
                raise BackendReconnected() from None
            if raw is None:
                continue
            channel, data = raw["channel"], raw["data"]
            return BrokerMessage(
                channel.decode() if isinstance(channel, bytes) else str(channel),
                data.decode() if isinstance(data, bytes) else str(data),
            )

    async def _reconnect(self) -> None:
        backoff = Backoff(BACKOFF_START, BACKOFF_MAX)
        self.reconnects += 1
        while True:
            delay = backoff.next()
            log.warning("Redis pub/sub connection lost; reconnecting in %.1fs", delay)
            await asyncio.sleep(delay)
            try:
                assert self._pubsub is not None
                await self._pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
                assert self._client is not None
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                for channel in self._channels:
                    await self._pubsub.subscribe(channel)
                log.warning("Redis pub/sub reconnected")
                return
            except _FAILURES:
                continue
