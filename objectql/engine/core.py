"""``ObjectQL``: the engine's entry point — definitions, database, hooks, outbox — and its contexts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from objectql.engine.aggregates import MAX_GROUPS
from objectql.engine.database import WRITE_OPTION, DatabaseFile, create_sql_engine, normalise_url, translate
from objectql.engine.events import ChangeEvent, Outbox
from objectql.engine.hooks import Hook, Hooks
from objectql.engine.permissions import ObjectPolicy
from objectql.engine.repository import ObjectRepository
from objectql.engine.summaries import CompiledSummary, compile_summaries, fill_added
from objectql.engine.tables import EVENTS_TABLE, SEQ_TABLE, build_metadata, sync_schema
from objectql.engine.unit import AutoScope, EventListener, Scope, SharedScope, UnitRunner
from objectql.engine.user import User
from objectql.engine.validation import DEFAULT_MAX_TEXT_LENGTH
from objectql.errors import InvalidRequest, ObjectQLError
from objectql.metadata.registry import Registry

log = logging.getLogger("objectql.engine")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///objectql.db"
DEFAULT_RETENTION = 86400.0
DEFAULT_PRUNE_BATCH = 1000
_INIT_LOCK_KEY = 0x0B1EC7
T = TypeVar("T")


class ObjectQL:
    """The engine: ``await ObjectQL(objects=..., database_url=...).init()``, or ``async with``."""

    def __init__(
        self,
        objects: str | Path | Registry,
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        allow_anonymous: bool = True,
        outbox_retention: float = DEFAULT_RETENTION,
        sign_in: bool = True,
        max_groups: int = MAX_GROUPS,
        max_text_length: int = DEFAULT_MAX_TEXT_LENGTH,
    ) -> None:
        self._objects = objects
        self.database_url = normalise_url(database_url)
        self.allow_anonymous = allow_anonymous
        # Whether callers can sign in at all (a server with a key): when not, an anonymous caller refused for
        # want of a role is told so (FORBIDDEN) instead of being asked to sign in (UNAUTHENTICATED).
        self.sign_in = sign_in
        self.outbox_retention = outbox_retention
        # The most groups one aggregate may have (more is TOO_MANY_GROUPS).
        self.max_groups = max_groups
        # Characters a text field without max_length takes, and a JSON value's serialised text.
        self.max_text_length = max_text_length
        self.hooks = Hooks()
        self.listeners: list[EventListener] = []
        self.registry: Registry = Registry()
        self.tables: dict[str, Table] = {}
        self.policies: dict[str, ObjectPolicy] = {}
        # The summary fields computed from each object's records (by that object's name).
        self.summaries: dict[str, list[CompiledSummary]] = {}
        self._sql_engine: AsyncEngine | None = None
        self._runner: UnitRunner | None = None
        self._outbox: Outbox | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def init(self) -> ObjectQL:
        """Load and validate the definitions, then create what is missing in the database."""
        if self._sql_engine is not None:
            return self
        if isinstance(self._objects, Registry):
            registry = self._objects
            registry.check()
        else:
            registry = Registry.from_directory(self._objects)
        summaries = compile_summaries(registry)
        policies = {
            obj.name: ObjectPolicy(obj, allow_anonymous=self.allow_anonymous, sign_in=self.sign_in, registry=registry)
            for obj in registry
        }
        for policy in policies.values():
            policy.peers = policies
        metadata = build_metadata(registry)
        sql_engine = create_sql_engine(self.database_url)
        outbox = Outbox(metadata.tables[EVENTS_TABLE], metadata.tables[SEQ_TABLE], {o.name: o for o in registry})
        try:
            async with sql_engine.connect() as conn:
                # Several workers may start at once: one syncs the schema at a time (SQLite: BEGIN
                # IMMEDIATE; PostgreSQL: an advisory lock).
                await conn.execution_options(**{WRITE_OPTION: True})
                async with conn.begin():
                    if conn.dialect.name == "postgresql":
                        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INIT_LOCK_KEY})
                    done = await conn.run_sync(sync_schema, metadata)
                    added = {step.removeprefix("add column ") for step in done if step.startswith("add column ")}
                    tables = {name: metadata.tables[name] for name in registry.names()}
                    done += await fill_added(conn, registry, tables, summaries, added)
                    await outbox.ensure_counter(conn)
        except Exception as exc:
            await sql_engine.dispose()
            raise translate(exc) from None
        for step in done:
            log.info("schema: %s", step)
        self.registry = registry
        self.policies = policies
        self.summaries = summaries
        self.tables = {name: metadata.tables[name] for name in registry.names()}
        self._outbox = outbox
        self._sql_engine = sql_engine
        self._runner = UnitRunner(sql_engine, outbox, self.hooks, self.listeners, DatabaseFile.of(sql_engine))
        return self

    async def close(self) -> None:
        if self._sql_engine is not None:
            await self._sql_engine.dispose()
            self._sql_engine = None
            self._runner = None

    async def __aenter__(self) -> ObjectQL:
        return await self.init()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def ready(self) -> bool:
        """Whether :meth:`init` has run (and :meth:`close` has not)."""
        return self._sql_engine is not None

    @property
    def dialect(self) -> str:
        return self.sql_engine.dialect.name

    @property
    def sql_engine(self) -> AsyncEngine:
        if self._sql_engine is None:
            raise InvalidRequest(None, "ObjectQL is not initialised: await engine.init() first")
        return self._sql_engine

    @property
    def runner(self) -> UnitRunner:
        if self._runner is None:
            raise InvalidRequest(None, "ObjectQL is not initialised: await engine.init() first")
        return self._runner

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            raise InvalidRequest(None, "ObjectQL is not initialised: await engine.init() first")
        return self._outbox

    # -- data access ---------------------------------------------------------------------------

    def context(self, user: User | None = None) -> Context:
        """The engine as ``user`` sees it; ``None`` is the system (no permission applies)."""
        return Context(self, user, AutoScope(self.runner))

    def object(self, name: str) -> ObjectRepository:
        """The system's repository of ``name``."""
        return self.context(None).object(name)

    @asynccontextmanager
    async def transaction(self, user: User | None = None, *, exclusive: str | None = None) -> AsyncIterator[Context]:
        """An atomic block; hooks' after-parts and events are released on commit only.

        ``exclusive`` names a lock held for the whole block across every process of the deployment
        (write transactions on SQLite are exclusive anyway).
        """
        runner = self.runner
        unit = await runner.open(write=True)
        try:
            if exclusive is not None and self.dialect == "postgresql":
                await unit.conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": exclusive})
            yield Context(self, user, SharedScope(unit))
        except BaseException:
            await runner.discard(unit)
            raise
        try:
            committed = await runner.commit(unit)
        except Exception as exc:
            raise runner.failure(exc) from None
        await runner.release(unit, committed)

    # -- hooks ---------------------------------------------------------------------------------

    def on(self, event: str, object_name: str, fn: Hook) -> None:
        self.hooks.on(event, object_name, fn)

    def off(self, event: str, object_or_fn: Any, fn: Hook | None = None) -> None:
        self.hooks.off(event, object_or_fn, fn)

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(events)`` with every batch of committed change events, in seq order."""
        self.listeners.append(listener)

    def remove_listener(self, listener: EventListener) -> None:
        self.listeners.remove(listener)

    # -- events --------------------------------------------------------------------------------

    async def current_seq(self) -> int:
        """The highest committed seq (0 when nothing was committed)."""
        return await self._read(self.outbox.current_seq)

    async def oldest_seq(self) -> int | None:
        """The oldest seq still retained in the outbox (None when it is empty)."""
        return await self._read(self.outbox.oldest_seq)

    async def events(self, after: int = 0, object: str | None = None, limit: int = 1000) -> list[ChangeEvent]:
        """Committed events with ``seq > after``, in seq order, optionally of one object."""
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise InvalidRequest("after", "a whole number >= 0")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidRequest("limit", "a whole number from 1 to 10000")
        if object is not None:
            self.registry.get(object)
        return await self._read(lambda conn: self.outbox.read(conn, after=after, object=object, limit=limit))

    async def prune_events(self, retention: float | None = None, *, batch: int = DEFAULT_PRUNE_BATCH) -> int:
        """Delete events older than the retention window (``OBJECTQL_OUTBOX_RETENTION``); returns how many.

        Deletes at most ``batch`` events per write transaction, each taken as any write is (on SQLite, in
        turn with the other writers), so pruning never holds the writer for long.
        """
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidRequest("batch", "a whole number >= 1")
        seconds = self.outbox_retention if retention is None else retention
        cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
        deleted = 0
        while True:
            count = await self.runner.run(lambda unit: self.outbox.prune(unit.conn, cutoff, batch), write=True)
            deleted += count
            if count < batch:
                return deleted

    async def check_ready(self, timeout: float) -> None:
        """Raise :class:`~objectql.errors.Unavailable`, saying why, unless the database would take a write
        within ``timeout`` seconds (its SQLite file still the one opened, the write lock to be had)."""
        await self.runner.probe(timeout)

    async def _read(self, query: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``query`` on a connection of its own, outside any transaction of ours; errors translated."""
        runner = self.runner
        try:
            async with self.sql_engine.connect() as conn:
                result = await query(conn)
        except ObjectQLError:
            raise
        except Exception as exc:
            raise runner.failure(exc) from None
        runner.outage.recovered()
        return result


class Context:
    """The engine under one user (and, inside a transaction, one unit of work)."""

    def __init__(self, engine: ObjectQL, user: User | None, scope: Scope) -> None:
        self.engine = engine
        self.user = user
        self._scope = scope

    def object(self, name: str) -> ObjectRepository:
        """The repository of ``name``; an unknown object is NotFound at once."""
        return ObjectRepository(self.engine, self.engine.registry.get(name), self.user, self._scope, self)

    def bound(self, scope: Scope) -> Context:
        return Context(self.engine, self.user, scope)
