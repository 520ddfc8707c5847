"""``GET /metrics``: the server's state in the Prometheus text format (docs/operations.md).

Most figures are read from the live objects when Prometheus scrapes — connections by transport,
subscriptions, hub groups, queued messages, outbox lag — so the hot path pays nothing for them; the
counters it does keep are plain integers (events dispatched, messages pushed, slow consumers cut off,
broker reconnects). Write durations go to a histogram as each write unit commits.

Each app has its own registry (two apps in one process do not mix), and each process its own figures:
under ``--workers N`` every worker answers for itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from objectql.engine.core import ObjectQL
from objectql.realtime.connection import Connection
from objectql.realtime.service import Realtime

TRANSPORTS = ("websocket", "graphql-ws", "sse", "graphql-sse")
# Seconds from opening a write to its commit: SQLite writes take a few milliseconds, remote databases more.
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RealtimeCollector(Collector):
    """The realtime service's figures, read at scrape time."""

    def __init__(self, realtime: Realtime) -> None:
        self.realtime = realtime
        # The highest committed seq as of the last scrape (the outbox lag needs an await: see Metrics.render).
        self.committed_seq = 0

    def collect(self) -> Iterator[Metric]:
        realtime = self.realtime
        connections = list(realtime.connections)
        by_kind = Counter(conn.kind for conn in connections)
        open_connections = GaugeMetricFamily(
            "objectql_connections", "Open realtime connections, by transport.", labels=["transport"]
        )
        for kind in sorted(set(TRANSPORTS) | set(by_kind)):
            open_connections.add_metric([kind], by_kind.get(kind, 0))
        yield open_connections
        hub = realtime.hub
        yield GaugeMetricFamily(
            "objectql_subscriptions", "Active subscriptions.", value=hub.subscription_count if hub else 0
        )
        yield GaugeMetricFamily(
            "objectql_hub_groups", "Subscription groups in the hub.", value=hub.group_count if hub else 0
        )
        yield CounterMetricFamily(
            "objectql_events_dispatched", "Change events fanned out by the hub.", value=hub.dispatched if hub else 0
        )
        yield CounterMetricFamily(
            "objectql_messages_pushed",
            "Messages handed to connections (this process).",
            value=Connection.messages_pushed,
        )
        yield CounterMetricFamily(
            "objectql_slow_consumer_closes",
            "Connections closed 1013 because their outgoing queue overflowed (this process).",
            value=Connection.slow_consumer_closes,
        )
        depths = [conn.pending for conn in connections]
        yield GaugeMetricFamily("objectql_queued_messages", "Messages waiting in outgoing queues.", value=sum(depths))
        yield GaugeMetricFamily(
            "objectql_queue_depth_max", "The longest outgoing queue of a connection.", value=max(depths, default=0)
        )
        delivered = hub.delivered_seq if hub else 0
        yield GaugeMetricFamily(
            "objectql_outbox_lag",
            "Committed events the hub has not dispatched yet (highest committed seq minus dispatched seq).",
            value=max(self.committed_seq - delivered, 0),
        )
        yield CounterMetricFamily(
            "objectql_broker_reconnects", "Broker connections lost and re-opened.", value=realtime.backend.reconnects
        )


class Metrics:
    """The registry of one app; ``render`` answers a scrape."""

    def __init__(self, engine: ObjectQL, realtime: Realtime) -> None:
        self.engine = engine
        self.registry = CollectorRegistry(auto_describe=True)
        self.collector = RealtimeCollector(realtime)
        self.registry.register(self.collector)
        self.writes = Histogram(
            "objectql_write_seconds",
            "Seconds from opening a write to its commit.",
            buckets=WRITE_BUCKETS,
            registry=self.registry,
        )
        engine.runner.write_observers.append(self.writes.observe)

    def close(self) -> None:
        observers = self.engine.runner.write_observers
        if self.writes.observe in observers:
            observers.remove(self.writes.observe)

    async def render(self, request: Request) -> Response:
        self.collector.committed_seq = await self.engine.current_seq()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is None:
        return Response("starting\n", status_code=503, media_type="text/plain")
    return await metrics.render(request)


__all__ = ["Metrics", "RealtimeCollector", "metrics_endpoint"]
