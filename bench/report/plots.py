"""The PNG plots, drawn with matplotlib (the ``bench`` extra, imported only when a plot is asked for): a
figure of side-by-side panels, curves of a figure against N per server, and bars per run."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load.loadgen import ALL_MATCHING, DISTINCT
from bench.report.columns import by_size
from bench.runs.results import RunResult

# The latency target the fan-out plots draw (docs/benchmarks.md).
TARGET_P99_MS = 100
TARGET_LABEL = "target p99 at 5k: 100 ms"


@contextmanager
def figure(path: Path, panels: int, size: tuple[float, float], title: str | None = None) -> Iterator[list[Any]]:
    """A row of ``panels`` axes, saved to ``path`` (PNG) when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, panels, figsize=size, squeeze=False)
    try:
        yield list(axes[0])
        if title is not None:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


# -- fan-out runs: a figure against N, one curve per server --------------------------------------


@dataclass(frozen=True)
class Series:
    """One server's curves: the runs whose ``server`` is ``key``, drawn as ``label``."""

    key: str
    label: str
    color: str
    marker: str
    # The label of its latency curves (``<short> p50``, ``<short> p99``).
    short: str = ""


Runs = Mapping[tuple[str, int], RunResult]


def curves(
    ax: Any, runs: Runs, sizes: Sequence[int], series: Sequence[Series], y: Callable[[RunResult], float]
) -> None:
    """``y`` of each series' runs against N."""
    for s in series:
        ns = [n for n in sizes if (s.key, n) in runs]
        ax.plot(ns, [y(runs[(s.key, n)]) for n in ns], marker=s.marker, color=s.color, label=s.label)


def latency_curves(ax: Any, runs: Runs, sizes: Sequence[int], series: Sequence[Series], *, xlabel: str) -> None:
    """Delivery latency against N: each series' p50 (dashed, hollow) and p99, and the p99 target."""
    for s in series:
        ns = [n for n in sizes if (s.key, n) in runs]
        name = s.short or s.label
        ax.plot(ns, [runs[(s.key, n)].latency_ms["p50"] for n in ns], marker=s.marker, color=s.color, ls="--",
                mfc="white", label=f"{name} p50")  # fmt: skip
        ax.plot(ns, [runs[(s.key, n)].latency_ms["p99"] for n in ns], marker=s.marker, color=s.color,
                label=f"{name} p99")  # fmt: skip
    ax.axhline(TARGET_P99_MS, color="grey", lw=0.8, ls=":", label=TARGET_LABEL)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="latency ms")


def size_axis(ax: Any, sizes: Sequence[int]) -> None:
    """A log N axis ticked at the sizes run (``1k``, ``5k``, …), with a grid."""
    if sizes:
        ax.set_xticks(sizes, [f"{n / 1000:g}k" for n in sizes])
        ax.minorticks_off()
        ax.set_xlim(sizes[0] / 1.6, sizes[-1] * 1.6)
    ax.grid(True, which="both", alpha=0.3)


def room_for_legend(ax: Any) -> None:
    """Raise a log-scaled axis' top so the curves leave its upper part to the legend."""
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, top * (top / bottom) ** 0.6)


@dataclass(frozen=True)
class FanoutWords:
    """What differs from one fan-out figure to the next: its words, and the scale of its CPU panels."""

    title: str
    cpu_title: str
    latency_title: str
    # The x label of the all-matching panels, and of the distinct one.
    all_matching: str
    distinct: str = "distinct subscriptions N"
    cpu_label: str = "server CPU ms per 1000 messages"
    # CPU on a log scale (when the servers differ by orders of magnitude), else from 0.
    log_cpu: bool = False


def fanout_figure(results: Sequence[RunResult], path: Path, series: Sequence[Series], words: FanoutWords) -> None:
    """CPU per delivered message and delivery latency against N (all matching) and, when the distinct scenario
    ran, CPU per write against N; one curve per series."""
    all_sizes, runs = by_size(results, ALL_MATCHING)
    distinct_sizes, distinct = by_size(results, DISTINCT)
    panels = 3 if distinct_sizes else 2
    with figure(path, panels, (15, 4.6) if panels == 3 else (12, 4.6), words.title) as axes:
        cpu_axes = [(axes[0], runs, all_sizes)]
        curves(axes[0], runs, all_sizes, series, lambda r: r.cpu_per_1000)
        axes[0].set(xscale="log", xlabel=words.all_matching, ylabel=words.cpu_label, title=words.cpu_title)
        latency_curves(axes[1], runs, all_sizes, series, xlabel=words.all_matching)
        axes[1].set_title(words.latency_title)
        room_for_legend(axes[1])
        size_axis(axes[1], all_sizes)
        axes[1].legend(fontsize=7, ncol=2, loc="upper left")
        if distinct_sizes:
            cpu_axes.append((axes[2], distinct, distinct_sizes))
            curves(axes[2], distinct, distinct_sizes, series, lambda r: r.cpu_per_write)
            axes[2].set(xscale="log", xlabel=words.distinct, ylabel="server CPU ms per write")
            axes[2].set_title("One write matching 1 of N")
        for ax, _, sizes in cpu_axes:
            if words.log_cpu:
                ax.set_yscale("log")
            else:
                ax.set_ylim(bottom=0)
            size_axis(ax, sizes)
            ax.legend(fontsize=8)


# -- bars, one per run ---------------------------------------------------------------------------


def cpu_latency_bars(
    path: Path,
    labels: Sequence[str],
    cpu_ms: Sequence[float],
    latency_ms: Sequence[Mapping[str, float]],
    *,
    latency_title: str,
    colors: Sequence[str] | str = "#27a",
    notes: Sequence[str] | None = None,
) -> None:
    """Two panels, a bar per run: server CPU per write (with ``notes`` above the bars), and delivery latency,
    p50 and p99 side by side."""
    with figure(path, 2, (10, 4)) as (cpu_ax, lat_ax):
        cpu_ax.bar(labels, cpu_ms, color=colors)
        for x, note in enumerate(notes or []):
            cpu_ax.annotate(note, (x, cpu_ms[x]), ha="center", va="bottom", fontsize=8)
        if notes:
            cpu_ax.margins(y=0.12)
        cpu_ax.set_ylabel("server CPU per write (ms)")
        cpu_ax.set_title("CPU per write, one process")
        width = 0.4
        xs = range(len(labels))
        lat_ax.bar([x - width / 2 for x in xs], [lat["p50"] for lat in latency_ms], width, label="p50")
        lat_ax.bar([x + width / 2 for x in xs], [lat["p99"] for lat in latency_ms], width, label="p99")
        lat_ax.set_xticks(list(xs), labels)
        lat_ax.set_ylabel("delivery latency (ms)")
        lat_ax.set_title(latency_title)
        lat_ax.legend()
