"""Fan-out benchmark of SPEC §13 for the plain WebSocket API, with its baseline in the same run.

Scenario "all": N sockets each with one subscription matching every write (N = ``--sizes``).
Scenario "distinct": N subscriptions with distinct equality filters multiplexed over a few sockets;
each write matches exactly one (N = ``--distinct-sizes``).

For every N, the server under test (``bench.server_app``: ``create_app`` plus a bench-only write route)
and the baseline (``bench.baseline_server``) each get a fresh process; load-generator worker processes
(``bench.loadgen``) open the subscribers, then this process commits writes at ``--rate`` per second and
waits for every message. Server CPU is the server process's utime + stime over the burst; latency runs
from just before a write request is sent to when the message carrying it is read.

    .venv/bin/python -m bench.fanout [--sizes 1000,5000,10000] [--distinct-sizes 1000,10000,100000]

Progress goes to stderr; the tables to stdout; ``--out`` / ``--plot`` write docs/benchmarks.md and its PNG.
Everything talks to 127.0.0.1 only, and every process started here is ended on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench import report
from bench.common import HOST, cpu_seconds, raise_nofile, rss_kib
from bench.loadgen import ALL_MATCHING, DISTINCT, Plan
from bench.servers import BASELINE, OBJECTQL, ServerProcess, snapshot
from bench.workers import PROGRESS_EVERY, Workers, log

STALL_TIMEOUT = 60.0
IDLE_SECONDS = 2.0
POLL_INTERVAL = 0.1


@dataclass
class RunResult:
    server: str
    scenario: str
    n: int
    connections: int
    writes: int
    subscribed: int
    expected: int
    delivered: int
    missing: int
    extra: int
    setup_seconds: float
    burst_seconds: float
    server_cpu: float
    loadgen_cpu: float
    loadgen_peak_util: float
    idle_cpu_per_s: float
    rss_before_kib: int
    rss_after_kib: int
    latency_ms: dict[str, float]
    write_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    bad_messages: list[str] = field(default_factory=list)
    closes: dict[str, int] = field(default_factory=dict)

    @property
    def cpu_per_1000(self) -> float:
        """Server CPU milliseconds per 1000 delivered messages."""
        return self.server_cpu * 1e6 / self.delivered if self.delivered else float("nan")

    @property
    def cpu_per_write(self) -> float:
        """Server CPU milliseconds per write."""
        return self.server_cpu * 1e3 / self.writes

    @property
    def rate(self) -> float:
        return self.delivered / self.burst_seconds if self.burst_seconds > 0 else 0.0

    @property
    def rss_per_conn_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.connections if self.connections else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(cpu_per_1000_ms=self.cpu_per_1000, cpu_per_write_ms=self.cpu_per_write, rate=self.rate)
        return data


# -- writes --------------------------------------------------------------------------------------


class Writer(Protocol):
    async def write(self, record: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class HttpWriter:
    """Writes through the server under test's ``POST /bench/write``."""

    def __init__(self, port: int) -> None:
        self.client = httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}", timeout=httpx.Timeout(300.0), limits=httpx.Limits(max_connections=50)
        )

    async def write(self, record: dict[str, Any]) -> None:
        response = await self.client.post("/bench/write", json=record)
        if response.status_code != 201:
            raise RuntimeError(f"write answered {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self.client.aclose()


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


# -- plans ---------------------------------------------------------------------------------------


def plans_for(scenario: str, n: int, port: int, path: str, clients: int, mux: int) -> tuple[list[Plan], int]:
    """Each worker's connections and the number of connections in all."""
    if scenario == ALL_MATCHING:
        ranges = [(i, i + 1) for i in range(n)]
    else:
        count = min(mux, n)
        per = -(-n // count)
        ranges = [(start, min(n, start + per)) for start in range(0, n, per)]
    # Each worker opens at most 100 sockets at once: connects come in batches, not as a stampede.
    plans = [Plan(port, path, scenario, ranges[w::clients], concurrency=100) for w in range(clients)]
    return [p for p in plans if p.connections], len(ranges)


def records_for(scenario: str, n: int, writes: int) -> list[dict[str, Any]]:
    if scenario == ALL_MATCHING:
        return [{"status": "paid", "total": i, "customer": "bench"} for i in range(writes)]
    targets = random.Random(n).sample(range(n), writes)
    return [{"status": "pending", "total": i, "customer": f"c{j}"} for i, j in enumerate(targets)]


# -- one run -------------------------------------------------------------------------------------


async def run_one(kind: str, scenario: str, n: int, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    label = f"{kind} {scenario} N={n:,}"
    writes = args.writes if scenario == ALL_MATCHING else args.distinct_writes
    plans_probe, _ = plans_for(scenario, n, 0, "", args.clients, args.mux_connections)
    per_conn = max(stop - start for plan in plans_probe for start, stop in plan.connections)
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-{scenario}-{n}-", dir=tmp))
    log(f"{label}: starting the server")
    server = ServerProcess(kind, workdir, max_subscriptions=per_conn, source=source)
    workers: Workers | None = None
    writer: Writer | None = None
    burst: asyncio.Task[None] | None = None
    try:
        await asyncio.to_thread(server.wait_ready)
        rss_before = rss_kib(server.pid)
        plans, connections = plans_for(scenario, n, server.port, server.path, args.clients, args.mux_connections)
        log(f"{label}: opening {connections:,} connection(s) from {len(plans)} load-generator process(es)")
        started = time.monotonic()
        workers = Workers(plans)
        setup = await asyncio.to_thread(workers.wait_ready, label)
        setup_seconds = time.monotonic() - started
        log(f"{label}: {setup['subscribed']:,} subscribed in {setup_seconds:.1f} s; measuring idle CPU")
        rss_after = rss_kib(server.pid)
        idle0 = cpu_seconds(server.pid)
        await asyncio.sleep(IDLE_SECONDS)
        idle_cpu = (cpu_seconds(server.pid) - idle0) / IDLE_SECONDS
        writer = HttpWriter(server.port) if kind == OBJECTQL else await WsWriter.open(server.port)
        records = records_for(scenario, n, writes)
        per_write = setup["subscribed"] if scenario == ALL_MATCHING else 1
        expected = per_write * writes
        sent = [0.0] * writes
        write_errors: list[str] = []
        watched = [server.pid, *workers.pids]
        cpu0 = {pid: cpu_seconds(pid) for pid in [*watched, os.getpid()]}
        wall0 = time.monotonic()
        burst = asyncio.create_task(_burst(writer, records, args.rate, sent, write_errors))
        received = await _drain(label, workers, burst, expected, writes, args.drain_timeout)
        wall = time.monotonic() - wall0
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu0.items()}
        log(f"{label}: {received:,}/{expected:,} delivered; collecting")
        results = await asyncio.to_thread(workers.ask, "finish")
        return _result(
            kind, scenario, n, connections, writes, setup, setup_seconds, expected, per_write, sent, results,
            server_cpu=cpu[server.pid],
            loadgen_cpu=sum(cpu[p] for p in workers.pids) + cpu[os.getpid()],
            loadgen_peak_util=max(cpu[p] for p in workers.pids) / wall if wall > 0 else 0.0,
            idle_cpu=idle_cpu, rss=(rss_before, rss_after), write_errors=write_errors,
        )  # fmt: skip
    finally:
        if burst is not None and not burst.done():
            burst.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await burst
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.close()
        if workers is not None:
            await asyncio.to_thread(workers.stop)
        await asyncio.to_thread(server.stop)


async def _burst(
    writer: Writer, records: list[dict[str, Any]], rate: float, sent: list[float], errors: list[str]
) -> None:
    """Send the writes on a fixed schedule (open loop: a slow answer does not delay the next write)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks: list[asyncio.Task[None]] = []
    try:
        for i, record in enumerate(records):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            sent[i] = time.time()
            tasks.append(asyncio.create_task(writer.write(record)))
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            errors.append(repr(outcome)[:200])


async def _drain(
    label: str, workers: Workers, burst: asyncio.Task[None], expected: int, writes: int, limit: float
) -> int:
    """Wait until every expected message arrived, nothing arrives for a while, or ``limit`` after the writes."""
    loop = asyncio.get_running_loop()
    received, last_change, last_log = 0, loop.time(), 0.0
    writes_done_at: float | None = None
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        now = loop.time()
        status = await asyncio.to_thread(workers.ask, "status")
        total = sum(int(s["received"]) for s in status)
        if total != received:
            received, last_change = total, now
        if burst.done() and writes_done_at is None:
            writes_done_at = now
        if now - last_log > PROGRESS_EVERY:
            last_log = now
            log(f"{label}: delivered {received:,}/{expected:,}{'' if writes_done_at else ' (writing)'}")
        if writes_done_at is not None:
            if received >= expected:
                return received
            if now - writes_done_at > limit or now - last_change > STALL_TIMEOUT:
                log(f"{label}: giving up waiting ({received:,}/{expected:,})")
                return received


def _result(
    kind: str,
    scenario: str,
    n: int,
    connections: int,
    writes: int,
    setup: dict[str, Any],
    setup_seconds: float,
    expected: int,
    per_write: int,
    sent: list[float],
    results: list[dict[str, Any]],
    *,
    server_cpu: float,
    loadgen_cpu: float,
    loadgen_peak_util: float,
    idle_cpu: float,
    rss: tuple[int, int],
    write_errors: list[str],
) -> RunResult:
    latencies: list[float] = []
    per_index = [0] * writes
    last = 0.0
    closes: dict[str, int] = {}
    bad: list[str] = []
    failures = list(setup["failures"])
    for result in results:
        indexes, times = array("i"), array("d")
        indexes.frombytes(result["indexes"])
        times.frombytes(result["times"])
        for i, t in zip(indexes, times, strict=True):
            latencies.append((t - sent[i]) * 1000.0)
            per_index[i] += 1
            last = max(last, t)
        for code, count in result["closes"].items():
            closes[str(code)] = closes.get(str(code), 0) + count
        bad += result["bad_messages"]
        failures += result["failures"]
    latencies.sort()
    delivered = len(latencies)
    first = min(sent) if sent else 0.0
    return RunResult(
        server=kind,
        scenario=scenario,
        n=n,
        connections=connections,
        writes=writes,
        subscribed=int(setup["subscribed"]),
        expected=expected,
        delivered=delivered,
        missing=sum(max(0, per_write - c) for c in per_index),
        extra=sum(max(0, c - per_write) for c in per_index),
        setup_seconds=setup_seconds,
        burst_seconds=max(0.0, last - first),
        server_cpu=server_cpu,
        loadgen_cpu=loadgen_cpu,
        loadgen_peak_util=loadgen_peak_util,
        idle_cpu_per_s=idle_cpu,
        rss_before_kib=rss[0],
        rss_after_kib=rss[1],
        latency_ms=_percentiles(latencies),
        write_errors=write_errors[:10],
        failures=failures[:10],
        bad_messages=bad[:10],
        closes=closes,
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": values[-1]}


# -- main ----------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1000,5000,10000, not {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected positive sizes, not {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=_sizes, default=[1000, 5000, 10000], help="N for the all-matching scenario")
    p.add_argument("--distinct-sizes", type=_sizes, default=[1000, 10000, 100000], help="N, distinct filters")
    p.add_argument("--scenarios", default="all,distinct", help="all, distinct or both (comma-separated)")
    p.add_argument("--servers", default=f"{OBJECTQL},{BASELINE}", help="objectql, baseline or both")
    p.add_argument("--writes", type=int, default=30, help="writes per run, all-matching scenario")
    p.add_argument("--distinct-writes", type=int, default=100, help="writes per run, distinct scenario")
    p.add_argument("--rate", type=float, default=10.0, help="writes per second")
    p.add_argument("--clients", type=int, default=2, help="load-generator processes")
    p.add_argument("--mux-connections", type=int, default=50, help="sockets carrying the distinct subscriptions")
    p.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for messages after writes")
    p.add_argument("--rev", default="HEAD", help="git revision of the objectql package to measure")
    p.add_argument("--out", type=Path, help="write the report here (e.g. docs/benchmarks.md)")
    p.add_argument("--plot", type=Path, help="write the PNG plot here (e.g. docs/benchmarks-fanout.png)")
    p.add_argument("--json", type=Path, help="write the raw results here")
    return p


async def amain(args: argparse.Namespace) -> list[RunResult]:
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    runs = [(ALL_MATCHING, n) for n in args.sizes if ALL_MATCHING in scenarios]
    runs += [(DISTINCT, n) for n in args.distinct_sizes if DISTINCT in scenarios]
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="objectql-bench-") as tmp:
        source = Path(tmp) / "source"
        args.commit = snapshot(source, args.rev)
        log(f"measuring objectql as committed at {args.commit[:12]} ({args.rev})")
        for i, (scenario, n) in enumerate(runs, 1):
            for kind in servers:
                log(f"run {i}/{len(runs)}: {kind}, {scenario}, N={n:,}")
                result = await run_one(kind, scenario, n, args, Path(tmp), source)
                results.append(result)
                log(
                    f"{kind} {scenario} N={n:,}: {result.delivered:,}/{result.expected:,} delivered, "
                    f"server CPU {result.server_cpu:.2f} s, p99 {result.latency_ms['p99']:.0f} ms"
                )
    return results


def _terminate(signum: int, frame: Any) -> None:
    # asyncio.run turns SIGINT into a cancellation of the main task, so every finally block runs.
    os.kill(os.getpid(), signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    limit = raise_nofile()
    started = time.monotonic()
    log(f"open-file limit {limit}; {os.cpu_count()} CPU(s)")
    try:
        results = asyncio.run(amain(args))
    except KeyboardInterrupt:
        log("interrupted; every process started here has been stopped")
        return 130
    elapsed = time.monotonic() - started
    command = "python -m bench.fanout " + " ".join(argv if argv is not None else sys.argv[1:])
    print(report.tables(results))
    log(f"done in {elapsed / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=1))
    if args.plot:
        report.plot(results, args.plot)
        log(f"wrote {args.plot}")
    if args.out:
        report.write_markdown(results, args.out, command=command, elapsed=elapsed, plot=args.plot, commit=args.commit)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
