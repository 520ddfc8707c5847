"""Many live windows or aggregates a write cannot affect: server CPU per write with K of them on one
connection, beside none (K = 0), for two revisions of the package in the same run.

Scenario: one plain-WebSocket connection subscribes K live windows (``limit`` 5, sorted by ``total``) or K live
aggregates (count and sum of ``total``), each under its own equality filter ``customer = "u<i>"``, plus one
row subscription on ``customer = "sentinel"``. Each measured write is one ``createOrders`` mutation with
``customer = "x"``, which none of them match: it must send nothing, and should cost what a write costs with
no subscription at all. A round is W such writes, one at a time, then one sentinel write whose event ends the
round (events are dispatched in order, so every write before it has been dispatched once it arrives); the
round's server CPU (utime + stime) divided by W is its CPU per write, and a run reports the median round.

    .venv/bin/python -m bench.unaffected_groups [--groups 1000] [--writes 200] [--rounds 5] [--before main]

Both ``--before`` and ``--rev`` are measured, each run on a fresh server: K = 0, K windows, K aggregates.
Any message other than the sentinel's change is a failure (an event delivered where it cannot match).
Progress goes to stderr, the table to stdout; ``--out`` / ``--plot`` write docs/benchmarks.md's section and
its PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench.common.realism import Realism
from bench.common.system import cpu_seconds, log
from bench.load.loadgen import STEP_TIMEOUT, open_plain, paced_chunks
from bench.load.workers import PROGRESS_EVERY
from bench.load.wsclient import WSClient
from bench.report.unaffected_groups import REPORT
from bench.runs.results import UnaffectedRun
from bench.runs.writers import Writer, writer_for
from bench.scenarios.command import add_run_arguments, parse_counts, parser_for, run_command, stop_run
from bench.servers.process import OBJECTQL, ServerProcess, snapshot

NONE, WINDOWS, AGGREGATES = "none", "windows", "aggregates"
SENTINEL = "sentinel"
WINDOW_LIMIT = 5
WARM_WRITES = 20


class Cell(NamedTuple):
    """One run: a revision (``before`` or ``after``), a kind of live subscription, and how many."""

    revision: str
    kind: str
    k: int


def subscribe_message(kind: str, i: int) -> str:
    """Live subscription ``g<i>`` of ``kind`` under a filter no write of the run matches."""
    message: dict[str, object] = {
        "type": "subscribe",
        "id": f"g{i}",
        "object": "orders",
        "filters": [["customer", "=", f"u{i}"]],
    }
    if kind == WINDOWS:
        message.update(sort=[["total", "desc"]], limit=WINDOW_LIMIT)
    else:
        message.update(aggregate={"count": True, "sum": ["total"]})
    return json.dumps(message, separators=(",", ":"))


SENTINEL_SUBSCRIBE = json.dumps(
    {"type": "subscribe", "id": SENTINEL, "object": "orders", "filters": [["customer", "=", SENTINEL]]}
)


class Listener:
    """The one connection: acks and first messages while it subscribes, then only the sentinel's changes."""

    def __init__(self) -> None:
        self.ws: WSClient | None = None
        self.authed = asyncio.Event()
        self.acks = self.firsts = 0
        self.wanted = -1  # the subscriptions asked for (each acked; all but the sentinel send a first message)
        self.ready = asyncio.Event()
        self.sentinel = asyncio.Event()
        self.unexpected: list[str] = []
        self.subscribing = True

    def on_text(self, ws: WSClient, payload: bytes, now: float) -> None:
        msg = json.loads(payload)
        kind = msg.get("type")
        if kind == "auth_ok":
            self.authed.set()
        elif kind == "change" and msg.get("id") == SENTINEL:
            self.sentinel.set()
        elif self.subscribing and kind == "subscribed":
            self.acks += 1
        elif self.subscribing and kind in ("snapshot", "aggregate"):
            self.firsts += 1
        elif kind != "pong":
            self.unexpected.append(payload.decode(errors="replace")[:200])
        if self.subscribing and self.wanted >= 0 and self.acks >= self.wanted and self.firsts >= self.wanted - 1:
            self.ready.set()

    async def open(self, port: int, path: str, kind: str, k: int, realism: Realism) -> None:
        """Connect, authenticate, subscribe the sentinel and ``k`` groups of ``kind`` (paced as the rate limit
        wants), and wait for every ack and first message."""
        ws = self.ws = await open_plain(port, path, self.on_text, self.authed, realism)
        self.wanted = k + 1
        ws.send_text(SENTINEL_SUBSCRIBE)
        async for chunk in paced_chunks(range(k)):
            for i in chunk:
                ws.send_text(subscribe_message(kind, i))
        await asyncio.wait_for(self.ready.wait(), STEP_TIMEOUT)
        self.subscribing = False

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


async def measure_rounds(
    server: ServerProcess, writer: Writer, listener: Listener, args: argparse.Namespace, label: str
) -> list[float]:
    """Server CPU milliseconds per write of each round."""
    per_round: list[float] = []
    last_log = time.monotonic()
    for r in range(args.rounds):
        listener.sentinel.clear()
        cpu0 = cpu_seconds(server.pid)
        for w in range(args.writes):
            await writer.write({"status": "paid", "total": float(w), "customer": "x"})
        await writer.write({"status": "paid", "total": 0.0, "customer": SENTINEL})
        await asyncio.wait_for(listener.sentinel.wait(), args.drain_timeout)
        per_round.append((cpu_seconds(server.pid) - cpu0) * 1e3 / args.writes)
        if time.monotonic() - last_log > PROGRESS_EVERY:
            last_log = time.monotonic()
            log(f"{label}: round {r + 1}/{args.rounds}, {per_round[-1]:.2f} ms per write")
    return per_round


async def run_one(cell: Cell, args: argparse.Namespace, tmp: Path, source: Path, commit: str) -> UnaffectedRun:
    label = f"{cell.revision}: {cell.kind}, K={cell.k:,}"
    workdir = Path(tempfile.mkdtemp(prefix=f"unaffected-{cell.revision}-{cell.kind}-", dir=tmp))
    realism = Realism.from_args(args)
    settings = {"OBJECTQL_AGGREGATE_INTERVAL": "0", "OBJECTQL_WINDOW_ROWS": str(max(10_000, 2 * cell.k * 5))}
    server = ServerProcess(OBJECTQL, workdir, max_subscriptions=cell.k + 1, source=source, realism=realism,
                           settings=settings)  # fmt: skip
    writer: Writer | None = None
    listener = Listener()
    try:
        await asyncio.to_thread(server.wait_ready)
        log(f"{label}: subscribing")
        await listener.open(server.port, server.path, cell.kind, cell.k, realism)
        writer = await writer_for(OBJECTQL, server.port, realism)
        for w in range(WARM_WRITES):  # not measured: paths not yet warm
            await writer.write({"status": "paid", "total": float(w), "customer": "x"})
        log(f"{label}: {args.rounds} rounds of {args.writes} writes")
        rounds = await measure_rounds(server, writer, listener, args, label)
        return UnaffectedRun(
            revision=cell.revision,
            commit=commit,
            kind=cell.kind,
            groups=cell.k,
            writes=args.writes,
            rounds_ms=rounds,
            cpu_per_write=statistics.median(rounds),
            unexpected=listener.unexpected[:5],
            unexpected_count=len(listener.unexpected),
        )
    finally:
        listener.close()
        await stop_run(writer, server)


async def all_runs(args: argparse.Namespace) -> list[UnaffectedRun]:
    results: list[UnaffectedRun] = []
    cells = [
        Cell(revision, kind, k)
        for revision in ("before", "after")
        for k in args.groups
        for kind in ((NONE,) if k == 0 else (WINDOWS, AGGREGATES))
    ]
    with tempfile.TemporaryDirectory(prefix="objectql-bench-") as tmp:
        revs = {"before": args.before, "after": args.rev}
        sources = {name: Path(tmp) / f"source-{name}" for name in revs}
        commits = {name: snapshot(sources[name], rev) for name, rev in revs.items()}
        args.commit = commits["after"]
        for name, rev in revs.items():
            log(f"{name}: objectql as committed at {commits[name][:12]} ({rev})")
        for i, cell in enumerate(cells, 1):
            log(f"run {i}/{len(cells)}: {cell.revision}, {cell.kind}, K={cell.k:,}")
            result = await run_one(cell, args, Path(tmp), sources[cell.revision], commits[cell.revision])
            results.append(result)
            log(result.summary())
    return results


def build_parser() -> argparse.ArgumentParser:
    p = parser_for(REPORT.module, __doc__)
    p.add_argument("--groups", type=parse_counts, default=[0, 1000], help="K windows or aggregates per run")
    p.add_argument("--writes", type=int, default=200, help="writes per round")
    p.add_argument("--rounds", type=int, default=5, help="rounds per run (the median is reported)")
    p.add_argument("--before", default="main", help="git revision measured beside --rev")
    add_run_arguments(p, drain_timeout=60.0, plot_example="docs/benchmarks-unaffected-groups.png", clients=False)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if 0 not in args.groups:
        args.groups = [0, *args.groups]
    return run_command(REPORT, args, argv, lambda: all_runs(args))
