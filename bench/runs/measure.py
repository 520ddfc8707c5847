"""One measured burst, shared by every fan-out benchmark: subscribers up, writes on a schedule, every message
timed, the server's CPU from ``/proc``.

The caller starts the server(s) and a :class:`Writer`; :func:`measure` starts the load-generator processes
of the given plans, waits until every subscription is open (and, if asked, until the server holds them all
and a warm-up write reached every subscriber), then sends the writes at a fixed rate (open loop) and waits
for every expected message. Latency runs from just before a write request is sent to when the bytes
carrying its message are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common.system import HOST, cpu_seconds, log, rss_kib
from bench.load.loadgen import SHARED, Plan
from bench.load.workers import PROGRESS_EVERY, SETUP_TIMEOUT, Workers, arrivals
from bench.runs.results import RunResult, percentiles
from bench.runs.writers import Writer

STALL_TIMEOUT = 60.0
IDLE_SECONDS = 2.0
POLL_INTERVAL = 0.1
WARMUP_TIMEOUT = 120.0
# A warm-up write carries a negative ``total``: the load generators count it apart from the measured writes.
WARMUP_TOTAL = -1


async def server_subscriptions(port: int) -> int:
    """How many subscriptions a bench server holds (``GET /bench/stats``, ours and the naive server)."""
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"http://{HOST}:{port}/bench/stats")
        response.raise_for_status()
        return int(response.json()["subscriptions"])


def records_for(scenario: str, n: int, writes: int) -> list[dict[str, Any]]:
    if scenario in SHARED:
        return [{"status": "paid", "total": i, "customer": "bench"} for i in range(writes)]
    targets = random.Random(n).sample(range(n), writes)
    return [{"status": "pending", "total": i, "customer": f"c{j}"} for i, j in enumerate(targets)]


# -- one run -------------------------------------------------------------------------------------


@dataclass
class Target:
    """What one run measures: its labels, the subscribers' server process, and what to wait for."""

    server: str
    scenario: str
    n: int
    pid: int
    # Other server processes whose CPU is reported (name → pid), e.g. the writing process.
    others: dict[str, int] = field(default_factory=dict)
    # Processes that together with ``pid`` are the server under test (uvicorn workers): their CPU and memory
    # count as the server's, and each worker's CPU is reported too.
    workers: dict[str, int] = field(default_factory=dict)
    # Wait until ``GET /bench/stats`` on this port counts every subscription (protocols without acks).
    stats_port: int | None = None
    # Send one warm-up write matching every subscriber and wait for all of them to receive it.
    warmup: dict[str, Any] | None = None


async def measure(
    target: Target,
    plans: list[Plan],
    connections: int,
    writer: Writer,
    records: list[dict[str, Any]],
    *,
    rate: float,
    drain_timeout: float,
) -> RunResult:
    """Open the plans' subscribers, send ``records`` at ``rate`` per second and time every message."""
    label = f"{target.server} {target.scenario} N={target.n:,}"
    writes = len(records)
    server_pids = [target.pid, *target.workers.values()]
    rss_before = sum(rss_kib(pid) for pid in server_pids)
    log(f"{label}: opening {connections:,} connection(s) from {len(plans)} load-generator process(es)")
    started = time.monotonic()
    workers = Workers(plans)
    burst: asyncio.Task[None] | None = None
    try:
        setup = await asyncio.to_thread(workers.wait_ready, label)
        if target.stats_port is not None:
            await wait_held(label, target.stats_port, int(setup["subscribed"]))
        setup_seconds = time.monotonic() - started
        log(f"{label}: {setup['subscribed']:,} subscribed in {setup_seconds:.1f} s; measuring idle CPU")
        rss_after = sum(rss_kib(pid) for pid in server_pids)
        idle0 = sum(cpu_seconds(pid) for pid in server_pids)
        await asyncio.sleep(IDLE_SECONDS)
        idle_cpu = (sum(cpu_seconds(pid) for pid in server_pids) - idle0) / IDLE_SECONDS
        if target.warmup is not None:
            await _warm_up(label, workers, writer, target.warmup, int(setup["subscribed"]))
        per_write = setup["subscribed"] if target.scenario in SHARED else 1
        expected = per_write * writes
        sent = [0.0] * writes
        write_errors: list[str] = []
        servers = [*server_pids, *target.others.values()]
        cpu0 = {pid: cpu_seconds(pid) for pid in [*servers, *workers.pids, os.getpid()]}
        wall0 = time.monotonic()
        burst = asyncio.create_task(_burst(writer, records, rate, sent, write_errors))
        received = await _drain(label, workers, burst, expected, drain_timeout)
        wall = time.monotonic() - wall0
        cpu = {pid: cpu_seconds(pid) - before for pid, before in cpu0.items()}
        log(f"{label}: {received:,}/{expected:,} delivered; collecting")
        results = await asyncio.to_thread(workers.ask, "finish")
        result = _result(
            target, connections, writes, setup, setup_seconds, expected, per_write, sent, results,
            server_cpu=sum(cpu[pid] for pid in server_pids),
            loadgen_cpu=sum(cpu[p] for p in workers.pids) + cpu[os.getpid()],
            loadgen_peak_util=max(cpu[p] for p in workers.pids) / wall if wall > 0 else 0.0,
            idle_cpu=idle_cpu, rss=(rss_before, rss_after), write_errors=write_errors,
        )  # fmt: skip
        result.other_cpu = {name: cpu[pid] for name, pid in {**target.workers, **target.others}.items()}
        return result
    finally:
        if burst is not None and not burst.done():
            burst.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await burst
        await asyncio.to_thread(workers.stop)


async def wait_held(label: str, port: int, wanted: int) -> None:
    """Wait until the server counts ``wanted`` subscriptions (registration is asynchronous, unacknowledged)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETUP_TIMEOUT
    last_log = 0.0
    while True:
        held = await server_subscriptions(port)
        if held >= wanted:
            return
        if loop.time() > deadline:
            raise RuntimeError(f"{label}: the server holds {held:,} of {wanted:,} subscriptions")
        if loop.time() - last_log > PROGRESS_EVERY:
            last_log = loop.time()
            log(f"{label}: the server holds {held:,}/{wanted:,} subscriptions")
        await asyncio.sleep(POLL_INTERVAL * 2)


async def _warm_up(label: str, workers: Workers, writer: Writer, record: dict[str, Any], wanted: int) -> None:
    """One write every subscriber matches, before measuring: proves each one live end to end (broker too)."""
    await writer.write({**record, "total": WARMUP_TOTAL})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WARMUP_TIMEOUT
    while True:
        warm = await asyncio.to_thread(workers.warm)
        if warm >= wanted:
            log(f"{label}: the warm-up write reached all {wanted:,} subscribers")
            return
        if loop.time() > deadline:
            log(f"{label}: the warm-up write reached only {warm:,}/{wanted:,} subscribers; measuring anyway")
            return
        await asyncio.sleep(POLL_INTERVAL)


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


async def _drain(label: str, workers: Workers, burst: asyncio.Task[None], expected: int, limit: float) -> int:
    """Wait until every expected message arrived, nothing arrives for a while, or ``limit`` after the writes."""
    loop = asyncio.get_running_loop()
    received, last_change, last_log = 0, loop.time(), 0.0
    writes_done_at: float | None = None
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        now = loop.time()
        total = await asyncio.to_thread(workers.received)
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
    target: Target,
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
        for i, t in arrivals(result):
            if i >= writes:
                bad.append(f"a message for write {i}, beyond the {writes} sent")
                continue
            latencies.append((t - sent[i]) * 1000.0)
            per_index[i] += 1
            last = max(last, t)
        for code, count in result["closes"].items():
            closes[str(code)] = closes.get(str(code), 0) + count
        bad += result["bad_messages"]
        failures += result["failures"]
    latencies.sort()
    first = min(sent) if sent else 0.0
    return RunResult(
        server=target.server,
        scenario=target.scenario,
        n=target.n,
        connections=connections,
        writes=writes,
        subscribed=int(setup["subscribed"]),
        expected=expected,
        delivered=len(latencies),
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
        latency_ms=percentiles(latencies),
        write_errors=write_errors[:10],
        failures=failures[:10],
        bad_messages=bad[:10],
        closes=closes,
    )
