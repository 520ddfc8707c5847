"""/metrics in the Prometheus text format: connections per transport, subscriptions, groups, events,
messages, queue depth, outbox lag, broker reconnects and write durations move with what the server does."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.realtime.conftest import LiveServer, ServerFactory, connect, live_server, settle

__all__ = ["live_server"]  # the real-server fixture


async def scrape(server: LiveServer) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")  # the exposition format
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_the_figures_follow_connections_subscriptions_and_writes(live_server: ServerFactory) -> None:
    server = await live_server()
    before = await scrape(server)
    assert before["objectql_connections{transport=websocket}"] == 0
    assert before["objectql_subscriptions"] == 0 and before["objectql_outbox_lag"] == 0

    a, b = await connect(server), await connect(server)
    await a.subscribe("s1")
    await b.subscribe("s2")  # the same view: one group
    await b.subscribe("s3", filters=[["status", "=", "paid"]])
    during = await scrape(server)
    assert during["objectql_connections{transport=websocket}"] == 2
    assert during["objectql_connections{transport=sse}"] == 0
    assert during["objectql_subscriptions"] == 3 and during["objectql_hub_groups"] == 2

    for i in range(3):
        await server.engine.object("orders").create({"total": i})
    await settle(server)
    for client in (a, b):
        await client.expect("change")
    after = await scrape(server)
    assert after["objectql_events_dispatched_total"] - during["objectql_events_dispatched_total"] == 3
    assert after["objectql_messages_pushed_total"] - during["objectql_messages_pushed_total"] >= 6
    assert after["objectql_write_seconds_count"] - during["objectql_write_seconds_count"] == 3
    assert after["objectql_write_seconds_sum"] > during["objectql_write_seconds_sum"]
    assert after["objectql_outbox_lag"] == 0 and after["objectql_queued_messages"] >= 0
    assert after["objectql_broker_reconnects_total"] == 0
    assert "objectql_slow_consumer_closes_total" in after and "objectql_queue_depth_max" in after

    await a.ws.close()
    await b.ws.close()
    for _ in range(100):
        if not server.realtime.connections:
            break
        await settle(server)
    closed = await scrape(server)
    assert closed["objectql_connections{transport=websocket}"] == 0 and closed["objectql_subscriptions"] == 0
