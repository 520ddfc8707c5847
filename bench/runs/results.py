"""What a run measured: one dataclass per kind of benchmark, each with the figures its report shows and
``to_json`` for ``--json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of ``values``, which must be sorted; NaN when empty."""
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": values[-1]}


def per_write(amount: float, writes: int) -> float:
    """``amount`` ÷ ``writes``; NaN when nothing was written."""
    return amount / writes if writes else float("nan")


@dataclass
class RunResult:
    """One fan-out burst (:func:`bench.runs.measure.measure`): subscribers of one scenario on one server."""

    server: str
    scenario: str
    n: int
    connections: int
    writes: int
    subscribed: int
    expected: int
    delivered: int
    missing: int
    extra: int
    setup_seconds: float
    burst_seconds: float
    server_cpu: float
    loadgen_cpu: float
    loadgen_peak_util: float
    idle_cpu_per_s: float
    rss_before_kib: int
    rss_after_kib: int
    latency_ms: dict[str, float]
    write_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    bad_messages: list[str] = field(default_factory=list)
    closes: dict[str, int] = field(default_factory=dict)
    # CPU seconds of other server processes over the burst (the writing process of a cross-process run).
    other_cpu: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_per_1000(self) -> float:
        """Server CPU milliseconds per 1000 delivered messages."""
        return per_write(self.server_cpu * 1e6, self.delivered)

    @property
    def cpu_per_write(self) -> float:
        """Server CPU milliseconds per write."""
        return per_write(self.server_cpu * 1e3, self.writes)

    @property
    def rate(self) -> float:
        return self.delivered / self.burst_seconds if self.burst_seconds > 0 else 0.0

    @property
    def rss_per_conn_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.connections if self.connections else 0.0

    @property
    def label(self) -> str:
        return f"{self.server} {self.scenario} N={self.n:,}"

    def summary(self) -> str:
        """One line of progress once the run is over."""
        return (
            f"{self.label}: {self.delivered:,}/{self.expected:,} delivered, server CPU {self.server_cpu:.2f} s "
            f"({self.cpu_per_1000:.1f} ms / 1000 msgs), p50 {self.latency_ms['p50']:.0f} ms, "
            f"p99 {self.latency_ms['p99']:.0f} ms"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(cpu_per_1000_ms=self.cpu_per_1000, cpu_per_write_ms=self.cpu_per_write, rate=self.rate)
        return data


# The phases of ``bench.write_throughput``: no subscriber; subscribers every write matches; subscribers none does.
OFF, ON, IDLE = "off", "on", "on, none matching"


@dataclass
class ThroughputPhase:
    """One phase of ``bench.write_throughput``: closed-loop writes for a window, realtime off or on."""

    phase: str
    round: int
    subscribers: int
    # The closed-loop writers.
    concurrency: int
    writes: int
    window_seconds: float
    answered_seconds: float
    delivered_seconds: float
    server_cpu: float
    client_cpu: float
    loadgen_cpu: float
    write_ms: dict[str, float]
    delivery_ms: dict[str, float]
    expected: int = 0
    delivered: int = 0
    errors: list[str] = field(default_factory=list)
    closes: dict[str, int] = field(default_factory=dict)

    @property
    def answered_rate(self) -> float:
        """Writes per second as answered by the server."""
        return self.writes / self.answered_seconds if self.answered_seconds > 0 else 0.0

    @property
    def sustained_rate(self) -> float:
        """Writes per second answered and, with subscribers, delivered to every one of them."""
        span = max(self.answered_seconds, self.delivered_seconds)
        return self.writes / span if span > 0 else 0.0

    @property
    def cpu_per_write(self) -> float:
        return per_write(self.server_cpu * 1e3, self.writes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(answered_rate=self.answered_rate, sustained_rate=self.sustained_rate)
        return data


@dataclass
class AggregatesRun:
    """One run of ``bench.aggregate_groups``: K live aggregates of G groups on one connection, one write at a
    time."""

    aggregates: int
    groups: int
    writes: int
    expected: int
    delivered: int
    server_cpu: float
    client_cpu: float
    bytes_sent: int
    latency_ms: dict[str, float]
    answered_ms: dict[str, float]
    failures: list[str] = field(default_factory=list)
    closes: list[int] = field(default_factory=list)

    @property
    def cpu_per_write(self) -> float:
        """Server CPU milliseconds per write."""
        return per_write(self.server_cpu * 1e3, self.writes)

    @property
    def client_cpu_per_write(self) -> float:
        return per_write(self.client_cpu * 1e3, self.writes)

    @property
    def bytes_per_write(self) -> float:
        return per_write(self.bytes_sent, self.writes)

    def summary(self) -> str:
        """One line of progress once the run is over."""
        return (
            f"K={self.aggregates:,} × G={self.groups:,}: {self.delivered:,}/{self.expected:,} messages, server CPU "
            f"{self.cpu_per_write:.2f} ms per write, last message p99 {self.latency_ms['p99']:.0f} ms"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(cpu_per_write_ms=self.cpu_per_write, bytes_per_write=self.bytes_per_write)
        return data


@dataclass
class UnaffectedRun:
    """One run of ``bench.unaffected_groups``: K live windows or aggregates no write can affect (``kind``
    ``none`` when K = 0), at one revision of the package; CPU milliseconds per write, per round and median."""

    revision: str
    commit: str
    kind: str
    groups: int
    writes: int
    rounds_ms: list[float]
    cpu_per_write: float
    unexpected: list[str] = field(default_factory=list)
    unexpected_count: int = 0

    def summary(self) -> str:
        """One line of progress once the run is over."""
        return (
            f"{self.revision}: {self.kind}, K={self.groups:,}: server CPU {self.cpu_per_write:.2f} ms per write "
            f"(median of {len(self.rounds_ms)} rounds), {self.unexpected_count} unexpected messages"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RelatedRun:
    """One run of ``bench.related_fanout``: N subscriptions with nested data in K groups; server CPU
    milliseconds per ordinary update, per parent rename and per rename of a parent nothing depends on."""

    n: int
    groups: int
    connections: int
    writes: int
    update_ms: float
    rename_ms: float
    unrelated_ms: float
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line of progress once the run is over."""
        return (
            f"N={self.n:,} in K={self.groups:,}: update {self.update_ms:.1f} ms, rename {self.rename_ms:.1f} ms, "
            f"unrelated rename {self.unrelated_ms:.1f} ms per write; {len(self.failures)} failures"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
