"""Cross-process fan-out (docs/deployment.md): ``bench.fanout --broker URL`` — subscribers on process B, writes
through process A, both on one PostgreSQL database with that broker.

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
- ``baseline``: ``bench.servers.baseline``, as in the single-process benchmark.

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
from typing import NamedTuple

from bench.common.realism import Realism
from bench.common.system import log
from bench.load.loadgen import ALL_MATCHING, one_per_socket, share_out
from bench.report.crossprocess import REPORT, SINGLE, WORKERS_PREFIX, config_name, workers_config_name
from bench.runs.measure import Target, measure, records_for
from bench.runs.results import RunResult
from bench.runs.writers import Writer, writer_for
from bench.scenarios.command import each_run, stop_run
from bench.servers import postgres
from bench.servers.process import BASELINE, OBJECTQL, ServerProcess

__all__ = ["REPORT", "measure_all"]

WARMUP = {"status": "paid", "customer": "bench"}


class Config(NamedTuple):
    """One configuration at one N: its name (a run's ``server``) and its broker (None: one process)."""

    name: str
    broker: str | None
    n: int

    def __str__(self) -> str:
        return f"{self.name}, N={self.n:,}"


async def run_one(config: Config, args: argparse.Namespace, tmp: Path, source: Path) -> RunResult:
    name, broker, n = config
    label = f"{name} N={n:,}"
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-{n}-", dir=tmp))
    servers: list[ServerProcess] = []
    writer: Writer | None = None
    realism = Realism.from_args(args)
    try:
        if name == BASELINE:
            log(f"{label}: starting the baseline")
            servers.append(ServerProcess(BASELINE, workdir, 1, source, realism=realism))
        elif name.startswith(WORKERS_PREFIX):
            await postgres.recreate(args.pg)
            log(f"{label}: starting one server with 2 workers (broker {broker})")
            servers.append(
                ServerProcess(OBJECTQL, workdir, 1, source, db=args.pg, broker=broker, realism=realism, workers=2)
            )
        else:
            await postgres.recreate(args.pg)
            for process in ["A", "B"] if broker is not None else ["A"]:
                log(f"{label}: starting server {process} on {args.pg.split('@')[-1]} (broker {broker or 'memory://'})")
                # One at a time: the schema is created once, by A, before B starts.
                servers.append(
                    ServerProcess(
                        OBJECTQL, workdir, 1, source, db=args.pg, broker=broker, name=process, realism=realism
                    )
                )
                await asyncio.to_thread(servers[-1].wait_ready)
        writing, subscribed = servers[0], servers[-1]
        await asyncio.to_thread(subscribed.wait_ready)
        writer = await writer_for(BASELINE if name == BASELINE else OBJECTQL, writing.port, realism)
        others = {"A": writing.pid} if writing is not subscribed else {}
        workers = {f"worker {i}": pid for i, pid in enumerate(subscribed.worker_pids(), 1)}
        target = Target(name, ALL_MATCHING, n, subscribed.pid, others=others, workers=workers, warmup=WARMUP)
        plans = share_out(one_per_socket(n), args.clients, (subscribed.port, subscribed.path, ALL_MATCHING), realism)
        records = records_for(ALL_MATCHING, n, args.writes)
        return await measure(target, plans, n, writer, records, rate=args.rate, drain_timeout=args.drain_timeout)
    finally:
        await stop_run(writer, *servers)


async def measure_all(args: argparse.Namespace) -> list[RunResult]:
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
    try:
        runs = [Config(name, broker, n) for n in args.sizes for name, broker in configs]
        return await each_run(runs, args, run_one, summary=RunResult.summary)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(postgres.drop(args.pg))
