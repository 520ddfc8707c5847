"""SQLite through aiosqlite: one trip to the driver's thread per statement, and DBAPI results unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event, text

from objectql import ObjectQL, ValidationError
from objectql.engine import sqlite_driver
from tests.conftest import write_objects

ORDERS = """
fields:
  status: {type: select, options: [pending, paid]}
  total:  {type: number}
  code:   {type: text, unique: true}
"""


@pytest.fixture
async def app(tmp_path: Path) -> Any:
    engine = ObjectQL(write_objects(tmp_path / "app", {"orders": ORDERS}), f"sqlite:///{tmp_path / 'db.sqlite'}")
    await engine.init()
    yield engine
    await engine.close()


def test_the_one_trip_cursor_is_in_use_with_this_sqlalchemy() -> None:
    # Written against SQLAlchemy's connector-based aiosqlite adapter (2.0.44 and later); an SQLAlchemy that
    # reshapes it falls back to its own adapter, and this test says so.
    version = tuple(int(p) for p in sqlalchemy.__version__.split(".")[:3] if p.isdigit())
    if version >= (2, 0, 44):
        assert sqlite_driver.AVAILABLE


@pytest.mark.skipif(not sqlite_driver.AVAILABLE, reason="SQLAlchemy's own aiosqlite adapter serves")
async def test_a_create_makes_one_trip_per_statement_and_one_for_the_commit(
    app: ObjectQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = app.object("orders")
    await orders.create({"total": 1})  # warm: the pool holds a connection
    statements: list[str] = []
    trips: list[str] = []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    event.listen(app.sql_engine.sync_engine, "before_cursor_execute", listener)
    original = sqlite_driver.run_statement
    monkeypatch.setattr(sqlite_driver, "run_statement", lambda *a: trips.append(a[1]) or original(*a))
    import aiosqlite

    commit = aiosqlite.Connection.commit

    async def counted_commit(self: aiosqlite.Connection) -> None:
        trips.append("COMMIT")
        await commit(self)

    monkeypatch.setattr(aiosqlite.Connection, "commit", counted_commit)
    try:
        await orders.create({"total": 2, "status": "paid"})
    finally:
        event.remove(app.sql_engine.sync_engine, "before_cursor_execute", listener)
    assert trips[:-1] == statements and trips[-1] == "COMMIT"
    assert statements[0].startswith("BEGIN IMMEDIATE")


async def test_rows_counts_and_errors_come_back_as_from_any_dbapi_cursor(app: ObjectQL) -> None:
    orders = app.object("orders")
    for i in range(5):
        await orders.create({"total": i, "code": f"c{i}", "status": "paid" if i % 2 else "pending"})
    async with app.sql_engine.begin() as conn:
        result = await conn.execute(text("SELECT code, total FROM orders WHERE total >= :t ORDER BY total"), {"t": 2})
        assert list(result.keys()) == ["code", "total"]
        assert [tuple(r) for r in result] == [("c2", 2.0), ("c3", 3.0), ("c4", 4.0)]
        updated = await conn.execute(text("UPDATE orders SET status = 'paid' WHERE status = 'pending'"))
        assert updated.rowcount == 3
        empty = await conn.execute(text("SELECT code FROM orders WHERE total > 99"))
        assert empty.all() == []
    assert await orders.count(filters=[["status", "=", "paid"]]) == 5
    with pytest.raises(ValidationError) as raised:
        await orders.create({"total": 9, "code": "c1"})
    assert raised.value.errors[0]["field"] == "code"  # the unique violation, translated
    assert await orders.count() == 5


async def test_every_connection_has_the_exact_sum_aggregate(app: ObjectQL) -> None:
    orders = app.object("orders")
    for total in (0.1, 0.2, 0.3):
        await orders.create({"total": total})
    async with app.sql_engine.connect() as conn:
        (raw,) = (await conn.execute(text("SELECT objectql_exact_sum(total, 1) FROM orders"))).one()
    assert int(raw) / 2**1074 == 0.6  # the exact total, in units of 2**-1074: rounded once, not 0.6000000000000001
