"""Write throughput with realtime on versus off (the target: with 1k subscribers, ≥ 80 % of the rate without).

Each phase gets a fresh server (``bench.servers.objectql_app``, SQLite in a temporary directory):

- ``off``: no subscriber at all;
- ``on``: ``--subscribers`` plain-WebSocket subscribers (``--protocol graphql``: graphql-transport-ws), one
  socket each, that every write matches — each write is fanned out to all of them;
- ``on, none matching``: as many subscribers with distinct equality filters (``customer = c<i>``) that no
  write matches — the realtime machinery's cost on the write path without the deliveries.

The writes go through the server's write path — GraphQL ``createOrders`` mutations over ``POST /graphql``
(``--bench-writes``: the bench-only ``POST /bench/write``) — closed loop: ``--concurrency`` writers each
send the next write as soon as the previous one is answered, for ``--warmup`` seconds (not counted), then
for ``--seconds``. Sustained means delivered: with subscribers the window ends when the last message of its
writes was read, so a server that answers writes faster than it can deliver them is not credited with the
difference (its lag is reported). ``--rounds`` repeats the off/on pair; the verdict uses the median ratio.

    .venv/bin/python -m bench.write_throughput [--subscribers 1000] [--seconds 10] [--out docs/benchmarks.md]
        [--plot docs/benchmarks-write-throughput.png]

Progress goes to stderr; the table to stdout. Everything talks to 127.0.0.1 only, and every process started
here is ended on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from array import array
from pathlib import Path

from bench.common.realism import Realism
from bench.common.system import HOST, cpu_seconds, log
from bench.load.httpclient import HttpConnection
from bench.load.loadgen import ALL_MATCHING, DISTINCT, GRAPHQL, PLAIN, one_per_socket, share_out
from bench.load.workers import PROGRESS_EVERY, Workers, arrivals
from bench.report.write_throughput import REPORT
from bench.runs.measure import POLL_INTERVAL, STALL_TIMEOUT, WARMUP_TOTAL, wait_held
from bench.runs.results import IDLE, OFF, ON, ThroughputPhase, percentiles
from bench.runs.writers import MUTATION
from bench.scenarios.command import add_run_arguments, each_run, parser_for, run_command, stop_run
from bench.servers.process import OBJECTQL, ServerProcess


class Writes:
    """Closed-loop writers through GraphQL (``POST /graphql``) or ``POST /bench/write``, each on its own
    keep-alive connection of a minimal HTTP client (``bench/load/httpclient.py``), with the writer's token."""

    def __init__(self, port: int, realism: Realism, concurrency: int) -> None:
        self.graphql = realism.graphql_writes
        self.connections = [HttpConnection(HOST, port) for _ in range(concurrency)]
        self.headers = realism.writer_headers()
        self.sent = array("d")
        self.answered = array("d")
        self.errors: list[str] = []

    async def one(self, conn: HttpConnection, total: int) -> None:
        record = {"status": "paid", "total": total, "customer": "bench"}
        if self.graphql:
            body = json.dumps({"query": MUTATION, "variables": {"input": record}}).encode()
            status, data = await conn.post("/graphql", body, self.headers)
            ok = status == 200 and b'"errors"' not in data
        else:
            status, data = await conn.post("/bench/write", json.dumps(record).encode(), self.headers)
            ok = status == 201
        if not ok and len(self.errors) < 10:
            self.errors.append(f"{status}: {data[:200].decode(errors='replace')}")

    async def run(self, seconds: float, *, counted: bool) -> None:
        """Write for ``seconds``; counted writes get indexes 0, 1, … in the order they are sent."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def writer(conn: HttpConnection) -> None:
            while loop.time() < end:
                if counted:
                    index = len(self.sent)
                    self.sent.append(time.time())
                    self.answered.append(0.0)
                    await self.one(conn, index)
                    self.answered[index] = time.time()
                else:
                    await self.one(conn, WARMUP_TOTAL)

        await asyncio.gather(*(writer(conn) for conn in self.connections))

    async def close(self) -> None:
        for conn in self.connections:
            await conn.close()


async def run_phase(run: tuple[str, int], args: argparse.Namespace, tmp: Path, source: Path) -> ThroughputPhase:
    phase, round_no = run
    label = f"round {round_no} realtime {phase}"
    subscribers = 0 if phase == OFF else args.subscribers
    scenario = ALL_MATCHING if phase == ON else DISTINCT
    workdir = Path(tempfile.mkdtemp(prefix=f"writes-{phase}-{round_no}-", dir=tmp))
    log(f"{label}: starting the server")
    realism = Realism.from_args(args)
    server = ServerProcess(OBJECTQL, workdir, 1, source, realism=realism)
    workers: Workers | None = None
    writes: Writes | None = None
    try:
        await asyncio.to_thread(server.wait_ready)
        if subscribers:
            protocol = GRAPHQL if args.protocol == "graphql" else PLAIN
            path = "/graphql" if protocol == GRAPHQL else server.path
            plans = share_out(
                one_per_socket(subscribers), args.clients, (server.port, path, scenario), realism, protocol
            )
            workers = Workers(plans)
            ready = await asyncio.to_thread(workers.wait_ready, label)
            log(f"{label}: {ready['subscribed']:,} subscribed")
            if protocol == GRAPHQL:
                await wait_held(label, server.port, int(ready["subscribed"]))
        writes = Writes(server.port, realism, args.concurrency)
        log(f"{label}: warming up for {args.warmup:g} s")
        await writes.run(args.warmup, counted=False)
        watched = [server.pid, os.getpid(), *(workers.pids if workers else [])]
        cpu0 = {pid: cpu_seconds(pid) for pid in watched}
        t0 = time.time()
        log(f"{label}: writing for {args.seconds:g} s with {args.concurrency} writer(s)")
        await writes.run(args.seconds, counted=True)
        answered = max(writes.answered) - t0 if writes.answered else 0.0
        log(f"{label}: {len(writes.sent):,} writes answered in {answered:.1f} s ({len(writes.sent) / answered:,.0f}/s)")
        result = ThroughputPhase(
            phase=phase,
            round=round_no,
            subscribers=subscribers,
            concurrency=args.concurrency,
            writes=len(writes.sent),
            window_seconds=args.seconds,
            answered_seconds=answered,
            delivered_seconds=0.0,
            server_cpu=0.0,
            client_cpu=0.0,
            loadgen_cpu=0.0,
            write_ms=percentiles(sorted((a - s) * 1e3 for s, a in zip(writes.sent, writes.answered, strict=True))),
            delivery_ms=percentiles([]),
            errors=writes.errors,
        )
        if workers is not None and phase == ON:
            await _collect(label, workers, writes, result, t0, int(ready["subscribed"]), args.drain_timeout)
        elif workers is not None:
            # Nothing may arrive: a message here would be a wrong match.
            result.delivered = await asyncio.to_thread(workers.received)
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu0.items()}
        result.server_cpu = cpu[server.pid]
        result.client_cpu = cpu[os.getpid()]
        result.loadgen_cpu = sum(cpu[p] for p in (workers.pids if workers else []))
        log(
            f"{label}: sustained {result.sustained_rate:,.0f} writes/s, server CPU {result.cpu_per_write:.2f} ms "
            f"per write, write p50 {result.write_ms['p50']:.1f} / p99 {result.write_ms['p99']:.1f} ms"
        )
        return result
    finally:
        if writes is not None:
            with contextlib.suppress(Exception):
                await writes.close()
        if workers is not None:
            await asyncio.to_thread(workers.stop)
        await stop_run(None, server)


async def _collect(
    label: str, workers: Workers, writes: Writes, result: ThroughputPhase, t0: float, subscribed: int, limit: float
) -> None:
    """Wait for every message of the window's writes, then take their receive times."""
    loop = asyncio.get_running_loop()
    result.expected = expected = result.writes * subscribed
    received, started, last_change, last_log = 0, loop.time(), loop.time(), 0.0
    while received < expected:
        await asyncio.sleep(POLL_INTERVAL)
        now = loop.time()
        total = await asyncio.to_thread(workers.received)
        if total != received:
            received, last_change = total, now
        if now - last_log > PROGRESS_EVERY:
            last_log = now
            log(f"{label}: delivered {received:,}/{expected:,}")
        if now - started > limit or now - last_change > STALL_TIMEOUT:
            log(f"{label}: giving up waiting ({received:,}/{expected:,})")
            break
    latencies: list[float] = []
    last = 0.0
    for answer in await asyncio.to_thread(workers.ask, "finish"):
        for i, t in arrivals(answer):
            if i < len(writes.sent):
                latencies.append((t - writes.sent[i]) * 1e3)
                last = max(last, t)
        for code, count in answer["closes"].items():
            result.closes[str(code)] = result.closes.get(str(code), 0) + count
        result.errors += answer["failures"][:5] + answer["bad_messages"][:5]
    latencies.sort()
    result.delivered = len(latencies)
    result.delivered_seconds = last - t0 if last else 0.0
    result.delivery_ms = percentiles(latencies)


def build_parser() -> argparse.ArgumentParser:
    p = parser_for(REPORT.module, __doc__)
    p.add_argument("--subscribers", type=int, default=1000, help="subscribers with realtime on")
    p.add_argument("--protocol", choices=("plain", "graphql"), default="plain", help="the subscribers' protocol")
    p.add_argument("--concurrency", type=int, default=8, help="closed-loop writers")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of uncounted writes before the window")
    p.add_argument("--rounds", type=int, default=1, help="off/on pairs")
    add_run_arguments(p, drain_timeout=120.0, plot_example="docs/benchmarks-write-throughput.png")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = [(phase, round_no) for round_no in range(1, max(1, args.rounds) + 1) for phase in (OFF, ON, IDLE)]
    return run_command(REPORT, args, argv, lambda: each_run(runs, args, run_phase, label=_label))


def _label(run: tuple[str, int]) -> str:
    phase, round_no = run
    return f"round {round_no}, realtime {phase}"
