"""Many live aggregate groups on one connection: server CPU per write, and what a write sends, for K live
aggregates of G groups each, beside no subscription at all (K = 0, the baseline of the ratios) in the same run.

Scenario: G orders with distinct customers ``c0`` … ``c<G-1>`` are written first. One plain-WebSocket
connection then subscribes to K live aggregates of the orders, each the count and sum of ``total`` grouped by
``customer`` (G groups), and each with a filter of its own (``total >= -i``, which every order matches) so the
server keeps K states, none shared. Each write is one ``createOrders`` mutation into an existing group
(``customer = c<w mod G>``): every aggregate changes in one of its G groups and, with
``OBJECTQL_AGGREGATE_INTERVAL=0``, sends one message carrying all G groups — K messages of G groups per write.
One write at a time: the next is sent once every message of the previous one has been read.

    .venv/bin/python -m bench.aggregate_groups [--aggregates 0,10,100] [--groups 1000] [--writes 30]

Server CPU per write is the server process's utime + stime over the writes divided by their number; latency
runs from just before a write's mutation is sent to when the last of its K messages is read; bytes per write
are those K messages' payloads. Every message of a write must carry one seq, later than the previous write's,
and one of them is checked whole (G groups whose counts add up to the orders written). ``--profile DIR``
records a py-spy profile of the server over each run's writes and logs its top frames (py-spy takes CPU of
its own: profile in a run whose figures are not reported). Progress goes to stderr, the table to stdout;
``--out`` / ``--plot`` write docs/benchmarks.md's section and its PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common.realism import Realism
from bench.common.system import HOST, cpu_seconds, log
from bench.load.loadgen import STEP_TIMEOUT, open_plain, paced_chunks
from bench.load.workers import PROGRESS_EVERY
from bench.load.wsclient import WSClient
from bench.report.aggregate_groups import REPORT
from bench.runs.profile import Profiler, top_frames
from bench.runs.results import AggregatesRun, percentiles
from bench.runs.writers import Writer, writer_for
from bench.scenarios.command import Cell, add_run_arguments, each_run, parse_counts, parser_for, run_command, stop_run
from bench.servers.process import OBJECTQL, ServerProcess

SCENARIO = "aggregates"
SEED_CHUNK = 25  # orders per seeding mutation document (aliased createOrders fields; the server allows 30)
SEED_TOTAL = 1.5
WRITE_TOTAL = 2.0
PROFILE_ATTACH = 1.0  # seconds for py-spy to attach before the writes
_AGGREGATE = b'{"type":"aggregate"'
_SEQ = re.compile(rb'"seq":(\d+)')


def subscribe_message(i: int) -> str:
    """Aggregate ``a<i>``: count and sum of ``total`` per customer, under a filter no other one has."""
    return json.dumps(
        {
            "type": "subscribe",
            "id": f"a{i}",
            "object": "orders",
            "filters": [["total", ">=", -i]],
            "aggregate": {"count": True, "sum": ["total"]},
            "group_by": ["customer"],
        },
        separators=(",", ":"),
    )


class Listener:
    """The one connection's side: acks while it subscribes, then the aggregate messages of the write in flight."""

    def __init__(self) -> None:
        self.ws: WSClient | None = None
        self.authed = asyncio.Event()
        self.acked = asyncio.Event()
        self.acks = 0
        self.wanted_acks = 0
        self.arrived = asyncio.Event()
        self.wanted = 0
        self.messages = 0
        self.bytes = 0
        self.last_at = 0.0
        self.last = b""
        self.seqs: set[int] = set()
        self.failures: list[str] = []

    def on_text(self, ws: WSClient, payload: bytes, now: float) -> None:
        if payload.startswith(_AGGREGATE):
            found = _SEQ.search(payload, 0, 200)
            self.seqs.add(int(found[1]) if found is not None else -1)
            self.messages += 1
            self.bytes += len(payload)
            self.last, self.last_at = payload, now
            if self.messages >= self.wanted:
                self.arrived.set()
            return
        msg = json.loads(payload)
        kind = msg.get("type")
        if kind == "auth_ok":
            self.authed.set()
        elif kind in ("subscribed", "error"):
            if kind == "error":
                self.failures.append(payload.decode()[:200])
            self.acks += 1
            if self.acks >= self.wanted_acks:
                self.acked.set()
        elif kind != "pong":
            self.failures.append(f"unexpected: {payload.decode(errors='replace')[:200]}")

    def expect(self, messages: int) -> None:
        """Count afresh: ``messages`` aggregate messages are due."""
        self.wanted, self.messages, self.bytes = messages, 0, 0
        self.seqs.clear()
        self.arrived.clear()
        if messages == 0:
            self.arrived.set()

    async def open(self, port: int, path: str, aggregates: int, realism: Realism) -> None:
        """Connect, authenticate and subscribe ``aggregates`` aggregates (in chunks, as the rate limit wants),
        then wait for each one's first message."""
        ws = self.ws = await open_plain(port, path, self.on_text, self.authed, realism)
        self.expect(aggregates)
        async for chunk in paced_chunks(range(aggregates)):
            self.acked.clear()
            self.wanted_acks += len(chunk)
            for i in chunk:
                ws.send_text(subscribe_message(i))
            await asyncio.wait_for(self.acked.wait(), STEP_TIMEOUT)
        await asyncio.wait_for(self.arrived.wait(), STEP_TIMEOUT)

    def check(self, previous_seq: int, rows: int, groups: int) -> tuple[int, str | None]:
        """The write's messages: one seq, after ``previous_seq``; the last one whole. Returns (seq, problem)."""
        if len(self.seqs) != 1:
            return previous_seq, f"messages of one write carry seqs {sorted(self.seqs)[:5]}"
        (seq,) = self.seqs
        if seq <= previous_seq:
            return seq, f"seq {seq} after {previous_seq}"
        msg = json.loads(self.last)
        counted = sum(g["count"] for g in msg["groups"])
        if len(msg["groups"]) != groups or counted != rows:
            return seq, f"{msg['id']}: {len(msg['groups'])} groups counting {counted} orders, not {groups} / {rows}"
        return seq, None

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def seed_mutation(customers: range) -> dict[str, Any]:
    """One document creating an order for each of ``customers`` (aliased ``createOrders`` fields)."""
    variables = ", ".join(f"$r{i}: OrdersInput!" for i in customers)
    fields = " ".join(f"o{i}: createOrders(input: $r{i}) {{ id }}" for i in customers)
    rows = {f"r{i}": {"status": "paid", "total": SEED_TOTAL, "customer": f"c{i}"} for i in customers}
    return {"query": f"mutation ({variables}) {{ {fields} }}", "variables": rows}


async def seed(port: int, realism: Realism, groups: int) -> None:
    """One order per customer ``c0`` … ``c<groups-1>``, before anyone subscribes."""
    headers = realism.writer_headers()
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", headers=headers, timeout=120.0) as client:
        for start in range(0, groups, SEED_CHUNK):
            body = seed_mutation(range(start, min(groups, start + SEED_CHUNK)))
            response = await client.post("/graphql", json=body)
            if response.status_code != 200 or response.json().get("errors"):
                raise RuntimeError(f"seeding answered {response.status_code}: {response.text[:200]}")


class Writes:
    """One write at a time, each waited for until its ``k`` messages are read, and what they brought."""

    def __init__(self, writer: Writer, listener: Listener, k: int, groups: int, limit: float) -> None:
        self.writer, self.listener = writer, listener
        self.k, self.groups, self.limit = k, groups, limit
        self.rows = groups  # the orders written so far (the seed: one per group)
        self.seq = 0
        self.delivered = self.bytes_sent = 0
        self.latencies: list[float] = []
        self.answered: list[float] = []
        self.failures: list[str] = []

    async def one(self, w: int, *, measured: bool = False) -> bool:
        """Write order ``w`` (into group ``c<w mod G>``) and wait for its messages; False when they never came."""
        listener = self.listener
        listener.expect(self.k)
        sent = time.time()
        await self.writer.write({"status": "paid", "total": WRITE_TOTAL, "customer": f"c{w % self.groups}"})
        answered = time.time()
        try:
            await asyncio.wait_for(listener.arrived.wait(), self.limit)
        except TimeoutError:
            self.failures.append(f"write {w}: {listener.messages}/{self.k} messages within {self.limit:g} s")
            return False
        self.rows += 1
        if self.k:
            self.seq, problem = listener.check(self.seq, self.rows, self.groups)
            if problem is not None:
                self.failures.append(f"write {w}: {problem}")
        if measured:
            self.answered.append((answered - sent) * 1e3)
            self.delivered += listener.messages
            self.bytes_sent += listener.bytes
            if self.k:
                self.latencies.append((listener.last_at - sent) * 1e3)
        return True


async def run_one(cell: Cell, args: argparse.Namespace, tmp: Path, source: Path) -> AggregatesRun:
    kind, _, k = cell
    groups = args.groups
    label = f"K={k:,} × G={groups:,}"
    workdir = Path(tempfile.mkdtemp(prefix=f"aggregates-{k}-", dir=tmp))
    log(f"{label}: starting the server")
    realism = Realism.from_args(args)
    settings = {"OBJECTQL_AGGREGATE_INTERVAL": "0", "OBJECTQL_AGGREGATE_MAX_GROUPS": str(max(1000, groups))}
    server = ServerProcess(kind, workdir, max_subscriptions=k, source=source, realism=realism, settings=settings)
    writer: Writer | None = None
    listener = Listener()
    profiler: Profiler | None = None
    try:
        await asyncio.to_thread(server.wait_ready)
        await seed(server.port, realism, groups)
        if k:
            log(f"{label}: {groups:,} orders written; subscribing {k:,} aggregates on one connection")
            await listener.open(server.port, server.path, k, realism)
        writer = await writer_for(kind, server.port, realism)
        writes = Writes(writer, listener, k, groups, args.drain_timeout)
        await writes.one(0)  # not measured: the first write pays for paths not yet warm
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            profiler = Profiler(server.pid, args.profile / f"aggregate-groups-k{k}-g{groups}.txt")
            await asyncio.sleep(PROFILE_ATTACH)
        log(f"{label}: {args.writes} writes, one at a time")
        last_log = time.monotonic()
        cpu0 = cpu_seconds(server.pid), cpu_seconds(os.getpid())
        for w in range(1, args.writes + 1):
            if not await writes.one(w, measured=True):
                break
            if time.monotonic() - last_log > PROGRESS_EVERY:
                last_log = time.monotonic()
                log(f"{label}: {w}/{args.writes} writes")
        cpu1 = cpu_seconds(server.pid), cpu_seconds(os.getpid())
        if profiler is not None:
            profiler.stop()
            for line in top_frames(profiler.path):
                log(line)
        ws = listener.ws
        return AggregatesRun(
            aggregates=k,
            groups=groups,
            writes=len(writes.answered),
            expected=k * args.writes,
            delivered=writes.delivered,
            server_cpu=cpu1[0] - cpu0[0],
            client_cpu=cpu1[1] - cpu0[1],
            bytes_sent=writes.bytes_sent,
            latency_ms=percentiles(sorted(writes.latencies)),
            answered_ms=percentiles(sorted(writes.answered)),
            failures=(listener.failures + writes.failures)[:10],
            closes=[ws.close_code or 0] if ws is not None and ws.closed.done() else [],
        )
    finally:
        if profiler is not None:
            profiler.stop()
        listener.close()
        await stop_run(writer, server)


def build_parser() -> argparse.ArgumentParser:
    p = parser_for(REPORT.module, __doc__)
    p.add_argument("--aggregates", type=parse_counts, default=[0, 10, 100], help="K live aggregates per run")
    p.add_argument("--groups", type=int, default=1000, help="G groups in each aggregate")
    p.add_argument("--writes", type=int, default=30, help="measured writes per run")
    p.add_argument("--profile", type=Path, help="record a py-spy profile of the server's writes in this directory")
    add_run_arguments(p, drain_timeout=120.0, plot_example="docs/benchmarks-aggregate-groups.png", clients=False)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cells = [Cell(OBJECTQL, SCENARIO, k) for k in args.aggregates]
    return run_command(REPORT, args, argv, lambda: each_run(cells, args, run_one, summary=AggregatesRun.summary))
