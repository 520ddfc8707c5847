"""What the fan-out reports (plain, GraphQL, cross-process) share about their runs (:class:`RunResult`): the
runs by server and N, the columns of their tables, and the lines that list a run's problems."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.report.render import Column, met, ms_text, ratio_text
from bench.runs.results import RunResult

Runs = dict[tuple[str, int], RunResult]


def by_size(results: Sequence[RunResult], scenario: str | None = None) -> tuple[list[int], Runs]:
    """The sizes run, and each run by (server, N): of one scenario, or all of them."""
    runs = {(r.server, r.n): r for r in results if scenario is None or r.scenario == scenario}
    return sorted({n for _, n in runs}), runs


def in_order(runs: Runs, sizes: Sequence[int], servers: Sequence[str]) -> list[RunResult]:
    """The rows of a table: by N, then by server in the given order."""
    return [runs[(server, n)] for n in sizes for server in servers if (server, n) in runs]


def cpu_ratios(runs: Runs, sizes: Sequence[int], over: str, under: str) -> list[tuple[int, float]]:
    """(N, server CPU per delivered message of ``over`` ÷ that of ``under``) at each N where both ran and
    measured something: a tiny run may measure 0 CPU ticks (10 ms each) or deliver nothing."""
    pairs = []
    for n in sizes:
        a, b = runs.get((over, n)), runs.get((under, n))
        if a is not None and b is not None and min(a.server_cpu, b.server_cpu) > 0 and a.delivered and b.delivered:
            pairs.append((n, a.cpu_per_1000 / b.cpu_per_1000))
    return pairs


def ratio_reading(
    target: str, ratios: Sequence[tuple[int, float]], ok: Callable[[float], bool], *, digits: int = 2, item: str = "-"
) -> list[str]:
    """A target on a ratio at every N, as a list item: ``- <target>: 1.02× at N = 1,000, … — **met**.`` (no
    line when no N has a ratio)."""
    if not ratios:
        return []
    figures = ", ".join(f"{r:.{digits}f}× at N = {n:,}" for n, r in ratios)
    return [f"{item} {target}: {figures} — **{met(all(ok(r) for _, r in ratios))}**."]


def cpu_versus(heading: str, runs: Runs, other: str, shown: Callable[[RunResult], bool]) -> Column[RunResult]:
    """A row's server CPU per delivered message ÷ that of server ``other`` at the same N, in the rows ``shown``
    picks (empty in the others)."""

    def cell(r: RunResult) -> str:
        theirs = runs.get((other, r.n))
        return ratio_text(r.cpu_per_1000, theirs.cpu_per_1000) if theirs is not None and shown(r) else ""

    return Column(heading, cell)


def server(name: Callable[[str], str] = str) -> Column[RunResult]:
    return Column("server", lambda r: name(r.server), numeric=False)


def latency(key: str) -> Column[RunResult]:
    return Column(f"{key} ms", lambda r: ms_text(r.latency_ms[key]))


N = Column[RunResult]("N", lambda r: f"{r.n:,}")
SOCKETS = Column[RunResult]("sockets", lambda r: f"{r.connections}")
SETUP = Column[RunResult]("setup s", lambda r: f"{r.setup_seconds:.1f}")
DELIVERED = Column[RunResult]("delivered / expected", lambda r: f"{r.delivered:,} / {r.expected:,}")
RATE = Column[RunResult]("msgs/s", lambda r: f"{r.rate:,.0f}")
SERVER_CPU = Column[RunResult]("server CPU s", lambda r: f"{r.server_cpu:.2f}")
CPU_PER_1000 = Column[RunResult]("CPU ms / 1000 msgs", lambda r: f"{r.cpu_per_1000:.1f}")
CPU_PER_WRITE = Column[RunResult]("CPU ms / write", lambda r: f"{r.cpu_per_write:.2f}")
IDLE_CPU = Column[RunResult]("idle server CPU", lambda r: f"{r.idle_cpu_per_s:.1%}")
P50, P99, MAX = latency("p50"), latency("p99"), latency("max")
LOADGEN_CPU = Column[RunResult](
    "loadgen CPU s (peak core)", lambda r: f"{r.loadgen_cpu:.2f} ({r.loadgen_peak_util:.0%})"
)
RSS_PER_CONNECTION = Column[RunResult]("server RSS / conn KiB", lambda r: f"{r.rss_per_conn_kib:.1f}")
RSS = Column[RunResult]("server RSS MiB", lambda r: f"{r.rss_after_kib / 1024:,.0f}")


def problems(results: Sequence[RunResult]) -> list[str]:
    """One line per run that lost, duplicated or mangled a message, or failed to write or subscribe."""
    return [
        f"- {r.label}: missing {r.missing:,}, duplicated {r.extra:,}, write errors {r.write_errors[:2]}, "
        f"setup failures {r.failures[:2]}, bad messages {r.bad_messages[:1]}, closes {r.closes}"
        for r in results
        if r.missing or r.extra or r.write_errors or r.failures or r.bad_messages
    ]
