"""The report of ``bench.unaffected_groups``: K live windows or aggregates no write can affect, beside none, at
two revisions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report.plots import figure
from bench.report.render import Column, Report, ms_text, ratio_text, table
from bench.runs.results import UnaffectedRun

NONE = "none"
COLORS = {"before": "#c63", "after": "#27a"}


def baseline(results: Sequence[UnaffectedRun], run: UnaffectedRun) -> UnaffectedRun | None:
    """The same revision's run with no live subscription (K = 0)."""
    return next((r for r in results if r.revision == run.revision and r.kind == NONE), None)


def kind_label(run: UnaffectedRun) -> str:
    """``none``, or ``1,000 windows``: what the run's connection holds."""
    return run.kind if run.kind == NONE else f"{run.groups:,} {run.kind}"


def table_lines(results: Sequence[UnaffectedRun]) -> list[str]:
    def vs_none(r: UnaffectedRun) -> str:
        base = baseline(results, r)
        return ratio_text(r.cpu_per_write, base.cpu_per_write) if base is not None and r.kind != NONE else "—"

    def spread(r: UnaffectedRun) -> str:
        return f"{ms_text(min(r.rounds_ms))}–{ms_text(max(r.rounds_ms))} ms" if r.rounds_ms else "n/a"

    columns: list[Column[UnaffectedRun]] = [
        Column("revision", lambda r: f"{r.revision} (`{r.commit[:9]}`)", numeric=False),
        Column(
            "live subscriptions on the connection",
            kind_label,
            numeric=False,
        ),
        Column("server CPU per write (median round)", lambda r: f"{ms_text(r.cpu_per_write)} ms"),
        Column("rounds", spread),
        Column("vs none", vs_none),
        Column("messages the writes sent", lambda r: f"{r.unexpected_count:,}"),
    ]
    problems = [f"- {r.revision}, {r.kind}: {'; '.join(r.unexpected[:2])}" for r in results if r.unexpected]
    return [*table(columns, results), *([""] if problems else []), *problems]


def plot(results: Sequence[UnaffectedRun], path: Path) -> None:
    kinds = list(dict.fromkeys(map(kind_label, results)))
    revisions = list(dict.fromkeys(r.revision for r in results))
    width = 0.8 / max(1, len(revisions))
    with figure(path, 1, (8, 4)) as (ax,):
        for j, revision in enumerate(revisions):
            runs = {kind_label(r): r for r in results if r.revision == revision}
            xs = [i + (j - (len(revisions) - 1) / 2) * width for i in range(len(kinds))]
            ys = [runs[k].cpu_per_write if k in runs else 0.0 for k in kinds]
            # The whiskers span the run's fastest and slowest rounds.
            low = [
                y - min(runs[k].rounds_ms) if k in runs and runs[k].rounds_ms else 0.0
                for k, y in zip(kinds, ys, strict=True)
            ]
            high = [
                max(runs[k].rounds_ms) - y if k in runs and runs[k].rounds_ms else 0.0
                for k, y in zip(kinds, ys, strict=True)
            ]
            commit = next(r.commit for r in results if r.revision == revision)
            ax.bar(xs, ys, width, yerr=[low, high], capsize=4, label=f"{revision} ({commit[:9]})",
                   color=COLORS.get(revision, "#888"))  # fmt: skip
        ax.set_xticks(list(range(len(kinds))), kinds)
        ax.set_ylabel("server CPU per write (ms, median round)")
        ax.set_title("A write none of the live subscriptions can match")
        ax.legend()


REPORT = Report[UnaffectedRun](
    module="bench.unaffected_groups",
    script="bench/unaffected_groups.py",
    title="Groups a write cannot affect (bench/unaffected_groups.py)",
    alt="server CPU per write with 1,000 live windows or aggregates no write matches, beside none, per revision",
    body=table_lines,
    plot=plot,
)
