"""Property: through random creates, updates and deletes (rows entering and leaving the filter, changing
group, the extremes leaving), every live aggregate message a sales user receives over the plain WebSocket
equals the engine's aggregate() over that user's visible rows as of the message's seq — on SQLite and
PostgreSQL, against a real `objectql serve` process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from objectql import ObjectQL, User
from objectql.realtime.aggregates import wire_groups
from tests.conftest import fresh_database_url, write_objects
from tests.realtime.served import start_server, token, write
from tests.realtime.test_live_aggregates import ORDERS

# Two subscriptions: with extremes (whose leaving re-reads the state) and without (kept from events alone).
ASKED = {
    "a": {"count": True, "sum": ["total", "qty"], "avg": ["total"], "min": ["total", "qty"], "max": ["total"]},
    "b": {"count": True, "sum": ["total", "qty"], "avg": ["total", "qty"]},
}
FILTER = [["qty", ">=", 0], "or", ["qty", "is_null"]]
SAM = User("sam", ("sales",))

values = st.fixed_dictionaries(
    {
        "status": st.sampled_from([None, "paid", "paid", "shipped"]),
        "total": st.one_of(st.none(), st.decimals(min_value=-50, max_value=50, places=2, allow_nan=False)),
        "qty": st.one_of(st.none(), st.integers(-3, 5)),
        "owner": st.sampled_from(["sam", "sam", "kim"]),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), values),
        st.tuples(st.just("update"), st.integers(0, 20), values),
        st.tuples(st.just("delete"), st.integers(0, 20)),
    ),
    min_size=3,
    max_size=16,
)


def test_every_aggregate_message_equals_the_engine_at_its_seq(database: str, tmp_path: Path) -> None:
    url = fresh_database_url(database, tmp_path, "live.db")
    process = start_server(tmp_path, url, {"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="0")
    admin = token("root", ["admin"])
    checked = {"messages": 0}
    try:
        with asyncio.Runner() as runner:
            engine = ObjectQL(write_objects(tmp_path / "reader", {"orders": ORDERS}), url)
            runner.run(engine.init())

            async def expected() -> tuple[int, dict[str, Any]]:
                seq = await engine.current_seq()
                states = {}
                for sid, asked in ASKED.items():
                    orders = engine.context(SAM).object("orders")
                    groups = await orders.aggregate(filters=FILTER, group_by=["status"], **asked)
                    states[sid] = json.loads(json.dumps(wire_groups(groups), default=str))
                return seq, states

            async def run(ops: list[tuple[Any, ...]]) -> None:
                async with engine.engine.begin() as conn:
                    await conn.execute(delete(engine.tables["orders"]))
                states: dict[int, Any] = {}
                seq, state = await expected()
                states[seq] = state
                headers = {"authorization": f"Bearer {admin}"}
                async with (
                    httpx.AsyncClient(base_url=process.http, timeout=10, headers=headers) as http,
                    websockets.connect(process.ws) as ws,
                ):
                    await ws.send(json.dumps({"type": "auth", "token": token("sam", ["sales"])}))
                    assert json.loads(await ws.recv())["type"] == "auth_ok"
                    for sid, asked in ASKED.items():
                        request = {"type": "subscribe", "id": sid, "object": "orders", "filters": FILTER}
                        await ws.send(json.dumps({**request, "aggregate": asked, "group_by": ["status"]}))
                    first = [json.loads(await ws.recv()) for _ in ASKED]
                    ids: list[str] = []
                    for op in ops:
                        await write(http, ids, op)
                        seq, state = await expected()
                        states[seq] = state
                    _, final = await expected()
                    # Every message equals the state at its seq; the last of each is the final state.
                    received = [m for m in first if m["type"] == "aggregate"]
                    last: dict[str, Any] = {}
                    while any(last.get(sid) != final[sid] for sid in ASKED):
                        message = received.pop(0) if received else json.loads(await asyncio.wait_for(ws.recv(), 10))
                        if message["type"] == "subscribed":
                            continue
                        assert message["type"] == "aggregate", message
                        sid = message["id"]
                        assert message["seq"] in states, (message["seq"], sorted(states))
                        assert message["groups"] == states[message["seq"]][sid], (message, states[message["seq"]])
                        checked["messages"] += 1
                        last[sid] = message["groups"]

            @settings(
                max_examples=40,
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
    assert checked["messages"] > 25
