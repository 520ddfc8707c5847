"""The contract every fan-out backend passes: memory://, redis:// and postgresql:// alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from objectql.realtime.backends import Backend, BackendReconnected, backend_for_url
from objectql.realtime.backends.postgres import APPLICATION_NAME
from tests.conftest import POSTGRES_URL, REDIS_URL, require_postgres, require_redis

BROKERS = ["memory", "redis", "postgresql"]


def url_for(kind: str) -> str:
    if kind == "redis":
        require_redis()
        return REDIS_URL
    if kind == "postgresql":
        require_postgres()
        return POSTGRES_URL
    return "memory://"


@pytest.fixture(params=BROKERS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    instance = backend_for_url(url_for(request.param))
    await instance.connect()
    yield instance
    await instance.disconnect()


@pytest.fixture
def channel() -> str:
    """A channel no other test (or deployment) uses."""
    return f"test-{uuid.uuid4().hex[:12]}:events"


async def receive(backend: Backend, timeout: float = 5.0) -> tuple[str, str]:
    message = await asyncio.wait_for(backend.next_message(), timeout)
    return message.channel, message.data


async def test_a_published_message_reaches_a_subscriber_of_its_channel(backend: Backend, channel: str) -> None:
    await backend.subscribe(channel)
    await backend.publish(channel, "42")
    assert await receive(backend) == (channel, "42")


async def test_messages_on_other_channels_are_not_delivered(backend: Backend, channel: str) -> None:
    await backend.subscribe(channel)
    await backend.publish(channel + "-other", "1")
    await backend.publish(channel, "2")
    assert (await receive(backend))[1] == "2"


async def test_messages_arrive_in_publish_order(backend: Backend, channel: str) -> None:
    await backend.subscribe(channel)
    for i in range(50):
        await backend.publish(channel, str(i))
    assert [(await receive(backend))[1] for _ in range(50)] == [str(i) for i in range(50)]


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
async def test_two_connections_hear_each_other(kind: str, channel: str) -> None:
    a, b = backend_for_url(url_for(kind)), backend_for_url(url_for(kind))
    await a.connect()
    await b.connect()
    try:
        await a.subscribe(channel)
        await b.subscribe(channel)
        await a.publish(channel, "from a")
        assert (await receive(b))[1] == "from a"
        assert (await receive(a))[1] == "from a"
    finally:
        await a.disconnect()
        await b.disconnect()


async def kill_listener(kind: str) -> None:
    if kind == "redis":
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        finally:
            await client.aclose()  # type: ignore[no-untyped-call]
    else:
        conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", APPLICATION_NAME
            )
        finally:
            await conn.close()


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
async def test_a_lost_connection_is_reported_once_then_delivery_resumes(kind: str, channel: str) -> None:
    backend = backend_for_url(url_for(kind))
    await backend.connect()
    try:
        await backend.subscribe(channel)
        await kill_listener(kind)
        with pytest.raises(BackendReconnected):
            for _ in range(20):
                await asyncio.wait_for(backend.next_message(), 10)
        await backend.publish(channel, "after")
        assert await receive(backend, 10) == (channel, "after")
    finally:
        await backend.disconnect()


def test_an_unknown_scheme_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="unsupported broker URL scheme"):
        backend_for_url("kafka://localhost")
