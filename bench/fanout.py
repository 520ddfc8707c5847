"""Fan-out benchmark for the plain WebSocket API, with its baseline in the same run.

Scenario "all": N sockets each with one subscription matching every write (N = ``--sizes``).
Scenario "distinct": N subscriptions with distinct equality filters multiplexed over a few sockets;
each write matches exactly one (N = ``--distinct-sizes``).

For every N, the server under test (``bench.server_app``: ``create_app`` plus a bench-only write route)
and the baseline (``bench.baseline_server``) each get a fresh process; load-generator worker processes
(``bench.loadgen``) open the subscribers, then this process commits writes at ``--rate`` per second and
waits for every message. Server CPU is the server process's utime + stime over the burst; latency runs
from just before a write request is sent to when the message carrying it is read.

    .venv/bin/python -m bench.fanout [--sizes 1000,5000,10000] [--distinct-sizes 1000,10000,100000]
    .venv/bin/python -m bench.fanout --broker redis://127.0.0.1:6379/0 [--sizes 1000,5000]

With ``--broker`` the cross-process benchmark runs instead (``bench.crossprocess``): servers A and B on one
PostgreSQL database (``--pg``) with that broker, subscribers on B, writes through A; its report goes in its
own section of docs/benchmarks.md.

Progress goes to stderr; the tables to stdout; ``--out`` / ``--plot`` write docs/benchmarks.md and its PNG.
Everything talks to 127.0.0.1 only, and every process started here is ended on exit, Ctrl-C included.
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

from bench import crossprocess, crossprocess_report, postgres, report
from bench.common import REALISTIC, Realism, add_run_arguments, command_line, parse_sizes, raise_nofile, stop_on_sigterm
from bench.loadgen import ALL_MATCHING, DISTINCT, Plan, share_out
from bench.measure import RunResult, Target, Writer, measure, records_for, run_matrix, stop_run, writer_for
from bench.servers import BASELINE, OBJECTQL, ServerProcess
from bench.workers import log

__all__ = ["RunResult", "build_parser", "main", "plans_for", "records_for"]


# -- plans ---------------------------------------------------------------------------------------


def plans_for(
    scenario: str, n: int, port: int, path: str, clients: int, mux: int, realism: Realism = REALISTIC
) -> tuple[list[Plan], int]:
    """Each worker's connections and the number of connections in all."""
    if scenario == ALL_MATCHING:
        ranges = [(i, i + 1) for i in range(n)]
    else:
        count = min(mux, n)
        per = -(-n // count)
        ranges = [(start, min(n, start + per)) for start in range(0, n, per)]
    plans = share_out(ranges, clients, (port, path, scenario), realism)
    return plans, len(ranges)


# -- one run -------------------------------------------------------------------------------------


async def run_one(kind: str, scenario: str, n: int, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    label = f"{kind} {scenario} N={n:,}"
    writes = args.writes if scenario == ALL_MATCHING else args.distinct_writes
    plans_probe, _ = plans_for(scenario, n, 0, "", args.clients, args.mux_connections)
    per_conn = max(stop - start for plan in plans_probe for start, stop in plan.connections)
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-{scenario}-{n}-", dir=tmp))
    log(f"{label}: starting the server")
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


# -- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
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


async def amain(args: argparse.Namespace) -> list[RunResult]:
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    runs = [(ALL_MATCHING, n) for n in args.sizes if ALL_MATCHING in scenarios]
    runs += [(DISTINCT, n) for n in args.distinct_sizes if DISTINCT in scenarios]
    return await run_matrix(runs, servers, args, run_one)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop_on_sigterm()
    limit = raise_nofile()
    started = time.monotonic()
    log(f"open-file limit {limit}; {os.cpu_count()} CPU(s)")
    try:
        results = asyncio.run(crossprocess.amain(args) if args.broker else amain(args))
    except KeyboardInterrupt:
        log("interrupted; every process started here has been stopped")
        return 130
    elapsed = time.monotonic() - started
    command = command_line("bench.fanout", argv)
    output = crossprocess_report if args.broker else report
    print(output.tables(results))
    if args.broker:
        print("\n".join(crossprocess_report.readings(results)))
    log(f"done in {elapsed / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in results], indent=1))
    if args.plot:
        output.plot(results, args.plot)
        log(f"wrote {args.plot}")
    if args.out:
        output.write_markdown(results, args.out, command=command, elapsed=elapsed, plot=args.plot, commit=args.commit)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
