"""The report of ``bench.fanout``: plain WebSocket fan-out, ours against the baseline."""

from __future__ import annotations

from collections.abc import Sequence

from bench.load.loadgen import ALL_MATCHING, DISTINCT
from bench.report import columns as c
from bench.report.plots import FanoutWords, Series, fanout_figure
from bench.report.render import Column, Report, against_targets, met, ratio_text, table
from bench.runs.results import RunResult
from bench.servers.process import BASELINE, OBJECTQL

SERIES = [Series(OBJECTQL, OBJECTQL, "tab:blue", "o"), Series(BASELINE, BASELINE, "tab:orange", "s")]
KINDS = [OBJECTQL, BASELINE]


def tables(results: Sequence[RunResult]) -> list[str]:
    out: list[str] = []
    sizes, runs = c.by_size(results, ALL_MATCHING)
    if sizes:
        out += ["### All matching: N sockets, one subscription each, every write matches all", ""]
        out += [*table(all_matching_columns(runs), c.in_order(runs, sizes, KINDS)), ""]
    sizes, runs = c.by_size(results, DISTINCT)
    if sizes:
        out += ["### Distinct filters: N subscriptions multiplexed over a few sockets, each write matches one", ""]
        out += [*table(distinct_columns(runs, sizes[0]), c.in_order(runs, sizes, KINDS)), ""]
    return out + c.problems(results)


def all_matching_columns(runs: c.Runs) -> list[Column[RunResult]]:
    return [
        c.N, c.server(), c.SETUP, c.DELIVERED, c.RATE, c.SERVER_CPU, c.CPU_PER_1000,
        c.cpu_versus("ours / baseline", runs, BASELINE, lambda r: r.server == OBJECTQL), c.P50, c.P99, c.MAX,
        c.LOADGEN_CPU, c.RSS_PER_CONNECTION,
    ]  # fmt: skip


def distinct_columns(runs: c.Runs, smallest: int) -> list[Column[RunResult]]:
    def vs_smallest(r: RunResult) -> str:
        first = runs.get((r.server, smallest))
        return ratio_text(r.cpu_per_write, first.cpu_per_write) if first else "n/a"

    return [
        c.N, c.server(), c.SOCKETS, c.SETUP, c.DELIVERED, c.SERVER_CPU, c.CPU_PER_WRITE,
        Column(f"vs N = {smallest:,}", vs_smallest), c.IDLE_CPU, c.P50, c.P99, c.RSS,
    ]  # fmt: skip


def verdicts(results: Sequence[RunResult]) -> list[str]:
    """One line per performance target this benchmark measures: the figure and met / not met."""
    lines: list[str] = []
    sizes, runs = c.by_size(results, ALL_MATCHING)
    lines += c.ratio_reading(
        "Plain WS server CPU per delivered message ≤ 1.0× the baseline",
        c.cpu_ratios(runs, sizes, OBJECTQL, BASELINE),
        lambda r: r <= 1.0,
    )
    if (OBJECTQL, 5000) in runs:
        p99 = runs[(OBJECTQL, 5000)].latency_ms["p99"]
        lines.append(f"- Delivery latency p99 at N = 5,000 ≤ 100 ms: {p99:,.0f} ms — **{met(p99 <= 100)}**.")
    ours = [runs[(OBJECTQL, n)] for n in sizes if (OBJECTQL, n) in runs]
    if ours:
        biggest = ours[-1]
        kib = biggest.rss_per_conn_kib
        lines.append(
            f"- Memory per idle subscribed connection ≤ 40 KiB: {kib:.1f} KiB (server RSS growth / sockets at "
            f"N = {biggest.n:,}) — **{met(kib <= 40)}**."
        )
    sizes, runs = c.by_size(results, DISTINCT)
    ours = [runs[(OBJECTQL, n)] for n in sizes if (OBJECTQL, n) in runs]
    if len(ours) >= 2 and ours[0].cpu_per_write > 0:
        flat = ours[-1].cpu_per_write / ours[0].cpu_per_write
        lines.append(
            f"- Server CPU per write flat from N = {ours[0].n:,} to {ours[-1].n:,} distinct subscriptions (≤ 1.5×): "
            f"{ours[0].cpu_per_write:.2f} → {ours[-1].cpu_per_write:.2f} ms, {flat:.2f}× — **{met(flat <= 1.5)}**."
        )
        worst = max(r.cpu_per_write for r in ours)
        lines.append(
            f"- ≤ 2 ms server CPU per write, the write included: up to {worst:.2f} ms — **{met(worst <= 2.0)}**."
        )
    lines.append(
        "- GraphQL fan-out, cross-process fan-out and write throughput with realtime on/off: measured by "
        "`bench/graphql_fanout.py`, `bench/fanout.py --broker` and `bench/write_throughput.py` (their own sections)."
    )
    return lines


WORDS = FanoutWords(
    title="ObjectQL plain WebSocket fan-out vs a minimal websockets baseline (2 cores, writes at 10/s)",
    cpu_title="CPU per delivered message",
    latency_title="Delivery latency (write sent → message read)",
    all_matching="subscribers N (all matching)",
)


REPORT = Report[RunResult](
    module="bench.fanout",
    script="bench/fanout.py",
    title="Plain WebSocket fan-out (`bench/fanout.py`)",
    alt="fan-out benchmark",
    body=lambda results: against_targets(tables(results), verdicts(results)),
    plot=lambda results, path: fanout_figure(results, path, SERIES, WORDS),
)
