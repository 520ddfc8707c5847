"""Real server processes for scale-out tests: `objectql serve` subprocesses on one database and broker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL, require_postgres, require_redis, reset_postgres, write_objects

ORDERS = """
fields:
  status: {type: select, options: [pending, paid], default: pending}
  total:  {type: number}
  origin: {type: text}
"""
BROKERS = ("redis", "postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/realtime"

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)


def broker_url(kind: str) -> str:
    if kind == "redis":
        require_redis()
        return REDIS_URL
    require_postgres()
    return POSTGRES_URL


Spawn = Callable[..., Awaitable[Process]]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    """``await spawn(database_url, broker_url, **env)``: a running `objectql serve` process."""
    app_dir = write_objects(tmp_path / "app", {"orders": ORDERS})
    started: list[Process] = []
    prefix = f"test{os.getpid()}-{tmp_path.name}"

    async def factory(database_url: str, broker: str, *extra: str, **env: str) -> Process:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        environ = {
            **os.environ,
            "OBJECTQL_BROKER_PREFIX": prefix,
            "OBJECTQL_LOG_LEVEL": "warning",
            **env,
        }
        command = [
            sys.executable,
            "-m",
            "objectql.server.cli",
            "serve",
            str(app_dir),
            "--port",
            str(port),
            "--db",
            database_url,
            "--broker",
            broker,
            *extra,
        ]
        with log.open("wb") as out:
            popen = subprocess.Popen(command, env=environ, stdout=out, stderr=subprocess.STDOUT)
        process = Process(popen, port, log)
        started.append(process)
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                if popen.poll() is not None:
                    raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
                try:
                    if (await client.get(f"{process.http}/health", timeout=1)).status_code == 200:
                        return process
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server did not become healthy: {log.read_text()[-2000:]}")

    yield factory
    for process in started:
        if process.popen.poll() is None:
            process.popen.terminate()
    for process in started:
        try:
            process.popen.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
async def postgres_database() -> str:
    require_postgres()
    await reset_postgres()
    return POSTGRES_URL


async def create_order(process: Process, total: int, origin: str) -> str:
    query = "mutation ($t: Float, $o: String) { createOrders(input: {total: $t, origin: $o}) { id } }"
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{process.http}/graphql", json={"query": query, "variables": {"t": total, "o": origin}}
        )
    body = response.json()
    assert "errors" not in body, body
    return str(body["data"]["createOrders"]["id"])
