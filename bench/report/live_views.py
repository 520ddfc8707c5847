"""The report of ``bench.live_views``: a live window and a live aggregate at fan-out, beside the plain one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.load.loadgen import ALL_MATCHING
from bench.report.plots import cpu_latency_bars
from bench.report.render import Column, Report, ms_text, ratio_text, table
from bench.runs.results import RunResult


def table_lines(results: Sequence[RunResult]) -> list[str]:
    plain = {r.n: r for r in results if r.scenario == ALL_MATCHING}

    def vs_plain(figure: str) -> Column[RunResult]:
        def cell(r: RunResult) -> str:
            b = plain.get(r.n)
            if b is None:
                return "n/a"
            if figure == "cpu":
                return ratio_text(r.cpu_per_write, b.cpu_per_write)
            return ratio_text(r.latency_ms["p99"], b.latency_ms["p99"])

        return Column("vs plain fan-out", cell)

    columns: list[Column[RunResult]] = [
        Column("subscription", lambda r: r.scenario, numeric=False),
        Column("N", lambda r: f"{r.n:,}"),
        Column("delivered", lambda r: f"{r.delivered:,}/{r.expected:,}"),
        Column("server CPU per write", lambda r: f"{ms_text(r.cpu_per_write)} ms"),
        vs_plain("cpu"),
        Column("p50", lambda r: f"{ms_text(r.latency_ms['p50'])} ms"),
        Column("p99", lambda r: f"{ms_text(r.latency_ms['p99'])} ms"),
        vs_plain("p99"),
    ]
    return table(columns, results)


def plot(results: Sequence[RunResult], path: Path) -> None:
    cpu_latency_bars(
        path, [f"{r.scenario}\nN={r.n:,}" for r in results], [r.cpu_per_write for r in results],
        [r.latency_ms for r in results], latency_title="write → message, 10 writes/s",
        colors=["#888", "#2a7", "#27a"][: len(results)],
    )  # fmt: skip


REPORT = Report[RunResult](
    module="bench.live_views",
    script="bench/live_views.py",
    title="Live windows and aggregates (bench/live_views.py)",
    alt="server CPU per write and delivery latency: plain fan-out, live window, live aggregate",
    body=table_lines,
    plot=plot,
)
