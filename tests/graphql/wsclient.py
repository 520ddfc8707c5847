"""Small GraphQL test clients: over WebSocket in either subprotocol (raw frames, bounded waits), HTTP POST and
graphql-sse; :func:`result` runs one operation over any of them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import websockets

from tests.realtime.conftest import LiveServer

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, LEGACY_WS)
SSE = "graphql-sse"
# Every way to send a document: HTTP POST, both WebSocket subprotocols and graphql-sse.
TRANSPORTS = ("http", *PROTOCOLS, SSE)
STREAM = {"accept": "text/event-stream"}


class GraphQLWS:
    def __init__(self, ws: Any, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    @property
    def start_type(self) -> str:
        return "subscribe" if self.protocol == TRANSPORT_WS else "start"

    @property
    def next_type(self) -> str:
        return "next" if self.protocol == TRANSPORT_WS else "data"

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return message

    async def init(self, payload: dict[str, Any] | None = None) -> None:
        await self.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        assert (await self.recv())["type"] == "connection_ack"

    async def start(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": op_id, "type": self.start_type, "payload": payload})

    async def next(self, op_id: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next result payload (for ``op_id`` when given; other messages fail the test)."""
        message = await self.recv(timeout)
        assert message["type"] == self.next_type, message
        if op_id is not None:
            assert message["id"] == op_id, message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def error(self, op_id: str) -> list[dict[str, Any]]:
        message = await self.recv()
        assert message["type"] == "error" and message["id"] == op_id, message
        payload = message["payload"]
        return payload if isinstance(payload, list) else [payload]

    async def execute(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.start(op_id, query, variables)
        payload = await self.next(op_id)
        assert (await self.recv())["type"] == "complete"
        return payload

    async def closed_with(self, timeout: float = 5.0) -> int:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as exc:
            return int(exc.rcvd.code) if exc.rcvd is not None else 1006


async def open_ws(
    server: LiveServer, protocol: str = TRANSPORT_WS, payload: dict[str, Any] | None = None, *, init: bool = True
) -> GraphQLWS:
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/graphql", subprotocols=[protocol])
    client = GraphQLWS(ws, protocol)
    if init:
        await client.init(payload)
    return client


async def post(
    server: LiveServer,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        return await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def registered(server: LiveServer, count: int) -> None:
    """Wait until the hub holds ``count`` subscriptions (GraphQL protocols have no subscribe ack)."""
    hub = server.realtime.require_hub()
    for _ in range(500):
        if hub.subscription_count >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {hub.subscription_count} of {count} subscriptions registered")


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of an SSE response."""
    kind, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            kind = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data = line[len("data:") :].strip()
        elif line == "" and kind:
            yield kind, data
            kind, data = "", ""


async def stream(
    server: LiveServer, query: str, headers: dict[str, str] | None = None, variables: dict[str, Any] | None = None
) -> list[tuple[str, Any]]:
    """Every event of one graphql-sse operation's stream, until `complete`."""
    out: list[tuple[str, Any]] = []
    body = {"query": query, "variables": variables}
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=10) as client,
        client.stream("POST", "/graphql", json=body, headers={**STREAM, **(headers or {})}) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        async for kind, data in events(r):
            out.append((kind, json.loads(data) if data else None))
            if kind == "complete":
                break
    return out


async def result(
    server: LiveServer,
    transport: str,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """The first result of one operation over ``transport`` (one of :data:`TRANSPORTS`): ``{"data"?, "errors"?}``;
    an operation refused on a WebSocket (an ``error`` message) as ``{"errors": [...]}``."""
    if transport == "http":
        body: dict[str, Any] = (await post(server, query, variables, token)).json()
        return body
    if transport == SSE:
        headers = {"authorization": f"Bearer {token}"} if token else None
        kind, payload = (await stream(server, query, headers, variables))[0]
        assert kind == "next", (kind, payload)
        return dict(payload)
    client = await open_ws(server, transport, {"authorization": token} if token else None)
    try:
        await client.start("1", query, variables)
        message = await client.recv()
    finally:
        await client.ws.close()
    if message["type"] == "error":
        payload = message["payload"]
        return {"errors": payload if isinstance(payload, list) else [payload]}
    assert message["type"] == client.next_type, message
    return dict(message["payload"])


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]
