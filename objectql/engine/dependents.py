"""What deleting a record does to the records pointing at it, planned before anything is written.

Each reference field's ``delete_behavior`` decides, as a database foreign key would: ``cascade`` (and every
master_detail) deletes the children too, and their own children follow their own fields' behaviours;
``set_null`` clears the children's field; ``restrict`` refuses the whole delete with ``CONFLICT`` while a
child that is not itself being deleted exists. The children are found whatever the deleting user may see:
the rule is the definition's, not the user's.

The plan's order is deterministic: the clearings by child object, field and id; then the deletions, details
before their master (the deepest level first), each level in relation order (child object, field) and id
order. The record asked for is not in the plan: its caller deletes it, last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from objectql.engine.statements import Record, chunks
from objectql.errors import Conflict
from objectql.metadata.model import DeleteBehavior, ObjectDef, Relation
from objectql.metadata.registry import Registry


@dataclass
class DeletePlan:
    """The records a delete removes besides the one asked for (``deletes``: object and record, in event
    order) and the fields it clears (``clears``: object, current record, fields to set null)."""

    deletes: list[tuple[str, Record]] = field(default_factory=list)
    clears: list[tuple[str, Record, tuple[str, ...]]] = field(default_factory=list)


async def plan_delete(
    conn: AsyncConnection, registry: Registry, tables: dict[str, Table], obj: ObjectDef, record: Record
) -> DeletePlan:
    """Read what deleting ``record`` touches (locking it on PostgreSQL); :class:`Conflict` on a restrict."""
    planner = _Planner(conn, registry, tables)
    return await planner.plan(obj, record)


class _Planner:
    def __init__(self, conn: AsyncConnection, registry: Registry, tables: dict[str, Table]) -> None:
        self.conn = conn
        self.registry = registry
        self.tables = tables
        self.deleting: set[tuple[str, str]] = set()

    async def plan(self, obj: ObjectDef, record: Record) -> DeletePlan:
        root = (obj.name, record["id"])
        self.deleting.add(root)
        levels: list[list[tuple[str, Record]]] = [[(obj.name, record)]]
        # Reference fields met with set_null or restrict, and the ids of the parents being deleted.
        held: dict[tuple[str, str], tuple[Relation, list[str]]] = {}
        frontier: list[tuple[str, list[Record]]] = [(obj.name, [record])]
        while frontier:
            level: list[tuple[str, Record]] = []
            next_frontier: list[tuple[str, list[Record]]] = []
            for name, records in frontier:
                ids = [r["id"] for r in records]
                for rel in sorted(self.registry.children(name), key=lambda r: (r.child, r.field)):
                    if rel.delete_behavior is not DeleteBehavior.CASCADE:
                        _, known = held.setdefault((rel.child, rel.field), (rel, []))
                        known.extend(ids)
                        continue
                    rows = await self._children(rel, ids, columns=None)
                    fresh = [r for r in rows if (rel.child, r["id"]) not in self.deleting]
                    self.deleting.update((rel.child, r["id"]) for r in fresh)
                    if fresh:
                        level.extend((rel.child, r) for r in fresh)
                        next_frontier.append((rel.child, fresh))
            if level:
                levels.append(level)
            frontier = next_frontier
        out = DeletePlan()
        for level in reversed(levels[1:]):
            out.deletes.extend(level)
        await self._held(obj, record, list(held.values()), out)
        return out

    async def _held(
        self, obj: ObjectDef, record: Record, held: list[tuple[Relation, list[str]]], out: DeletePlan
    ) -> None:
        clears: dict[tuple[str, str], tuple[Record, list[str]]] = {}
        for rel, ids in held:
            if rel.delete_behavior is DeleteBehavior.RESTRICT:
                rows = await self._children(rel, ids, columns=["id"])
                blocking = [r for r in rows if (rel.child, r["id"]) not in self.deleting]
                if blocking:
                    raise _restricted(obj, record, rel, len(blocking))
                continue
            for row in await self._children(rel, ids, columns=None):
                if (rel.child, row["id"]) in self.deleting:
                    continue
                _, fields = clears.setdefault((rel.child, row["id"]), (row, []))
                fields.append(rel.field)
        for (name, _), (row, fields) in sorted(clears.items()):
            out.clears.append((name, row, tuple(fields)))

    async def _children(self, rel: Relation, ids: list[str], columns: list[str] | None) -> list[Record]:
        """The records of ``rel.child`` pointing at ``ids``, by id (locked on PostgreSQL)."""
        table = self.tables[rel.child]
        child = self.registry.get(rel.child)
        names = columns if columns is not None else list(child.fields)
        out: list[Record] = []
        for chunk in chunks(sorted(set(ids))):
            stmt = select(*(table.c[n] for n in names)).where(table.c[rel.field].in_(chunk)).order_by(table.c.id)
            if self.conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            out.extend(dict(row) for row in (await self.conn.execute(stmt)).mappings())
        out.sort(key=lambda r: r["id"])
        return out


def _restricted(obj: ObjectDef, record: Record, rel: Relation, count: int) -> Conflict:
    through = f"{rel.child}.{rel.field}"
    if rel.parent == obj.name:
        message = (
            f"{obj.name} {record['id']!r} cannot be deleted: {count} {rel.child} record(s) point at it through "
            f"{through}, whose delete_behavior is restrict"
        )
    else:
        message = (
            f"{obj.name} {record['id']!r} cannot be deleted: it would delete {rel.parent} records that {count} "
            f"{rel.child} record(s) point at through {through}, whose delete_behavior is restrict"
        )
    details = {
        "object": obj.name,
        "id": record["id"],
        "child": rel.child,
        "field": rel.field,
        "parent": rel.parent,
        "count": count,
    }
    return Conflict(message, details=details)
