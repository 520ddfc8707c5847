"""The report of ``bench.aggregate_groups``: K live aggregates of G groups on one connection, beside none."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report.plots import cpu_latency_bars
from bench.report.render import Column, Report, ms_text, ratio_text, table
from bench.runs.results import AggregatesRun


def bytes_text(n: float) -> str:
    return "0" if n == 0 else f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def table_lines(results: Sequence[AggregatesRun]) -> list[str]:
    base = next((r for r in results if r.aggregates == 0), None)

    def vs_none(r: AggregatesRun) -> str:
        return ratio_text(r.cpu_per_write, base.cpu_per_write) if base is not None else "n/a"

    def per_mb(r: AggregatesRun) -> str:
        if base is None or not r.aggregates or not r.bytes_per_write > 0:
            return "—"
        return f"{ms_text((r.cpu_per_write - base.cpu_per_write) / (r.bytes_per_write / 1e6))} ms"

    def last_message(key: str, heading: str) -> Column[AggregatesRun]:
        return Column(heading, lambda r: f"{ms_text(r.latency_ms[key])} ms" if r.aggregates else "—")

    columns: list[Column[AggregatesRun]] = [
        Column("live aggregates × groups", lambda r: f"{r.aggregates:,} × {r.groups:,}", numeric=False),
        Column("messages delivered", lambda r: f"{r.delivered:,}/{r.expected:,}"),
        Column("bytes sent per write", lambda r: bytes_text(r.bytes_per_write)),
        Column("server CPU per write", lambda r: f"{ms_text(r.cpu_per_write)} ms"),
        Column("vs none", vs_none),
        Column("CPU above none per MB sent", per_mb),
        Column("client CPU per write", lambda r: f"{ms_text(r.client_cpu_per_write)} ms"),
        Column("write answered p50", lambda r: f"{ms_text(r.answered_ms['p50'])} ms"),
        last_message("p50", "last message p50"),
        last_message("p99", "p99"),
    ]
    problems = [
        f"- K={r.aggregates}: {'; '.join(r.failures[:3])} closes {r.closes}" for r in results if r.failures or r.closes
    ]
    return [*table(columns, results), *([""] if problems else []), *problems]


def plot(results: Sequence[AggregatesRun], path: Path) -> None:
    cpu_latency_bars(
        path, [f"K={r.aggregates:,}\n× {r.groups:,} groups" if r.aggregates else "K=0\n(none)" for r in results],
        [r.cpu_per_write for r in results], [r.latency_ms for r in results],
        latency_title="write → its last aggregate message",
        notes=[bytes_text(r.bytes_per_write) + " sent" for r in results],
    )  # fmt: skip


REPORT = Report[AggregatesRun](
    module="bench.aggregate_groups",
    script="bench/aggregate_groups.py",
    title="Many aggregate groups (bench/aggregate_groups.py)",
    alt="server CPU per write and latency of the last aggregate message, by live aggregates on the connection",
    body=table_lines,
    plot=plot,
)
