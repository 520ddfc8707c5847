"""The database boundary: engine creation per dialect, write transactions, and error translation.

SQLite runs in WAL mode with a busy timeout, and write transactions start with ``BEGIN IMMEDIATE`` so
that two writers queue instead of failing on a lock upgrade. Driver errors are translated here into
the ObjectQL hierarchy; their text (which may hold SQL) is logged, never raised to callers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from objectql.engine import sqlite_driver
from objectql.errors import Conflict, InternalError, ObjectQLError, Unavailable, ValidationError

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


def create_engine(url: str) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
        module = sqlite_driver.dbapi()
        if module is not None:
            options["module"] = module
        # Units end with an explicit commit or rollback: the pool's own rollback on return would only add
        # a trip to the driver's thread per unit.
        engine = create_async_engine(url, pool_reset_on_return=None, **options)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so BEGIN can be IMMEDIATE for writes.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        is_memory = ":memory:" in str(engine.url) or str(engine.url).endswith("://")
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
    if isinstance(exc, OperationalError | InterfaceError) or _is_connection_error(exc):
        log.error("database unavailable: %s", exc)
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


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionError | OSError) or type(exc).__name__ in (
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "InterfaceError",
    )
