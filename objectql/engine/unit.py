"""Units of work: one connection and transaction, the events it produced and the after-hooks it owes.

A unit commits by writing its events to the outbox (taking their seqs) and committing; only then are
its after-hooks run and its events released to listeners. A rolled-back unit releases nothing.

A unit whose connection is lost before its COMMIT was sent is run again, once, on a fresh connection:
the server rolls back the transaction of a connection it lost, so nothing of the first attempt stays. So is
a unit the server rolled back to break a deadlock (up to three times; then ``CONFLICT``).
Once COMMIT has been sent the unit is never run again (the server may have committed it before the
connection went): the caller is told :class:`Unavailable`, and the write may or may not be there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from objectql.engine.database import WRITE_OPTION, DatabaseFile, Outage, collided, probe_write, translate
from objectql.engine.events import ChangeEvent, Outbox, PendingEvent
from objectql.engine.hooks import HookContext, Hooks
from objectql.errors import ObjectQLError, Unavailable

log = logging.getLogger("objectql.engine")

WRITE_LOCK_TIMEOUT = 30.0
# How many times a unit the server rolled back to break a deadlock is run again before CONFLICT.
COLLISION_RETRIES = 3
IN_DOUBT = "the connection to the database was lost while committing; the change may or may not have been saved"
EventListener = Callable[[list[ChangeEvent]], Awaitable[None] | None]
T = TypeVar("T")


@dataclass
class Unit:
    conn: AsyncConnection
    holds_write_lock: bool = False
    # Set just before COMMIT is sent: from then on a lost connection may have committed the unit.
    commit_sent: bool = False
    # Whether its connection was found lost when it was discarded; closed once committed or discarded.
    lost: bool = False
    closed: bool = False
    pending: list[PendingEvent] = field(default_factory=list)
    # When a write unit was opened (perf_counter), for the write-duration observers.
    opened_at: float | None = None
    # (hook event, context, index into pending)
    after: list[tuple[str, HookContext, int]] = field(default_factory=list)

    def record(self, event: PendingEvent, hook_event: str, ctx: HookContext) -> None:
        self.pending.append(event)
        self.after.append((hook_event, ctx, len(self.pending) - 1))


class UnitRunner:
    """Opens, commits and releases units for one ObjectQL instance."""

    def __init__(
        self,
        sql_engine: AsyncEngine,
        outbox: Outbox,
        hooks: Hooks,
        listeners: list[EventListener],
        database_file: DatabaseFile | None = None,
    ) -> None:
        self.sql_engine = sql_engine
        self.outbox = outbox
        self.hooks = hooks
        self.listeners = listeners
        # The SQLite file written to, checked before every commit: a deleted or replaced file is refused.
        self.database_file = database_file
        self.outage = Outage(log, "database unavailable", "database available again")
        # Called with the seconds from opening a write unit to its commit (the /metrics histogram).
        self.write_observers: list[Callable[[float], None]] = []
        # SQLite has one writer at a time: queue this process's writers here rather than in SQLite's
        # busy handler, which retries with growing sleeps (other processes still meet the busy timeout).
        self._write_lock = asyncio.Lock() if sql_engine.dialect.name == "sqlite" else None

    async def open(self, *, write: bool) -> Unit:
        opened_at = time.perf_counter() if write else None
        locked = False
        if write and self._write_lock is not None:
            try:
                await asyncio.wait_for(self._write_lock.acquire(), WRITE_LOCK_TIMEOUT)
            except TimeoutError:
                raise Unavailable("the database is busy with other writes; try again") from None
            locked = True
        try:
            conn = await self.sql_engine.connect()
        except Exception as exc:
            self._unlock(locked)
            raise self.failure(exc) from None
        try:
            if write:
                await conn.execution_options(**{WRITE_OPTION: True})
            await conn.begin()
        except Exception as exc:
            await _quietly(conn.close())
            self._unlock(locked)
            raise self.failure(exc) from None
        return Unit(conn, holds_write_lock=locked, opened_at=opened_at)

    def failure(self, exc: BaseException) -> ObjectQLError:
        """``exc`` as the caller's error; a database that cannot be reached is reported once per outage."""
        error = translate(exc)
        if isinstance(error, Unavailable):
            self.outage.failed(exc)
        return error

    async def run(self, body: Callable[[Unit], Awaitable[T]], *, write: bool) -> T:
        """``body`` in a unit of its own, committed and released; run again once on a fresh connection when
        the first one was lost before COMMIT was sent."""
        retried = False
        collisions = 0
        while True:
            unit = await self.open(write=write)
            try:
                result = await body(unit)
                committed = await self.commit(unit)
            except Exception as exc:
                await self.discard(unit)
                if unit.lost and not unit.commit_sent and not retried:
                    self.outage.failed(exc)
                    retried = True
                    continue
                if collided(exc) and not unit.commit_sent and collisions < COLLISION_RETRIES:
                    # The server rolled the whole unit back to break a deadlock: nothing of it stays.
                    collisions += 1
                    continue
                if unit.lost and unit.commit_sent and unit.pending:
                    self.outage.failed(exc)
                    raise Unavailable(IN_DOUBT) from None
                raise self.failure(exc) from None
            except BaseException:
                await self.discard(unit)
                raise
            await self.release(unit, committed)
            return result

    def _unlock(self, locked: bool) -> None:
        if locked and self._write_lock is not None:
            self._write_lock.release()

    async def commit(self, unit: Unit) -> list[ChangeEvent]:
        """Write the unit's events and commit; a failure rolls back, closes the unit and is raised as is
        (:meth:`failure` translates it)."""
        try:
            if unit.pending and self.database_file is not None:
                self.database_file.check()
            committed = await self.outbox.append(unit.conn, unit.pending)
            unit.commit_sent = True
            await unit.conn.commit()
        except BaseException:
            await self.discard(unit)
            raise
        self.outage.recovered()
        unit.closed = True
        try:
            await unit.conn.close()
        finally:
            self._unlock(unit.holds_write_lock)
            unit.holds_write_lock = False
        if unit.opened_at is not None and committed:
            elapsed = time.perf_counter() - unit.opened_at
            for observe in self.write_observers:
                observe(elapsed)
        return committed

    async def discard(self, unit: Unit) -> None:
        """Roll back and close (once); errors of a connection already lost are not the caller's concern."""
        if unit.closed:
            return
        unit.closed = True
        unit.lost = unit.conn.invalidated
        try:
            await _quietly(unit.conn.rollback())
            await _quietly(unit.conn.close())
        finally:
            self._unlock(unit.holds_write_lock)
            unit.holds_write_lock = False

    async def probe(self, timeout: float) -> None:
        """Raise :class:`Unavailable` (saying why) unless a write could start within ``timeout`` seconds."""
        if self.database_file is not None:
            self.database_file.check()
        if self._write_lock is None:
            await probe_write(self.sql_engine, None, timeout)
            return
        try:
            await asyncio.wait_for(self._write_lock.acquire(), timeout)
        except TimeoutError:
            raise Unavailable("the database is busy with other writes") from None
        try:
            await probe_write(self.sql_engine, self.database_file, timeout)
        finally:
            self._write_lock.release()

    async def release(self, unit: Unit, committed: list[ChangeEvent]) -> None:
        """After the commit: tell listeners, then run the after-hooks in order."""
        if committed:
            for listener in list(self.listeners):
                try:
                    result = listener(committed)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("change listener %r failed", listener)
        for hook_event, ctx, index in unit.after:
            ctx.seq = committed[index].seq
            await self.hooks.run_after_commit(hook_event, ctx)


class Scope(Protocol):
    """Where a repository runs: its own unit per call, or a shared (transaction) unit."""

    async def run(self, body: Callable[[Unit], Awaitable[T]], *, write: bool) -> T: ...


class AutoScope:
    def __init__(self, runner: UnitRunner) -> None:
        self.runner = runner

    async def run(self, body: Callable[[Unit], Awaitable[T]], *, write: bool) -> T:
        return await self.runner.run(body, write=write)


class SharedScope:
    """Runs every call in one unit that someone else commits (a transaction, or a before-hook's api)."""

    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    async def run(self, body: Callable[[Unit], Awaitable[T]], *, write: bool) -> T:
        try:
            return await body(self._unit)
        except ObjectQLError:
            raise
        except Exception as exc:
            raise translate(exc) from None


async def _quietly(step: Awaitable[None]) -> None:
    try:
        await step
    except Exception as exc:
        log.debug("closing a unit: %s", exc)
