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
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    HOST,
    Realism,
    add_run_arguments,
    cpu_seconds,
    parse_counts,
    percentiles,
    writer_token,
)
from bench.loadgen import CHUNK, CHUNK_INTERVAL, STEP_TIMEOUT, subscriber_token
from bench.measure import Writer, run_and_publish, stop_run, writer_for
from bench.sections import cpu_latency_plot, ms_text, ratio_text
from bench.servers import ServerProcess
from bench.workers import PROGRESS_EVERY, log
from bench.wsclient import WSClient

TITLE = "Many aggregate groups (bench/aggregate_groups.py)"
SCENARIO = "aggregates"
SEED_CHUNK = 25  # orders per seeding mutation document (aliased createOrders fields; the server allows 30)
SEED_TOTAL = 1.5
WRITE_TOTAL = 2.0
PROFILE_RATE = 100  # py-spy samples per second
PROFILE_ATTACH = 1.0  # seconds for py-spy to attach before the writes
TOP_FRAMES = 12
_AGGREGATE = b'{"type":"aggregate"'
_SEQ = re.compile(rb'"seq":(\d+)')
_LINE = re.compile(r":\d+\)$")  # a py-spy frame's line number


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


@dataclass
class Run:
    aggregates: int
    groups: int
    writes: int
    expected: int
    delivered: int
    server_cpu: float
    client_cpu: float
    bytes_sent: int
    latency_ms: dict[str, float]
    answered_ms: dict[str, float]
    failures: list[str] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)

    @property
    def cpu_per_write(self) -> float:
        """Server CPU milliseconds per write."""
        return self.server_cpu * 1e3 / self.writes if self.writes else float("nan")

    @property
    def client_cpu_per_write(self) -> float:
        return self.client_cpu * 1e3 / self.writes if self.writes else float("nan")

    @property
    def bytes_per_write(self) -> float:
        return self.bytes_sent / self.writes if self.writes else float("nan")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(cpu_per_write_ms=self.cpu_per_write, bytes_per_write=self.bytes_per_write)
        return data


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
        loop = asyncio.get_running_loop()
        _, ws = await asyncio.wait_for(
            loop.create_connection(
                lambda: WSClient(HOST, port, path, self.on_text, offer_deflate=realism.offer_deflate), HOST, port
            ),
            STEP_TIMEOUT,
        )
        self.ws = ws
        await asyncio.wait_for(ws.opened, STEP_TIMEOUT)
        token = subscriber_token(realism.secret, 0) if realism.secret is not None else None
        ws.send_text(json.dumps({"type": "auth", "token": token}))
        await asyncio.wait_for(self.authed.wait(), STEP_TIMEOUT)
        self.expect(aggregates)
        for first in range(0, aggregates, CHUNK):
            sent_at = loop.time()
            chunk = range(first, min(aggregates, first + CHUNK))
            self.acked.clear()
            self.wanted_acks += len(chunk)
            for i in chunk:
                ws.send_text(subscribe_message(i))
            await asyncio.wait_for(self.acked.wait(), STEP_TIMEOUT)
            if chunk.stop < aggregates:
                await asyncio.sleep(max(0.0, sent_at + CHUNK_INTERVAL - loop.time()))
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
    headers = {"authorization": f"Bearer {writer_token(realism.secret)}"} if realism.secret is not None else {}
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", headers=headers, timeout=120.0) as client:
        for start in range(0, groups, SEED_CHUNK):
            body = seed_mutation(range(start, min(groups, start + SEED_CHUNK)))
            response = await client.post("/graphql", json=body)
            if response.status_code != 200 or response.json().get("errors"):
                raise RuntimeError(f"seeding answered {response.status_code}: {response.text[:200]}")


class Profiler:
    """py-spy recording a process's stacks (raw collapsed format) until :meth:`stop`."""

    def __init__(self, pid: int, path: Path) -> None:
        sibling = Path(sys.executable).with_name("py-spy")
        exe = str(sibling) if sibling.exists() else shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy)")
        self.path = path
        cmd = [exe, "record", "-p", str(pid), "-o", str(path), "-f", "raw", "-r", str(PROFILE_RATE)]
        self.proc = subprocess.Popen([*cmd, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        """Stop sampling and let py-spy write its file (safe to call twice)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def top_frames(path: Path, count: int = TOP_FRAMES) -> list[str]:
    """A py-spy raw profile's busiest lines (own samples), then objectql's busiest functions (samples with the
    function on the stack)."""
    own: Counter[str] = Counter()
    within: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for function in {_LINE.sub(")", frame) for frame in frames if "objectql/" in frame}:
            within[function] += n
    if not total:
        return [f"{path}: no samples"]
    lines = [f"{path}: {total:,} samples; own:"]
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in own.most_common(count)]
    lines.append("objectql's functions, on the stack:")
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in within.most_common(count)]
    return lines


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


async def run_one(kind: str, scenario: str, k: int, args: argparse.Namespace, tmp: Path, source: Path) -> Run:
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
        return Run(
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


# -- output --------------------------------------------------------------------------------------


def _bytes_text(n: float) -> str:
    return "0" if n == 0 else f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def table(results: Sequence[Run]) -> str:
    base = next((r for r in results if r.aggregates == 0), None)
    lines = [
        "| live aggregates × groups | messages delivered | bytes sent per write | server CPU per write | vs none "
        "| CPU above none per MB sent | client CPU per write | write answered p50 | last message p50 | p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = ratio_text(r.cpu_per_write, base.cpu_per_write) if base is not None else "n/a"
        per_mb = "—"
        if base is not None and r.aggregates and r.bytes_per_write > 0:
            per_mb = f"{ms_text((r.cpu_per_write - base.cpu_per_write) / (r.bytes_per_write / 1e6))} ms"
        last = (
            (f"{ms_text(r.latency_ms['p50'])} ms", f"{ms_text(r.latency_ms['p99'])} ms") if r.aggregates else ("—", "—")
        )
        lines.append(
            f"| {r.aggregates:,} × {r.groups:,} | {r.delivered:,}/{r.expected:,} | {_bytes_text(r.bytes_per_write)} "
            f"| {ms_text(r.cpu_per_write)} ms | {ratio} | {per_mb} | {ms_text(r.client_cpu_per_write)} ms "
            f"| {ms_text(r.answered_ms['p50'])} ms | {last[0]} | {last[1]} |"
        )
    for r in results:
        if r.failures or r.closes:
            lines.append(f"\n- K={r.aggregates}: {'; '.join(r.failures[:3])} closes {r.closes}")
    return "\n".join(lines)


def plot(results: Sequence[Run], path: Path) -> None:
    cpu_latency_plot(
        path, [f"K={r.aggregates:,}\n× {r.groups:,} groups" if r.aggregates else "K=0\n(none)" for r in results],
        [r.cpu_per_write for r in results], [r.latency_ms for r in results],
        latency_title="write → its last aggregate message",
        notes=[_bytes_text(r.bytes_per_write) + " sent" for r in results],
    )  # fmt: skip


# -- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.aggregate_groups", description=__doc__.split("\n\n")[0])
    p.add_argument("--aggregates", type=parse_counts, default=[0, 10, 100], help="K live aggregates per run")
    p.add_argument("--groups", type=int, default=1000, help="G groups in each aggregate")
    p.add_argument("--writes", type=int, default=30, help="measured writes per run")
    p.add_argument("--profile", type=Path, help="record a py-spy profile of the server's writes in this directory")
    add_run_arguments(p, drain_timeout=120.0, plot_example="docs/benchmarks-aggregate-groups.png", clients=False)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = [(SCENARIO, k) for k in args.aggregates]
    return run_and_publish(
        runs, args, argv, run_one, module="bench.aggregate_groups", title=TITLE, table=table, plot=plot,
        alt="server CPU per write and latency of the last aggregate message, by live aggregates on the connection",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
