"""A parent rename fanned out to the subscribers whose nested data it changes: server CPU per rename with N
dependent subscriptions in K groups, beside an ordinary write reaching the same N in the same run.

Scenario: customers ``c0`` and ``c1``, and one order ``o0`` of ``c0``. ``--connections`` plain-WebSocket
connections hold N row subscriptions of the orders together, each with ``expand: {"customer": {"fields":
["name"]}}`` and one of K filters (``total >= -g``, which the order matches), so the server keeps K groups
of N / K subscribers. Three kinds of write, ``--writes`` of each, one at a time (the next once every message
of the previous one has been read):

- **update**: the order's ``total`` changes (an ordinary change: N ``modified`` messages, the customer read
  once per group to expand it);
- **rename**: ``c0`` is renamed (N ``related`` messages carrying the new name; the dependency index finds the
  K groups, each evaluated once);
- **unrelated**: ``c1``, which no order references, is renamed (no message; measured over the writes and a
  short settle).

    .venv/bin/python -m bench.related_fanout [--sizes 1000,10000] [--groups 10,100] [--writes 20]

Server CPU per write is the server's utime + stime over the writes divided by their number. Every message
is checked: a rename's carry ``action: "related"``, ``changed: ["customer"]`` and the new name. Progress goes
to stderr, the table to stdout; ``--out`` / ``--plot`` write docs/benchmarks.md's section and its PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from bench.common.realism import Realism
from bench.common.system import HOST, cpu_seconds, log
from bench.load.loadgen import STEP_TIMEOUT, open_plain, paced_chunks
from bench.load.wsclient import WSClient
from bench.report.related_fanout import REPORT
from bench.runs.results import RelatedRun
from bench.scenarios.command import add_run_arguments, each_run, parse_sizes, parser_for, run_command, stop_run
from bench.servers.process import OBJECTQL, ServerProcess

OBJECTS = {
    "customers": "fields:\n  name: {type: text}\n",
    "orders": "fields:\n  customer: {type: lookup, reference_to: customers}\n  total: {type: number}\n",
}
KINDS = ("update", "rename", "unrelated")
SETTLE = 0.5  # seconds after the last unrelated rename, for its events to be dispatched


class Cell(NamedTuple):
    n: int
    k: int

    def label(self) -> str:
        return f"N={self.n:,}, K={self.k:,}"


class Subscribers:
    """Every connection's messages, counted together; each message checked against the write in flight."""

    def __init__(self) -> None:
        self.sockets: list[WSClient] = []
        self.acks = 0
        self.wanted = 0
        self.acked = asyncio.Event()
        self.arrived = asyncio.Event()
        self.expect_action = ""
        self.expect_name = ""
        self.received = 0
        self.failures: list[str] = []

    def on_text(self, ws: WSClient, payload: bytes, now: float) -> None:
        msg = json.loads(payload)
        kind = msg.get("type")
        if kind == "subscribed":
            self.acks += 1
            if self.acks >= self.wanted:
                self.acked.set()
        elif kind == "change":
            self.received += 1
            self.check(msg)
            if self.received >= self.wanted:
                self.arrived.set()
        elif kind not in ("auth_ok", "pong"):
            self.failures.append(payload.decode(errors="replace")[:200])

    def check(self, msg: dict[str, Any]) -> None:
        if len(self.failures) >= 10:
            return
        ref = (msg.get("record") or {}).get("customer_ref") or {}
        if msg.get("action") != self.expect_action:
            self.failures.append(f"action {msg.get('action')!r}, not {self.expect_action!r}")
        elif self.expect_action == "related" and msg.get("changed") != ["customer"]:
            self.failures.append(f"changed {msg.get('changed')!r}")
        elif ref.get("name") != self.expect_name:
            self.failures.append(f"customer_ref {ref!r}, not named {self.expect_name!r}")

    def expect(self, action: str, name: str, messages: int) -> None:
        self.expect_action, self.expect_name = action, name
        self.wanted, self.received = messages, 0
        self.arrived.clear()

    async def open(self, port: int, path: str, cell: Cell, connections: int, realism: Realism) -> None:
        """``connections`` sockets, authenticated, holding subscriptions 0 … N-1 between them round-robin
        (subscription j in group j mod K); returns once every one is acknowledged."""
        self.wanted = cell.n
        for c in range(connections):
            authed = asyncio.Event()

            def on_text(ws: WSClient, payload: bytes, now: float, authed: asyncio.Event = authed) -> None:
                if payload.startswith(b'{"type":"auth_ok"'):
                    authed.set()
                self.on_text(ws, payload, now)

            self.sockets.append(await open_plain(port, path, on_text, authed, realism, c))

        async def subscribe(c: int) -> None:
            ws = self.sockets[c]
            async for chunk in paced_chunks(range(c, cell.n, connections)):
                for j in chunk:
                    ws.send_text(subscribe_message(j, cell.k))

        await asyncio.gather(*(subscribe(c) for c in range(connections)))
        await asyncio.wait_for(self.acked.wait(), STEP_TIMEOUT)

    def close(self) -> None:
        for ws in self.sockets:
            ws.close()


def subscribe_message(j: int, k: int) -> str:
    return json.dumps(
        {
            "type": "subscribe",
            "id": f"s{j}",
            "object": "orders",
            "filters": [["total", ">=", -(j % k)]],
            "expand": {"customer": {"fields": ["name"]}},
        },
        separators=(",", ":"),
    )


class GraphQL:
    """The writer: GraphQL mutations over HTTP, as users write."""

    def __init__(self, port: int, realism: Realism) -> None:
        self.client = httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}", headers=realism.writer_headers(), timeout=120.0
        )

    async def run(self, query: str) -> None:
        response = await self.client.post("/graphql", json={"query": query})
        if response.status_code != 200 or response.json().get("errors"):
            raise RuntimeError(f"mutation answered {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self.client.aclose()


async def measure(
    server: ServerProcess, writer: GraphQL, subs: Subscribers, kind: str, cell: Cell, writes: int, limit: float
) -> float:
    """Server CPU milliseconds per write of ``kind`` (``writes`` of them, one at a time); NaN when a write's
    messages did not all come (said in ``subs.failures``)."""
    try:
        return await _measure(server, writer, subs, kind, cell, writes, limit)
    except TimeoutError:
        subs.failures.append(f"{kind}: {subs.received:,}/{subs.wanted:,} messages within {limit:g} s")
        return float("nan")


async def _measure(
    server: ServerProcess, writer: GraphQL, subs: Subscribers, kind: str, cell: Cell, writes: int, limit: float
) -> float:
    cpu0 = cpu_seconds(server.pid)
    for w in range(writes):
        name = f"renamed {kind} {w}"
        if kind == "update":
            subs.expect("update", "customer zero", cell.n)
            await writer.run(f'mutation {{ updateOrders(id: "o0", input: {{total: {w + 2}}}) {{ id }} }}')
        elif kind == "rename":
            subs.expect("related", name, cell.n)
            await writer.run(f'mutation {{ updateCustomers(id: "c0", input: {{name: "{name}"}}) {{ id }} }}')
        else:
            subs.expect("none", "", 0)
            await writer.run(f'mutation {{ updateCustomers(id: "c1", input: {{name: "{name}"}}) {{ id }} }}')
            continue
        await asyncio.wait_for(subs.arrived.wait(), limit)
        if kind == "rename":
            # Back to the name the next update's messages carry.
            subs.expect("related", "customer zero", cell.n)
            await writer.run('mutation { updateCustomers(id: "c0", input: {name: "customer zero"}) { id } }')
            await asyncio.wait_for(subs.arrived.wait(), limit)
    if kind == "unrelated":
        await asyncio.sleep(SETTLE)
    spent = cpu_seconds(server.pid) - cpu0
    # A rename is measured with the rename back: two renames per write.
    return spent * 1e3 / (writes * (2 if kind == "rename" else 1))


async def run_one(cell: Cell, args: argparse.Namespace, tmp: Path, source: Path) -> RelatedRun:
    label = f"N={cell.n:,} in K={cell.k:,} groups"
    workdir = Path(tempfile.mkdtemp(prefix=f"related-{cell.n}-{cell.k}-", dir=tmp))
    realism = Realism.from_args(args)
    per_connection = -(-cell.n // args.connections)
    server = ServerProcess(OBJECTQL, workdir, max_subscriptions=per_connection, source=source, realism=realism,
                           objects=OBJECTS)  # fmt: skip
    writer: GraphQL | None = None
    subs = Subscribers()
    try:
        await asyncio.to_thread(server.wait_ready)
        writer = GraphQL(server.port, realism)
        await writer.run('mutation { createCustomers(input: {id: "c0", name: "customer zero"}) { id } }')
        await writer.run('mutation { createCustomers(input: {id: "c1", name: "customer one"}) { id } }')
        await writer.run('mutation { createOrders(input: {id: "o0", customer: "c0", total: 1}) { id } }')
        log(f"{label}: subscribing over {args.connections} connections")
        started = time.monotonic()
        await subs.open(server.port, server.path, cell, args.connections, realism)
        log(f"{label}: subscribed in {time.monotonic() - started:.1f} s")
        cpu = {kind: await measure(server, writer, subs, kind, cell, args.writes, args.drain_timeout) for kind in KINDS}
        return RelatedRun(
            n=cell.n, groups=cell.k, connections=args.connections, writes=args.writes,
            update_ms=cpu["update"], rename_ms=cpu["rename"], unrelated_ms=cpu["unrelated"],
            failures=subs.failures[:10],
        )  # fmt: skip
    finally:
        subs.close()
        if writer is not None:
            await writer.close()
        await stop_run(None, server)


def build_parser() -> argparse.ArgumentParser:
    p = parser_for(REPORT.module, __doc__)
    p.add_argument("--sizes", type=parse_sizes, default=[1000, 10000], help="N dependent subscriptions")
    p.add_argument("--groups", type=parse_sizes, default=[10, 100], help="K groups they fall in")
    p.add_argument("--writes", type=int, default=20, help="writes of each kind per run")
    p.add_argument("--connections", type=int, default=50, help="sockets holding the subscriptions")
    add_run_arguments(p, drain_timeout=120.0, plot_example="docs/benchmarks-related-fanout.png", clients=False)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cells = [Cell(n, k) for n in args.sizes for k in args.groups if k <= n]
    return run_command(
        REPORT, args, argv, lambda: each_run(cells, args, run_one, label=Cell.label, summary=RelatedRun.summary)
    )
