"""The report of ``bench.fanout --broker``: cross-process fan-out, writes through process A and subscribers
on process B (or one server with two workers), beside one process and the baseline.

Its own markers: the single-process section of ``bench/fanout.py`` is never touched by a ``--broker`` run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from bench.report import columns as c
from bench.report.plots import FanoutWords, Series, fanout_figure
from bench.report.render import Column, Report, against_targets, met, table
from bench.runs.results import RunResult
from bench.servers.process import BASELINE, OBJECTQL

# The configurations a run's ``server`` names: one process on the database, A → B through a broker, one
# server with two workers and a broker, and the baseline.
SINGLE = "objectql-1p"
WORKERS_PREFIX = f"{OBJECTQL}-2w-"
COLORS = {SINGLE: "tab:blue", BASELINE: "tab:orange"}
SPARE_COLORS = ["tab:green", "tab:purple", "tab:brown"]


def config_name(broker: str) -> str:
    """``redis://…`` → ``objectql-redis``."""
    return f"{OBJECTQL}-{urlsplit(broker).scheme}"


def workers_config_name(broker: str) -> str:
    """``redis://…`` → ``objectql-2w-redis``."""
    return f"{WORKERS_PREFIX}{urlsplit(broker).scheme}"


def name(config: str) -> str:
    if config == SINGLE:
        return "objectql, one process"
    if config == BASELINE:
        return "baseline (one process)"
    if config.startswith(WORKERS_PREFIX):
        return f"objectql --workers 2 via {config.removeprefix(WORKERS_PREFIX)}"
    return f"objectql A → B via {config.split('-', 1)[1]}"


def configs(results: Sequence[RunResult]) -> list[str]:
    """The configurations in the order they ran."""
    return list(dict.fromkeys(r.server for r in results))


def tables(results: Sequence[RunResult]) -> list[str]:
    sizes, runs = c.by_size(results)

    def writing_cpu(r: RunResult) -> str:
        if "A" in r.other_cpu:
            return f"{r.other_cpu['A']:.2f}"
        # --workers 2: each worker's share of the server's CPU
        return " / ".join(f"{cpu:.2f}" for key, cpu in r.other_cpu.items() if key.startswith("worker"))

    columns = [
        c.N, c.server(name), c.SETUP, c.DELIVERED, c.RATE, replace(c.SERVER_CPU, heading="B CPU s"),
        replace(c.CPU_PER_1000, heading="B CPU ms / 1000 msgs"),
        c.cpu_versus("÷ one process", runs, SINGLE, lambda r: r.server not in (SINGLE, BASELINE)),
        c.cpu_versus("÷ baseline", runs, BASELINE, lambda r: r.server != BASELINE),
        Column("A CPU s (workers: each)", writing_cpu), c.P50, c.P99, c.MAX, c.LOADGEN_CPU,
    ]  # fmt: skip
    out = ["### All matching, cross-process: subscribers on B, writes through A", ""]
    return [*out, *table(columns, c.in_order(runs, sizes, configs(results))), "", *c.problems(results)]


def readings(results: Sequence[RunResult]) -> list[str]:
    """The figures against the performance targets that apply to a subscriber's process (none is scale-out only)."""
    sizes, runs = c.by_size(results)
    lines: list[str] = []
    for config in configs(results):
        if config in (SINGLE, BASELINE):
            continue
        latency = ", ".join(
            f"p50 {runs[(config, n)].latency_ms['p50']:,.0f} / p99 {runs[(config, n)].latency_ms['p99']:,.0f} ms "
            f"at N = {n:,}"
            for n in sizes
            if (config, n) in runs
        )
        lines.append(f"- {name(config)}: cross-process latency {latency}.")
        workers = config.startswith(WORKERS_PREFIX)
        if workers and (config, 10000) in runs:
            p99 = runs[(config, 10000)].latency_ms["p99"]
            lines.append(f"  - p99 at N = 10,000 with `--workers 2` ≤ 250 ms: **{met(p99 <= 250)}**.")
        if (config, 5000) in runs and not workers:
            p99 = runs[(config, 5000)].latency_ms["p99"]
            lines.append(f"  - p99 at N = 5,000 ≤ 100 ms (the latency target): **{met(p99 <= 100)}**.")
        lines += c.ratio_reading(
            "server CPU per delivered message ≤ 1× the baseline (the plain WS target)",
            c.cpu_ratios(runs, sizes, config, BASELINE),
            lambda r: r <= 1.0,
            item="  -",
        )
    return lines


WORDS = FanoutWords(
    title="Cross-process fan-out on PostgreSQL: writes through process A, subscribers on process B (2 cores)",
    cpu_title="CPU per delivered message (process B)",
    latency_title="Latency: write sent to A → message read from B",
    all_matching="subscribers N (all matching)",
    cpu_label="subscribers' server CPU ms per 1000 msgs",
)


def plot(results: Sequence[RunResult], path: Path) -> None:
    spare = iter(SPARE_COLORS)
    series = [
        Series(config, name(config), COLORS.get(config) or next(spare), "s" if config == BASELINE else "o")
        for config in configs(results)
    ]
    fanout_figure(results, path, series, WORDS)


REPORT = Report[RunResult](
    module="bench.fanout",
    script="bench/fanout.py --broker",
    title="Cross-process fan-out (`bench/fanout.py --broker`)",
    alt="cross-process",
    body=lambda results: against_targets(tables(results), readings(results)),
    plot=plot,
)
