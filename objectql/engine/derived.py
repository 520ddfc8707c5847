"""The writes a user's write causes on other records, done in its transaction as ordinary writes.

Deleting a record clears or deletes the records pointing at it (:mod:`objectql.engine.dependents`); writing
a child changes its parents' summary fields (:mod:`objectql.engine.summaries`). Each such change is one
ordinary change event — an ``update`` with ``updated_at`` bumped and ``changed`` naming its fields, or a
``delete`` — recorded by the same unit of work as the write that caused it, so it takes its own seq at
commit and reaches the realtime core, the outbox and every process like any other. Their after-hooks run
after the commit as any write's do (before-hooks do not: a definition's rule is not a request to refuse).
They are attributed to the writing user, and done whatever that user may see or write: the definition
decides them, as a database's foreign keys would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from objectql.engine.dependents import DeletePlan
from objectql.engine.events import PendingEvent
from objectql.engine.hooks import HookContext
from objectql.engine.statements import ROW_ID, Record, chunks, stored_row, writes
from objectql.engine.summaries import CompiledSummary, compute, lock_parents
from objectql.engine.unit import Unit
from objectql.metadata.model import ObjectDef

if TYPE_CHECKING:
    from objectql.engine.core import Context, ObjectQL
    from objectql.engine.user import User

# A change of one record: its object, the record before (None: created) and after (None: deleted).
Change = tuple[str, Record | None, Record | None]


class Derived:
    """The derived writes of one write, in one unit, on behalf of one user."""

    def __init__(self, engine: ObjectQL, unit: Unit, user: User | None, ctx: Context) -> None:
        self.engine = engine
        self.unit = unit
        self.user = user
        self.ctx = ctx
        # Changes whose parents' summaries are still to be brought up to date.
        self.changes: list[Change] = []

    def changed(self, name: str, before: Record | None, after: Record | None) -> None:
        """Note a change of a record of ``name``: :meth:`settle` updates the summaries it touches."""
        if self.engine.summaries.get(name):
            self.changes.append((name, before, after))

    async def apply_delete(self, plan: DeletePlan) -> None:
        """Clear and delete what deleting a record takes with it (not the record itself)."""
        conn = self.unit.conn
        now = datetime.now(UTC)
        for name, current, fields in plan.clears:
            record = {**current, **dict.fromkeys(fields), "updated_at": now}
            await self._write_update(self.engine.registry.get(name), current, record)
        by_object: dict[str, list[str]] = {}
        for name, current in plan.deletes:
            by_object.setdefault(name, []).append(current["id"])
        for name, ids in by_object.items():
            table = self.engine.tables[name]
            for chunk in chunks(ids):
                await conn.execute(delete(table).where(table.c.id.in_(chunk)))
        for name, current in plan.deletes:
            self._record(name, "delete", current["id"], None, current, None)
            self.changed(name, current, None)

    async def settle(self) -> None:
        """Recompute the summary fields the noted changes may alter and store those that differ, as
        updates of their parents; again for the summaries of those parents, until nothing changes."""
        while self.changes:
            changes, self.changes = self.changes, []
            # parent -> group key -> (its summaries, the parent ids to recompute)
            wanted: dict[str, dict[Any, tuple[list[CompiledSummary], set[str]]]] = {}
            for name, before, after in changes:
                for summary in self.engine.summaries.get(name, ()):
                    ids = summary.parents(before, after)
                    if not ids:
                        continue
                    group, targets = wanted.setdefault(summary.parent, {}).setdefault(summary.group, ([], set()))
                    if summary not in group:
                        group.append(summary)
                    targets.update(ids)
            for parent in sorted(wanted):
                await self._refresh(parent, list(wanted[parent].values()))

    async def _refresh(self, parent: str, groups: list[tuple[list[CompiledSummary], set[str]]]) -> None:
        obj = self.engine.registry.get(parent)
        conn = self.unit.conn
        every = set().union(*(ids for _, ids in groups))
        current = await lock_parents(conn, self.engine.tables[parent], obj, every)
        fresh: dict[str, Record] = {pid: {} for pid in current}
        for summaries, ids in groups:
            child = summaries[0].child
            live = sorted(i for i in ids if i in current)
            if not live:
                continue
            values = await compute(conn, self.engine.tables[child], self.engine.registry.get(child), summaries, live)
            for pid, row in values.items():
                fresh[pid].update(row)
        now = datetime.now(UTC)
        for pid in sorted(fresh):
            before = current[pid]
            if all(before.get(f) == v for f, v in fresh[pid].items()):
                continue
            await self._write_update(obj, before, {**before, **fresh[pid], "updated_at": now})

    async def _write_update(self, obj: ObjectDef, current: Record, record: Record) -> None:
        values = {k: v for k, v in stored_row(obj, record).items() if k != "id"}
        await self.unit.conn.execute(writes(self.engine.tables[obj.name]).update, {**values, ROW_ID: current["id"]})
        changed = tuple(f for f in obj.fields if record.get(f) != current.get(f))
        self._record(obj.name, "update", current["id"], record, current, changed)
        self.changed(obj.name, current, record)

    def _record(
        self,
        name: str,
        action: str,
        id: str,
        record: Record | None,
        previous: Record | None,
        changed: tuple[str, ...] | None,
    ) -> None:
        policy = self.engine.policies[name]
        hctx = HookContext(
            action=action,
            object=name,
            user=self.user,
            api=self.ctx.engine.context(self.user),
            id=id,
            previous=previous,
            result={f: record.get(f) for f in policy.readable_fields(self.user)} if record is not None else None,
        )
        event = PendingEvent.now(name, action, id, record, previous, changed, self.user)
        self.unit.record(event, f"after:{action}", hctx)
