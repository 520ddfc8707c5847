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
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import Realism, add_run_arguments, command_line, parse_sizes, raise_nofile, stop_on_sigterm
from bench.fanout import plans_for
from bench.loadgen import AGGREGATE, ALL_MATCHING, WINDOW
from bench.measure import RunResult, Target, Writer, measure, records_for, run_matrix, stop_run, writer_for
from bench.sections import ms_text, ratio_text, run_header, write_section
from bench.servers import OBJECTQL, ServerProcess
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cpu_ax, lat_ax) = plt.subplots(1, 2, figsize=(10, 4))
    labels = [f"{r.scenario}\nN={r.n:,}" for r in results]
    cpu_ax.bar(labels, [r.cpu_per_write for r in results], color=["#888", "#2a7", "#27a"][: len(results)])
    cpu_ax.set_ylabel("server CPU per write (ms)")
    cpu_ax.set_title("CPU per write, one process")
    width = 0.4
    xs = range(len(results))
    lat_ax.bar([x - width / 2 for x in xs], [r.latency_ms["p50"] for r in results], width, label="p50")
    lat_ax.bar([x + width / 2 for x in xs], [r.latency_ms["p99"] for r in results], width, label="p99")
    lat_ax.set_xticks(list(xs), labels)
    lat_ax.set_ylabel("delivery latency (ms)")
    lat_ax.set_title("write → message, 10 writes/s")
    lat_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    stop_on_sigterm()
    raise_nofile()
    scenarios = [s for s in SCENARIOS if s in args.scenarios.split(",")]
    started = time.monotonic()
    runs = [(scenario, n) for n in args.sizes for scenario in scenarios]
    try:
        results = asyncio.run(run_matrix(runs, [OBJECTQL], args, run_one))
    except KeyboardInterrupt:
        log("interrupted; every process started here has been stopped")
        return 130
    elapsed = time.monotonic() - started
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=1))
    if args.plot:
        plot(results, args.plot)
        log(f"wrote {args.plot}")
    if args.out:
        command = command_line("bench.live_views", argv)
        header = run_header(
            command=command, elapsed=elapsed, commit=args.commit, doc=args.out, plot=args.plot,
            alt="server CPU per write and delivery latency: plain fan-out, live window, live aggregate",
        )  # fmt: skip
        write_section(args.out, "bench/live_views.py", [*header, table(results)], title=TITLE)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
