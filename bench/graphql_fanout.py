"""GraphQL fan-out benchmark (targets in docs/benchmarks.md): graphql-transport-ws subscribers against
the plain baseline and a naive strawberry server, all three in the same run.

Scenario "all": N sockets, each with one subscription of the same document and variables
(``ordersChanged(where: {status: {eq: $s}})``, ``s = "paid"``), and every write matches all of them.
Scenario "distinct": N sockets, subscription i with ``where: {customer: {eq: "c<i>"}}``; each write
matches exactly one. For every N each server gets a fresh process:

- ``objectql``: ``bench.server_app`` (``create_app``) over graphql-transport-ws at ``/graphql``, written to
  through its bench-only ``POST /bench/write`` (the engine's write path, as in ``bench.fanout``);
- ``baseline``: ``bench.baseline_server``, the minimal ``websockets`` broadcast of ``bench.fanout`` with its
  plain protocol (the practical limit for Python);
- ``naive``: ``bench.naive_strawberry``, a queue per subscriber, filtering and executing per subscriber.

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
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import graphql_report
from bench.common import REALISTIC, Realism, add_run_arguments, command_line, parse_sizes, raise_nofile, stop_on_sigterm
from bench.loadgen import ALL_MATCHING, DISTINCT, GRAPHQL, PLAIN, Plan, share_out
from bench.measure import RunResult, Target, Writer, measure, records_for, run_matrix, stop_run, writer_for
from bench.servers import BASELINE, NAIVE, OBJECTQL, ServerProcess
from bench.workers import log

SERVERS = (OBJECTQL, BASELINE, NAIVE)
WARMUP = {"status": "paid", "customer": "bench"}


def plans_for(kind: str, scenario: str, n: int, port: int, clients: int, realism: Realism = REALISTIC) -> list[Plan]:
    """One socket per subscriber, shared out over the load-generator processes."""
    ranges = [(i, i + 1) for i in range(n)]
    protocol = PLAIN if kind == BASELINE else GRAPHQL
    path = "/" if kind == BASELINE else "/graphql"
    plans = share_out(ranges, clients, (port, path, scenario), realism, protocol)
    return [p for p in plans if p.connections]


async def run_one(kind: str, scenario: str, n: int, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    label = f"{kind} {scenario} N={n:,}"
    writes = args.writes if scenario == ALL_MATCHING else args.distinct_writes
    workdir = Path(tempfile.mkdtemp(prefix=f"gql-{kind}-{scenario}-{n}-", dir=tmp))
    log(f"{label}: starting the server")
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
    p = argparse.ArgumentParser(prog="python -m bench.graphql_fanout", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=parse_sizes, default=[1000, 5000], help="N, for both scenarios")
    p.add_argument("--scenarios", default="all,distinct", help="all, distinct or both (comma-separated)")
    p.add_argument("--servers", default=",".join(SERVERS), help="objectql, baseline, naive (comma-separated)")
    p.add_argument("--writes", type=int, default=30, help="writes per run, all-matching scenario")
    p.add_argument("--distinct-writes", type=int, default=100, help="writes per run, distinct scenario")
    p.add_argument("--rate", type=float, default=10.0, help="writes per second")
    add_run_arguments(p, drain_timeout=180.0, plot_example="docs/benchmarks-graphql.png")
    return p


async def amain(args: argparse.Namespace) -> list[RunResult]:
    scenarios = [s for s in (ALL_MATCHING, DISTINCT) if s in args.scenarios.split(",")]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown server(s): {', '.join(sorted(unknown))}")
    runs = [(scenario, n) for scenario in scenarios for n in args.sizes]
    return await run_matrix(runs, servers, args, run_one)


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
    print(graphql_report.tables(results))
    print("\n".join(graphql_report.verdicts(results)))
    log(f"done in {elapsed / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=1))
    if args.plot:
        graphql_report.plot(results, args.plot)
        log(f"wrote {args.plot}")
    if args.out:
        command = command_line("bench.graphql_fanout", argv)
        graphql_report.write_markdown(
            results, args.out, command=command, elapsed=elapsed, plot=args.plot, commit=args.commit
        )
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
