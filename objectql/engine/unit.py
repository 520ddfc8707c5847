"""Units of work: one connection and transaction, the events it produced and the after-hooks it owes.

A unit commits by writing its events to the outbox (taking their seqs) and committing; only then are
its after-hooks run and its events released to listeners. A rolled-back unit releases nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from objectql.engine.database import WRITE_OPTION, translate
from objectql.engine.events import ChangeEvent, Outbox, PendingEvent
from objectql.engine.hooks import HookContext, Hooks
from objectql.errors import ObjectQLError

log = logging.getLogger("objectql.engine")
EventListener = Callable[[list[ChangeEvent]], Awaitable[None] | None]


@dataclass
class Unit:
    conn: AsyncConnection
    pending: list[PendingEvent] = field(default_factory=list)
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

    async def open(self, *, write: bool) -> Unit:
        try:
            conn = await self.engine.connect()
        except Exception as exc:
            raise translate(exc) from None
        try:
            if write:
                await conn.execution_options(**{WRITE_OPTION: True})
            await conn.begin()
        except Exception as exc:
            await conn.close()
            raise translate(exc) from None
        return Unit(conn)

    async def commit(self, unit: Unit) -> list[ChangeEvent]:
        try:
            committed = await self.outbox.append(unit.conn, unit.pending)
            await unit.conn.commit()
        except Exception as exc:
            await self.discard(unit)
            raise translate(exc) from None
        await unit.conn.close()
        return committed

    async def discard(self, unit: Unit) -> None:
        try:
            await unit.conn.rollback()
        finally:
            await unit.conn.close()

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
