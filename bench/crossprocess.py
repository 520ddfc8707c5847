"""Cross-process fan-out (docs/deployment.md): ``bench.fanout --broker URL`` — subscribers on process B, writes through
process A, both on one PostgreSQL database with that broker.

For every N (``--sizes``; the all-matching scenario of ``bench.fanout``), in the same run and each on a
fresh process and a fresh database (``--pg``, dropped and re-created per run, dropped at the end):

- ``objectql-1p``: one server on the database with the in-memory broker — the single-process reference on
  the same database;
- ``objectql-<scheme>``: for each ``--broker`` URL, servers A and B on the database with that broker; the
  subscribers connect to B and the writes go through A's ``POST /bench/write``, so every message crossed
  the broker;
- ``objectql-2w-<scheme>``: for each ``--broker`` URL, one server with ``--workers 2`` (uvicorn's two worker
  processes on one port, as ``objectql serve --workers 2`` runs) and that broker: the subscribers spread over
  both workers as the kernel hands out connections, the writes go to either; the server's CPU is both
  workers' (each reported);
- ``baseline``: ``bench.baseline_server``, as in the single-process benchmark.

Before the burst one warm-up write must reach every subscriber (it proves B hears A). The figures are B's
CPU per 1000 delivered messages (A's CPU reported beside it) and the latency from just before the write
request to A until the message is read from B.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from bench import postgres
from bench.common import Realism
from bench.loadgen import ALL_MATCHING, Plan, share_out
from bench.measure import RunResult, Target, Writer, measure, records_for, writer_for
from bench.servers import BASELINE, OBJECTQL, ServerProcess, snapshot
from bench.workers import log

SINGLE = "objectql-1p"
WARMUP = {"status": "paid", "customer": "bench"}


def workers_config_name(broker: str) -> str:
    """``redis://…`` → ``objectql-2w-redis``."""
    return f"{OBJECTQL}-2w-{urlsplit(broker).scheme}"


def config_name(broker: str) -> str:
    """``redis://…`` → ``objectql-redis``."""
    return f"{OBJECTQL}-{urlsplit(broker).scheme}"


def plans_for(n: int, port: int, path: str, clients: int, realism: Realism) -> list[Plan]:
    """N sockets with one all-matching subscription each, as in ``bench.fanout``."""
    ranges = [(i, i + 1) for i in range(n)]
    return share_out(ranges, clients, (port, path, ALL_MATCHING), realism)


async def run_one(
    config: str, broker: str | None, n: int, args: argparse.Namespace, tmp: Path, source: Path
) -> RunResult:
    label = f"{config} N={n:,}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{config}-{n}-", dir=tmp))
    servers: list[ServerProcess] = []
    writer: Writer | None = None
    realism = Realism.from_args(args)
    try:
        if config == BASELINE:
            log(f"{label}: starting the baseline")
            servers.append(ServerProcess(BASELINE, workdir, 1, source, realism=realism))
        elif config.startswith(f"{OBJECTQL}-2w-"):
            await postgres.recreate(args.pg)
            log(f"{label}: starting one server with 2 workers (broker {broker})")
            servers.append(
                ServerProcess(OBJECTQL, workdir, 1, source, db=args.pg, broker=broker, realism=realism, workers=2)
            )
        else:
            await postgres.recreate(args.pg)
            names = ["A", "B"] if broker is not None else ["A"]
            for name in names:
                log(f"{label}: starting server {name} on {args.pg.split('@')[-1]} (broker {broker or 'memory://'})")
                # One at a time: the schema is created once, by A, before B starts.
                servers.append(
                    ServerProcess(OBJECTQL, workdir, 1, source, db=args.pg, broker=broker, name=name, realism=realism)
                )
                await asyncio.to_thread(servers[-1].wait_ready)
        writing, subscribed = servers[0], servers[-1]
        await asyncio.to_thread(subscribed.wait_ready)
        writer = await writer_for(BASELINE if config == BASELINE else OBJECTQL, writing.port, realism)
        others = {"A": writing.pid} if writing is not subscribed else {}
        workers = {f"worker {i}": pid for i, pid in enumerate(subscribed.worker_pids(), 1)}
        target = Target(config, ALL_MATCHING, n, subscribed.pid, others=others, workers=workers, warmup=WARMUP)
        plans = plans_for(n, subscribed.port, subscribed.path, args.clients, realism)
        records = records_for(ALL_MATCHING, n, args.writes)
        return await measure(target, plans, n, writer, records, rate=args.rate, drain_timeout=args.drain_timeout)
    finally:
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.close()
        for server in reversed(servers):
            await asyncio.to_thread(server.stop)


async def amain(args: argparse.Namespace) -> list[RunResult]:
    postgres.require_local(args.pg)
    for broker in args.broker:
        postgres.require_local(broker)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    configs: list[tuple[str, str | None]] = []
    if OBJECTQL in servers:
        configs += [(SINGLE, None), *((config_name(b), b) for b in args.broker)]
        configs += [(workers_config_name(b), b) for b in args.broker]
    if BASELINE in servers:
        configs.append((BASELINE, None))
    results: list[RunResult] = []
    try:
        with tempfile.TemporaryDirectory(prefix="objectql-bench-") as tmp:
            source = Path(tmp) / "source"
            args.commit = snapshot(source, args.rev)
            log(f"measuring objectql as committed at {args.commit[:12]} ({args.rev}), cross-process")
            for i, n in enumerate(args.sizes, 1):
                for config, broker in configs:
                    log(f"run {i}/{len(args.sizes)}: {config}, N={n:,}")
                    result = await run_one(config, broker, n, args, Path(tmp), source)
                    results.append(result)
                    log(
                        f"{config} N={n:,}: {result.delivered:,}/{result.expected:,} delivered, subscribers' server "
                        f"CPU {result.server_cpu:.2f} s ({result.cpu_per_1000:.1f} ms / 1000 msgs), "
                        f"p50 {result.latency_ms['p50']:.0f} ms, p99 {result.latency_ms['p99']:.0f} ms"
                    )
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(postgres.drop(args.pg))
    return results
