"""Records as they were at a seq: read now, then the events committed since undone.

The realtime core hands a related change (a customer renamed at seq S) to the groups whose subscribers carry
that customer's data nested in their records (orders expanding ``customer``). Which orders those are must be
answered as of S, but the database may already be at a later seq R. :func:`records_at` reads, in one read
transaction, the records whose reference field holds one of the given values, the seq R that read is
consistent with, and the object's events in (S, R]; walking those events backwards puts back each record's
state before it (an event carries the whole record before its change), which gives the records as of S.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from objectql.engine.related import chunks
from objectql.errors import Unavailable

if TYPE_CHECKING:
    from objectql.engine.core import ObjectQL

# How many events of one object may have been committed between the seq asked for and the read before the
# read gives up (UNAVAILABLE: the subscribers' connections close with 1013 and they resume).
MAX_UNDONE = 10_000
_PAGE = 1000


async def records_at(
    engine: ObjectQL, object_name: str, field: str, values: Sequence[Any], seq: int
) -> list[dict[str, Any]]:
    """The records of ``object_name`` (every field) whose ``field`` holds one of ``values``, as of ``seq``,
    in id order."""
    wanted = set(v for v in values if v is not None)
    if not wanted:
        return []
    table = engine.tables[object_name]
    columns = [table.c[f] for f in engine.registry.get(object_name).fields]  # what an event's record holds
    found: dict[str, dict[str, Any]] = {}
    async with engine.sql_engine.connect() as conn:
        if engine.dialect == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        now = await engine.outbox.current_seq(conn)
        for part in chunks(sorted(wanted, key=str)):
            stmt = select(*columns).where(table.c[field].in_(list(part)))
            for row in (await conn.execute(stmt)).mappings():
                found[row["id"]] = dict(row)
        undo = []
        after = seq
        while after < now:
            page = await engine.outbox.read(conn, after=after, object=object_name, limit=_PAGE)
            page = [e for e in page if e.seq <= now]
            if not page:
                break
            undo.extend(page)
            if len(undo) > MAX_UNDONE:
                raise Unavailable(f"too many changes of {object_name} since seq {seq} to read it as of then")
            after = page[-1].seq
    for event in reversed(undo):
        before = event.previous
        if before is not None and before.get(field) in wanted:
            found[event.id] = dict(before)
        else:
            found.pop(event.id, None)
    return [found[k] for k in sorted(found)]


__all__ = ["MAX_UNDONE", "records_at"]
