"""Units of work: one connection and transaction, the events it produced and the after-hooks it owes.

A unit commits by writing its events to the outbox (taking their seqs) and committing; only then are
its after-hooks run and its events released to listeners. A rolled-back unit releases nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from objectql.engine.database import WRITE_OPTION, translate
from objectql.engine.events import ChangeEvent, Outbox, PendingEvent
from objectql.engine.hooks import HookContext, Hooks
from objectql.errors import ObjectQLError, Unavailable

log = logging.getLogger("objectql.engine")

WRITE_LOCK_TIMEOUT = 30.0
EventListener = Callable[[list[ChangeEvent]], Awaitable[None] | None]


@dataclass
class Unit:
    conn: AsyncConnection
    holds_write_lock: bool = False
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

    def __init__(self, engine: AsyncEngine, outbox: Outbox, hooks: Hooks, listeners: list[EventListener]) -> None:
        self.engine = engine
        self.outbox = outbox
        self.hooks = hooks
        self.listeners = listeners
        # Called with the seconds from opening a write unit to its commit (the /metrics histogram).
        self.write_observers: list[Callable[[float], None]] = []
        # SQLite has one writer at a time: queue this process's writers here rather than in SQLite's
        # busy handler, which retries with growing sleeps (other processes still meet the busy timeout).
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

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
            conn = await self.engine.connect()
        except Exception as exc:
            self._unlock(locked)
            raise translate(exc) from None
        try:
            if write:
                await conn.execution_options(**{WRITE_OPTION: True})
            await conn.begin()
        except Exception as exc:
            await conn.close()
            self._unlock(locked)
            raise translate(exc) from None
        return Unit(conn, holds_write_lock=locked, opened_at=opened_at)

    def _unlock(self, locked: bool) -> None:
        if locked and self._write_lock is not None:
            self._write_lock.release()

    async def commit(self, unit: Unit) -> list[ChangeEvent]:
        try:
            committed = await self.outbox.append(unit.conn, unit.pending)
            await unit.conn.commit()
        except Exception as exc:
            await self.discard(unit)
            raise translate(exc) from None
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
        try:
            await unit.conn.rollback()
        finally:
            try:
                await unit.conn.close()
            finally:
                self._unlock(unit.holds_write_lock)
                unit.holds_write_lock = False

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

    def unit(self, *, write: bool) -> AbstractAsyncContextManager[Unit]: ...


class AutoScope:
    def __init__(self, runner: UnitRunner) -> None:
        self.runner = runner

    @asynccontextmanager
    async def unit(self, *, write: bool) -> AsyncIterator[Unit]:
        unit = await self.runner.open(write=write)
        try:
            yield unit
        except BaseException as exc:
            await self.runner.discard(unit)
            if isinstance(exc, Exception) and not isinstance(exc, ObjectQLError):
                raise translate(exc) from None
            raise
        committed = await self.runner.commit(unit)
        await self.runner.release(unit, committed)


class SharedScope:
    """Runs every call in one unit that someone else commits (a transaction, or a before-hook's api)."""

    def __init__(self, unit: Unit) -> None:
        self._unit = unit

    @asynccontextmanager
    async def unit(self, *, write: bool) -> AsyncIterator[Unit]:
        try:
            yield self._unit
        except Exception as exc:
            if not isinstance(exc, ObjectQLError):
                raise translate(exc) from None
            raise
