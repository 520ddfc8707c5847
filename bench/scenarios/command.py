"""A benchmark's command, the same for every one: the options they share, every run on fresh processes
against a snapshot of the package, then the report (:func:`bench.report.render.publish`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from bench.common.system import log, raise_nofile, stop_on_sigterm
from bench.report.render import R, Report, publish
from bench.runs.writers import Writer
from bench.servers.process import ServerProcess, snapshot

Run = TypeVar("Run")
T = TypeVar("T")


class Cell(NamedTuple):
    """One run of a benchmark's matrix: a kind of server, a scenario and its size."""

    server: str
    scenario: str
    n: int

    def __str__(self) -> str:
        return f"{self.server}, {self.scenario}, N={self.n:,}"


def _parse_numbers(text: str, *, minimum: int, what: str, example: str) -> list[int]:
    try:
        numbers = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what} like {example}, not {text!r}") from None
    if not numbers or any(n < minimum for n in numbers):
        raise argparse.ArgumentTypeError(f"expected {what} of {minimum} or more, not {text!r}")
    return numbers


def parse_sizes(text: str) -> list[int]:
    """``"1000,5000"`` → ``[1000, 5000]`` (an ``argparse`` type)."""
    return _parse_numbers(text, minimum=1, what="sizes", example="1000,5000,10000")


def parse_counts(text: str) -> list[int]:
    """``"0,10,100"`` → ``[0, 10, 100]``: as :func:`parse_sizes`, 0 allowed (a run with none of them)."""
    return _parse_numbers(text, minimum=0, what="counts", example="0,10,100")


def parser_for(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of ``python -m <module>``, described by the first paragraph of its scenario's docstring."""
    return argparse.ArgumentParser(prog=f"python -m {module}", description=(doc or "").split("\n\n")[0])


def add_run_arguments(
    parser: argparse.ArgumentParser, *, drain_timeout: float, plot_example: str, clients: bool = True
) -> None:
    """The options every benchmark shares: load generators (unless it has none), drain wait, revision, the
    mode (``bench.common.realism.Realism``) and outputs."""
    if clients:
        parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--drain-timeout", type=float, default=drain_timeout, help="seconds to wait for messages")
    parser.add_argument("--rev", default="HEAD", help="git revision of the objectql package to measure")
    parser.add_argument("--out", type=Path, help="write the report here (e.g. docs/benchmarks.md)")
    parser.add_argument("--plot", type=Path, help=f"write the PNG plot here (e.g. {plot_example})")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--open", action="store_true", help="no JWT key on the server (anonymous subscribers)")
    parser.add_argument("--bench-writes", action="store_true", help="write via POST /bench/write, not GraphQL")
    parser.add_argument("--no-deflate-offer", action="store_true", help="subscribers offer no WebSocket extension")
    parser.add_argument("--compression", action="store_true", help="servers accept permessage-deflate")


async def each_run(
    runs: Sequence[Run],
    args: argparse.Namespace,
    run_one: Callable[[Run, argparse.Namespace, Path, Path], Awaitable[T]],
    *,
    label: Callable[[Run], str] = str,
    summary: Callable[[T], str] | None = None,
) -> list[T]:
    """``run_one(run, args, tmp, source)`` for every run in turn, against the ``objectql`` package as committed
    at ``--rev`` (a snapshot in ``source``; ``args.commit`` names it), each run's files under ``tmp``."""
    results: list[T] = []
    with tempfile.TemporaryDirectory(prefix="objectql-bench-") as tmp:
        source = Path(tmp) / "source"
        args.commit = snapshot(source, args.rev)
        log(f"measuring objectql as committed at {args.commit[:12]} ({args.rev})")
        for i, run in enumerate(runs, 1):
            log(f"run {i}/{len(runs)}: {label(run)}")
            result = await run_one(run, args, Path(tmp), source)
            results.append(result)
            if summary is not None:
                log(summary(result))
    return results


def run_command(
    report: Report[R],
    args: argparse.Namespace,
    argv: list[str] | None,
    runs: Callable[[], Coroutine[Any, Any, list[R]]],
) -> int:
    """Measure (``runs()``, on an event loop), then publish ``report``; returns the exit status. SIGTERM and
    Ctrl-C stop every process started here."""
    stop_on_sigterm()
    limit = raise_nofile()
    log(f"open-file limit {limit}; {os.cpu_count()} CPU(s)")
    started = time.monotonic()
    try:
        results = asyncio.run(runs())
    except KeyboardInterrupt:
        log("interrupted; every process started here has been stopped")
        return 130
    elapsed = time.monotonic() - started
    log(f"done in {elapsed / 60:.1f} min")
    publish(report, results, args, argv, elapsed=elapsed)
    return 0


async def stop_run(writer: Writer | None, *servers: ServerProcess) -> None:
    """Close a run's writer and stop its server processes (the last started first), whatever happened."""
    if writer is not None:
        with contextlib.suppress(Exception):
            await writer.close()
    for server in reversed(servers):
        await asyncio.to_thread(server.stop)
