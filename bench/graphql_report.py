"""Tables, verdicts, the PNG plot and the docs/benchmarks.md section of ``bench.graphql_fanout``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from bench.measure import RunResult
from bench.sections import ms_text as _ms
from bench.sections import ratio_text as _ratio
from bench.sections import room_for_legend, run_header, write_section

SCRIPT = "bench/graphql_fanout.py"
OURS, BASE, NAIVE = "objectql", "baseline", "naive"
KINDS = (OURS, BASE, NAIVE)
NAMES = {OURS: "objectql (graphql-transport-ws)", BASE: "baseline (plain WS)", NAIVE: "naive strawberry"}


def _pick(results: Sequence[RunResult], scenario: str) -> tuple[list[int], dict[tuple[str, int], RunResult]]:
    chosen = {(r.server, r.n): r for r in results if r.scenario == scenario}
    return sorted({n for _, n in chosen}), chosen


def _ratios(r: RunResult, runs: dict[tuple[str, int], RunResult]) -> tuple[str, str]:
    """(this server ÷ baseline, naive ÷ ours) in CPU per delivered message, where they apply."""
    base, ours = runs.get((BASE, r.n)), runs.get((OURS, r.n))
    vs_base = _ratio(r.cpu_per_1000, base.cpu_per_1000) if base is not None and r.server != BASE else ""
    vs_ours = _ratio(r.cpu_per_1000, ours.cpu_per_1000) if ours is not None and r.server == NAIVE else ""
    return vs_base, vs_ours


def tables(results: Sequence[RunResult]) -> str:
    out: list[str] = []
    for scenario, title in (
        ("all", "### All matching: N sockets, the same document and variables, every write matches all"),
        ("distinct", "### Distinct variables: N sockets, `customer = c<i>` each, every write matches one"),
    ):
        sizes, runs = _pick(results, scenario)
        if not sizes:
            continue
        # One message per write in the distinct scenario: its CPU per message is its CPU per write.
        cost = "CPU ms / 1000 msgs" if scenario == "all" else "CPU ms / write (= / msg)"
        out += [
            title,
            "",
            f"| N | server | setup s | delivered / expected | msgs/s | server CPU s | {cost} "
            "| ÷ baseline | naive ÷ ours | p50 ms | p99 ms | max ms | loadgen CPU s (peak core) "
            "| server RSS / conn KiB |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in sizes:
            for kind in KINDS:
                r = runs.get((kind, n))
                if r is None:
                    continue
                vs_base, vs_ours = _ratios(r, runs)
                figure = r.cpu_per_1000 if scenario == "all" else r.cpu_per_write
                out.append(
                    f"| {n:,} | {NAMES[kind]} | {r.setup_seconds:.1f} | {r.delivered:,} / {r.expected:,} "
                    f"| {r.rate:,.0f} | {r.server_cpu:.2f} | {figure:,.2f} | {vs_base} | {vs_ours} "
                    f"| {_ms(r.latency_ms['p50'])} | {_ms(r.latency_ms['p99'])} | {_ms(r.latency_ms['max'])} "
                    f"| {r.loadgen_cpu:.2f} ({r.loadgen_peak_util:.0%}) | {r.rss_per_conn_kib:.1f} |"
                )
        out.append("")
    problems = [r for r in results if r.missing or r.extra or r.write_errors or r.failures or r.bad_messages]
    for r in problems:
        out.append(
            f"- {r.server} {r.scenario} N={r.n:,}: missing {r.missing:,}, duplicated {r.extra:,}, "
            f"write errors {r.write_errors[:2]}, setup failures {r.failures[:2]}, bad messages {r.bad_messages[:1]}, "
            f"closes {r.closes}"
        )
    return "\n".join(out)


def verdicts(results: Sequence[RunResult]) -> list[str]:
    """One line per GraphQL performance target: the figures and met / not met."""
    lines: list[str] = []
    sizes, runs = _pick(results, "all")
    vs_base = [(n, runs[(OURS, n)].cpu_per_1000 / runs[(BASE, n)].cpu_per_1000) for n in sizes if _has(runs, n, BASE)]
    if vs_base:
        figures = ", ".join(f"{r:.2f}× at N = {n:,}" for n, r in vs_base)
        met = all(r <= 1.2 for _, r in vs_base)
        lines.append(f"- GraphQL server CPU per delivered message ≤ 1.2× the baseline: {figures} — **{_met(met)}**.")
    vs_naive = [
        (n, runs[(NAIVE, n)].cpu_per_1000 / runs[(OURS, n)].cpu_per_1000) for n in sizes if _has(runs, n, NAIVE)
    ]
    if vs_naive:
        figures = ", ".join(f"{r:.1f}× at N = {n:,}" for n, r in vs_naive)
        met = all(r >= 5.0 for _, r in vs_naive)
        lines.append(f"- ≥ 5× cheaper than naive strawberry (naive ÷ ours): {figures} — **{_met(met)}**.")
    if (OURS, 5000) in runs:
        p99 = runs[(OURS, 5000)].latency_ms["p99"]
        verdict = _met(p99 <= 100)
        lines.append(
            f"- GraphQL delivery latency p99 at N = 5,000, all matching (≤ 100 ms): {p99:,.0f} ms — **{verdict}**."
        )
    sizes, runs = _pick(results, "distinct")
    pairs = [
        f"N = {n:,}: ours {runs[(OURS, n)].cpu_per_write:.2f} ms per write, naive ÷ ours "
        f"{runs[(NAIVE, n)].cpu_per_1000 / runs[(OURS, n)].cpu_per_1000:.1f}×"
        for n in sizes
        if _has(runs, n, NAIVE)
    ]
    if pairs:
        lines.append(f"- Distinct variables (no target; one write matching one): {'; '.join(pairs)}.")
    return lines


def _has(runs: dict[tuple[str, int], RunResult], n: int, other: str) -> bool:
    ours, theirs = runs.get((OURS, n)), runs.get((other, n))
    # A tiny run may measure 0 CPU ticks (10 ms each) or deliver nothing: no ratio then.
    return ours is not None and theirs is not None and min(ours.server_cpu, theirs.server_cpu) > 0


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def plot(results: Sequence[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {OURS: ("tab:blue", "o"), BASE: ("tab:orange", "s"), NAIVE: ("tab:red", "^")}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    all_sizes, runs = _pick(results, "all")
    ax = axes[0]
    for kind in KINDS:
        ns = [n for n in all_sizes if (kind, n) in runs]
        color, marker = style[kind]
        ax.plot(ns, [runs[(kind, n)].cpu_per_1000 for n in ns], marker=marker, color=color, label=NAMES[kind])
    ax.set(xscale="log", yscale="log", xlabel="subscribers N (same document)", ylabel="server CPU ms per 1000 messages")
    ax.set_title("CPU per delivered message, all matching")
    ax = axes[1]
    for kind in KINDS:
        ns = [n for n in all_sizes if (kind, n) in runs]
        color, marker = style[kind]
        ax.plot(ns, [runs[(kind, n)].latency_ms["p50"] for n in ns], marker=marker, color=color, ls="--",
                mfc="white", label=f"{kind} p50")  # fmt: skip
        ax.plot(ns, [runs[(kind, n)].latency_ms["p99"] for n in ns], marker=marker, color=color, label=f"{kind} p99")
    ax.axhline(100, color="grey", lw=0.8, ls=":", label="target p99 at 5k: 100 ms")
    ax.set(xscale="log", yscale="log", xlabel="subscribers N (same document)", ylabel="latency ms")
    room_for_legend(ax)
    ax.set_title("Delivery latency, all matching")
    ax = axes[2]
    distinct_sizes, druns = _pick(results, "distinct")
    for kind in KINDS:
        ns = [n for n in distinct_sizes if (kind, n) in druns]
        color, marker = style[kind]
        ax.plot(ns, [druns[(kind, n)].cpu_per_write for n in ns], marker=marker, color=color, label=NAMES[kind])
    ax.set(xscale="log", yscale="log", xlabel="subscribers N (distinct variables)", ylabel="server CPU ms per write")
    ax.set_title("One write matching 1 of N")
    for ax, ns in zip(axes, (all_sizes, all_sizes, distinct_sizes), strict=True):
        if ns:
            ax.set_xticks(ns, [f"{n / 1000:g}k" for n in ns])
            ax.minorticks_off()
            ax.set_xlim(ns[0] / 1.6, ns[-1] * 1.6)
        ax.grid(True, which="both", alpha=0.3)
        if ax is axes[1]:
            ax.legend(fontsize=7, ncol=2, loc="upper left")
        else:
            ax.legend(fontsize=8)
    fig.suptitle(
        "GraphQL subscriptions: ObjectQL vs the websockets baseline vs naive strawberry (2 cores, 10 writes/s)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(
    results: Sequence[RunResult], path: Path, *, command: str, elapsed: float, plot: Path | None, commit: str
) -> None:
    lines = run_header(command=command, elapsed=elapsed, commit=commit, doc=path, plot=plot, alt="GraphQL fan-out")
    lines += [tables(results), "", "Against the targets:", "", *verdicts(results)]
    if any(math.isnan(r.cpu_per_1000) for r in results):
        lines += ["", "(n/a: a server delivered nothing in that run.)"]
    write_section(path, SCRIPT, lines, title="GraphQL fan-out (`bench/graphql_fanout.py`)")
