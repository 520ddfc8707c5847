"""This machine, as every benchmark process sees it: the one host everything talks to, the open-file limit,
CPU and memory from ``/proc``, signals that end a run cleanly, and the progress log."""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from typing import Any

# Every server, client and database of a benchmark is on this machine.
HOST = "127.0.0.1"

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(message: str) -> None:
    """A line of progress on stderr (stdout carries the report)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


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


def _interrupt(signum: int, frame: Any) -> None:
    # asyncio.run turns SIGINT into a cancellation of the main task, so every finally block runs.
    os.kill(os.getpid(), signal.SIGINT)


def stop_on_sigterm() -> None:
    """Make SIGTERM and SIGINT end a benchmark like Ctrl-C does: every ``finally`` runs, every process stops."""
    # A shell starts background jobs with SIGINT ignored, and asyncio.run only turns SIGINT into a
    # cancellation when Python's own handler is installed: install it, or SIGTERM would do nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
