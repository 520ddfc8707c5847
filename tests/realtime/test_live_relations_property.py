"""Property: live rows (and, below, windows) across relations equal find() for each user, on the plain
WebSocket, GraphQL over graphql-transport-ws, the legacy graphql-ws and graphql-sse, and SSE, on SQLite and
PostgreSQL, against a real server.

Random bursts of writes — customers renamed, re-owned, re-regioned, created, deleted with their orders
(master_detail cascade); orders created, moved between customers, changed, deleted — sent as GraphQL mutations,
one burst at a time, the writes of a burst back to back (so the server renders a change while the database is
already further on). Two sales users, whose orders are visible through their customers (master_detail: a path row
rule), subscribe to orders in the EU (a path filter) expanding their customer, to all their orders, and to the
customers with a big order (``any`` over a related list) expanding their orders. Applied message by message:

- after the last message of each seq a burst wrote, the rows of each subscription (ids and their own fields) equal
  ``find(filters)`` as that user as of that seq;
- once the burst is delivered, the rows with their nested data equal ``find(filters, expand)``: nested data is read
  when a change is delivered, so it is compared when nothing is being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from objectql import User
from objectql.server.app import create_app, uvicorn_options
from objectql.server.settings import Settings
from tests.conftest import fresh_database_url, write_objects
from tests.graphql.wsclient import STREAM, registered
from tests.realtime.conftest import LiveServer, settle, start_uvicorn
from tests.realtime.served import SECRET, literal, token
from tests.realtime.test_sse import EventStream, open_stream
from tests.realtime.windows import WindowModel, expected_window, plain

OBJECTS = {
    "customers": """
fields:
  name:   {type: text}
  owner:  {type: text}
  region: {type: text}
permissions:
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
""",
    "orders": """
fields:
  customer: {type: master_detail, reference_to: customers}
  total:    {type: integer}
""",
}
USERS = {"sam": User("sam", ("sales",)), "kim": User("kim", ("sales",))}


class Sub:
    """One subscription: what it asks, and how its expected rows are read."""

    def __init__(self, name: str, obj: str, filters: Any, fields: list[str], expand: Any, graphql: str) -> None:
        self.name, self.obj, self.filters, self.fields, self.expand, self.graphql = (
            name,
            obj,
            filters,
            fields,
            expand,
            graphql,
        )


SUBS = [
    Sub(
        "eu",
        "orders",
        [["customer.region", "=", "EU"]],
        ["total", "customer"],
        {"customer": {"fields": ["name", "region"]}},
        'ordersChanged(where: {customer_ref: {region: {eq: "EU"}}}) '
        "{ seq effect record { id total customer customer_ref { id name region } } }",
    ),
    Sub(
        "all", "orders", None, ["total", "customer"], None, "ordersChanged { seq effect record { id total customer } }"
    ),
    Sub(
        "big",
        "customers",
        [["orders", "any", [["total", ">", 5]]]],
        ["name", "region", "owner"],
        {"orders": {"fields": ["total"], "sort": [["id", "asc"]]}},
        "customersChanged(where: {orders: {any: {total: {gt: 5}}}}) "
        "{ seq effect record { id name region owner orders(orderBy: [{field: id}]) { id total } } }",
    ),
]

customer_values = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["Ada", "Bob", "Cy"]),
        "owner": st.sampled_from(["sam", "kim"]),
        "region": st.sampled_from(["EU", "US"]),
    },
)
writes = st.one_of(
    st.tuples(st.just("customer"), customer_values),
    st.tuples(st.just("update_customer"), st.integers(0, 20), customer_values),
    st.tuples(st.just("delete_customer"), st.integers(0, 20)),
    st.tuples(st.just("order"), st.integers(0, 20), st.integers(0, 9)),
    st.tuples(st.just("order"), st.integers(0, 20), st.integers(0, 9)),
    st.tuples(st.just("move_order"), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("update_order"), st.integers(0, 20), st.integers(0, 9)),
    st.tuples(st.just("delete_order"), st.integers(0, 20)),
)
bursts = st.lists(st.lists(writes, min_size=1, max_size=3), min_size=3, max_size=8)


def canonical(records: dict[str, dict[str, Any]], nested: bool) -> dict[str, dict[str, Any]]:
    out = {}
    for rid, record in records.items():
        shown = {k: v for k, v in record.items() if nested or not (k.endswith("_ref") or k == "orders")}
        out[rid] = json.loads(json.dumps(shown, default=str))
    return out


async def mutation(http: httpx.AsyncClient, query: str) -> dict[str, Any]:
    body = (await http.post("/graphql", json={"query": f"mutation {{ {query} }}"})).json()
    assert "errors" not in body, (query, body)
    data: dict[str, Any] = body["data"]
    return data


async def ids_of(server: LiveServer, obj: str) -> list[str]:
    return sorted(r["id"] for r in await server.engine.object(obj).find(fields=["id"]))


async def write(http: httpx.AsyncClient, server: LiveServer, op: tuple[Any, ...]) -> None:
    customers, orders = await ids_of(server, "customers"), await ids_of(server, "orders")
    kind = op[0]
    if kind == "customer":
        await mutation(http, f"createCustomers(input: {literal({'name': 'New', 'owner': 'sam', **op[1]})}) {{ id }}")
    elif kind == "update_customer" and customers and op[2]:
        await mutation(
            http, f'updateCustomers(id: "{customers[op[1] % len(customers)]}", input: {literal(op[2])}) {{ id }}'
        )
    elif kind == "delete_customer" and customers:
        await mutation(http, f'deleteCustomers(id: "{customers[op[1] % len(customers)]}")')
    elif kind == "order" and customers:
        values = {"customer": customers[op[1] % len(customers)], "total": op[2]}
        await mutation(http, f"createOrders(input: {literal(values)}) {{ id }}")
    elif kind == "move_order" and customers and orders:
        values = {"customer": customers[op[2] % len(customers)]}
        await mutation(http, f'updateOrders(id: "{orders[op[1] % len(orders)]}", input: {literal(values)}) {{ id }}')
    elif kind == "update_order" and orders:
        await mutation(http, f'updateOrders(id: "{orders[op[1] % len(orders)]}", input: {{total: {op[2]}}}) {{ id }}')
    elif kind == "delete_order" and orders:
        await mutation(http, f'deleteOrders(id: "{orders[op[1] % len(orders)]}")')


async def expected(server: LiveServer, user: str, sub: Sub, nested: bool) -> dict[str, dict[str, Any]]:
    repo = server.engine.context(USERS[user]).object(sub.obj)
    rows = await repo.find(sub.filters, fields=sub.fields, expand=sub.expand if nested else None)
    return canonical({r["id"]: r for r in rows}, nested)


class Plain:
    """A user's plain WebSocket with every subscription of :data:`SUBS` (with its snapshot)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, server: LiveServer, user: str) -> tuple[Plain, dict[str, dict[str, dict[str, Any]]]]:
        ws = await websockets.connect(server.ws, max_size=None)
        await ws.send(json.dumps({"type": "auth", "token": token(user, ["sales"])}))
        assert json.loads(await ws.recv())["type"] == "auth_ok"
        models: dict[str, dict[str, dict[str, Any]]] = {}
        for sub in SUBS:
            request = {"type": "subscribe", "id": sub.name, "object": sub.obj, "snapshot": True, "fields": sub.fields}
            if sub.filters is not None:
                request["filters"] = sub.filters
            if sub.expand is not None:
                request["expand"] = sub.expand
            await ws.send(json.dumps(request))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot", snapshot
            models[sub.name] = {r["id"]: r for r in snapshot["records"]}
        return cls(ws), models

    async def drain(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        """Every pending change: (subscription, seq, effect, record)."""
        await self.ws.send(json.dumps({"type": "ping"}))
        out = []
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if message["type"] == "pong":
                return out
            assert message["type"] == "change", message
            out.append((message["id"], message["seq"], message["effect"], message["record"]))

    async def close(self) -> None:
        await self.ws.close()


def graphql_change(op_id: str, payload: dict[str, Any]) -> tuple[str, int, str, dict[str, Any]]:
    """One subscription result (``{"data": {"<x>Changed": change}}``) as (subscription, seq, effect, record)."""
    assert "errors" not in payload, payload
    (change,) = payload["data"].values()
    record = change["record"]
    if "orders" in record:
        record["orders"] = [{"id": o["id"], "total": o["total"]} for o in record["orders"]]
    return op_id, int(change["seq"]), change["effect"].lower(), record


class GraphQL:
    """A user's GraphQL WebSocket with every subscription of :data:`SUBS` (no snapshot: its models start from
    find), in ``graphql-transport-ws`` (pending changes end at a pong) or the legacy ``graphql-ws`` (no ping:
    they end at the result of a query sent after them)."""

    def __init__(self, ws: Any, protocol: str) -> None:
        self.ws, self.protocol, self.probes = ws, protocol, 0

    @classmethod
    async def open(
        cls, server: LiveServer, user: str, protocol: str = "graphql-transport-ws"
    ) -> tuple[GraphQL, dict[str, dict[str, dict[str, Any]]]]:
        ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/graphql", subprotocols=[protocol], max_size=None)
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token(user, ["sales"])}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        before = server.realtime.require_hub().subscription_count
        start = "subscribe" if protocol == "graphql-transport-ws" else "start"
        for sub in SUBS:
            payload = {"query": f"subscription {{ {sub.graphql} }}"}
            await ws.send(json.dumps({"type": start, "id": sub.name, "payload": payload}))
        await registered(server, before + len(SUBS))
        await settle(server)  # nothing is written meanwhile: the models start from find
        models = {sub.name: await expected(server, user, sub, True) for sub in SUBS}
        return cls(ws, protocol), models

    @classmethod
    async def open_legacy(cls, server: LiveServer, user: str) -> tuple[GraphQL, dict[str, dict[str, dict[str, Any]]]]:
        return await cls.open(server, user, "graphql-ws")

    async def drain(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        if self.protocol == "graphql-transport-ws":
            await self.ws.send(json.dumps({"type": "ping"}))
            end, result = "pong", "next"
        else:
            self.probes += 1
            probe = f"probe-{self.probes}"
            await self.ws.send(json.dumps({"type": "start", "id": probe, "payload": {"query": "{ __typename }"}}))
            end, result = probe, "data"
        out = []
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if message["type"] == "pong" or message == {"id": end, "type": "complete"}:
                return out
            if message.get("id") == end:
                assert message == {"id": end, "type": "data", "payload": {"data": {"__typename": "Query"}}}, message
                continue
            assert message["type"] == result, message
            out.append(graphql_change(message["id"], message["payload"]))

    async def close(self) -> None:
        await self.ws.close()


class GraphQLSse:
    """A user's graphql-sse streams, one ``POST /graphql`` per subscription of :data:`SUBS` (no snapshot: its
    models start from find). Like SSE it has no ping: pending changes are the results before a quiet moment."""

    QUIET = 0.4

    def __init__(self, stack: contextlib.AsyncExitStack, streams: dict[str, EventStream]) -> None:
        self.stack, self.streams = stack, streams

    @classmethod
    async def open(cls, server: LiveServer, user: str) -> tuple[GraphQLSse, dict[str, dict[str, dict[str, Any]]]]:
        stack = contextlib.AsyncExitStack()
        headers = {**STREAM, "authorization": f"Bearer {token(user, ['sales'])}"}
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=server.http, timeout=httpx.Timeout(10, read=None), headers=headers)
        )
        before = server.realtime.require_hub().subscription_count
        streams = {}
        for sub in SUBS:
            body = {"query": f"subscription {{ {sub.graphql} }}"}
            response = await stack.enter_async_context(client.stream("POST", "/graphql", json=body))
            assert response.headers["content-type"].startswith("text/event-stream"), response.headers
            streams[sub.name] = EventStream(response)
            stack.push_async_callback(streams[sub.name].close)
        await registered(server, before + len(SUBS))
        await settle(server)  # nothing is written meanwhile: the models start from find
        models = {sub.name: await expected(server, user, sub, True) for sub in SUBS}
        return cls(stack, streams), models

    async def drain(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        async def pending(name: str, stream: EventStream) -> list[tuple[str, int, str, dict[str, Any]]]:
            out = []
            while True:
                try:
                    frame = await stream.next(self.QUIET)
                except TimeoutError:
                    return out
                assert frame.event == "next", frame
                out.append(graphql_change(name, frame.json()))

        found = await asyncio.gather(*(pending(name, stream) for name, stream in self.streams.items()))
        return [change for changes in found for change in changes]

    async def close(self) -> None:
        await self.stack.aclose()


Models = dict[str, dict[str, dict[str, Any]]]  # subscription -> id -> record


def apply(
    changes: list[tuple[str, int, str, dict[str, Any]]],
    models: Models,
    states: dict[int, dict[tuple[str, str], Any]],
    user: str,
    checked: dict[str, int],
) -> None:
    """Apply ``user``'s changes to its models, checking each subscription after the last message of each seq
    against the rows expected as of that seq (a seq a write ended at: a cascade's inner seqs are not)."""
    last: dict[str, int] = {}

    def check(name: str, at: int) -> None:
        if at in states:
            got, want = canonical(models[name], False), states[at][(user, name)]
            assert got == want, (user, name, at, got, want)
            checked["steps"] += 1

    for name, seq, effect, record in changes:
        if name in last and last[name] != seq:
            assert seq > last[name], (name, seq, last)
            check(name, last[name])
        last[name] = seq
        if effect == "removed":
            del models[name][record["id"]]
        else:
            models[name][record["id"]] = record
        checked["changes"] += 1
    for name, seq in last.items():
        check(name, seq)


class Sse:
    """A user's SSE streams, one per subscription of :data:`SUBS` (no snapshot: its models start from find).
    SSE has no ping: once the hub has rendered everything, a stream's pending changes are the frames that come
    before it stays quiet for a moment."""

    QUIET = 0.4

    def __init__(self, stack: contextlib.AsyncExitStack, streams: dict[str, EventStream]) -> None:
        self.stack, self.streams = stack, streams

    @classmethod
    async def open(cls, server: LiveServer, user: str) -> tuple[Sse, dict[str, dict[str, dict[str, Any]]]]:
        stack = contextlib.AsyncExitStack()
        streams = {}
        for sub in SUBS:
            params = {"fields": ",".join(sub.fields)}
            if sub.filters is not None:
                params["filters"] = json.dumps(sub.filters)
            if sub.expand is not None:
                params["expand"] = json.dumps(sub.expand)
            streams[sub.name] = await stack.enter_async_context(
                open_stream(server, sub.obj, token=token(user, ["sales"]), params=params)
            )
        await settle(server)  # nothing is written meanwhile: the models start from find
        models = {sub.name: await expected(server, user, sub, True) for sub in SUBS}
        return cls(stack, streams), models

    async def drain(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        async def pending(name: str, stream: EventStream) -> list[tuple[str, int, str, dict[str, Any]]]:
            out = []
            while True:
                try:
                    frame = await stream.next(self.QUIET)
                except TimeoutError:
                    return out
                assert frame.event == "change", frame
                change = frame.json()
                out.append((name, change["seq"], change["effect"], change["record"]))

        found = await asyncio.gather(*(pending(name, stream) for name, stream in self.streams.items()))
        return [change for changes in found for change in changes]

    async def close(self) -> None:
        await self.stack.aclose()


TRANSPORTS: dict[str, Callable[..., Any]] = {
    "plain": Plain.open,
    "graphql": GraphQL.open,
    "graphql-ws": GraphQL.open_legacy,
    "sse": Sse.open,
    "graphql-sse": GraphQLSse.open,
}


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_live_rows_across_relations_equal_find_for_each_user(database: str, tmp_path: Path, transport: str) -> None:
    url = fresh_database_url(database, tmp_path, "relations.db")
    app_dir = write_objects(tmp_path / "app", OBJECTS)
    environ = {"OBJECTQL_DATABASE_URL": url, "OBJECTQL_GC_TUNING": "false", "OBJECTQL_JWT_SECRET": SECRET}
    checked = {"steps": 0, "changes": 0, "related": 0}
    with asyncio.Runner() as runner:
        app = create_app(app_dir, Settings.load({}, environ, app_dir=app_dir))
        uvicorn_server, task, port = runner.run(
            start_uvicorn(app, **uvicorn_options(Settings.load({}, environ, app_dir=app_dir)))
        )
        server = LiveServer(app, port)

        async def run(plan: list[list[tuple[Any, ...]]]) -> None:
            engine = server.engine
            async with engine.sql_engine.begin() as conn:
                await conn.execute(delete(engine.tables["orders"]))
                await conn.execute(delete(engine.tables["customers"]))
            admin = {"authorization": f"Bearer {token('root', ['admin'])}"}
            async with httpx.AsyncClient(base_url=server.http, timeout=10, headers=admin) as http:
                for name, owner, region in [("Ada", "sam", "EU"), ("Bob", "kim", "EU"), ("Cy", "sam", "US")]:
                    made = await mutation(
                        http,
                        f"createCustomers(input: {literal({'name': name, 'owner': owner, 'region': region})}) {{ id }}",
                    )
                    order = {"customer": made["createCustomers"]["id"], "total": 7}
                    await mutation(http, f"createOrders(input: {literal(order)}) {{ id }}")
                await settle(server)
                clients = {}
                models = {}
                for user in USERS:
                    clients[user], models[user] = await TRANSPORTS[transport](server, user)
                    for sub in SUBS:
                        assert canonical(models[user][sub.name], True) == await expected(server, user, sub, True)
                try:
                    for burst in plan:
                        states: dict[int, dict[tuple[str, str], Any]] = {}
                        for op in burst:
                            await write(http, server, op)
                            seq = await engine.current_seq()
                            states[seq] = {
                                (u, s.name): await expected(server, u, s, False) for u in USERS for s in SUBS
                            }
                        await settle(server)
                        for user, client in clients.items():
                            apply(await client.drain(), models[user], states, user, checked)
                            for sub in SUBS:
                                got = canonical(models[user][sub.name], True)
                                assert got == await expected(server, user, sub, True), (user, sub.name)
                finally:
                    for client in clients.values():
                        await client.close()

        @settings(
            max_examples=6 if transport.endswith("sse") else 12,  # SSE waits for quiet streams
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(plan=bursts)
        def agree(plan: list[list[tuple[Any, ...]]]) -> None:
            runner.run(run(plan))

        try:
            agree()
        finally:
            uvicorn_server.should_exit = True
            runner.run(asyncio.wait_for(task, 15))
    assert checked["steps"] > 20 and checked["changes"] > 20, checked


WINDOW = {"filters": [["customer.region", "=", "EU"]], "fields": ["total"], "sort": [["total", "desc"]], "limit": 2}
AGGREGATE = {"aggregate": {"count": True, "sum": ["total"]}, "group_by": ["customer"]}


def window_steps(
    seqs: list[int], after: list[list[dict[str, Any]]], states: dict[int, dict[str, Any]], user: str
) -> int:
    """Check the window after the last change of each seq a write ended at; how many were checked."""
    checked = 0
    for i, seq in enumerate(seqs):
        last = i + 1 == len(seqs) or seqs[i + 1] != seq
        if i + 1 < len(seqs):
            assert seqs[i + 1] >= seq, seqs
        if last and seq in states:
            assert after[i] == states[seq][user][0], (user, seq, after[i], states[seq][user][0])
            checked += 1
    return checked


async def expected_live(server: LiveServer, user: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The window's rows and the aggregate's groups as ``user`` sees them now, as the wire carries them."""
    window = await expected_window(server.engine, USERS[user], "orders", **WINDOW)
    repo = server.engine.context(USERS[user]).object("orders")
    groups = await repo.aggregate(count=True, sum=["total"], group_by=["customer"])
    return window, plain(groups)


def test_live_windows_and_aggregates_across_relations_equal_find(database: str, tmp_path: Path) -> None:
    """A window through a path filter and an aggregate under a path row rule, on the plain WebSocket: after the
    last message of each seq a burst wrote, the window equals find(filters, sort, limit) and the aggregate equals
    aggregate() as that user as of that seq."""
    url = fresh_database_url(database, tmp_path, "relations.db")
    app_dir = write_objects(tmp_path / "app", OBJECTS)
    environ = {
        "OBJECTQL_DATABASE_URL": url,
        "OBJECTQL_GC_TUNING": "false",
        "OBJECTQL_JWT_SECRET": SECRET,
        "OBJECTQL_AGGREGATE_INTERVAL": "0",
    }
    checked = {"windows": 0, "aggregates": 0}
    with asyncio.Runner() as runner:
        config = Settings.load({}, environ, app_dir=app_dir)
        uvicorn_server, task, port = runner.run(start_uvicorn(create_app(app_dir, config), **uvicorn_options(config)))
        server = LiveServer(uvicorn_server.config.app, port)

        async def run(plan: list[list[tuple[Any, ...]]]) -> None:
            engine = server.engine
            async with engine.sql_engine.begin() as conn:
                await conn.execute(delete(engine.tables["orders"]))
                await conn.execute(delete(engine.tables["customers"]))
            admin = {"authorization": f"Bearer {token('root', ['admin'])}"}
            async with httpx.AsyncClient(base_url=server.http, timeout=10, headers=admin) as http:
                for name, owner, region in [("Ada", "sam", "EU"), ("Bob", "kim", "EU"), ("Cy", "sam", "US")]:
                    made = await mutation(
                        http,
                        f"createCustomers(input: {literal({'name': name, 'owner': owner, 'region': region})}) {{ id }}",
                    )
                    order = {"customer": made["createCustomers"]["id"], "total": 7}
                    await mutation(http, f"createOrders(input: {literal(order)}) {{ id }}")
                await settle(server)
                sockets: dict[str, Any] = {}
                windows: dict[str, WindowModel] = {}
                aggregates: dict[str, list[dict[str, Any]]] = {}
                for user in USERS:
                    ws = sockets[user] = await websockets.connect(server.ws, max_size=None)
                    await ws.send(json.dumps({"type": "auth", "token": token(user, ["sales"])}))
                    assert json.loads(await ws.recv())["type"] == "auth_ok"
                    await ws.send(json.dumps({"type": "subscribe", "id": "win", "object": "orders", **WINDOW}))
                    assert json.loads(await ws.recv())["type"] == "subscribed"
                    windows[user] = WindowModel(json.loads(await ws.recv())["records"])
                    await ws.send(json.dumps({"type": "subscribe", "id": "agg", "object": "orders", **AGGREGATE}))
                    assert json.loads(await ws.recv())["type"] == "subscribed"
                    aggregates[user] = json.loads(await ws.recv())["groups"]
                    assert (windows[user].records, aggregates[user]) == await expected_live(server, user)
                try:
                    for burst in plan:
                        states: dict[int, dict[str, Any]] = {}
                        for op in burst:
                            await write(http, server, op)
                            states[await engine.current_seq()] = {u: await expected_live(server, u) for u in USERS}
                        await settle(server)
                        for user, ws in sockets.items():
                            await ws.send(json.dumps({"type": "ping"}))
                            seqs: list[int] = []  # the seq of each window change, then the window after it
                            after: list[list[dict[str, Any]]] = []
                            while True:
                                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                                if message["type"] == "pong":
                                    break
                                if message["type"] == "aggregate":
                                    aggregates[user] = message["groups"]
                                    if message["seq"] in states:
                                        assert message["groups"] == states[message["seq"]][user][1], (user, message)
                                        checked["aggregates"] += 1
                                    continue
                                assert message["type"] == "change" and message["id"] == "win", message
                                windows[user].apply(message)
                                seqs.append(message["seq"])
                                after.append(list(windows[user].records))
                            checked["windows"] += window_steps(seqs, after, states, user)
                            assert (windows[user].records, aggregates[user]) == await expected_live(server, user)
                finally:
                    for ws in sockets.values():
                        await ws.close()

        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(plan=bursts)
        def agree(plan: list[list[tuple[Any, ...]]]) -> None:
            runner.run(run(plan))

        try:
            agree()
        finally:
            uvicorn_server.should_exit = True
            runner.run(asyncio.wait_for(task, 15))
    assert checked["windows"] > 5 and checked["aggregates"] > 5, checked


GRAPHQL_WINDOW = (
    'ordersWindow(where: {customer_ref: {region: {eq: "EU"}}}, orderBy: [{field: total, direction: DESC}], '
    "limit: 2) { seq effect index record { id total } }"
)


async def window_results(ws: Any) -> tuple[list[int], list[dict[str, Any]]]:
    """The pending results of a ``graphql-transport-ws`` window subscription (up to a pong): seqs and changes."""
    await ws.send(json.dumps({"type": "ping"}))
    seqs: list[int] = []
    changes: list[dict[str, Any]] = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == "pong":
            return seqs, changes
        assert message["type"] == "next" and message["id"] == "win", message
        assert "errors" not in message["payload"], message
        change = message["payload"]["data"]["ordersWindow"]
        seqs.append(int(change["seq"]))
        changes.append({**change, "effect": change["effect"].lower()})


def test_live_windows_across_relations_over_graphql_equal_find(database: str, tmp_path: Path) -> None:
    """The window of :data:`WINDOW` as an ``ordersWindow`` subscription over ``graphql-transport-ws``: its first
    results build the window; after the last result of each seq a burst wrote, the window equals
    find(filters, sort, limit) as that user as of that seq."""
    url = fresh_database_url(database, tmp_path, "relations.db")
    app_dir = write_objects(tmp_path / "app", OBJECTS)
    environ = {"OBJECTQL_DATABASE_URL": url, "OBJECTQL_GC_TUNING": "false", "OBJECTQL_JWT_SECRET": SECRET}
    checked = {"windows": 0}
    with asyncio.Runner() as runner:
        config = Settings.load({}, environ, app_dir=app_dir)
        uvicorn_server, task, port = runner.run(start_uvicorn(create_app(app_dir, config), **uvicorn_options(config)))
        server = LiveServer(uvicorn_server.config.app, port)

        async def expected_rows(user: str) -> list[dict[str, Any]]:
            return await expected_window(server.engine, USERS[user], "orders", **WINDOW)

        async def run(plan: list[list[tuple[Any, ...]]]) -> None:
            engine = server.engine
            async with engine.sql_engine.begin() as conn:
                await conn.execute(delete(engine.tables["orders"]))
                await conn.execute(delete(engine.tables["customers"]))
            admin = {"authorization": f"Bearer {token('root', ['admin'])}"}
            async with httpx.AsyncClient(base_url=server.http, timeout=10, headers=admin) as http:
                for name, owner, region in [("Ada", "sam", "EU"), ("Bob", "kim", "EU"), ("Cy", "sam", "US")]:
                    made = await mutation(
                        http,
                        f"createCustomers(input: {literal({'name': name, 'owner': owner, 'region': region})}) {{ id }}",
                    )
                    order = {"customer": made["createCustomers"]["id"], "total": 7}
                    await mutation(http, f"createOrders(input: {literal(order)}) {{ id }}")
                await settle(server)
                sockets: dict[str, Any] = {}
                windows: dict[str, WindowModel] = {}
                for user in USERS:
                    before = server.realtime.require_hub().subscription_count
                    ws = sockets[user] = await websockets.connect(
                        f"ws://127.0.0.1:{server.port}/graphql", subprotocols=["graphql-transport-ws"], max_size=None
                    )
                    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token(user, ["sales"])}}))
                    assert json.loads(await ws.recv())["type"] == "connection_ack"
                    query = f"subscription {{ {GRAPHQL_WINDOW} }}"
                    await ws.send(json.dumps({"type": "subscribe", "id": "win", "payload": {"query": query}}))
                    await registered(server, before + 1)
                    await settle(server)
                    windows[user] = WindowModel()
                    for change in (await window_results(ws))[1]:
                        windows[user].apply(change)
                    assert windows[user].records == await expected_rows(user)
                try:
                    for burst in plan:
                        states: dict[int, dict[str, Any]] = {}
                        for op in burst:
                            await write(http, server, op)
                            states[await engine.current_seq()] = {u: (await expected_rows(u),) for u in USERS}
                        await settle(server)
                        for user, ws in sockets.items():
                            seqs, changes = await window_results(ws)
                            after = []
                            for change in changes:
                                windows[user].apply(change)
                                after.append(list(windows[user].records))
                            checked["windows"] += window_steps(seqs, after, states, user)
                            assert windows[user].records == await expected_rows(user)
                finally:
                    for ws in sockets.values():
                        await ws.close()

        @settings(
            max_examples=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(plan=bursts)
        def agree(plan: list[list[tuple[Any, ...]]]) -> None:
            runner.run(run(plan))

        try:
            agree()
        finally:
            uvicorn_server.should_exit = True
            runner.run(asyncio.wait_for(task, 15))
    assert checked["windows"] > 5, checked
