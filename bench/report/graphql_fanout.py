"""The report of ``bench.graphql_fanout``: GraphQL fan-out, ours against the baseline and naive strawberry."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.load.loadgen import ALL_MATCHING, DISTINCT
from bench.report import columns as c
from bench.report.plots import FanoutWords, Series, fanout_figure
from bench.report.render import Column, Report, against_targets, met, table
from bench.runs.results import RunResult
from bench.servers.process import BASELINE, NAIVE, OBJECTQL

KINDS = [OBJECTQL, BASELINE, NAIVE]
NAMES = {OBJECTQL: "objectql (graphql-transport-ws)", BASELINE: "baseline (plain WS)", NAIVE: "naive strawberry"}
SERIES = [
    Series(OBJECTQL, NAMES[OBJECTQL], "tab:blue", "o", short=OBJECTQL),
    Series(BASELINE, NAMES[BASELINE], "tab:orange", "s", short=BASELINE),
    Series(NAIVE, NAMES[NAIVE], "tab:red", "^", short=NAIVE),
]
TITLES = {
    ALL_MATCHING: "### All matching: N sockets, the same document and variables, every write matches all",
    DISTINCT: "### Distinct variables: N sockets, `customer = c<i>` each, every write matches one",
}


# One message per write in the distinct scenario: its CPU per message is its CPU per write.
COSTS = {
    ALL_MATCHING: Column[RunResult]("CPU ms / 1000 msgs", lambda r: f"{r.cpu_per_1000:,.2f}"),
    DISTINCT: Column[RunResult]("CPU ms / write (= / msg)", lambda r: f"{r.cpu_per_write:,.2f}"),
}


def tables(results: Sequence[RunResult]) -> list[str]:
    out: list[str] = []
    for scenario, title in TITLES.items():
        sizes, runs = c.by_size(results, scenario)
        if sizes:
            out += [title, "", *table(columns(runs, COSTS[scenario]), c.in_order(runs, sizes, KINDS)), ""]
    return out + c.problems(results)


def columns(runs: c.Runs, cost: Column[RunResult]) -> list[Column[RunResult]]:
    return [
        c.N, c.server(NAMES.__getitem__), c.SETUP, c.DELIVERED, c.RATE, c.SERVER_CPU, cost,
        c.cpu_versus("÷ baseline", runs, BASELINE, lambda r: r.server != BASELINE),
        c.cpu_versus("naive ÷ ours", runs, OBJECTQL, lambda r: r.server == NAIVE), c.P50, c.P99, c.MAX,
        c.LOADGEN_CPU, c.RSS_PER_CONNECTION,
    ]  # fmt: skip


def verdicts(results: Sequence[RunResult]) -> list[str]:
    """One line per GraphQL performance target: the figures and met / not met."""
    lines: list[str] = []
    sizes, runs = c.by_size(results, ALL_MATCHING)
    lines += c.ratio_reading(
        "GraphQL server CPU per delivered message ≤ 1.2× the baseline",
        c.cpu_ratios(runs, sizes, OBJECTQL, BASELINE),
        lambda r: r <= 1.2,
    )
    lines += c.ratio_reading(
        "≥ 5× cheaper than naive strawberry (naive ÷ ours)",
        c.cpu_ratios(runs, sizes, NAIVE, OBJECTQL),
        lambda r: r >= 5.0,
        digits=1,
    )
    if (OBJECTQL, 5000) in runs:
        p99 = runs[(OBJECTQL, 5000)].latency_ms["p99"]
        lines.append(
            f"- GraphQL delivery latency p99 at N = 5,000, all matching (≤ 100 ms): {p99:,.0f} ms — "
            f"**{met(p99 <= 100)}**."
        )
    sizes, runs = c.by_size(results, DISTINCT)
    pairs = [
        f"N = {n:,}: ours {runs[(OBJECTQL, n)].cpu_per_write:.2f} ms per write, naive ÷ ours {ratio:.1f}×"
        for n, ratio in c.cpu_ratios(runs, sizes, NAIVE, OBJECTQL)
    ]
    if pairs:
        lines.append(f"- Distinct variables (no target; one write matching one): {'; '.join(pairs)}.")
    return lines


def body(results: Sequence[RunResult]) -> list[str]:
    lines = against_targets(tables(results), verdicts(results))
    if any(math.isnan(r.cpu_per_1000) for r in results):
        lines += ["", "(n/a: a server delivered nothing in that run.)"]
    return lines


WORDS = FanoutWords(
    title="GraphQL subscriptions: ObjectQL vs the websockets baseline vs naive strawberry (2 cores, 10 writes/s)",
    cpu_title="CPU per delivered message, all matching",
    latency_title="Delivery latency, all matching",
    all_matching="subscribers N (same document)",
    distinct="subscribers N (distinct variables)",
    log_cpu=True,
)


REPORT = Report[RunResult](
    module="bench.graphql_fanout",
    script="bench/graphql_fanout.py",
    title="GraphQL fan-out (`bench/graphql_fanout.py`)",
    alt="GraphQL fan-out",
    body=body,
    plot=lambda results, path: fanout_figure(results, path, SERIES, WORDS),
)
