"""Live across relations: a related record's change, as the rows that carry its data see it.

A rows subscription whose records carry related data — a plain ``expand``, a GraphQL selection under
``customer_ref`` or a related list — depends on the objects that data comes from. Its renderer names those
:class:`Dependency` entries; the hub keeps a **dependency index** (object → the groups depending on it, and
how), so an event of an object nothing depends on costs one dict lookup more, and an event something depends
on is handed once to each dependent group, whatever its number of subscribers.

The group then asks which of its records carry the changed record's data *as of the event's seq*: the
records of its object that reference it (a parent: ``orders`` whose ``customer`` is the renamed customer), or
that it references (a related list: the ``customers`` whose nested ``orders`` gained, lost or changed a
row). That read (:meth:`RelatedReads.read`, the engine's ``records_at``: read now, the events since undone) is
shared by every group asking the same thing about the same event. Each record the group's view sees then
gets a change of action ``related``, effect ``modified``: the record as of that seq, its related data
rendered anew, ``changed`` naming the relations whose data changed — at the related event's seq. Replay
computes the same changes from the same events.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from objectql.engine.events import ChangeEvent
from objectql.engine.views import View

RELATED = "related"
# Reads shared between groups: the most recent ones are kept while groups may still ask for them.
SHARED_READS = 256

Read = Callable[[str, str, Sequence[Any], int], Awaitable[list[dict[str, Any]]]]


@dataclass(frozen=True)
class Dependency:
    """Records of a group's object carry data of ``object`` under the relation ``name``.

    ``many`` False — a parent: the group's records reference a record of ``object`` through their field
    ``field`` (``orders.customer`` → ``customers``). ``many`` True — a related list: records of ``object``
    reference the group's records through their own field ``field`` (``customers.orders``: ``orders.customer``).
    Any change of a carried record counts, whatever its fields: the reader's row rules on ``object`` may read
    any of them, and which records the reader may see is part of the carried data.
    """

    object: str
    field: str
    many: bool
    name: str

    def affected(self, event: ChangeEvent) -> tuple[str, tuple[Any, ...]] | None:
        """Which records of the group's object carry ``event``'s record: ``(field, values)`` to read, or None."""
        if self.many:
            parents = {s.get(self.field) for s in (event.previous, event.record) if s is not None} - {None}
            return ("id", tuple(sorted(parents, key=str))) if parents else None
        if event.action == "create":
            return None  # nothing referenced a record before it existed
        return (self.field, (event.id,))


class RelatedReads:
    """Reads of records as of a seq, shared by the groups asking the same thing about the same event."""

    def __init__(self, read: Read, spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Future[Any]]) -> None:
        self._read = read
        self._spawn = spawn
        self._reads: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()

    def read(self, object_name: str, field: str, values: tuple[Any, ...], seq: int) -> asyncio.Future[Any]:
        key = (seq, object_name, field, values)
        found = self._reads.get(key)
        if found is not None and not (found.done() and (found.cancelled() or found.exception() is not None)):
            self._reads.move_to_end(key)
            return found
        made = self._spawn(self._fetch(object_name, field, values, seq))
        self._reads[key] = made
        while len(self._reads) > SHARED_READS:
            self._reads.popitem(last=False)
        return made

    async def _fetch(self, object_name: str, field: str, values: tuple[Any, ...], seq: int) -> Any:
        return await self._read(object_name, field, values, seq)


def related_events(view: View, found: Iterable[tuple[dict[str, Any], str]], event: ChangeEvent) -> list[ChangeEvent]:
    """A ``related`` change for each record of ``found`` (a record as of ``event``'s seq, the relation whose
    data changed) that ``view`` sees, one per record, in id order."""
    names: dict[str, list[str]] = {}
    records: dict[str, dict[str, Any]] = {}
    for record, name in found:
        if not view.match(record):
            continue
        records[record["id"]] = record
        carried = names.setdefault(record["id"], [])
        if name not in carried:
            carried.append(name)
    return [
        ChangeEvent(
            event.seq,
            view.object,
            RELATED,
            rid,
            records[rid],
            records[rid],
            tuple(names[rid]),
            event.user_id,
            event.ts,
        )
        for rid in sorted(records)
    ]


async def related_changes(
    view: View, dependencies: Sequence[Dependency], event: ChangeEvent, read: Callable[..., Awaitable[Any]]
) -> list[ChangeEvent]:
    """The ``related`` changes ``event`` (of another object, or of the view's own through a relation) makes
    for ``view``; ``read(object, field, values, seq)`` gives records as of a seq."""
    found: list[tuple[dict[str, Any], str]] = []
    for dep in dependencies:
        if dep.object != event.object:
            continue
        where = dep.affected(event)
        if where is None:
            continue
        for record in await read(view.object, where[0], where[1], event.seq):
            found.append((record, dep.name))
    return related_events(view, found, event)


__all__ = ["RELATED", "Dependency", "RelatedReads", "related_changes", "related_events"]
