"""What every benchmark process shares: fd limits, /proc accounting, the benchmark app's definitions."""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

HOST = "127.0.0.1"

# The benchmark's one object (docs/definitions.md): writes match subscribers on ``status`` (all matching)
# or ``customer`` (distinct equality filters); ``total`` carries the write's index so latency can be measured.
ORDERS_YAML = """\
label: Order
fields:
  status:   {type: select, options: [pending, paid, shipped, cancelled], default: pending}
  total:    {type: number}
  customer: {type: text}
"""

# The HS256 key of the servers under test in the realistic mode (a benchmark's, never a deployment's).
BENCH_SECRET = "objectql-bench-secret-0123456789abcdef"


@dataclass(frozen=True)
class Realism:
    """How the server under test is used: by default the way users run it.

    ``auth``: JWT on (HS256), a token per subscriber connection; ``graphql_writes``: writes are
    ``createOrders`` mutations over ``POST /graphql`` (else the bench-only ``POST /bench/write``);
    ``offer_deflate``: subscribers offer permessage-deflate as browsers do; ``compression``: the server
    accepts it (``OBJECTQL_WS_COMPRESSION``; the baseline likewise).
    """

    auth: bool = True
    graphql_writes: bool = True
    offer_deflate: bool = True
    compression: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Realism:
        return cls(
            auth=not args.open,
            graphql_writes=not args.bench_writes,
            offer_deflate=not args.no_deflate_offer,
            compression=args.compression,
        )

    @property
    def secret(self) -> str | None:
        return BENCH_SECRET if self.auth else None

    def describe(self) -> str:
        return ", ".join(
            [
                "JWT auth on (HS256, a token per connection)" if self.auth else "open server (no JWT key)",
                "writes as GraphQL createOrders mutations" if self.graphql_writes else "writes via POST /bench/write",
                "clients offer permessage-deflate" if self.offer_deflate else "clients offer no extensions",
                "server compression on" if self.compression else "server compression off (the default)",
            ]
        )


# How the benchmarks run unless told otherwise.
REALISTIC = Realism()


def writer_token(secret: str) -> str:
    """The token the benchmark writes with."""
    return jwt.encode({"sub": "bench-writer", "roles": ["writer"], "exp": int(time.time()) + 4 * 3600}, secret)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def write_app(app_dir: Path) -> Path:
    """Write the benchmark app (``objects/orders.object.yml``) into ``app_dir``."""
    objects = app_dir / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    (objects / "orders.object.yml").write_text(ORDERS_YAML)
    return app_dir


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name may contain spaces: fields are counted from the closing parenthesis.
    rest = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(rest[11]), int(rest[12])
    return (utime + stime) / _CLOCK_TICKS


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE_KIB


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


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of ``values``, which must be sorted; NaN when empty."""
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": values[-1]}


def _interrupt(signum: int, frame: Any) -> None:
    # asyncio.run turns SIGINT into a cancellation of the main task, so every finally block runs.
    os.kill(os.getpid(), signal.SIGINT)


def stop_on_sigterm() -> None:
    """Make SIGTERM and SIGINT end a benchmark like Ctrl-C does: every ``finally`` runs, every process stops."""
    # A shell starts background jobs with SIGINT ignored, and asyncio.run only turns SIGINT into a
    # cancellation when Python's own handler is installed: install it, or SIGTERM would do nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def command_line(module: str, argv: list[str] | None) -> str:
    """The command that produced a report, as written in docs/benchmarks.md."""
    return f"python -m {module} " + " ".join(argv if argv is not None else sys.argv[1:])


def add_run_arguments(
    parser: argparse.ArgumentParser, *, drain_timeout: float, plot_example: str, clients: bool = True
) -> None:
    """The options every benchmark script shares: load generators (unless it has none), drain wait, revision
    and outputs."""
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
