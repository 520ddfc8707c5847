"""The report of ``bench.write_throughput``: write rates with realtime off and on, round by round."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from bench.report.plots import figure
from bench.report.render import Column, Report, against_targets, met, ms_text, table
from bench.runs.results import IDLE, OFF, ON, ThroughputPhase

PALETTE = {OFF: "tab:grey", ON: "tab:blue", IDLE: "tab:green"}


def ratios(results: Sequence[ThroughputPhase], phase: str = ON) -> list[float]:
    """``phase`` ÷ off sustained rate, per round."""
    out = []
    for round_no in sorted({r.round for r in results}):
        pair = {r.phase: r for r in results if r.round == round_no}
        if OFF in pair and phase in pair and pair[OFF].sustained_rate > 0:
            out.append(pair[phase].sustained_rate / pair[OFF].sustained_rate)
    return out


def table_lines(results: Sequence[ThroughputPhase]) -> list[str]:
    def on_over_off(r: ThroughputPhase) -> str:
        off = next((o for o in results if o.round == r.round and o.phase == OFF), None)
        return f"{r.sustained_rate / off.sustained_rate:.0%}" if r.phase != OFF and off and off.sustained_rate else ""

    def delivered(r: ThroughputPhase) -> str:
        return f"{r.delivered:,} / {r.expected:,}" if r.phase != OFF else ""

    def delivery(r: ThroughputPhase) -> str:
        return f"{ms_text(r.delivery_ms['p50'])} / {ms_text(r.delivery_ms['p99'])}" if r.phase == ON else ""

    def lag(r: ThroughputPhase) -> str:
        return f"{max(0.0, r.delivered_seconds - r.answered_seconds):.1f}" if r.phase == ON else ""

    columns: list[Column[ThroughputPhase]] = [
        Column("round", lambda r: f"{r.round}"),
        Column("realtime", lambda r: r.phase, numeric=False),
        Column("subscribers", lambda r: f"{r.subscribers:,}"),
        Column("writes", lambda r: f"{r.writes:,}"),
        Column("answered writes/s", lambda r: f"{r.answered_rate:,.0f}"),
        Column("sustained writes/s", lambda r: f"{r.sustained_rate:,.0f}"),
        Column("on ÷ off", on_over_off),
        Column("server CPU ms / write", lambda r: f"{r.cpu_per_write:.2f}"),
        Column("write p50 / p99 ms", lambda r: f"{ms_text(r.write_ms['p50'])} / {ms_text(r.write_ms['p99'])}"),
        Column("delivered / expected", delivered),
        Column("delivery p50 / p99 ms", delivery),
        Column("last message after window s", lag),
        Column("client + loadgen CPU s", lambda r: f"{r.client_cpu + r.loadgen_cpu:.2f}"),
    ]
    problems = [
        f"- round {r.round} {r.phase}: errors {r.errors[:3]}, closes {r.closes}"
        for r in results
        if r.errors or (r.phase != OFF and r.delivered != r.expected) or r.closes
    ]
    return [*table(columns, results), *([""] if problems else []), *problems]


def verdicts(results: Sequence[ThroughputPhase]) -> list[str]:
    subscribers = max((r.subscribers for r in results), default=0)
    off = [r for r in results if r.phase == OFF]
    lines: list[str] = []
    if off:
        rate = statistics.median(r.sustained_rate for r in off)
        p99 = statistics.median(r.write_ms["p99"] for r in off)
        lines.append(
            f"- Single-record mutations/s with {off[0].concurrency} closed-loop writers ≥ 1,500 on SQLite: "
            f"{rate:,.0f}/s (median of {len(off)}) — **{met(rate >= 1500)}**; write p99 ≤ 50 ms: {p99:,.0f} ms — "
            f"**{met(p99 <= 50)}**."
        )
    idle = ratios(results, IDLE)
    if idle:
        median = statistics.median(idle)
        lines.append(
            f"- Write rate with {subscribers:,} subscribers none of which match ÷ none at all ≥ 95 %: {median:.0%} "
            f"(median of rounds {', '.join(f'{r:.0%}' for r in idle)}) — **{met(median >= 0.95)}**."
        )
    found = ratios(results)
    if found:
        lines.append(
            f"- With {subscribers:,} subscribers that every write matches (no target; each write is "
            f"{subscribers:,} deliveries): {statistics.median(found):.0%} of the rate without "
            f"(rounds: {', '.join(f'{r:.0%}' for r in found)})."
        )
    return lines or ["- Write throughput: no complete off/on pair."]


def plot(results: Sequence[ThroughputPhase], path: Path) -> None:
    labels = [f"{r.round}: {r.phase.replace(', ', chr(10))}" for r in results]
    colors = [PALETTE[r.phase] for r in results]
    subscribers = max((r.subscribers for r in results), default=0)
    title = (
        f"Write throughput (GraphQL mutations): realtime off, on with {subscribers:,} subscribers all matching, "
        "on with none matching (2 cores); x: round: phase"
    )
    with figure(path, 2, (13, 4.6), title) as (rate_ax, cpu_ax):
        rate_ax.bar(labels, [r.sustained_rate for r in results], color=colors)
        rate_ax.bar(labels, [r.answered_rate for r in results], color="none", edgecolor="black", ls="--",
                    label="answered (not yet delivered)")  # fmt: skip
        for x, r in enumerate(results):
            rate_ax.annotate(f"{r.sustained_rate:,.0f}", (x, r.sustained_rate), ha="center", va="bottom", fontsize=8)
        off = [r.sustained_rate for r in results if r.phase == OFF]
        if off:
            rate_ax.axhline(0.8 * statistics.median(off), color="tab:red", lw=0.8, ls=":", label="80 % of off (target)")
        rate_ax.set(ylabel="sustained writes per second")
        rate_ax.set_title("Writes answered and delivered")
        rate_ax.legend(fontsize=8)
        cpu_ax.bar(labels, [r.cpu_per_write for r in results], color=colors)
        cpu_ax.set(ylabel="server CPU ms per write")
        cpu_ax.set_title("Server CPU per write (fan-out included)")
        for ax in (rate_ax, cpu_ax):
            ax.grid(True, axis="y", alpha=0.3)


REPORT = Report[ThroughputPhase](
    module="bench.write_throughput",
    script="bench/write_throughput.py",
    title="Write throughput, realtime on vs off (`bench/write_throughput.py`)",
    alt="write throughput",
    body=lambda results: against_targets(table_lines(results), verdicts(results)),
    plot=plot,
)
