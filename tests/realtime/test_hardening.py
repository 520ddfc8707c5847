"""Probed as an attacker would: messages handled in arrival order, every presence leave delivered, and an
out-of-range value refused as a typed error that costs the connection nothing else."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from objectql import InvalidRequest
from tests.graphql.wsclient import post
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory, connect, settle
from tests.realtime.test_sse import refused

MONEY = {
    "orders": "fields:\n  status: {type: select, options: [pending, paid]}\n  total: {type: currency}\n"
    "  qty: {type: integer}\n",
}


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[Captured]:
    handler = Captured()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


async def test_subscribe_then_unsubscribe_back_to_back_are_answered_in_that_order(
    live_server: ServerFactory,
) -> None:
    server = await live_server()
    hub = server.realtime.require_hub()
    client = await connect(server)
    for i in range(20):
        await client.send({"type": "subscribe", "id": f"s{i}", "object": "orders", "snapshot": True})
        await client.send({"type": "unsubscribe", "id": f"s{i}"})
    answers = []
    while len(answers) < 60:  # subscribed, snapshot, unsubscribed for each
        message = await client.recv()
        answers.append((message["type"], message.get("id")))
    expected = [(kind, f"s{i}") for i in range(20) for kind in ("subscribed", "snapshot", "unsubscribed")]
    assert answers == expected
    await client.nothing(server)
    assert hub.subscription_count == 0
    # Nothing was left counting against the limit: the connection can still open its 100.
    for i in range(100):
        await client.subscribe(f"t{i}")
    assert hub.subscription_count == 100


async def test_members_dropping_together_each_send_their_leave(
    live_server: ServerFactory, server_log: Captured
) -> None:
    server: LiveServer = await live_server()
    observer = await connect(server)
    await observer.send({"type": "join", "channel": "room:1"})
    await observer.expect("presence_state")
    members = []
    for i in range(5):
        member = await connect(server)
        await member.send({"type": "join", "channel": "room:1", "meta": {"n": i}})
        await member.expect("presence_state")
        members.append(member)
        await observer.expect("presence_diff")
    server_log.records.clear()
    for member in members:
        member.ws.transport.abort()  # all at once, no close handshake
    left: set[str] = set()
    while len(left) < 5:
        diff = await observer.expect("presence_diff", timeout=10)
        for entries in diff["leaves"].values():
            left.update(e["conn"] for e in entries)
    assert len(server.realtime.presence.members("room:1")) == 1  # the observer alone
    await settle(server)
    assert [r.getMessage() for r in server_log.records] == []


async def test_an_out_of_range_amount_is_a_typed_error_and_the_connection_keeps_its_subscriptions(
    live_server: ServerFactory,
) -> None:
    server = await live_server(MONEY)
    client = await connect(server)
    await client.subscribe("ok")
    for value in (1e24, 1e300, 10**30, -1e24):
        await client.send({"type": "subscribe", "id": "big", "object": "orders", "filters": [["total", "=", value]]})
        error = await client.expect("error")
        assert error["id"] == "big" and error["code"] == "INVALID_FILTER" and error["path"] == "[0][2]"
    await client.send({"type": "subscribe", "id": "big", "object": "orders", "filters": [["qty", ">", 2**70]]})
    assert (await client.expect("error"))["code"] == "INVALID_FILTER"
    await server.engine.object("orders").create({"total": 3})
    assert (await client.expect("change"))["id"] == "ok"  # the other subscription still delivers

    body = (await post(server, "mutation { createOrders(input: {total: 1e300}) { id } }")).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "VALIDATION_ERROR" and "total" in error["extensions"]["fields"]
    body = (await post(server, "{ ordersList(where: {total: {eq: 1e24}}) { id } }")).json()
    assert body["errors"][0]["extensions"]["code"] == "INVALID_FILTER"
    status, sse_error = await refused(server, params={"filters": '[["total", "=", 1e24]]'})
    assert status == 400 and sse_error["code"] == "INVALID_FILTER"
    assert await asyncio.wait_for(server.engine.object("orders").count(), 5) == 1


async def test_open_mode_takes_no_writes_from_other_sites(live_server: ServerFactory) -> None:
    server = await live_server(MONEY)
    mutation = '{"query": "mutation { createOrders(input: {total: 1}) { id } }"}'
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        # A form or fetch with a "simple" content type needs no preflight: it must not be GraphQL here.
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            response = await http.post("/graphql", content=mutation, headers={"content-type": content_type})
            assert response.status_code == 415, content_type
        foreign = await http.post(
            "/graphql", content=mutation, headers={"content-type": "application/json", "origin": "http://evil.example"}
        )
        assert foreign.status_code == 403
        own = await http.post(
            "/graphql", content=mutation, headers={"content-type": "application/json", "origin": server.http}
        )
        assert own.status_code == 200 and "errors" not in own.json()
    assert await server.engine.object("orders").count() == 1


async def test_a_host_the_server_does_not_answer_to_is_refused_on_every_transport(live_server: ServerFactory) -> None:
    server = await live_server()
    rebound = {"host": f"attacker.example:{server.port}"}
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        for path in ("/graphql?query=%7B__typename%7D", "/api/events/orders", "/health"):
            assert (await http.get(path, headers=rebound)).status_code == 400, path
        assert (await http.get("/health", headers={"host": f"localhost:{server.port}"})).status_code == 200
    for path in ("/api/realtime", "/graphql"):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: attacker.example:{server.port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            ).encode()
        )
        status_line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 400"), (path, status_line)


async def test_small_malformations_are_typed_refusals(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.send({"type": "join", "channel": "room:1\n"})  # a trailing newline is not a channel name
    assert (await client.expect("error"))["code"] == "INVALID_REQUEST"
    await client.send('{"type": "ping", "x": "\\ud800"}')  # half a surrogate pair: a bad frame, closed 4400
    assert await client.closed_with() == 4400
    keyed = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    token = keyed.token("root", ["admin"])
    for value in (token, f"Token {token}", "JWT x", "Bearer"):
        response = await post(keyed, "{ ordersCount }", token=None, headers={"authorization": value})
        assert response.status_code == 401, value
        status, _ = await refused(keyed, headers={"authorization": value})
        assert status == 401, value


async def test_deep_and_wide_input_is_a_typed_refusal_on_every_transport(
    live_server: ServerFactory, server_log: Captured
) -> None:
    server = await live_server(MONEY)
    client = await connect(server)
    await client.subscribe("ok")
    wide = [["total", "=", i] if i % 2 == 0 else "or" for i in range(2 * 2000 - 1)]  # within 64 KiB
    many_values = [["qty", "in", list(range(1000))] for _ in range(11)]
    nested = "[" * 3000 + '["total", "=", 1]' + "]" * 3000
    for filters in (wide, many_values):
        await client.send({"type": "subscribe", "id": "w", "object": "orders", "filters": filters})
        error = await client.expect("error")
        assert error["id"] == "w" and error["code"] == "INVALID_FILTER", error
    # The limits themselves are accepted.
    await client.send(
        {"type": "subscribe", "id": "limit", "object": "orders", "filters": [["qty", "in", list(range(1000))]] * 10}
    )
    assert (await client.expect("subscribed"))["id"] == "limit"

    over_limit = [["total", "=", i] if i % 2 == 0 else "or" for i in range(2 * 257 - 1)]  # fits in a URL
    for filters in (json.dumps(over_limit), nested):
        status, sse_error = await refused(server, params={"filters": filters})
        assert status == 400 and sse_error["code"] == "INVALID_FILTER", sse_error

    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
        for body in ("[" * 100_000, '{"query": "{ ordersCount }", "variables": ' + '{"a": ' * 5000 + "1" + "}" * 5001):
            response = await http.post("/graphql", content=body, headers={"content-type": "application/json"})
            assert response.status_code == 400, response.text
            assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        deep_where = '{"OR": [' * 3000 + '{"total": {"eq": 1}}' + "]}" * 3000
        query = json.dumps("query ($w: OrdersFilter) { ordersList(where: $w) { id } }")
        response = await http.post(
            "/graphql",
            content=f'{{"query": {query}, "variables": {{"w": {deep_where}}}}}',
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
        wide_where = {"OR": [{"total": {"eq": i}} for i in range(20_000)]}
        response = await http.post(
            "/graphql",
            json={"query": "query ($w: OrdersFilter) { ordersList(where: $w) { id } }", "variables": {"w": wide_where}},
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_FILTER", response.text
        # An offset past any page: a typed refusal, not the database's overflow.
        response = await http.post("/graphql", json={"query": "{ ordersList(offset: 2147483647) { id } }"})
        assert "errors" not in response.json(), response.text
    with pytest.raises(InvalidRequest) as info:
        await server.engine.object("orders").find(skip=2**62)
    assert info.value.path == "skip"

    await server.engine.object("orders").create({"total": 3})
    assert (await client.expect("change"))["id"] in ("ok", "limit")
    assert [r.getMessage() for r in server_log.records if r.levelno >= logging.ERROR] == []
