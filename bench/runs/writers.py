"""How a fan-out benchmark writes to each kind of server: ours through GraphQL mutations (or the bench-only
route), the naive server through its route, the baseline through messages on a control socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common.realism import Realism
from bench.common.system import HOST
from bench.servers.process import BASELINE, OBJECTQL

TIMEOUT = 300.0
MAX_CONNECTIONS = 50
MUTATION = "mutation ($input: OrdersInput!) { createOrders(input: $input) { id } }"


class Writer(Protocol):
    async def write(self, record: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class HttpWriter:
    """Writes through a server's ``POST /bench/write`` (ours: a bench-only route; the naive server's too)."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.client = httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}",
            timeout=httpx.Timeout(TIMEOUT),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
            headers=headers,
        )

    async def write(self, record: dict[str, Any]) -> None:
        response = await self.client.post("/bench/write", json=record)
        if response.status_code != 201:
            raise RuntimeError(f"write answered {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self.client.aclose()


class GraphQLWriter(HttpWriter):
    """Writes as users do: one ``createOrders`` mutation per write over ``POST /graphql``, with a token."""

    async def write(self, record: dict[str, Any]) -> None:
        response = await self.client.post("/graphql", json={"query": MUTATION, "variables": {"input": record}})
        body = response.json() if response.status_code == 200 else None
        if body is None or body.get("errors"):
            raise RuntimeError(f"mutation answered {response.status_code}: {response.text[:200]}")


class WsWriter:
    """Writes to the baseline: ``bench_write`` messages on a control socket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, port: int) -> WsWriter:
        ws = await connect(f"ws://{HOST}:{port}/", max_size=None, open_timeout=30)
        await ws.send('{"type":"auth","token":null}')
        await asyncio.wait_for(ws.recv(), 30)
        return cls(ws)

    async def write(self, record: dict[str, Any]) -> None:
        await self.ws.send(json.dumps({"type": "bench_write", "object": "orders", "record": record}))

    async def close(self) -> None:
        await self.ws.close()


async def writer_for(kind: str, port: int, realism: Realism) -> Writer:
    """How a benchmark writes to a server of ``kind`` (ours in the realistic mode: GraphQL mutations)."""
    if kind == BASELINE:
        return await WsWriter.open(port)
    if kind == OBJECTQL and realism.graphql_writes:
        return GraphQLWriter(port, realism.writer_headers())
    return HttpWriter(port)
