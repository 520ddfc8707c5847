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
import tempfile
from pathlib import Path

from bench.common.realism import Realism
from bench.common.system import log
from bench.load.loadgen import AGGREGATE, ALL_MATCHING, WINDOW, one_per_socket, share_out
from bench.report.live_views import REPORT
from bench.runs.measure import Target, measure, records_for
from bench.runs.results import RunResult
from bench.runs.writers import Writer, writer_for
from bench.scenarios.command import Cell, add_run_arguments, each_run, parse_sizes, parser_for, run_command, stop_run
from bench.servers.process import OBJECTQL, ServerProcess

SCENARIOS = (ALL_MATCHING, WINDOW, AGGREGATE)


async def run_one(cell: Cell, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    kind, scenario, n = cell
    workdir = Path(tempfile.mkdtemp(prefix=f"{scenario}-{n}-", dir=tmp))
    log(f"{kind} {scenario} N={n:,}: starting the server")
    realism = Realism.from_args(args)
    settings = {"OBJECTQL_AGGREGATE_INTERVAL": "0"}
    server = ServerProcess(kind, workdir, max_subscriptions=1, source=source, realism=realism, settings=settings)
    writer: Writer | None = None
    try:
        await asyncio.to_thread(server.wait_ready)
        writer = await writer_for(kind, server.port, realism)
        plans = share_out(one_per_socket(n), args.clients, (server.port, server.path, scenario), realism)
        target = Target(kind, scenario, n, server.pid)
        records = records_for(scenario, n, args.writes)
        return await measure(target, plans, n, writer, records, rate=args.rate, drain_timeout=args.drain_timeout)
    finally:
        await stop_run(writer, server)


def build_parser() -> argparse.ArgumentParser:
    p = parser_for(REPORT.module, __doc__)
    p.add_argument("--sizes", type=parse_sizes, default=[1000], help="N subscribers of each subscription")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="all, window, aggregate (comma-separated)")
    p.add_argument("--writes", type=int, default=30, help="writes per run")
    p.add_argument("--rate", type=float, default=10.0, help="writes per second")
    add_run_arguments(p, drain_timeout=120.0, plot_example="docs/benchmarks-live-views.png")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scenarios = [s for s in SCENARIOS if s in args.scenarios.split(",")]
    cells = [Cell(OBJECTQL, scenario, n) for n in args.sizes for scenario in scenarios]
    return run_command(REPORT, args, argv, lambda: each_run(cells, args, run_one, summary=RunResult.summary))
