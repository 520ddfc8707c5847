"""Live windows and live aggregates at fan-out: N subscribers of one window and of one aggregate, beside the
plain fan-out (N subscribers of one filter) in the same run.

Scenario "window": every subscriber watches the 10 biggest paid orders (``sort`` + ``limit`` on
``/api/realtime``); each write is a bigger total than any before, so it enters the window at index 0 and,
once the window is full, pushes its last row out (two messages; the ``added`` one is timed). Scenario
"aggregate": every subscriber watches the count and maximum total of the paid orders; each write changes
it (``OBJECTQL_AGGREGATE_INTERVAL=0``, so every write sends its own message and none is coalesced away).
Scenario "all": the plain fan-out's all-matching subscription, the baseline of the ratios.

    .venv/bin/python -m bench.live_views [--sizes 1000] [--writes 30] [--rate 10]

Server CPU per write is the server process's utime + stime over the burst divided by the writes; latency
runs from just before a write's GraphQL mutation is sent to when the message it caused is read. Progress
goes to stderr, the table to stdout; ``--out`` / ``--plot`` write docs/benchmarks.md's section and its PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import Realism, add_run_arguments, parse_sizes
from bench.fanout import plans_for
from bench.loadgen import AGGREGATE, ALL_MATCHING, WINDOW
from bench.measure import RunResult, Target, Writer, measure, records_for, run_and_publish, stop_run, writer_for
from bench.sections import cpu_latency_plot, ms_text, ratio_text
from bench.servers import ServerProcess
from bench.workers import log

SCENARIOS = (ALL_MATCHING, WINDOW, AGGREGATE)
TITLE = "Live windows and aggregates (bench/live_views.py)"


async def run_one(kind: str, scenario: str, n: int, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    label = f"{kind} {scenario} N={n:,}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{scenario}-{n}-", dir=tmp))
    log(f"{label}: starting the server")
    realism = Realism.from_args(args)
    settings = {"OBJECTQL_AGGREGATE_INTERVAL": "0"}
    server = ServerProcess(kind, workdir, max_subscriptions=1, source=source, realism=realism, settings=settings)
    writer: Writer | None = None
    try:
        await asyncio.to_thread(server.wait_ready)
        writer = await writer_for(kind, server.port, realism)
        plans, connections = plans_for(ALL_MATCHING, n, server.port, server.path, args.clients, 1, realism)
        plans = [dataclasses.replace(plan, scenario=scenario) for plan in plans]
        target = Target(kind, scenario, n, server.pid)
        records = records_for(scenario, n, args.writes)
        return await measure(
            target, plans, connections, writer, records, rate=args.rate, drain_timeout=args.drain_timeout
        )
    finally:
        await stop_run(writer, server)


def table(results: Sequence[RunResult]) -> str:
    base = {r.n: r for r in results if r.scenario == ALL_MATCHING}
    lines = [
        "| subscription | N | delivered | server CPU per write | vs plain fan-out | p50 | p99 | vs plain fan-out |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b = base.get(r.n)
        cpu_ratio = ratio_text(r.cpu_per_write, b.cpu_per_write) if b is not None else "n/a"
        p99_ratio = ratio_text(r.latency_ms["p99"], b.latency_ms["p99"]) if b is not None else "n/a"
        lines.append(
            f"| {r.scenario} | {r.n:,} | {r.delivered:,}/{r.expected:,} | {ms_text(r.cpu_per_write)} ms | {cpu_ratio} "
            f"| {ms_text(r.latency_ms['p50'])} ms | {ms_text(r.latency_ms['p99'])} ms | {p99_ratio} |"
        )
    return "\n".join(lines)


def plot(results: Sequence[RunResult], path: Path) -> None:
    cpu_latency_plot(
        path, [f"{r.scenario}\nN={r.n:,}" for r in results], [r.cpu_per_write for r in results],
        [r.latency_ms for r in results], latency_title="write → message, 10 writes/s",
        colors=["#888", "#2a7", "#27a"][: len(results)],
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.live_views", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=parse_sizes, default=[1000], help="N subscribers of each subscription")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="all, window, aggregate (comma-separated)")
    p.add_argument("--writes", type=int, default=30, help="writes per run")
    p.add_argument("--rate", type=float, default=10.0, help="writes per second")
    add_run_arguments(p, drain_timeout=120.0, plot_example="docs/benchmarks-live-views.png")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scenarios = [s for s in SCENARIOS if s in args.scenarios.split(",")]
    runs = [(scenario, n) for n in args.sizes for scenario in scenarios]
    return run_and_publish(
        runs, args, argv, run_one, module="bench.live_views", title=TITLE, table=table, plot=plot,
        alt="server CPU per write and delivery latency: plain fan-out, live window, live aggregate",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
