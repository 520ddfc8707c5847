"""Write throughput with realtime on versus off (the target: with 1k subscribers, ≥ 80 % of the rate without).

Each phase gets a fresh server (``bench.server_app``, SQLite in a temporary directory):

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
import statistics
import sys
import tempfile
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    HOST,
    Realism,
    add_run_arguments,
    command_line,
    cpu_seconds,
    percentiles,
    raise_nofile,
    stop_on_sigterm,
    writer_token,
)
from bench.httpclient import HttpConnection
from bench.loadgen import ALL_MATCHING, DISTINCT, GRAPHQL, PLAIN, share_out
from bench.measure import POLL_INTERVAL, STALL_TIMEOUT, WARMUP_TOTAL, wait_held
from bench.sections import ms_text, run_header, write_section
from bench.servers import OBJECTQL, ServerProcess, snapshot
from bench.workers import PROGRESS_EVERY, Workers, log

SCRIPT = "bench/write_throughput.py"
MUTATION = "mutation ($input: OrdersInput!) { createOrders(input: $input) { id } }"
OFF, ON, IDLE = "off", "on", "on, none matching"


@dataclass
class Phase:
    phase: str
    round: int
    subscribers: int
    writes: int
    window_seconds: float
    answered_seconds: float
    delivered_seconds: float
    server_cpu: float
    client_cpu: float
    loadgen_cpu: float
    write_ms: dict[str, float]
    delivery_ms: dict[str, float]
    expected: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)
    closes: dict[str, int] = field(default_factory=dict)

    @property
    def answered_rate(self) -> float:
        """Writes per second as answered by the server."""
        return self.writes / self.answered_seconds if self.answered_seconds > 0 else 0.0

    @property
    def sustained_rate(self) -> float:
        """Writes per second answered and, with subscribers, delivered to every one of them."""
        span = max(self.answered_seconds, self.delivered_seconds)
        return self.writes / span if span > 0 else 0.0

    @property
    def cpu_per_write(self) -> float:
        return self.server_cpu * 1e3 / self.writes if self.writes else float("nan")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(answered_rate=self.answered_rate, sustained_rate=self.sustained_rate)
        return data


class Writes:
    """Closed-loop writers through GraphQL (``POST /graphql``) or ``POST /bench/write``, each on its own
    keep-alive connection of a minimal HTTP client (``bench/httpclient.py``), with the writer's token."""

    def __init__(self, port: int, path: str, concurrency: int, token: str | None) -> None:
        self.path = path
        self.concurrency = concurrency
        self.connections = [HttpConnection(HOST, port) for _ in range(concurrency)]
        self.headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        self.sent = array("d")
        self.answered = array("d")
        self.errors: list[str] = []

    async def one(self, conn: HttpConnection, total: int) -> None:
        record = {"status": "paid", "total": total, "customer": "bench"}
        if self.path == "graphql":
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


async def run_phase(phase: str, round_no: int, args: argparse.Namespace, tmp: Path, source: Path) -> Phase:
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
            ranges = [(i, i + 1) for i in range(subscribers)]
            plans = share_out(ranges, args.clients, (server.port, path, scenario), realism, protocol)
            workers = Workers(plans)
            ready = await asyncio.to_thread(workers.wait_ready, label)
            log(f"{label}: {ready['subscribed']:,} subscribed")
            if protocol == GRAPHQL:
                await wait_held(label, server.port, int(ready["subscribed"]))
        token = writer_token(realism.secret) if realism.secret is not None else None
        writes = Writes(server.port, "graphql" if realism.graphql_writes else "bench", args.concurrency, token)
        log(f"{label}: warming up for {args.warmup:g} s")
        await writes.run(args.warmup, counted=False)
        watched = [server.pid, os.getpid(), *(workers.pids if workers else [])]
        cpu0 = {pid: cpu_seconds(pid) for pid in watched}
        t0 = time.time()
        log(f"{label}: writing for {args.seconds:g} s with {args.concurrency} writer(s)")
        await writes.run(args.seconds, counted=True)
        answered = max(writes.answered) - t0 if writes.answered else 0.0
        log(f"{label}: {len(writes.sent):,} writes answered in {answered:.1f} s ({len(writes.sent) / answered:,.0f}/s)")
        result = Phase(
            phase=phase,
            round=round_no,
            subscribers=subscribers,
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
            result.delivered = sum(int(s["received"]) for s in await asyncio.to_thread(workers.ask, "status"))
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
        await asyncio.to_thread(server.stop)


async def _collect(
    label: str, workers: Workers, writes: Writes, result: Phase, t0: float, subscribed: int, limit: float
) -> None:
    """Wait for every message of the window's writes, then take their receive times."""
    loop = asyncio.get_running_loop()
    result.expected = expected = result.writes * subscribed
    received, started, last_change, last_log = 0, loop.time(), loop.time(), 0.0
    while received < expected:
        await asyncio.sleep(POLL_INTERVAL)
        now = loop.time()
        total = sum(int(s["received"]) for s in await asyncio.to_thread(workers.ask, "status"))
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
        indexes, times = array("i"), array("d")
        indexes.frombytes(answer["indexes"])
        times.frombytes(answer["times"])
        for i, t in zip(indexes, times, strict=True):
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


# -- output --------------------------------------------------------------------------------------


def ratios(results: list[Phase], phase: str = ON) -> list[float]:
    """``phase`` ÷ off sustained rate, per round."""
    out = []
    for round_no in sorted({r.round for r in results}):
        pair = {r.phase: r for r in results if r.round == round_no}
        if OFF in pair and phase in pair and pair[OFF].sustained_rate > 0:
            out.append(pair[phase].sustained_rate / pair[OFF].sustained_rate)
    return out


def table(results: list[Phase]) -> str:
    lines = [
        "| round | realtime | subscribers | writes | answered writes/s | sustained writes/s | on ÷ off "
        "| server CPU ms / write | write p50 / p99 ms | delivered / expected | delivery p50 / p99 ms "
        "| last message after window s | client + loadgen CPU s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        off = next((o for o in results if o.round == r.round and o.phase == OFF), None)
        ratio = f"{r.sustained_rate / off.sustained_rate:.0%}" if r.phase != OFF and off and off.sustained_rate else ""
        delivered = f"{r.delivered:,} / {r.expected:,}" if r.phase != OFF else ""
        delivery = f"{ms_text(r.delivery_ms['p50'])} / {ms_text(r.delivery_ms['p99'])}" if r.phase == ON else ""
        lag = f"{max(0.0, r.delivered_seconds - r.answered_seconds):.1f}" if r.phase == ON else ""
        lines.append(
            f"| {r.round} | {r.phase} | {r.subscribers:,} | {r.writes:,} | {r.answered_rate:,.0f} "
            f"| {r.sustained_rate:,.0f} | {ratio} | {r.cpu_per_write:.2f} "
            f"| {ms_text(r.write_ms['p50'])} / {ms_text(r.write_ms['p99'])} | {delivered} | {delivery} | {lag} "
            f"| {r.client_cpu + r.loadgen_cpu:.2f} |"
        )
    for r in results:
        if r.errors or (r.phase != OFF and r.delivered != r.expected) or r.closes:
            lines.append(f"\n- round {r.round} {r.phase}: errors {r.errors[:3]}, closes {r.closes}")
    return "\n".join(lines)


def verdict(results: list[Phase], subscribers: int, concurrency: int) -> str:
    off = [r for r in results if r.phase == OFF]
    lines: list[str] = []
    if off:
        rate = statistics.median(r.sustained_rate for r in off)
        p99 = statistics.median(r.write_ms["p99"] for r in off)
        lines.append(
            f"- Single-record mutations/s with {concurrency} closed-loop writers ≥ 1,500 on SQLite: {rate:,.0f}/s "
            f"(median of {len(off)}) — "
            f"**{'met' if rate >= 1500 else 'not met'}**; write p99 ≤ 50 ms: {p99:,.0f} ms — "
            f"**{'met' if p99 <= 50 else 'not met'}**."
        )
    idle = ratios(results, IDLE)
    if idle:
        median = statistics.median(idle)
        lines.append(
            f"- Write rate with {subscribers:,} subscribers none of which match ÷ none at all ≥ 95 %: {median:.0%} "
            f"(median of rounds {', '.join(f'{r:.0%}' for r in idle)}) — **{'met' if median >= 0.95 else 'not met'}**."
        )
    found = ratios(results)
    if found:
        lines.append(
            f"- With {subscribers:,} subscribers that every write matches (no target; each write is "
            f"{subscribers:,} deliveries): {statistics.median(found):.0%} of the rate without "
            f"(rounds: {', '.join(f'{r:.0%}' for r in found)})."
        )
    return "\n".join(lines) if lines else "- Write throughput: no complete off/on pair."


def plot(results: list[Phase], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    labels = [f"{r.round}: {r.phase.replace(', ', chr(10))}" for r in results]
    palette = {OFF: "tab:grey", ON: "tab:blue", IDLE: "tab:green"}
    colors = [palette[r.phase] for r in results]
    ax = axes[0]
    ax.bar(labels, [r.sustained_rate for r in results], color=colors)
    ax.bar(labels, [r.answered_rate for r in results], color="none", edgecolor="black", ls="--",
           label="answered (not yet delivered)")  # fmt: skip
    for r, x in zip(results, range(len(results)), strict=True):
        ax.annotate(f"{r.sustained_rate:,.0f}", (x, r.sustained_rate), ha="center", va="bottom", fontsize=8)
    off = [r.sustained_rate for r in results if r.phase == OFF]
    if off:
        ax.axhline(0.8 * statistics.median(off), color="tab:red", lw=0.8, ls=":", label="80 % of off (target)")
    ax.set(ylabel="sustained writes per second")
    ax.set_title("Writes answered and delivered")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.bar(labels, [r.cpu_per_write for r in results], color=colors)
    ax.set(ylabel="server CPU ms per write")
    ax.set_title("Server CPU per write (fan-out included)")
    for ax in axes:
        ax.grid(True, axis="y", alpha=0.3)
    subscribers = max((r.subscribers for r in results), default=0)
    fig.suptitle(
        f"Write throughput (GraphQL mutations): realtime off, on with {subscribers:,} subscribers all matching, "
        "on with none matching (2 cores); x: round: phase"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.write_throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=1000, help="subscribers with realtime on")
    p.add_argument("--protocol", choices=("plain", "graphql"), default="plain", help="the subscribers' protocol")
    p.add_argument("--concurrency", type=int, default=8, help="closed-loop writers")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of uncounted writes before the window")
    p.add_argument("--rounds", type=int, default=1, help="off/on pairs")
    add_run_arguments(p, drain_timeout=120.0, plot_example="docs/benchmarks-write-throughput.png")
    return p


async def amain(args: argparse.Namespace) -> list[Phase]:
    results: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="objectql-bench-") as tmp:
        source = Path(tmp) / "source"
        args.commit = snapshot(source, args.rev)
        log(f"measuring objectql as committed at {args.commit[:12]} ({args.rev})")
        for round_no in range(1, max(1, args.rounds) + 1):
            for phase in (OFF, ON, IDLE):
                results.append(await run_phase(phase, round_no, args, Path(tmp), source))
    return results


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop_on_sigterm()
    limit = raise_nofile()
    started = time.monotonic()
    log(f"open-file limit {limit}; {os.cpu_count()} CPU(s)")
    try:
        results = asyncio.run(amain(args))
    except KeyboardInterrupt:
        log("interrupted; every process started here has been stopped")
        return 130
    elapsed = time.monotonic() - started
    print(table(results))
    print(verdict(results, args.subscribers, args.concurrency))
    log(f"done in {elapsed / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=1))
    if args.plot:
        plot(results, args.plot)
        log(f"wrote {args.plot}")
    if args.out:
        command = command_line("bench.write_throughput", argv)
        lines = run_header(
            command=command, elapsed=elapsed, commit=args.commit, doc=args.out, plot=args.plot, alt="write throughput"
        )
        lines += [table(results), "", "Against the targets:", "", verdict(results, args.subscribers, args.concurrency)]
        write_section(
            args.out, SCRIPT, lines, title="Write throughput, realtime on vs off (`bench/write_throughput.py`)"
        )
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
