"""SQLite through aiosqlite with one trip to the driver's thread per statement.

aiosqlite runs every call on a thread of its own; SQLAlchemy's adapter makes three or four calls per
statement (open a cursor, execute, fetch the rows, close the cursor), and each is a handoff between the
event loop and that thread and back — a fraction of a millisecond each, paid while a writer holds
SQLite's one write lock. The cursor here does all of it in one call on the driver's thread and hands the
rows back at once; what SQLAlchemy sees is an ordinary DBAPI cursor whose rows are already fetched.

It hooks in where SQLAlchemy's own adapter does (aiosqlite's call queue, the adapter's cursor class) and
is used only when SQLAlchemy's adapter has that shape (:data:`AVAILABLE`); otherwise the stock adapter
serves, a little slower. ``tests/engine/test_sqlite_driver.py`` pins both the trip count and the results.

:func:`register_functions` puts the engine's own SQL functions on every new connection, on the driver's
thread through the same call queue (aiosqlite offers scalar functions only).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.util import await_only

from objectql.engine.totals import SQLITE_FUNCTION, ExactSum

try:
    from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor
    from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_dbapi
    from sqlalchemy.util import EMPTY_DICT

    AVAILABLE = hasattr(AsyncAdapt_aiosqlite_connection, "_cursor_cls") and hasattr(
        AsyncAdapt_dbapi_cursor, "_execute_async"
    )
except ImportError:  # an SQLAlchemy whose aiosqlite adapter is built another way
    AVAILABLE = False

Result = tuple[Any, int, Any, list[Any]]


def run_statement(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Result:
    """On the driver's thread: execute, fetch and close; (description, rowcount, lastrowid, rows)."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


if AVAILABLE:

    class OneTripCursor(AsyncAdapt_dbapi_cursor):
        """A cursor whose every execute is one call on the driver's thread, rows included."""

        __slots__ = ("_description", "_lastrowid", "_rowcount")

        def __init__(self, adapt_connection: Any) -> None:
            self._adapt_connection = adapt_connection
            self._connection = adapt_connection._connection
            self._cursor = None  # type: ignore[assignment]
            self._soft_closed_memoized = EMPTY_DICT
            self._rows = collections.deque()
            self._description: Any = None
            self._rowcount = -1
            self._lastrowid: Any = None

        @property
        def description(self) -> Any:
            return self._description

        @property
        def rowcount(self) -> int:
            return self._rowcount

        @property
        def lastrowid(self) -> Any:
            return self._lastrowid

        @property
        def arraysize(self) -> int:
            return 1

        @arraysize.setter
        def arraysize(self, value: int) -> None:
            return None

        def close(self) -> None:
            self._rows.clear()

        async def _async_soft_close(self) -> None:
            return None  # nothing is open on the driver's side

        async def _run(self, operation: Any, parameters: Any, many: bool) -> Any:
            connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            async with self._adapt_connection._execute_mutex:
                result: Result = await connection._execute(  # type: ignore[no-untyped-call]
                    run_statement, connection._conn, operation, parameters, many
                )
            self._description, self._rowcount, self._lastrowid, rows = result
            self._rows = collections.deque(rows)
            return self

        async def _execute_async(self, operation: Any, parameters: Any) -> Any:
            return await self._run(operation, parameters, False)

        async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
            return await self._run(operation, seq_of_parameters, True)

        def nextset(self) -> None:
            return None  # SQLite statements have one result set

    class OneTripConnection(AsyncAdapt_aiosqlite_connection):
        __slots__ = ()
        _cursor_cls = OneTripCursor  # type: ignore[assignment]

    class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
        """aiosqlite as SQLAlchemy's adapter presents it, with :class:`OneTripCursor` cursors."""

        def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
            adapted = super().connect(*arg, **kw)
            return OneTripConnection(self, adapted._connection)


def dbapi() -> Any:
    """The DBAPI module to hand ``create_async_engine(module=...)``, or None for SQLAlchemy's own."""
    return OneTripDBAPI(aiosqlite, sqlite3) if AVAILABLE else None


def register_functions(dbapi_conn: Any) -> None:
    """Register the exact-sum aggregate on a new connection (SQLAlchemy's adapted aiosqlite connection,
    inside its connect event), on the driver's thread."""
    connection = getattr(dbapi_conn, "_connection", None)
    if not isinstance(connection, aiosqlite.Connection) or not hasattr(connection, "_execute"):
        raise RuntimeError("this aiosqlite release has no call queue to register SQL functions through")
    raw: sqlite3.Connection = connection._conn
    await_only(connection._execute(raw.create_aggregate, SQLITE_FUNCTION, 2, ExactSum))  # type: ignore[no-untyped-call]
