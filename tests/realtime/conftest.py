"""A real server per test: uvicorn on a free localhost port, driven over real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette

from objectql import ObjectQL
from objectql.errors import Unavailable
from objectql.realtime.service import Realtime
from objectql.server.admission import ServerPolicy
from objectql.server.app import create_app, uvicorn_options
from objectql.server.settings import Settings
from tests.conftest import OWNER_ROWS_HIDDEN_COST, write_objects

SECRET = "realtime-test-secret-0123456789abcdef"

ORDERS = (
    """
fields:
  status: {type: select, options: [pending, paid, shipped, cancelled], default: pending}
  total:  {type: number}
  owner:  {type: text}
  note:   {type: text}
  cost:   {type: number}
"""
    + OWNER_ROWS_HIDDEN_COST
)
NOTES = """
fields:
  text: {type: text}
"""


@dataclass
class LiveServer:
    app: Starlette
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/realtime"

    @property
    def engine(self) -> ObjectQL:
        engine: ObjectQL = self.app.state.engine
        return engine

    @property
    def realtime(self) -> Realtime:
        realtime: Realtime = self.app.state.realtime
        return realtime

    @property
    def policy(self) -> ServerPolicy:
        policy: ServerPolicy = self.app.state.policy
        return policy

    def set_limits(self, **limits: Any) -> None:
        """New per-connection limits, for the connections opened from now on."""
        policy = self.policy
        self.app.state.policy = dataclasses.replace(policy, limits=dataclasses.replace(policy.limits, **limits))

    def group_count(self, kind: type) -> int:
        """The live groups of one kind (:class:`AggregateGroup`, :class:`WindowGroup`, :class:`RowsGroup`)."""
        return len(self.realtime.require_hub().groups_of(kind))

    def token(self, sub: str, roles: list[str], ttl: float = 3600, **claims: Any) -> str:
        return str(self.policy.authenticator.mint(sub, roles, ttl, claims or None))


ServerFactory = Callable[..., Awaitable[LiveServer]]


@pytest.fixture
async def live_server(database_url: str, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """``await live_server(objects=..., presence=..., **env)``: a started server; stopped after the test.

    ``presence`` is the app's ``presence.yml`` (its channel rules).

    ``ws`` replaces the server's WebSocket protocol (e.g. uvicorn's own ``"websockets-sansio"``, which
    offers no frame writer, so every message takes the plain ASGI path).
    """
    started: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def factory(
        objects: dict[str, str] | None = None, *, ws: str | None = None, presence: str | None = None, **env: str
    ) -> LiveServer:
        app_dir = write_objects(tmp_path / f"app{len(started)}", objects or {"orders": ORDERS, "notes": NOTES})
        if presence is not None:
            (app_dir / "presence.yml").write_text(textwrap.dedent(presence), encoding="utf-8")
        # The collector policy is for server processes; the test process keeps Python's defaults.
        environ = {"OBJECTQL_DATABASE_URL": database_url, "OBJECTQL_GC_TUNING": "false", **env}
        settings = Settings.load({}, environ, app_dir=app_dir)
        app = create_app(app_dir, settings)
        options = uvicorn_options(settings)
        if ws is not None:
            options["ws"] = ws
        server, task, port = await start_uvicorn(app, **options)
        started.append((server, task))
        return LiveServer(app, port)

    yield factory
    for server, _ in started:
        server.should_exit = True
    for _, task in started:
        await asyncio.wait_for(task, 15)


Serve = Callable[..., Awaitable[int]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(app, **uvicorn_options)``: the port of a uvicorn serving ``app``; stopped after the test."""
    started: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def run(app: Any, **options: Any) -> int:
        server, task, port = await start_uvicorn(app, **options)
        started.append((server, task))
        return port

    yield run
    for server, task in started:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def start_uvicorn(app: Any, **options: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """uvicorn serving ``app`` on a free localhost port, started; the caller stops it (``should_exit``)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    assert server.started, "server did not start"
    return server, task, int(server.servers[0].sockets[0].getsockname()[1])


class Client:
    """A plain-WebSocket client that reads JSON messages with a bounded wait."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        message: dict[str, Any] = json.loads(data)
        return message

    async def expect(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        message = await self.recv(timeout)
        assert message["type"] == kind, message
        return message

    async def nothing(self, server: LiveServer) -> None:
        """Assert nothing is pending: once the hub has dispatched every commit, a ping's pong comes next."""
        await settle(server)
        await self.send({"type": "ping"})
        message = await self.recv()
        assert message == {"type": "pong"}, f"unexpected message {message}"

    async def closed_with(self, timeout: float = 5.0) -> int:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as exc:
            return int(exc.rcvd.code) if exc.rcvd is not None else 1006

    async def subscribe(self, sid: str, obj: str = "orders", **extra: Any) -> dict[str, Any]:
        await self.send({"type": "subscribe", "id": sid, "object": obj, **extra})
        return await self.expect("subscribed")


class Outage:
    """The database away for one kind of read: the first ``refused`` calls raise what the engine raises when
    its connection fails; the calls after them wait, as on a connection that does not answer, until
    :meth:`restore`. ``calls`` holds every call's arguments."""

    def __init__(self, read: Any, refused: int = 1) -> None:
        self.read = read
        self.refused = refused
        self.back = asyncio.Event()
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        if not self.back.is_set():
            if len(self.calls) <= self.refused:
                raise Unavailable("the database is unavailable; try again")
            await self.back.wait()
        return await self.read(*args)

    async def retried(self, calls: int) -> None:
        """Wait until there have been ``calls`` calls."""
        for _ in range(500):
            if len(self.calls) >= calls:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.calls)} reads, not {calls}")

    def restore(self) -> None:
        self.back.set()


async def settle(server: LiveServer) -> None:
    """Wait until the hub has dispatched everything committed so far, and finished rendering it."""
    hub = server.realtime.require_hub()
    assert await hub.caught_up(await server.engine.current_seq())
    await hub.drained()


async def drain(client: Client, server: LiveServer) -> list[dict[str, Any]]:
    """Every message pending for ``client`` once the hub has dispatched all commits."""
    await settle(server)
    await client.send({"type": "ping"})
    out = []
    while True:
        message = await client.recv()
        if message["type"] == "pong":
            return out
        out.append(message)


async def connect(server: LiveServer, token: str | None = None, *, auth: bool = True, **kwargs: Any) -> Client:
    ws = await websockets.connect(server.ws, max_size=None, **kwargs)
    client = Client(ws)
    if auth:
        await client.send({"type": "auth", "token": token})
        await client.expect("auth_ok")
    return client
