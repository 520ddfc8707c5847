"""The naive GraphQL server of the GraphQL benchmark: what most users would write with strawberry alone.

``ordersChanged(where: {status: {eq: …}, customer: {eq: …}})`` — the documents our server takes — is an
async generator over a queue of its own: every write is put on every subscriber's queue, and each
subscriber filters it and, when it matches, yields an ``OrdersChange`` that strawberry executes and
serialises for that subscriber alone (graphql-transport-ws, strawberry's own ASGI ``GraphQL`` app). Nothing
is shared between subscribers and nothing is stored; a write arrives as ``POST /bench/write`` (a JSON
record, answered 201 once it is on every queue). ``GET /bench/stats`` counts the subscribers' queues.

    python -m bench.servers.naive_strawberry --port P
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from bench.common.system import HOST, raise_nofile

# Like OBJECTQL_WS_QUEUE: a subscriber this far behind loses the write (counted; the benchmark reports
# it as missing), so one slow subscriber cannot hold every write's memory.
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Event:
    seq: int
    record: dict[str, Any]


@strawberry.type
class Orders:
    id: strawberry.ID
    status: str | None = None
    total: float | None = None
    customer: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


@strawberry.type
class OrdersChange:
    seq: str
    effect: str
    record: Orders | None


@strawberry.input
class StringFilter:
    eq: str | None = None


@strawberry.input
class OrdersFilter:
    status: StringFilter | None = None
    customer: StringFilter | None = None


def matches(where: OrdersFilter | None, record: dict[str, Any]) -> bool:
    if where is None:
        return True
    for name in ("status", "customer"):
        criterion: StringFilter | None = getattr(where, name)
        if criterion is not None and criterion.eq is not None and record.get(name) != criterion.eq:
            return False
    return True


class Feed:
    """Every subscriber's queue; a write goes on all of them."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[Event]] = set()
        self.seq = itertools.count(1)
        self.ids = itertools.count(1)
        self.dropped = 0

    def publish(self, data: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        # An id as long as ours, so both servers send messages of about the same size.
        record = {"id": f"{next(self.ids):010d}{secrets.token_hex(8)}", **data, "created_at": now, "updated_at": now}
        event = Event(next(self.seq), record)
        for queue in self.queues:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1


FEED = Feed()


@strawberry.type
class Query:
    @strawberry.field
    def ping(self) -> str:
        return "pong"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def orders_changed(self, where: OrdersFilter | None = None) -> AsyncGenerator[OrdersChange, None]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        FEED.queues.add(queue)
        try:
            while True:
                event = await queue.get()
                if matches(where, event.record):
                    yield OrdersChange(seq=str(event.seq), effect="ADDED", record=Orders(**event.record))
        finally:
            FEED.queues.discard(queue)


SCHEMA = strawberry.Schema(query=Query, subscription=Subscription)


async def bench_write(request: Request) -> JSONResponse:
    FEED.publish(await request.json())
    return JSONResponse({"ok": True}, status_code=201)


async def bench_stats(request: Request) -> JSONResponse:
    return JSONResponse({"subscriptions": len(FEED.queues), "dropped": FEED.dropped})


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


def build_app() -> Any:
    graphql = GraphQL(SCHEMA, graphql_ide=None, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,))
    routes = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/bench/write", bench_write, methods=["POST"]),
            Route("/bench/stats", bench_stats, methods=["GET"]),
        ]
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"] == "/graphql":
            await graphql(scope, receive, send)
        else:
            await routes(scope, receive, send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers.naive_strawberry")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    # The same server stack and WebSocket limits as ours: uvicorn on uvloop and httptools, no access log.
    uvicorn.run(
        build_app(),
        host=HOST,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws_max_size=65_536,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
    )


if __name__ == "__main__":
    main()
