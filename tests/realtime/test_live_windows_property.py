"""Property: through random creates, updates and deletes written as GraphQL mutations — rows crossing the window's
edge, ties on the sort values (broken by id), nulls, rows entering and leaving the filter, rows another user
owns — a sales user's live window, applied message by message, equals find(filters, sort, limit) over that
user's visible rows after the last message of every seq. Per transport family (plain WebSocket, SSE, GraphQL
over graphql-transport-ws), on SQLite and PostgreSQL, against a real `objectql serve` process."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from objectql import ObjectQL, User
from tests.conftest import fresh_database_url, write_objects
from tests.realtime.served import start_server, token, write
from tests.realtime.test_live_windows import ORDERS
from tests.realtime.windows import WindowModel

SAM = User("sam", ("sales",))
FIELDS = ["id", "status", "total", "qty", "owner"]
SORT = [["total", "desc"], ["qty", "asc"]]
LIMIT = 3

values = st.fixed_dictionaries(
    {
        "status": st.sampled_from([None, "paid", "pending", "shipped"]),
        # Few distinct values: ties are common, and so are nulls (last in either direction).
        "total": st.one_of(st.none(), st.sampled_from([Decimal(v) for v in ("1", "2", "2.5", "3", "9")])),
        "qty": st.one_of(st.none(), st.integers(0, 3)),
        "owner": st.sampled_from(["sam", "sam", "kim"]),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), values),
        st.tuples(st.just("create"), values),
        st.tuples(st.just("update"), st.integers(0, 30), values),
        st.tuples(st.just("delete"), st.integers(0, 30)),
    ),
    min_size=6,
    max_size=24,
)
Message = tuple[str, int, Any]  # ("snapshot", seq, records) | ("change", seq, change)


def canonical(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records compared field by field whatever the wire made of a decimal (a number or a string)."""
    out = []
    for record in records:
        row = {f: record.get(f) for f in FIELDS}
        if row["total"] is not None:
            row["total"] = Decimal(str(row["total"]))
        out.append(row)
    return out


def window_filter(n: int) -> list[Any]:
    # The second criterion matches every row; it makes each example's window a group of its own.
    return [["status", "in", ["paid", "pending"]], ["owner", "!=", f"nobody-{n}"]]


@asynccontextmanager
async def plain_window(base: str, user_token: str, filters: Any) -> AsyncIterator[AsyncIterator[Message]]:
    async with websockets.connect(f"ws://{base}/api/realtime") as ws:
        await ws.send(json.dumps({"type": "auth", "token": user_token}))
        assert json.loads(await ws.recv())["type"] == "auth_ok"
        request = {"type": "subscribe", "id": "w", "object": "orders", "filters": filters}
        await ws.send(json.dumps({**request, "fields": FIELDS, "sort": SORT, "limit": LIMIT}))

        async def messages() -> AsyncIterator[Message]:
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "subscribed":
                    continue
                if message["type"] == "snapshot":
                    yield "snapshot", message["seq"], message["records"]
                else:
                    assert message["type"] == "change" and message["id"] == "w", message
                    yield "change", message["seq"], message

        yield messages()


@asynccontextmanager
async def sse_window(base: str, user_token: str, filters: Any) -> AsyncIterator[AsyncIterator[Message]]:
    params = {"filters": json.dumps(filters), "fields": ",".join(FIELDS), "sort": "total:desc,qty", "limit": LIMIT}
    headers = {"authorization": f"Bearer {user_token}"}
    async with (
        httpx.AsyncClient(base_url=f"http://{base}", timeout=None) as http,
        http.stream("GET", "/api/events/orders", params=params, headers=headers) as stream,
    ):
        assert stream.status_code == 200, await stream.aread()

        async def messages() -> AsyncIterator[Message]:
            event, data = None, None
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: "):
                    data = json.loads(line[len("data: ") :])
                elif not line and event is not None:
                    assert data is not None
                    if event == "snapshot":
                        yield "snapshot", data["seq"], data["records"]
                    else:
                        assert event == "change", (event, data)
                        yield "change", data["seq"], data
                    event, data = None, None

        yield messages()


@asynccontextmanager
async def graphql_window(base: str, user_token: str, filters: Any) -> AsyncIterator[AsyncIterator[Message]]:
    async with websockets.connect(f"ws://{base}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": user_token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        query = """subscription($filters: JSON) {
          ordersWindow(filters: $filters, orderBy: [{field: total, direction: DESC}, {field: qty}], limit: 3) {
            seq effect index record { id status total qty owner }
          }
        }"""
        payload = {"query": query, "variables": {"filters": filters}}
        await ws.send(json.dumps({"id": "w", "type": "subscribe", "payload": payload}))

        async def messages() -> AsyncIterator[Message]:
            while True:
                message = json.loads(await ws.recv())
                assert message["type"] == "next" and "errors" not in message["payload"], message
                change = message["payload"]["data"]["ordersWindow"]
                yield "change", int(change["seq"]), {**change, "effect": change["effect"].lower()}

        yield messages()


TRANSPORTS = {"plain": plain_window, "sse": sse_window, "graphql": graphql_window}


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_the_window_equals_find_after_every_seq(database: str, tmp_path: Path, transport: str) -> None:
    url = fresh_database_url(database, tmp_path, "windows.db")
    process = start_server(tmp_path, url, {"orders": ORDERS})
    base = f"127.0.0.1:{process.port}"
    admin = token("root", ["admin"])
    sam = token("sam", ["sales"])
    examples = itertools.count()
    checked = {"steps": 0, "changes": 0}
    try:
        with asyncio.Runner() as runner:
            engine = ObjectQL(write_objects(tmp_path / "reader", {"orders": ORDERS}), url)
            runner.run(engine.init())

            async def expected(filters: Any) -> tuple[int, list[dict[str, Any]]]:
                seq = await engine.current_seq()
                orders = engine.context(SAM).object("orders")
                rows = await orders.find(filters=filters, fields=FIELDS, sort=SORT, limit=LIMIT)
                return seq, canonical(rows)

            async def run(ops: list[tuple[Any, ...]]) -> None:
                async with engine.sql_engine.begin() as conn:
                    await conn.execute(delete(engine.tables["orders"]))
                filters = window_filter(next(examples))
                ids: list[str] = []
                states: dict[int, list[dict[str, Any]]] = {}
                headers = {"authorization": f"Bearer {admin}"}
                async with httpx.AsyncClient(base_url=f"http://{base}", timeout=10, headers=headers) as http:
                    for op in ops[: len(ops) // 3]:  # some rows before the window opens
                        await write(http, ids, op)
                    seq, state = await expected(filters)
                    states[seq] = state
                    async with TRANSPORTS[transport](base, sam, filters) as messages:
                        model = WindowModel()
                        if transport != "graphql":  # GraphQL has no snapshot message: its rows come as changes
                            kind, seq, records = await asyncio.wait_for(anext(messages), 10)
                            assert kind == "snapshot" and canonical(records) == states[seq], (seq, records)
                            model = WindowModel(records)
                        for op in ops[len(ops) // 3 :]:
                            await write(http, ids, op)
                            seq, state = await expected(filters)
                            states[seq] = state
                        final_seq, final = await expected(filters)
                        step: int | None = None

                        def check(at: int) -> None:
                            assert at in states, (at, sorted(states))
                            assert canonical(model.records) == states[at], (at, model.records, states[at])
                            checked["steps"] += 1

                        # Until the window is the final one and nothing follows within a moment.
                        while True:
                            wait = 0.3 if canonical(model.records) == final else 10
                            try:
                                kind, seq, change = await asyncio.wait_for(anext(messages), wait)
                            except TimeoutError:
                                assert canonical(model.records) == final, (model.records, final)
                                break
                            assert kind == "change", (kind, change)
                            if step is not None and seq != step:
                                assert seq > step, (seq, step)
                                check(step)  # the last message of a seq ends its step
                            step = seq
                            model.apply(change)
                            checked["changes"] += 1
                        if step is not None:
                            check(step)
                        assert final_seq == max(states)

            @settings(
                max_examples=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            )
            @given(ops=operations)
            def agree(ops: list[tuple[Any, ...]]) -> None:
                runner.run(run(ops))

            try:
                agree()
            finally:
                runner.run(engine.close())
    finally:
        process.popen.terminate()
        process.popen.wait(15)
    assert checked["steps"] > 20 and checked["changes"] > 20, checked
