"""Connections: eager sends keep order, a send that blocks is finished by the writer, overflow closes 1013;
several messages pushed together go out in one write when the socket takes them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from objectql.realtime.connection import Connection


class GatedTransport:
    """Sends complete at once while the gate is open and wait while it is closed (a backed-up socket).

    ``sync``: it also writes synchronously while open (as the WebSocket frame writer does); else every
    message goes through the send coroutine (as an ASGI stream does).
    """

    def __init__(self, sync: bool) -> None:
        self.sync = sync
        self.gate = asyncio.Event()
        self.gate.set()
        self.sent: list[str] = []
        self.batches: list[list[str]] = []  # the messages of each write_all_now that wrote
        self.closed: tuple[int, str] | None = None
        self.aborted = False

    def write_now(self, message: str | bytes) -> bool:
        if not (self.sync and self.gate.is_set()):
            return False
        self.sent.append(str(message))
        return True

    def write_all_now(self, messages: Sequence[str | bytes]) -> bool:
        if not (self.sync and self.gate.is_set()):
            return False
        self.batches.append([str(m) for m in messages])
        self.sent.extend(self.batches[-1])
        return True

    async def send(self, message: str | bytes) -> None:
        await self.gate.wait()
        self.sent.append(str(message))

    async def close(self, code: int, reason: str) -> None:
        await self.gate.wait()
        self.closed = (code, reason)

    def abort(self) -> None:
        self.aborted = True


def started(sync: bool, queue_size: int) -> tuple[GatedTransport, Connection]:
    transport = GatedTransport(sync)
    conn = Connection(transport, queue_size=queue_size)
    conn.start()
    return transport, conn


async def sent(transport: GatedTransport, count: int) -> None:
    """Wait (up to a second) until the transport has written ``count`` messages."""
    for _ in range(100):
        if len(transport.sent) == count:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("sync", [True, False], ids=["frame writer", "send only"])
async def test_a_push_to_an_idle_connection_is_sent_without_a_task_switch(sync: bool) -> None:
    transport, conn = started(sync, queue_size=10)
    conn.push("a")
    assert transport.sent == ["a"]  # already written, before yielding to the loop
    conn.close(1000)
    await conn.wait_closed()


@pytest.mark.parametrize("sync", [True, False], ids=["frame writer", "send only"])
async def test_a_blocked_send_is_finished_by_the_writer_before_later_messages(sync: bool) -> None:
    transport, conn = started(sync, queue_size=10)
    transport.gate.clear()
    for message in ("a", "b", "c"):
        conn.push(message)
    await asyncio.sleep(0.01)
    assert transport.sent == [] and conn.pending == 2
    transport.gate.set()
    await sent(transport, 3)
    assert transport.sent == ["a", "b", "c"]
    conn.push("d")
    assert transport.sent[-1] == "d"
    conn.close(1000, "bye")
    await conn.wait_closed()
    assert transport.closed == (1000, "bye")


@pytest.mark.parametrize("sync", [True, False], ids=["frame writer", "send only"])
async def test_overflow_behind_a_blocked_send_closes_1013_and_aborts_a_stuck_socket(sync: bool) -> None:
    transport, conn = started(sync, queue_size=3)
    transport.gate.clear()
    for i in range(5):
        conn.push(str(i))
    assert conn.closed.is_set() and conn.close_code == 1013
    await conn.wait_closed()
    assert transport.aborted  # the close handshake could not be written within a second


async def test_messages_pushed_together_into_an_idle_socket_go_out_in_one_write() -> None:
    transport, conn = started(True, queue_size=10)
    conn.push_all(["a", "b"])
    assert transport.batches == [["a", "b"]] and transport.sent == ["a", "b"]
    conn.push_all(["c"])  # one message takes the single-message road
    assert transport.batches == [["a", "b"]] and transport.sent == ["a", "b", "c"]
    conn.close(1000)
    await conn.wait_closed()
    conn.push_all(["d", "e"])  # nothing after the close
    assert transport.sent == ["a", "b", "c"]


@pytest.mark.parametrize("sync", [True, False], ids=["frame writer", "send only"])
async def test_messages_pushed_together_behind_a_blocked_send_keep_their_order(sync: bool) -> None:
    transport, conn = started(sync, queue_size=10)
    transport.gate.clear()
    conn.push("a")
    conn.push_all(["b", "c"])
    await asyncio.sleep(0.01)
    assert transport.sent == [] and conn.pending == 2  # "a" in flight, "b" and "c" queued behind it
    transport.gate.set()
    await sent(transport, 3)
    assert transport.sent == ["a", "b", "c"] and transport.batches == []
    conn.close(1000)
    await conn.wait_closed()


async def test_messages_pushed_together_count_one_by_one_against_the_queue_bound() -> None:
    transport, conn = started(True, queue_size=3)
    transport.gate.clear()
    conn.push("a")  # in flight
    conn.push_all(["b", "c", "d"])
    assert not conn.closed.is_set() and conn.pending == 3
    conn.push_all(["e", "f"])
    assert conn.closed.is_set() and conn.close_code == 1013
    await conn.wait_closed()
