"""Property: through random creates, updates and deletes (rows entering and leaving the filter, changing
group, the extremes leaving, float sums that cancel, round or overflow), with subscribers joining while
updates are pending, every live aggregate message a sales user receives over the plain WebSocket equals
the engine's aggregate() over that user's visible rows as of the message's seq — on SQLite and PostgreSQL,
against a real `objectql serve` process, with messages coalesced."""

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
    "b": {"count": True, "sum": ["total", "qty", "weight"], "avg": ["total", "qty", "weight"]},
}
# Floats whose sums depend on the order they are added in, round, cancel out or overflow.
WEIGHTS = [0.1, 0.2, 0.3, 1e16, -1e16, 1.0, 1e308, 5e-324, -2.5]
FILTER = [["qty", ">=", 0], "or", ["qty", "is_null"]]
SAM = User("sam", ("sales",))

values = st.fixed_dictionaries(
    {
        "status": st.sampled_from([None, "paid", "paid", "shipped"]),
        "total": st.one_of(st.none(), st.decimals(min_value=-50, max_value=50, places=2, allow_nan=False)),
        "qty": st.one_of(st.none(), st.integers(-3, 5)),
        "weight": st.one_of(st.none(), st.sampled_from(WEIGHTS)),
        "owner": st.sampled_from(["sam", "sam", "kim"]),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), values),
        st.tuples(st.just("update"), st.integers(0, 20), values),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("join"), st.sampled_from(sorted(ASKED))),
    ),
    min_size=3,
    max_size=16,
)


def test_every_aggregate_message_equals_the_engine_at_its_seq(database: str, tmp_path: Path) -> None:
    url = fresh_database_url(database, tmp_path, "live.db")
    # Coalesced: a write's message is still pending when the next write, or a joiner, comes.
    process = start_server(tmp_path, url, {"orders": ORDERS}, OBJECTQL_AGGREGATE_INTERVAL="200")
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
                async with engine.sql_engine.begin() as conn:
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
                    # Per socket, its subscriptions and what each asks: the first socket's, then one per joiner.
                    subscribed: dict[Any, dict[str, str]] = {ws: {sid: sid for sid in ASKED}}
                    joiners: list[Any] = []
                    for sid, asked in ASKED.items():
                        await ws.send(json.dumps(subscribe(sid, asked)))
                    ids: list[str] = []
                    try:
                        for op in ops:
                            if op[0] == "join":  # right behind the last write, its message likely still pending
                                joiner = await websockets.connect(process.ws)
                                joiners.append(joiner)
                                await joiner.send(json.dumps({"type": "auth", "token": token("sam", ["sales"])}))
                                await joiner.send(json.dumps(subscribe("j", ASKED[op[1]])))
                                subscribed[joiner] = {"j": op[1]}
                                continue
                            await write(http, ids, op)
                            seq, state = await expected()
                            states[seq] = state
                        _, final = await expected()
                        # Every message equals the state at its seq; the last of each is the final state.
                        for socket, sids in subscribed.items():
                            last: dict[str, Any] = {}
                            while any(last.get(sid) != final[asked] for sid, asked in sids.items()):
                                message = strict_json(await asyncio.wait_for(socket.recv(), 10))
                                if message["type"] in ("subscribed", "auth_ok"):
                                    continue
                                assert message["type"] == "aggregate", message
                                sid, asked = message["id"], sids[message["id"]]
                                assert message["seq"] in states, (message["seq"], sorted(states))
                                at_seq = states[message["seq"]][asked]
                                assert message["groups"] == at_seq, (message, at_seq)
                                checked["messages"] += 1
                                last[sid] = message["groups"]
                    finally:
                        for joiner in joiners:
                            await joiner.close()

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


def strict_json(text: str | bytes) -> Any:
    """JSON as a browser parses it: ``Infinity`` and ``NaN`` are not JSON."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} in a message: {text!r}")

    return json.loads(text, parse_constant=refuse)


def subscribe(sid: str, asked: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "subscribe",
        "id": sid,
        "object": "orders",
        "filters": FILTER,
        "aggregate": asked,
        "group_by": ["status"],
    }
