"""``/api/events`` read by a real third-party client: the npm ``eventsource`` package under Node.

``js/sse-client.mjs`` connects (optionally with an initial ``Last-Event-ID``), prints ``{"type":"open"}``
once the stream is open and then one JSON line per event, and exits after N change events. The packages
are installed with ``npm ci`` from the committed lock file once per session when ``node_modules`` is
missing. Without Node.js or npm these tests fail in CI and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.nodejs import node_with_packages
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory

JS_DIR = Path(__file__).parent / "js"
SCRIPT = JS_DIR / "sse-client.mjs"
WAIT = 10.0
ADMIN = ["admin"]


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with the client's packages installed in ``js/node_modules``."""
    return node_with_packages(JS_DIR)


class NodeClient:
    """The running script: its JSON lines, read with a bounded wait."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, timeout: float = WAIT) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            stderr = await self.stderr()
            raise AssertionError(f"the client exited ({self.process.returncode}) early: {stderr}")
        message: dict[str, Any] = json.loads(raw)
        return message

    async def changes(self, count: int) -> list[tuple[int, dict[str, Any]]]:
        out = []
        for _ in range(count):
            message = await self.line()
            assert message["type"] == "change", message
            out.append((int(message["id"]), message["data"]))
        return out

    async def exit_code(self, timeout: float = WAIT) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        with contextlib.suppress(TimeoutError):
            return (await asyncio.wait_for(self.process.stderr.read(), 2)).decode()
        return ""


@asynccontextmanager
async def run_client(
    node: str, server: LiveServer, *, count: int, token: str, last_event_id: int | None = None
) -> AsyncIterator[NodeClient]:
    """Start the script against ``server``'s orders stream and wait until it reports the stream open."""
    args = [str(SCRIPT), f"{server.http}/api/events/orders", "--count", str(count), "--token", token]
    if last_event_id is not None:
        args += ["--last-event-id", str(last_event_id)]
    args += ["--timeout-ms", str(int(WAIT * 1000))]
    process = await asyncio.create_subprocess_exec(
        node, *args, cwd=JS_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    client = NodeClient(process)
    try:
        assert await client.line() == {"type": "open"}
        yield client
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_eventsource_client_receives_changes_with_seq_ids_and_effects(
    node: str, live_server: ServerFactory
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    async with run_client(node, server, count=3, token=server.token("root", ADMIN)) as client:
        created = await orders.create({"total": 5, "cost": 2})
        await orders.update(created["id"], {"total": 6})
        await orders.delete(created["id"])
        received = await client.changes(3)
        assert await client.exit_code() == 0
    assert [data["effect"] for _, data in received] == ["added", "modified", "removed"]
    assert [data["action"] for _, data in received] == ["create", "update", "delete"]
    assert [seq for seq, _ in received] == [data["seq"] for _, data in received]
    assert [seq for seq, _ in received] == sorted(seq for seq, _ in received)
    assert received[0][1]["record"]["cost"] == 2  # admin may read cost
    assert received[2][1]["record"] == {"id": created["id"]}


async def test_eventsource_client_resuming_with_last_event_id_gets_exactly_the_missed_events_in_order(
    node: str, live_server: ServerFactory
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    token = server.token("sam", ["sales"])
    async with run_client(node, server, count=1, token=token) as client:
        await orders.create({"owner": "sam", "total": 0})
        [(last_seen, _)] = await client.changes(1)
        assert await client.exit_code() == 0
    # Committed while disconnected: sam's row rule leaves kim's rows out of the replay.
    missed = []
    for n in range(1, 6):
        missed.append(await orders.create({"owner": "sam", "total": n}))
        await orders.create({"owner": "kim", "total": n})
    async with run_client(node, server, count=6, token=token, last_event_id=last_seen) as client:
        replayed = await client.changes(5)
        live = await orders.create({"owner": "sam", "total": 99})
        [(live_seq, live_change)] = await client.changes(1)
        assert await client.exit_code() == 0
    assert [data["record"]["id"] for _, data in replayed] == [r["id"] for r in missed]
    seqs = [seq for seq, _ in replayed]
    assert seqs == sorted(seqs) and seqs[0] > last_seen
    assert live_change["record"]["id"] == live["id"] and live_seq > seqs[-1]
