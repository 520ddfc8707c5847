"""The executor running a subscription's document for several events in one execution: each event's result
as if executed alone — its own errors, at its own path — and lookups batched across all of them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from objectql.resolvers import executor as executor_module
from objectql.resolvers.context import GraphQLContext, Row
from objectql.resolvers.enums import ChangeEffect
from objectql.resolvers.executor import GraphQLExecutor
from objectql.schema.builder import build_schema
from tests.conftest import EngineFactory

OBJECTS = {
    "customers": "fields:\n  name: {type: text}\n",
    "orders": """
fields:
  total: {type: number}
  customer: {type: lookup, reference_to: customers}
permissions:
  fields:
    total: {read: [admin]}
""",
}
WINDOW = """subscription ($n: Int!) { w: ordersWindow(limit: $n) {
  seq effect index record { id total customer_ref { name } } } }"""


def change(index: int | None, **record: Any) -> Row:
    effect = ChangeEffect("removed" if index is None else "added")
    return Row(seq="7", effect=effect, index=index, record=Row(record))


async def test_one_execution_gives_each_event_its_own_result(
    make_engine: EngineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await make_engine(OBJECTS)
    ada = await engine.object("customers").create({"name": "Ada"})
    bob = await engine.object("customers").create({"name": "Bob"})
    executor = GraphQLExecutor(engine, build_schema(engine.registry))
    prepared = executor.prepare(WINDOW, {"n": 3})
    executions: list[object] = []
    original = executor_module.execute

    def counted(*args: Any, **kwargs: Any) -> Any:
        executions.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(executor_module, "execute", counted)
    roots = [
        change(0, id="o1", total=1.0, customer=ada["id"]),
        change(1, id="o2", total=2.0, customer=bob["id"]),
        change(2, id="o3", customer=ada["id"]),  # total left out, as for a user who may not read it: FORBIDDEN
        change(None, id="o4", total=None, customer=None),
    ]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sync_engine = engine.sql_engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        results = await executor.run_each(prepared, GraphQLContext(engine, None), roots)
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert len(executions) == 1
    assert len([s for s in statements if "FROM customers" in s]) == 1  # three lookups, one query
    alone = [await executor.run(prepared, GraphQLContext(engine, None), root) for root in roots]
    assert results == alone
    assert results[0] == {
        "data": {
            "w": {
                "seq": "7",
                "effect": "ADDED",
                "index": 0,
                "record": {"id": "o1", "total": 1.0, "customer_ref": {"name": "Ada"}},
            }
        }
    }
    (error,) = results[2]["errors"]
    assert error["path"] == ["w", "record", "total"] and error["extensions"]["code"] == "FORBIDDEN"
    assert all("errors" not in r for r in (results[0], results[1], results[3]))


async def test_an_event_whose_error_nulls_the_answer_costs_the_others_nothing(make_engine: EngineFactory) -> None:
    engine = await make_engine(OBJECTS)
    executor = GraphQLExecutor(engine, build_schema(engine.registry))
    prepared = executor.prepare(WINDOW, {"n": 3})
    broken = Row(seq="7", effect=ChangeEffect("added"), index=1, record=None)  # record is non-null
    results = await executor.run_each(prepared, GraphQLContext(engine, None), [change(0, id="o1", total=1.0), broken])
    assert results[0] == {
        "data": {
            "w": {"seq": "7", "effect": "ADDED", "index": 0, "record": {"id": "o1", "total": 1.0, "customer_ref": None}}
        }
    }
    assert results[1]["data"] is None and results[1]["errors"][0]["path"] == ["w", "record"]
