"""The report of ``bench.related_fanout``: a parent rename to N dependent subscriptions in K groups, beside
an ordinary write to the same N and a rename nothing depends on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report.plots import figure
from bench.report.render import Column, Report, ms_text, ratio_text, table
from bench.runs.results import RelatedRun


def table_lines(results: Sequence[RelatedRun]) -> list[str]:
    columns: list[Column[RelatedRun]] = [
        Column("N subscriptions", lambda r: f"{r.n:,}"),
        Column("K groups", lambda r: f"{r.groups:,}"),
        Column("update (N modified)", lambda r: f"{ms_text(r.update_ms)} ms"),
        Column("rename (N related)", lambda r: f"{ms_text(r.rename_ms)} ms"),
        Column("rename ÷ update", lambda r: ratio_text(r.rename_ms, r.update_ms)),
        Column("rename per 1,000 messages", lambda r: f"{ms_text(r.rename_ms * 1000 / r.n)} ms"),
        Column("unrelated rename (none)", lambda r: f"{ms_text(r.unrelated_ms)} ms"),
    ]
    problems = [f"- N={r.n}, K={r.groups}: {'; '.join(r.failures[:3])}" for r in results if r.failures]
    return [*table(columns, results), *([""] if problems else []), *problems]


def plot(results: Sequence[RelatedRun], path: Path) -> None:
    labels = [f"N={r.n:,}\nK={r.groups:,}" for r in results]
    xs = list(range(len(results)))
    width = 0.27
    with figure(path, 1, (9, 4)) as (ax,):
        ax.bar([x - width for x in xs], [r.update_ms for r in results], width, label="update (N modified)")
        ax.bar(xs, [r.rename_ms for r in results], width, label="parent rename (N related)")
        ax.bar([x + width for x in xs], [r.unrelated_ms for r in results], width, label="rename nothing depends on")
        ax.set_xticks(xs, labels)
        ax.set_ylabel("server CPU per write (ms)")
        ax.set_title("Server CPU per write, N subscriptions with nested data in K groups")
        ax.legend()


REPORT = Report[RelatedRun](
    module="bench.related_fanout",
    script="bench/related_fanout.py",
    title="A parent rename to its dependants (bench/related_fanout.py)",
    alt="server CPU per ordinary update, per parent rename and per unrelated rename, by N and K",
    body=table_lines,
    plot=plot,
)
