"""What every benchmark process shares: fd limits, /proc accounting, the benchmark app's definitions."""

from __future__ import annotations

import os
import resource
from pathlib import Path

HOST = "127.0.0.1"

# The benchmark's one object (SPEC §3 YAML): writes match subscribers on ``status`` (all matching) or
# ``customer`` (distinct equality filters); ``total`` carries the write's index so latency can be measured.
ORDERS_YAML = """\
label: Order
fields:
  status:   {type: select, options: [pending, paid, shipped, cancelled], default: pending}
  total:    {type: number}
  customer: {type: text}
"""

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
