"""The contract every fan-out backend passes (``memory://`` now; broker backends join the list)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from objectql.realtime.backends import Backend, backend_for_url

URLS = ["memory://"]


@pytest.fixture(params=URLS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    instance = backend_for_url(request.param)
    await instance.connect()
    yield instance
    await instance.disconnect()


async def test_a_published_message_reaches_a_subscriber_of_its_channel(backend: Backend) -> None:
    await backend.subscribe("t:events")
    await backend.publish("t:events", "42")
    message = await asyncio.wait_for(backend.next_message(), 5)
    assert (message.channel, message.data) == ("t:events", "42")


async def test_messages_on_other_channels_are_not_delivered(backend: Backend) -> None:
    await backend.subscribe("a:events")
    await backend.publish("b:events", "1")
    await backend.publish("a:events", "2")
    message = await asyncio.wait_for(backend.next_message(), 5)
    assert message.data == "2"


async def test_messages_arrive_in_publish_order(backend: Backend) -> None:
    await backend.subscribe("t:events")
    for i in range(20):
        await backend.publish("t:events", str(i))
    got = [(await asyncio.wait_for(backend.next_message(), 5)).data for _ in range(20)]
    assert got == [str(i) for i in range(20)]


def test_an_unknown_scheme_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="unsupported broker URL scheme"):
        backend_for_url("kafka://localhost")
