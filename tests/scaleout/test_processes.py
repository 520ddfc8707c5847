"""Several server processes on one PostgreSQL database: every change reaches every process, in order,
exactly once — also across broker outages; presence is one view, and a killed process's members leave."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from objectql.realtime.backends.postgres import APPLICATION_NAME
from tests.conftest import POSTGRES_URL
from tests.scaleout.conftest import BROKERS, Process, Spawn, broker_url, create_order

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
]


async def subscriber(process: Process, sub_id: str = "all", **extra: Any) -> Any:
    ws = await websockets.connect(process.ws, max_size=None)
    await ws.send(json.dumps({"type": "auth", "token": None}))
    assert json.loads(await ws.recv())["type"] == "auth_ok"
    await ws.send(json.dumps({"type": "subscribe", "id": sub_id, "object": "orders", **extra}))
    assert json.loads(await ws.recv())["type"] == "subscribed"
    return ws


async def collect(ws: Any, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """Exactly ``count`` change messages (more within a short grace period fail the caller's checks)."""
    changes: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(changes) < count:
            message = json.loads(await ws.recv())
            if message["type"] == "change":
                changes.append(message)
    try:
        extra = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
        if extra["type"] == "change":
            changes.append(extra)
    except TimeoutError:
        pass
    return changes


def assert_exactly_once_in_order(changes: list[dict[str, Any]], created: list[str]) -> None:
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "out of order or duplicated"
    assert sorted(c["record"]["id"] for c in changes) == sorted(created)


@pytest.mark.parametrize("kind", BROKERS)
async def test_a_subscriber_on_b_gets_every_change_from_both_processes_in_order_once(
    spawn: Spawn, postgres_database: str, kind: str
) -> None:
    broker = broker_url(kind)
    a = await spawn(postgres_database, broker)
    b = await spawn(postgres_database, broker)
    ws = await subscriber(b)
    created: list[str] = []

    async def burst(process: Process, origin: str) -> None:
        for i in range(40):
            created.append(await create_order(process, i, origin))

    await asyncio.gather(burst(a, "a1"), burst(a, "a2"), burst(b, "b1"), burst(b, "b2"))
    changes = await collect(ws, len(created))
    assert_exactly_once_in_order(changes, created)
    assert {c["record"]["origin"] for c in changes} == {"a1", "a2", "b1", "b2"}
    await ws.close()


async def kill_broker_connections(kind: str) -> None:
    if kind == "postgresql":
        conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", APPLICATION_NAME
            )
        finally:
            await conn.close()
        return
    # Restart Redis itself: everything it had in flight is gone.
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"], check=False, timeout=10)
    await asyncio.sleep(0.5)
    subprocess.run(REDIS_START, check=True, timeout=10)
    for _ in range(100):
        if (
            subprocess.run(["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, check=False).stdout.strip()
            == b"PONG"
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("Redis did not come back")


@pytest.mark.parametrize("kind", BROKERS)
async def test_after_a_broker_outage_every_event_arrives_once(spawn: Spawn, postgres_database: str, kind: str) -> None:
    broker = broker_url(kind)
    a = await spawn(postgres_database, broker)
    b = await spawn(postgres_database, broker)
    ws = await subscriber(b)
    created: list[str] = []

    async def writes() -> None:
        for i in range(60):
            created.append(await create_order(a, i, "a"))
            await asyncio.sleep(0.01)

    writer = asyncio.create_task(writes())
    await asyncio.sleep(0.2)
    await kill_broker_connections(kind)
    await writer
    # A last write after recovery: the broker is answering again on both sides.
    created.append(await create_order(a, 99, "a"))
    changes = await collect(ws, len(created))
    assert_exactly_once_in_order(changes, created)
    await ws.close()
    # Both processes lost their broker connection and say so on /metrics.
    for process in (a, b):
        async with httpx.AsyncClient(timeout=10) as http:
            metrics = (await http.get(f"{process.http}/metrics")).text
        reconnects = [line for line in metrics.splitlines() if line.startswith("objectql_broker_reconnects_total")]
        assert reconnects and float(reconnects[0].split()[-1]) >= 1, metrics


async def presence_client(process: Process, name: str) -> Any:
    ws = await websockets.connect(process.ws, max_size=None)
    await ws.send(json.dumps({"type": "auth", "token": None}))
    await ws.recv()
    await ws.send(json.dumps({"type": "join", "channel": "room:1", "meta": {"name": name}}))
    state = json.loads(await ws.recv())
    assert state["type"] == "presence_state"
    return ws, state


async def next_diff(ws: Any, timeout: float = 30) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "presence_diff":
                return message


def names(entries: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {m["meta"]["name"] for metas in entries.values() for m in metas}


@pytest.mark.parametrize("kind", BROKERS)
async def test_presence_is_one_view_across_processes_and_a_killed_process_leaves(
    spawn: Spawn, postgres_database: str, kind: str
) -> None:
    broker = broker_url(kind)
    env = {"OBJECTQL_PRESENCE_HEARTBEAT": "1", "OBJECTQL_PRESENCE_TIMEOUT": "3"}
    a = await spawn(postgres_database, broker, **env)
    b = await spawn(postgres_database, broker, **env)
    ann, _ = await presence_client(a, "ann")
    bob, state = await presence_client(b, "bob")
    if "ann" not in names(state["members"]):
        # Bob joined before ann's join reached process B: it arrives as a diff.
        assert names((await next_diff(bob))["joins"]) == {"ann"}
    assert names((await next_diff(ann))["joins"]) == {"bob"}
    await bob.send(json.dumps({"type": "leave", "channel": "room:1"}))
    assert names((await next_diff(ann))["leaves"]) == {"bob"}
    await bob.send(json.dumps({"type": "join", "channel": "room:1", "meta": {"name": "bob"}}))
    assert names((await next_diff(ann))["joins"]) == {"bob"}
    b.kill()  # no goodbye: its members must leave by the heartbeat timeout
    assert names((await next_diff(ann, timeout=20))["leaves"]) == {"bob"}
    await ann.close()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_serve_with_two_workers_delivers_every_change_once(spawn: Spawn, tmp_path: Any, database: str) -> None:
    if database == "postgresql":
        from tests.conftest import require_postgres, reset_postgres

        require_postgres()
        await reset_postgres()
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{tmp_path / 'workers.db'}"
    server = await spawn(url, broker_url("redis"), "--workers", "2")
    watchers = [await subscriber(server, f"w{i}") for i in range(4)]
    created = [await create_order(server, i, "w") for i in range(30)]
    for ws in watchers:
        changes = await collect(ws, len(created))
        assert_exactly_once_in_order(changes, created)
        await ws.close()
