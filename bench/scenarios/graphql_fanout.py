"""GraphQL fan-out benchmark (targets in docs/benchmarks.md): graphql-transport-ws subscribers against
the plain baseline and a naive strawberry server, all three in the same run.

Scenario "all": N sockets, each with one subscription of the same document and variables
(``ordersChanged(where: {status: {eq: $s}})``, ``s = "paid"``), and every write matches all of them.
Scenario "distinct": N sockets, subscription i with ``where: {customer: {eq: "c<i>"}}``; each write
matches exactly one. For every N each server gets a fresh process:

- ``objectql``: ``bench.servers.objectql_app`` (``create_app``) over graphql-transport-ws at ``/graphql``, written
  to as in ``bench.fanout``;
- ``baseline``: ``bench.servers.baseline``, the minimal ``websockets`` broadcast of ``bench.fanout`` with its
  plain protocol (the practical limit for Python);
- ``naive``: ``bench.servers.naive_strawberry``, a queue per subscriber, filtering and executing per subscriber.

graphql-transport-ws acknowledges no subscription, so before writing this script waits until the server
counts every subscription (``GET /bench/stats``) and, in the all-matching scenario, until a warm-up write
reached every subscriber. Server CPU is the server process's utime + stime over the burst.

    .venv/bin/python -m bench.graphql_fanout [--sizes 1000,5000] [--out docs/benchmarks.md]
        [--plot docs/benchmarks-graphql.png]

Progress goes to stderr; the tables to stdout. Everything talks to 127.0.0.1 only, and every process
started here is ended on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.common.realism import REALISTIC, Realism
from bench.common.system import log
from bench.load.loadgen import ALL_MATCHING, DISTINCT, GRAPHQL, PLAIN, Plan, one_per_socket, share_out
from bench.report.graphql_fanout import REPORT
from bench.runs.measure import Target, measure, records_for
from bench.runs.results import RunResult
from bench.runs.writers import Writer, writer_for
from bench.scenarios.command import Cell, add_run_arguments, each_run, parse_sizes, parser_for, run_command, stop_run
from bench.servers.process import BASELINE, NAIVE, OBJECTQL, ServerProcess

SERVERS = (OBJECTQL, BASELINE, NAIVE)
WARMUP = {"status": "paid", "customer": "bench"}


def plans_for(kind: str, scenario: str, n: int, port: int, clients: int, realism: Realism = REALISTIC) -> list[Plan]:
    """One socket per subscriber, shared out over the load-generator processes."""
    protocol = PLAIN if kind == BASELINE else GRAPHQL
    path = "/" if kind == BASELINE else "/graphql"
    return share_out(one_per_socket(n), clients, (port, path, scenario), realism, protocol)


async def run_one(cell: Cell, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    kind, scenario, n = cell
    writes = args.writes if scenario == ALL_MATCHING else args.distinct_writes
    workdir = Path(tempfile.mkdtemp(prefix=f"gql-{kind}-{scenario}-{n}-", dir=tmp))
    log(f"{kind} {scenario} N={n:,}: starting the server")
    realism = Realism.from_args(args)
    server = ServerProcess(kind, workdir, max_subscriptions=1, source=source, realism=realism)
    writer: Writer | None = None
    try:
        await asyncio.to_thread(server.wait_ready)
        writer = await writer_for(kind, server.port, realism)
        target = Target(
            kind,
            scenario,
            n,
            server.pid,
            stats_port=None if kind == BASELINE else server.port,
            warmup=WARMUP if scenario == ALL_MATCHING else None,
        )
        plans = plans_for(kind, scenario, n, server.port, args.clients, realism)
        records = records_for(scenario, n, writes)
        return await measure(target, plans, n, writer, records, rate=args.rate, drain_timeout=args.drain_timeout)
    finally:
        await stop_run(writer, server)


def build_parser() -> argparse.ArgumentParser:
    p = parser_for(REPORT.module, __doc__)
    p.add_argument("--sizes", type=parse_sizes, default=[1000, 5000], help="N, for both scenarios")
    p.add_argument("--scenarios", default="all,distinct", help="all, distinct or both (comma-separated)")
    p.add_argument("--servers", default=",".join(SERVERS), help="objectql, baseline, naive (comma-separated)")
    p.add_argument("--writes", type=int, default=30, help="writes per run, all-matching scenario")
    p.add_argument("--distinct-writes", type=int, default=100, help="writes per run, distinct scenario")
    p.add_argument("--rate", type=float, default=10.0, help="writes per second")
    add_run_arguments(p, drain_timeout=180.0, plot_example="docs/benchmarks-graphql.png")
    return p


async def measure_all(args: argparse.Namespace) -> list[RunResult]:
    scenarios = [s for s in (ALL_MATCHING, DISTINCT) if s in args.scenarios.split(",")]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    cells = [Cell(kind, scenario, n) for scenario in scenarios for n in args.sizes for kind in servers]
    return await each_run(cells, args, run_one, summary=RunResult.summary)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(REPORT, args, argv, lambda: measure_all(args))
