"""The database boundary: engine creation per dialect, write transactions, and error translation.

SQLite runs in WAL mode with a busy timeout, and write transactions start with ``BEGIN IMMEDIATE`` so
that two writers queue instead of failing on a lock upgrade. Driver errors are translated here into
the ObjectQL hierarchy; their text (which may hold SQL) is logged, never raised to callers. A database
that cannot be reached, or whose connection was lost, is :class:`Unavailable`; :class:`Outage` reports
that once when it starts and once when it ends, not once per failed call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from objectql.engine import sqlite_driver
from objectql.errors import Conflict, InternalError, ObjectQLError, Unavailable, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("objectql.engine")

WRITE_OPTION = "objectql_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept the plain scheme names users type and pick the async driver."""
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


def create_sql_engine(url: str) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        module = sqlite_driver.dbapi()
        if module is not None:
            options["module"] = module
        # Units end with an explicit commit or rollback: the pool's own rollback on return would only add
        # a trip to the driver's thread per unit.
        sql_engine = create_async_engine(url, pool_reset_on_return=None, **options)
        _configure_sqlite(sql_engine)
        return sql_engine
    sql_engine = create_async_engine(url, pool_size=10, max_overflow=20)
    _skip_closed_connections(sql_engine)
    return sql_engine


def _skip_closed_connections(sql_engine: AsyncEngine) -> None:
    """Never hand out a pooled PostgreSQL connection the server has already closed.

    asyncpg notices a closed socket as soon as the event loop reads it, so asking the driver costs no
    round trip (``pool_pre_ping`` costs three per checkout: BEGIN, a ping, ROLLBACK). A connection that
    dies between the check and its first statement fails before its COMMIT is sent, and such a unit is
    run again once on a fresh connection (:mod:`objectql.engine.unit`).
    """

    @event.listens_for(sql_engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        is_closed: Callable[[], bool] | None = getattr(dbapi_conn.driver_connection, "is_closed", None)
        if is_closed is not None and is_closed():
            raise DisconnectionError("the server closed this connection")  # the pool opens another


def _configure_sqlite(sql_engine: AsyncEngine) -> None:
    sync_engine = sql_engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so BEGIN can be IMMEDIATE for writes.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        is_memory = ":memory:" in str(sql_engine.url) or str(sql_engine.url).endswith("://")
        if not is_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        sqlite_driver.register_functions(dbapi_conn)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.]+(?:, [\w.]+)*)")
_PG_KEY = re.compile(r"Key \(([^)]*)\)")


def translate(exc: BaseException, *, table: str | None = None) -> ObjectQLError:
    """A driver error as an ObjectQL error; its text is logged, not exposed."""
    if isinstance(exc, ObjectQLError):
        return exc
    if isinstance(exc, IntegrityError):
        field = _unique_field(exc)
        if field == "id":
            return Conflict("a record with this id already exists", details={"field": "id"})
        if field is not None:
            return ValidationError([{"field": field, "code": "unique", "message": "must be unique"}])
        log.warning("integrity error on %s: %s", table, exc.orig)
        return ValidationError([{"field": "*", "code": "integrity", "message": "violates a constraint"}])
    if lost_connection(exc):
        return Unavailable("the connection to the database was lost; try again")
    if collided(exc):
        return Conflict("the write collided with a concurrent one and was rolled back; try again")
    if isinstance(exc, OperationalError | InterfaceError) or _is_connection_error(exc):
        return Unavailable("the database is unavailable; try again")
    if isinstance(exc, DBAPIError):
        log.exception("database error", exc_info=exc)
        return InternalError("the database rejected the operation")
    log.exception("unexpected error", exc_info=exc)
    return InternalError("internal error")


def _unique_field(exc: IntegrityError) -> str | None:
    text = str(exc.orig)
    m = _SQLITE_UNIQUE.search(text)
    if m:
        first = m.group(1).split(", ")[0]
        return first.split(".")[-1]
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    if isinstance(constraint, str):
        if constraint.endswith("_pkey"):
            return "id"
        if constraint.startswith("uq_"):
            m2 = _PG_KEY.search(text)
            if m2:
                return m2.group(1).split(",")[0].strip()
    m3 = _PG_KEY.search(text)
    if m3 and "duplicate key" in text:
        return m3.group(1).split(",")[0].strip()
    return None


# PostgreSQL's connection exceptions (class 08) and the shutdown of the backend serving the connection.
_LOST_SQLSTATES = ("57P01", "57P02", "57P03")


# What asyncpg raises, unwrapped by SQLAlchemy 2.0's adapter, on a connection the server closed under a
# transaction ("cannot switch to state …; another operation is in progress", "connection is closed").
_ASYNCPG_LOST = ("InternalClientError", "InterfaceError", "ConnectionDoesNotExistError")


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection it ran on is gone (the statement never completed on it)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if type(exc).__module__.startswith("asyncpg") and type(exc).__name__ in _ASYNCPG_LOST:
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _LOST_SQLSTATES)


# A deadlock, or a serialization failure: the server rolled the transaction back, and running it again is safe.
_COLLISION_SQLSTATES = ("40P01", "40001")


def collided(exc: BaseException) -> bool:
    """Whether ``exc`` is the server breaking a deadlock (or a serialization failure) by rolling back this
    transaction: two writers took the same rows' locks in opposite orders (a parent's delete cascading to a
    child while the child's write locks the parent for its summaries)."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate in _COLLISION_SQLSTATES


def driver_message(exc: BaseException) -> str:
    """The driver's own words for ``exc``, without the statement and parameters SQLAlchemy appends."""
    return str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__


class Outage:
    """Reports a failing dependency once when it starts failing and once when it works again.

    ``failed`` logs a warning on the first failure of a run of failures (later ones at debug level);
    ``recovered`` logs at info level when the run ends. The check on success is one attribute read.
    """

    def __init__(self, logger: logging.Logger, failing: str, working: str) -> None:
        self._log = logger
        self._failing = failing
        self._working = working
        self.down = False

    def failed(self, cause: BaseException) -> None:
        reason = driver_message(cause)
        if self.down:
            self._log.debug("%s (still): %s", self._failing, reason)
            return
        self.down = True
        self._log.warning("%s: %s", self._failing, reason)

    def recovered(self) -> None:
        if self.down:
            self.down = False
            self._log.info(self._working)


class DatabaseFile:
    """The SQLite file an SQL engine opened, so that a file deleted or replaced under it is noticed.

    SQLite keeps writing to a file unlinked from its directory (the open connections hold it), so a
    write after ``rm app.db`` would succeed and be lost: :meth:`check` refuses it instead.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._identity = self._stat()

    @classmethod
    def of(cls, sql_engine: AsyncEngine) -> DatabaseFile | None:
        """The file of a SQLite SQL engine (None for PostgreSQL and in-memory databases)."""
        database = sql_engine.url.database
        if (
            sql_engine.dialect.name != "sqlite"
            or not database
            or database == ":memory:"
            or database.startswith("file:")
        ):
            return None
        return cls(database)

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def problem(self) -> str | None:
        """Why the file at the path is not the one opened, or None when it is."""
        identity = self._stat()
        if identity is None:
            return "the database file is gone"
        if identity != self._identity:
            return "the database file was replaced"
        return None

    def check(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise Unavailable(problem)


async def probe_write(sql_engine: AsyncEngine, database_file: DatabaseFile | None, timeout: float) -> None:
    """Raise :class:`Unavailable` unless the database would take a write within ``timeout`` seconds.

    SQLite: ``BEGIN IMMEDIATE`` then ROLLBACK on a connection of its own, opened read-write without
    creating the file, whose busy timeout is ``timeout``. PostgreSQL: a transaction that says whether it
    could write (not a standby, not read-only), with ``timeout`` as its statement timeout.
    """
    if database_file is not None:
        await asyncio.to_thread(_probe_sqlite, database_file.path, timeout)
        return
    try:
        async with asyncio.timeout(timeout), sql_engine.connect() as conn, conn.begin():
            await conn.execute(
                text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(int(timeout * 1000))}
            )
            read_only = (await conn.execute(text(_PG_READ_ONLY))).scalar()
    except TimeoutError:
        raise Unavailable("the database did not answer in time") from None
    except Exception as exc:
        raise translate(exc) from None
    if read_only:
        raise Unavailable("the database is read-only")


_PG_STATEMENT_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")
_PG_READ_ONLY = "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"


def _probe_sqlite(path: str, timeout: float) -> None:
    try:
        conn = sqlite3.connect(
            f"{pathlib.Path(path).as_uri()}?mode=rw", uri=True, timeout=timeout, isolation_level=None
        )
    except sqlite3.Error:
        raise Unavailable("the database file cannot be opened") from None
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise Unavailable("the database is locked by another writer") from None
        raise Unavailable("the database cannot take a write") from None
    finally:
        conn.close()


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError | OSError) or type(exc).__name__ in (
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "InterfaceError",
    )
