"""Tables, readings, the PNG plot and the docs/benchmarks.md section of ``bench.fanout --broker``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.crossprocess import SINGLE
from bench.measure import RunResult
from bench.sections import ms_text as _ms
from bench.sections import ratio_text as _ratio
from bench.sections import room_for_legend, run_header, write_section
from bench.servers import BASELINE

# Its own markers: the single-process section of bench/fanout.py is never touched by a --broker run.
SCRIPT = "bench/fanout.py --broker"


def name(config: str) -> str:
    if config == SINGLE:
        return "objectql, one process"
    if config == BASELINE:
        return "baseline (one process)"
    if config.startswith("objectql-2w-"):
        return f"objectql --workers 2 via {config.rsplit('-', 1)[1]}"
    return f"objectql A → B via {config.split('-', 1)[1]}"


def _workers(config: str) -> bool:
    return config.startswith("objectql-2w-")


def _order(results: Sequence[RunResult]) -> tuple[list[int], list[str], dict[tuple[str, int], RunResult]]:
    runs = {(r.server, r.n): r for r in results}
    configs = list(dict.fromkeys(r.server for r in results))
    return sorted({r.n for r in results}), configs, runs


def tables(results: Sequence[RunResult]) -> str:
    sizes, configs, runs = _order(results)
    out = [
        "### All matching, cross-process: subscribers on B, writes through A",
        "",
        "| N | server | setup s | delivered / expected | msgs/s | B CPU s | B CPU ms / 1000 msgs | ÷ one process "
        "| ÷ baseline | A CPU s (workers: each) | p50 ms | p99 ms | max ms | loadgen CPU s (peak core) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        single, base = runs.get((SINGLE, n)), runs.get((BASELINE, n))
        for config in configs:
            r = runs.get((config, n))
            if r is None:
                continue
            cross = config not in (SINGLE, BASELINE)
            vs_single = _ratio(r.cpu_per_1000, single.cpu_per_1000) if single and cross else ""
            vs_base = _ratio(r.cpu_per_1000, base.cpu_per_1000) if base and config != BASELINE else ""
            if "A" in r.other_cpu:
                a_cpu = f"{r.other_cpu['A']:.2f}"
            else:  # --workers 2: each worker's share of the server's CPU
                a_cpu = " / ".join(f"{cpu:.2f}" for key, cpu in r.other_cpu.items() if key.startswith("worker"))
            out.append(
                f"| {n:,} | {name(config)} | {r.setup_seconds:.1f} | {r.delivered:,} / {r.expected:,} | {r.rate:,.0f} "
                f"| {r.server_cpu:.2f} | {r.cpu_per_1000:.1f} | {vs_single} | {vs_base} | {a_cpu} "
                f"| {_ms(r.latency_ms['p50'])} | {_ms(r.latency_ms['p99'])} | {_ms(r.latency_ms['max'])} "
                f"| {r.loadgen_cpu:.2f} ({r.loadgen_peak_util:.0%}) |"
            )
    out.append("")
    for r in results:
        if r.missing or r.extra or r.write_errors or r.failures or r.bad_messages:
            out.append(
                f"- {r.server} N={r.n:,}: missing {r.missing:,}, duplicated {r.extra:,}, write errors "
                f"{r.write_errors[:2]}, setup failures {r.failures[:2]}, bad messages {r.bad_messages[:1]}, "
                f"closes {r.closes}"
            )
    return "\n".join(out)


def readings(results: Sequence[RunResult]) -> list[str]:
    """The figures against the performance targets that apply to a subscriber's process (none is scale-out only)."""
    sizes, configs, runs = _order(results)
    lines: list[str] = []
    for config in configs:
        if config in (SINGLE, BASELINE):
            continue
        latency = ", ".join(
            f"p50 {runs[(config, n)].latency_ms['p50']:,.0f} / p99 {runs[(config, n)].latency_ms['p99']:,.0f} ms "
            f"at N = {n:,}"
            for n in sizes
            if (config, n) in runs
        )
        lines.append(f"- {name(config)}: cross-process latency {latency}.")
        if _workers(config) and (config, 10000) in runs:
            p99 = runs[(config, 10000)].latency_ms["p99"]
            lines.append(f"  - p99 at N = 10,000 with `--workers 2` ≤ 250 ms: **{_met(p99 <= 250)}**.")
        if (config, 5000) in runs and not _workers(config):
            p99 = runs[(config, 5000)].latency_ms["p99"]
            lines.append(f"  - p99 at N = 5,000 ≤ 100 ms (the latency target): **{_met(p99 <= 100)}**.")
        ratios = [
            (n, runs[(config, n)].cpu_per_1000 / runs[(BASELINE, n)].cpu_per_1000)
            for n in sizes
            if (config, n) in runs and (BASELINE, n) in runs and runs[(BASELINE, n)].delivered
        ]
        if ratios:
            figures = ", ".join(f"{r:.2f}× at N = {n:,}" for n, r in ratios)
            met = all(r <= 1.0 for _, r in ratios)
            lines.append(f"  - server CPU per delivered message ≤ 1× the baseline (the plain WS target): {figures} — "
                         f"**{_met(met)}**.")  # fmt: skip
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def plot(results: Sequence[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes, configs, runs = _order(results)
    colors = {SINGLE: "tab:blue", BASELINE: "tab:orange"}
    spare = iter(["tab:green", "tab:purple", "tab:brown"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for config in configs:
        color = colors.get(config) or next(spare)
        ns = [n for n in sizes if (config, n) in runs]
        marker = "s" if config == BASELINE else "o"
        axes[0].plot(ns, [runs[(config, n)].cpu_per_1000 for n in ns], marker=marker, color=color, label=name(config))
        axes[1].plot(ns, [runs[(config, n)].latency_ms["p50"] for n in ns], marker=marker, color=color, ls="--",
                     mfc="white", label=f"{name(config)} p50")  # fmt: skip
        axes[1].plot(ns, [runs[(config, n)].latency_ms["p99"] for n in ns], marker=marker, color=color,
                     label=f"{name(config)} p99")  # fmt: skip
    axes[0].set(xscale="log", xlabel="subscribers N (all matching)", ylabel="subscribers' server CPU ms per 1000 msgs")
    axes[0].set_title("CPU per delivered message (process B)")
    axes[0].set_ylim(bottom=0)
    axes[1].axhline(100, color="grey", lw=0.8, ls=":", label="target p99 at 5k: 100 ms")
    axes[1].set(xscale="log", yscale="log", xlabel="subscribers N (all matching)", ylabel="latency ms")
    axes[1].set_title("Latency: write sent to A → message read from B")
    room_for_legend(axes[1])
    for ax in axes:
        if sizes:
            ax.set_xticks(sizes, [f"{n / 1000:g}k" for n in sizes])
            ax.minorticks_off()
            ax.set_xlim(sizes[0] / 1.6, sizes[-1] * 1.6)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    axes[1].legend(fontsize=7, ncol=2, loc="upper left")
    fig.suptitle("Cross-process fan-out on PostgreSQL: writes through process A, subscribers on process B (2 cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_markdown(
    results: Sequence[RunResult], path: Path, *, command: str, elapsed: float, plot: Path | None, commit: str
) -> None:
    lines = run_header(command=command, elapsed=elapsed, commit=commit, doc=path, plot=plot, alt="cross-process")
    lines += [tables(results), "", "Against the targets:", "", *readings(results)]
    write_section(path, SCRIPT, lines, title="Cross-process fan-out (`bench/fanout.py --broker`)")
