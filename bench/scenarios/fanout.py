"""Fan-out benchmark for the plain WebSocket API, with its baseline in the same run.

Scenario "all": N sockets each with one subscription matching every write (N = ``--sizes``).
Scenario "distinct": N subscriptions with distinct equality filters multiplexed over a few sockets;
each write matches exactly one (N = ``--distinct-sizes``).

For every N, the server under test (``bench.servers.objectql_app``: ``create_app`` plus a bench-only write
route) and the baseline (``bench.servers.baseline``) each get a fresh process; load-generator worker
processes (``bench.load.loadgen``) open the subscribers, then this process commits writes at ``--rate`` per
second and waits for every message. Server CPU is the server process's utime + stime over the burst; latency
runs from just before a write request is sent to when the message carrying it is read.

    .venv/bin/python -m bench.fanout [--sizes 1000,5000,10000] [--distinct-sizes 1000,10000,100000]
    .venv/bin/python -m bench.fanout --broker redis://127.0.0.1:6379/0 [--sizes 1000,5000]

With ``--broker`` the cross-process benchmark runs instead (``bench.scenarios.crossprocess``): servers A and B
on one PostgreSQL database (``--pg``) with that broker, subscribers on B, writes through A; its report goes
in its own section of docs/benchmarks.md.

Progress goes to stderr; the tables to stdout; ``--out`` / ``--plot`` write docs/benchmarks.md and its PNG.
Everything talks to 127.0.0.1 only, and every process started here is ended on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.common.realism import REALISTIC, Realism
from bench.common.system import log
from bench.load.loadgen import ALL_MATCHING, DISTINCT, Plan, one_per_socket, share_out
from bench.report.fanout import REPORT
from bench.runs.measure import Target, measure, records_for
from bench.runs.results import RunResult
from bench.runs.writers import Writer, writer_for
from bench.scenarios import crossprocess
from bench.scenarios.command import Cell, add_run_arguments, each_run, parse_sizes, parser_for, run_command, stop_run
from bench.servers import postgres
from bench.servers.process import BASELINE, OBJECTQL, ServerProcess


def plans_for(
    scenario: str, n: int, port: int, path: str, clients: int, mux: int, realism: Realism = REALISTIC
) -> tuple[list[Plan], int]:
    """Each worker's connections and the number of connections in all."""
    if scenario == ALL_MATCHING:
        ranges = one_per_socket(n)
    else:
        count = min(mux, n)
        per = -(-n // count)
        ranges = [(start, min(n, start + per)) for start in range(0, n, per)]
    plans = share_out(ranges, clients, (port, path, scenario), realism)
    return plans, len(ranges)


async def run_one(cell: Cell, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    kind, scenario, n = cell
    writes = args.writes if scenario == ALL_MATCHING else args.distinct_writes
    plans_probe, _ = plans_for(scenario, n, 0, "", args.clients, args.mux_connections)
    per_conn = max(stop - start for plan in plans_probe for start, stop in plan.connections)
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-{scenario}-{n}-", dir=tmp))
    log(f"{kind} {scenario} N={n:,}: starting the server")
    realism = Realism.from_args(args)
    server = ServerProcess(kind, workdir, max_subscriptions=per_conn, source=source, realism=realism)
    writer: Writer | None = None
    try:
        await asyncio.to_thread(server.wait_ready)
        writer = await writer_for(kind, server.port, realism)
        plans, connections = plans_for(
            scenario, n, server.port, server.path, args.clients, args.mux_connections, realism
        )
        target = Target(kind, scenario, n, server.pid)
        records = records_for(scenario, n, writes)
        return await measure(
            target, plans, connections, writer, records, rate=args.rate, drain_timeout=args.drain_timeout
        )
    finally:
        await stop_run(writer, server)


def build_parser() -> argparse.ArgumentParser:
    p = parser_for(REPORT.module, __doc__)
    p.add_argument("--sizes", type=parse_sizes, default=[1000, 5000, 10000], help="N for the all-matching scenario")
    p.add_argument("--distinct-sizes", type=parse_sizes, default=[1000, 10000, 100000], help="N, distinct filters")
    p.add_argument("--scenarios", default="all,distinct", help="all, distinct or both (comma-separated)")
    p.add_argument("--servers", default=f"{OBJECTQL},{BASELINE}", help="objectql, baseline or both")
    p.add_argument("--writes", type=int, default=30, help="writes per run, all-matching scenario")
    p.add_argument("--distinct-writes", type=int, default=100, help="writes per run, distinct scenario")
    p.add_argument("--rate", type=float, default=10.0, help="writes per second")
    add_run_arguments(p, drain_timeout=300.0, plot_example="docs/benchmarks-fanout.png")
    p.add_argument("--mux-connections", type=int, default=50, help="sockets carrying the distinct subscriptions")
    p.add_argument(
        "--broker",
        action="append",
        metavar="URL",
        help="cross-process mode (repeatable): servers A and B on one PostgreSQL database with this broker, "
        "subscribers on B, writes through A; all-matching scenario at --sizes, its own section and --plot",
    )
    p.add_argument("--pg", default=postgres.DEFAULT_DATABASE, help="the database of --broker runs (re-created)")
    return p


async def measure_all(args: argparse.Namespace) -> list[RunResult]:
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    sizes = [(ALL_MATCHING, n) for n in args.sizes if ALL_MATCHING in scenarios]
    sizes += [(DISTINCT, n) for n in args.distinct_sizes if DISTINCT in scenarios]
    cells = [Cell(kind, scenario, n) for scenario, n in sizes for kind in servers]
    return await each_run(cells, args, run_one, summary=RunResult.summary)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.broker:
        return run_command(crossprocess.REPORT, args, argv, lambda: crossprocess.measure_all(args))
    return run_command(REPORT, args, argv, lambda: measure_all(args))
