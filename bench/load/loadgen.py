"""A load-generator worker process: opens its share of the subscribers and timestamps what they receive.

The orchestrator (``bench.fanout`` and its siblings) starts a few of these with a :class:`Plan` and talks
to each over a pipe: the worker reports progress while it connects, then ``ready``; it answers ``status``
with the number of change messages received (warm-up writes, whose ``total`` is negative, counted apart);
on ``finish`` it sends every ``(write index, received at)`` pair and its checks, closes its sockets and
exits. It exits too when the pipe closes (the orchestrator is gone).

Realistic by default: each socket offers permessage-deflate as a browser does and, when the plan carries
a JWT secret, authenticates with a token of its own (users ``user0`` … share one role, as an app's users
do). Two protocols: ``plain`` (``/api/realtime`` and the baseline: ``auth`` then ``subscribe``, each acked) and
``graphql`` (``graphql-transport-ws``: ``connection_init`` → ``connection_ack``, then ``subscribe``, which
the protocol never acknowledges — the orchestrator asks the server how many subscriptions it holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from array import array
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

from bench.common.realism import Realism, subscriber_token
from bench.common.system import HOST, raise_nofile
from bench.load.wsclient import OnText, WSClient

ALL_MATCHING = "all"
DISTINCT = "distinct"
# Every subscriber watches one live window (the 10 biggest paid orders) or one live aggregate (count and
# maximum total of the paid orders): each write, a bigger total than any before, enters the window at index
# 0 (pushing the last row out once it is full) and changes the aggregate.
WINDOW = "window"
AGGREGATE = "aggregate"
SHARED = (ALL_MATCHING, WINDOW, AGGREGATE)
PLAIN = "plain"
GRAPHQL = "graphql"
GRAPHQL_SUBPROTOCOL = "graphql-transport-ws"
# The GraphQL documents of the two scenarios: one document and variables for all, or one customer each.
ALL_DOCUMENT = (
    "subscription ($s: String) { ordersChanged(where: {status: {eq: $s}}) "
    "{ seq effect record { id status total customer } } }"
)
DISTINCT_DOCUMENT = (
    "subscription ($c: String) { ordersChanged(where: {customer: {eq: $c}}) "
    "{ seq effect record { id status total customer } } }"
)
# The server closes a connection sending over 100 messages/s for 2 s (4429, docs/websocket.md): subscribe in chunks
# of 50, each after the previous chunk's acks and at least a second after the previous chunk was sent,
# so no one-second window of the server ever counts more than 100 of this connection's messages.
CHUNK = 50
CHUNK_INTERVAL = 1.0
CONNECT_ATTEMPTS = 3
STEP_TIMEOUT = 120.0
PROGRESS_INTERVAL = 1.0

_TOTAL = re.compile(rb'"total":\s*(-?[0-9.eE+]+)')
_NEXT = re.compile(rb'"type":\s*"next"')


@dataclass(frozen=True)
class Plan:
    """One worker's share: connections as ``[start, stop)`` ranges of global subscription numbers."""

    port: int
    path: str
    scenario: str
    connections: list[tuple[int, int]]
    concurrency: int = 100
    protocol: str = PLAIN
    # HS256 secret the server checks tokens with; None: an open server (anonymous connections).
    secret: str | None = None
    offer_deflate: bool = True


def one_per_socket(n: int) -> list[tuple[int, int]]:
    """The connections of N subscriptions, one per socket (the ranges :func:`share_out` deals out)."""
    return [(i, i + 1) for i in range(n)]


def share_out(
    ranges: list[tuple[int, int]], clients: int, target: tuple[int, str, str], realism: Realism, protocol: str = PLAIN
) -> list[Plan]:
    """Connections (``ranges`` of subscription numbers) dealt out over ``clients`` load-generator processes.

    ``target`` is (port, path, scenario). Each opens at most 100 sockets at once: connects come in batches,
    not as a stampede.
    """
    port, path, scenario = target
    plans = [
        Plan(
            port,
            path,
            scenario,
            ranges[w::clients],
            concurrency=100,
            protocol=protocol,
            secret=realism.secret,
            offer_deflate=realism.offer_deflate,
        )
        for w in range(clients)
    ]
    return [p for p in plans if p.connections]


async def paced_chunks(ids: range) -> AsyncIterator[range]:
    """``ids`` in chunks of ``CHUNK``, each at least ``CHUNK_INTERVAL`` after the previous one: what the
    caller sends for a chunk (and the acks it waits for) happens between two of them."""
    loop = asyncio.get_running_loop()
    for first in range(0, len(ids), CHUNK):
        sent_at = loop.time()
        yield ids[first : first + CHUNK]
        if first + CHUNK < len(ids):
            await asyncio.sleep(max(0.0, sent_at + CHUNK_INTERVAL - loop.time()))


async def open_plain(
    port: int, path: str, on_text: OnText, authed: asyncio.Event, realism: Realism, n: int = 0
) -> WSClient:
    """One plain-WebSocket connection, opened and authenticated as subscriber ``n``: returns once ``authed``
    is set (``on_text`` sets it on ``auth_ok``)."""
    loop = asyncio.get_running_loop()
    _, ws = await asyncio.wait_for(
        loop.create_connection(
            lambda: WSClient(HOST, port, path, on_text, offer_deflate=realism.offer_deflate), HOST, port
        ),
        STEP_TIMEOUT,
    )
    await asyncio.wait_for(ws.opened, STEP_TIMEOUT)
    token = subscriber_token(realism.secret, n) if realism.secret is not None else None
    ws.send_text(json.dumps({"type": "auth", "token": token}))
    await asyncio.wait_for(authed.wait(), STEP_TIMEOUT)
    return ws


def auth_message(plan: Plan, n: int, protocol: str = PLAIN) -> str:
    """The first message of connection ``n``: plain ``auth`` or GraphQL ``connection_init``."""
    token = subscriber_token(plan.secret, n) if plan.secret is not None else None
    if protocol == GRAPHQL:
        payload = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return json.dumps({"type": "connection_init", "payload": payload})
    return json.dumps({"type": "auth", "token": token})


def subscribe_message(scenario: str, j: int, protocol: str = PLAIN) -> str:
    if protocol == GRAPHQL:
        query, variables = (
            (ALL_DOCUMENT, {"s": "paid"}) if scenario == ALL_MATCHING else (DISTINCT_DOCUMENT, {"c": f"c{j}"})
        )
        op_id = "s1" if scenario == ALL_MATCHING else f"s{j}"
        payload = {"query": query, "variables": variables}
        return json.dumps({"id": op_id, "type": "subscribe", "payload": payload}, separators=(",", ":"))
    if scenario == ALL_MATCHING:
        return '{"type":"subscribe","id":"s1","object":"orders","filters":[["status","=","paid"]]}'
    if scenario == WINDOW:
        return (
            '{"type":"subscribe","id":"s1","object":"orders","filters":[["status","=","paid"]],'
            '"sort":[["total","desc"]],"limit":10,"fields":["status","total","customer"]}'
        )
    if scenario == AGGREGATE:
        return (
            '{"type":"subscribe","id":"s1","object":"orders","filters":[["status","=","paid"]],'
            '"aggregate":{"count":true,"max":["total"]}}'
        )
    return f'{{"type":"subscribe","id":"s{j}","object":"orders","filters":[["customer","=","c{j}"]]}}'


@dataclass(eq=False)
class Subscriber:
    """One socket and the acks it waits for."""

    start: int
    stop: int
    ws: WSClient | None = None
    authed: asyncio.Event = field(default_factory=asyncio.Event)
    acks: int = 0
    wanted: int = 0
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    validated: int = 0


class Worker:
    def __init__(self, plan: Plan, pipe: Pipe) -> None:
        self.plan = plan
        self.pipe = pipe
        self.subscribers: dict[WSClient, Subscriber] = {}
        self.indexes = array("i")
        self.times = array("d")
        self.connected = 0
        self.subscribed = 0
        self.warm = 0
        self.graphql = plan.protocol == GRAPHQL
        self.failures: list[str] = []
        self.bad_messages: list[str] = []
        self.closes: Counter[int] = Counter()
        self.live = False
        self.done = asyncio.Event()

    # -- messages from the servers -------------------------------------------------------------

    def on_text(self, ws: WSClient, payload: bytes, now: float) -> None:
        if self.plan.scenario == WINDOW and (
            b'"effect":"removed"' in payload or payload.startswith(b'{"type":"snapshot"')
        ):
            return  # the row a write pushed out of the window, and the window's first rows: not a write's message
        if self._is_change(payload):
            found = _TOTAL.search(payload)
            if found is None:
                self._bad(payload)
                return
            index = int(float(found[1]))
            if index >= 0:
                self.indexes.append(index)
                self.times.append(now)
            else:
                self.warm += 1
            sub = self.subscribers[ws]
            # Every message of the distinct scenario is checked; of the other, each socket's first.
            if self.plan.scenario == DISTINCT or sub.validated == 0:
                sub.validated += 1
                self._check_change(payload)
            return
        msg = json.loads(payload)
        sub = self.subscribers[ws]
        kind = msg.get("type")
        if kind in ("auth_ok", "connection_ack"):
            sub.authed.set()
        elif kind == "ping" and self.graphql:
            ws.send_text('{"type":"pong"}')
        elif kind in ("error", "complete") and self.graphql:
            # graphql-transport-ws acknowledges nothing: an error or an early end is a failed subscription.
            self.failures.append(payload.decode()[:200])
        elif kind in ("subscribed", "error"):
            if kind == "error":
                self.failures.append(payload.decode()[:200])
            sub.acks += 1
            if sub.acks >= sub.wanted:
                sub.acked.set()
        else:
            self._bad(payload)

    def _is_change(self, payload: bytes) -> bool:
        if self.graphql:
            return _NEXT.search(payload, 0, 80) is not None
        if self.plan.scenario == AGGREGATE:
            return payload.startswith(b'{"type":"aggregate"')
        return payload.startswith(b'{"type":"change"')

    def _check_change(self, payload: bytes) -> None:
        msg: dict[str, Any] = json.loads(payload)
        if self.graphql:
            change = ((msg.get("payload") or {}).get("data") or {}).get("ordersChanged") or {}
            ok = change.get("effect") == "ADDED"
        elif self.plan.scenario == AGGREGATE:
            (group,) = msg.get("groups") or [{}]
            ok = msg.get("id") == "s1" and group.get("key") == {} and isinstance(group.get("count"), int)
            if not ok:
                self._bad(payload)
            return
        elif self.plan.scenario == WINDOW:
            change = msg
            ok = msg.get("effect") == "added" and msg.get("index") == 0 and msg.get("object") == "orders"
        else:
            change = msg
            ok = msg.get("action") == "create" and msg.get("effect") == "added" and msg.get("object") == "orders"
        record = change.get("record") or {}
        if self.plan.scenario in SHARED:
            ok = ok and msg.get("id") == "s1" and record.get("status") == "paid"
        else:
            ok = ok and isinstance(msg.get("id"), str) and record.get("customer") == "c" + msg["id"][1:]
        if not ok:
            self._bad(payload)

    def _bad(self, payload: bytes) -> None:
        if len(self.bad_messages) < 20:
            self.bad_messages.append(payload.decode(errors="replace")[:300])

    # -- setup ---------------------------------------------------------------------------------

    async def open(self, sem: asyncio.Semaphore, sub: Subscriber) -> None:
        loop = asyncio.get_running_loop()
        async with sem:
            for attempt in range(CONNECT_ATTEMPTS):
                try:
                    _, ws = await asyncio.wait_for(
                        loop.create_connection(lambda: self._client(), HOST, self.plan.port),
                        STEP_TIMEOUT,
                    )
                    self.subscribers[ws] = sub
                    sub.ws = ws
                    await asyncio.wait_for(ws.opened, STEP_TIMEOUT)
                    break
                except (OSError, TimeoutError) as exc:
                    if attempt == CONNECT_ATTEMPTS - 1:
                        self.failures.append(f"connect: {exc!r}"[:200])
                        return
                    await asyncio.sleep(0.5 * (attempt + 1))
            assert sub.ws is not None
            ws = sub.ws
            ws.closed.add_done_callback(lambda f: self.closes.update([f.result()]))
            self.connected += 1
            ws.send_text(auth_message(self.plan, sub.start, self.plan.protocol))
            await asyncio.wait_for(sub.authed.wait(), STEP_TIMEOUT)
            async for chunk in paced_chunks(range(sub.start, sub.stop)):
                sub.acked.clear()
                sub.wanted += len(chunk)
                for j in chunk:
                    ws.send_text(subscribe_message(self.plan.scenario, j, self.plan.protocol))
                if not self.graphql:
                    await asyncio.wait_for(sub.acked.wait(), STEP_TIMEOUT)
                self.subscribed += len(chunk)

    def _client(self) -> WSClient:
        subprotocol = GRAPHQL_SUBPROTOCOL if self.graphql else None
        return WSClient(
            HOST, self.plan.port, self.plan.path, self.on_text, subprotocol, offer_deflate=self.plan.offer_deflate
        )

    async def setup(self) -> None:
        sem = asyncio.Semaphore(self.plan.concurrency)
        subs = [Subscriber(start, stop) for start, stop in self.plan.connections]
        tasks = [asyncio.create_task(self.open(sem, sub)) for sub in subs]
        reporter = asyncio.create_task(self._report_progress())
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
        for result in results:
            if isinstance(result, BaseException):
                self.failures.append(f"setup: {result!r}"[:200])
        self.send("ready", self.counts())

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            self.send("progress", self.counts())

    def counts(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "subscribed": self.subscribed,
            "failures": len(self.failures),
            "first_failures": self.failures[:5],
        }

    # -- the pipe ------------------------------------------------------------------------------

    def send(self, kind: str, data: Any) -> None:
        self.pipe.send((kind, data))

    def on_pipe(self) -> None:
        try:
            kind = self.pipe.recv()
        except (EOFError, OSError):
            self.done.set()
            return
        if kind == "status":
            self.send("status", {"received": len(self.indexes), "warm": self.warm, "closes": dict(self.closes)})
        elif kind == "finish":
            result = {
                "indexes": self.indexes.tobytes(),
                "times": self.times.tobytes(),
                "bad_messages": self.bad_messages,
                "closes": dict(self.closes),
                "failures": self.failures[:20],
            }
            self.send("result", result)
            self.done.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self.on_pipe)
        # uvloop makes a watched fd non-blocking; the result sent on ``finish`` is larger than a pipe's
        # buffer, and the orchestrator is reading it then, so a blocking write is what we want.
        os.set_blocking(self.pipe.fileno(), True)
        setup = asyncio.create_task(self.setup())
        await self.done.wait()
        setup.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await setup
        loop.remove_reader(self.pipe.fileno())
        for ws in list(self.subscribers):
            ws.close()
        # Let the close frames go out; the servers see the sockets end either way.
        closing = [ws.closed for ws in self.subscribers]
        if closing:
            await asyncio.wait(closing, timeout=5.0)


def worker_main(plan: Plan, pipe: Pipe) -> None:
    """Entry point of a worker process."""
    raise_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        asyncio.run(Worker(plan, pipe).run())
    else:
        uvloop.run(Worker(plan, pipe).run())
