"""Live across relations: what a related record's change means to the rows of a view.

A rows subscription depends on other objects in two ways. Its records may *carry* their data — a plain
``expand``, a GraphQL selection under ``customer_ref`` or a related list — and its view may *go through*
them — a path in its filter or in the user's row rules (``customer.region``), ``any`` / ``none`` over a
related list. Each way is a :class:`Route`: the object reached and the steps from the view's records to it.
The hub keeps a **dependency index** (object → the groups with a route to it), so an event of an object
nothing depends on costs one dict lookup more, and an event something depends on is handed once to each
dependent group, whatever its number of subscribers.

A group's :class:`RelatedRows` answers what such an event means, **as of the event's seq** S (the database may
be further on: every read is the engine's ``records_at``, read now with the events since undone). It walks
each route back from the changed record to the view's records that reach it, as of S-1 and as of S; judges
each of them against the view as of S-1 and as of S (a view through relations is matched against a graph
of the related records read as of that seq, :func:`load_graph`); and makes one change per record of action
``related``: ``added`` or ``removed`` when the record entered or left the view, ``modified`` when it stayed
and the data it carries changed; ``changed`` names the relations (the first step of each route) that led
to it. The same judgement applies to the view's own events when it goes through relations. Replay computes
the same changes from the same events. Reads are shared by the groups asking the same about one event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from objectql.engine.events import ChangeEvent
from objectql.engine.filters.ast import And, Node, Not, Or, Related, Via, has_relations
from objectql.engine.filters.matcher import compile_matcher
from objectql.engine.statements import Record
from objectql.engine.views import View

RELATED = "related"
# Reads shared between groups: the most recent ones are kept while groups may still ask for them, at most
# this many reads and this many records between them (the newest read is kept whatever its size).
SHARED_READS = 256
SHARED_RECORDS = 100_000

Read = Callable[[str, str, Sequence[Any], int], Awaitable[list[Record]]]
Render = Callable[[View, ChangeEvent], Awaitable[str | None]]


@dataclass(frozen=True)
class Step:
    """One hop from records of ``upper`` to the records one level further: ``many`` False — through
    ``upper``'s reference ``field`` (a parent); ``many`` True — to the records whose ``field`` holds
    ``upper``'s id (a related list)."""

    upper: str
    field: str
    many: bool


@dataclass(frozen=True)
class Route:
    """How records of the view's object reach records of ``object``: ``steps`` from the view's records down.
    ``carried``: the records carry the reached data (an expansion), so any change of it is a ``modified``;
    otherwise the view's filter reads it, so only a record entering or leaving counts. ``name`` is what
    ``changed`` calls it: the first step's relation."""

    object: str
    steps: tuple[Step, ...]
    name: str
    carried: bool


@dataclass(frozen=True)
class Carries:
    """A renderer's records carry data of ``target``: a parent through their reference ``field`` (``many``
    False, ``customer_ref``), or a related list of the ``target`` records whose ``field`` holds their id."""

    target: str
    field: str
    many: bool
    name: str

    def route(self, view_object: str) -> Route:
        return Route(self.target, (Step(view_object, self.field, self.many),), self.name, True)


def filter_routes(view_object: str, node: Node) -> tuple[Route, ...]:
    """The routes a filter goes through: one per ``Via`` or ``Related`` reached, however deep (``visible``
    filters too)."""
    out: list[Route] = []

    def walk(n: Node, obj: str, steps: tuple[Step, ...], name: str | None) -> None:
        if isinstance(n, Via | Related):
            if isinstance(n, Via):
                step, target, first = Step(obj, n.field, False), n.target, n.field
            else:
                step, target, first = Step(obj, n.field, True), n.child, n.name
            reached = (*steps, step)
            label = name if name is not None else first
            out.append(Route(target, reached, label, False))
            walk(n.item, target, reached, label)
            walk(n.visible, target, reached, label)
        elif isinstance(n, Not):
            walk(n.item, obj, steps, name)
        elif isinstance(n, And | Or):
            for item in n.items:
                walk(item, obj, steps, name)

    walk(node, view_object, (), None)
    return tuple(dict.fromkeys(out))


class MemoryGraph:
    """Related records read as of one seq, for the matcher (:class:`objectql.engine.filters.matcher.Graph`)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, Any], Record] = {}
        self._children: dict[tuple[str, str, Any], list[Record]] = {}

    def record(self, object: str, id: Any) -> Record | None:
        return self._records.get((object, id))

    def children(self, object: str, field: str, id: Any) -> list[Record]:
        return self._children.get((object, field, id), [])


async def load_graph(node: Node, records: list[Record], seq: int, read: Read) -> MemoryGraph:
    """The records ``node`` reaches from ``records``, as of ``seq``: one read per hop of the filter."""
    graph = MemoryGraph()

    async def load(n: Node, level: list[Record]) -> None:
        if not level:
            return
        if isinstance(n, Via):
            ids = tuple(sorted({r.get(n.field) for r in level} - {None}, key=str))
            found = await read(n.target, "id", ids, seq) if ids else []
            for record in found:
                graph._records[(n.target, record["id"])] = record
            await load(n.item, found)
            await load(n.visible, found)
        elif isinstance(n, Related):
            ids = tuple(sorted({r.get("id") for r in level} - {None}, key=str))
            found = await read(n.child, n.field, ids, seq) if ids else []
            for parent in ids:
                graph._children.setdefault((n.child, n.field, parent), [])
            for record in found:
                graph._children.setdefault((n.child, n.field, record.get(n.field)), []).append(record)
            await load(n.item, found)
            await load(n.visible, found)
        elif isinstance(n, Not):
            await load(n.item, level)
        elif isinstance(n, And | Or):
            for item in n.items:
                await load(item, level)

    await load(node, records)
    return graph


class RelatedReads:
    """Reads of records as of a seq, shared by the groups asking the same thing about the same event."""

    def __init__(self, read: Read, spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Future[Any]]) -> None:
        self._read = read
        self._spawn = spawn
        self._reads: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self.held = 0  # records in the kept reads

    def read(self, object_name: str, field: str, values: Sequence[Any], seq: int) -> asyncio.Future[Any]:
        key = (seq, object_name, field, tuple(values))
        found = self._reads.get(key)
        if found is not None and not (found.done() and (found.cancelled() or found.exception() is not None)):
            self._reads.move_to_end(key)
            return found
        made = self._spawn(self._fetch(object_name, field, values, seq))
        self._forget(key)
        self._reads[key] = made
        made.add_done_callback(lambda done: self._count(key, done))
        self._trim()
        return made

    def __len__(self) -> int:
        return len(self._reads)

    def _count(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        if self._reads.get(key) is not done or done.cancelled() or done.exception() is not None:
            return
        result = done.result()
        self._sizes[key] = len(result) if isinstance(result, list) else 0
        self.held += self._sizes[key]
        self._trim()

    def _trim(self) -> None:
        while len(self._reads) > SHARED_READS or (self.held > SHARED_RECORDS and len(self._reads) > 1):
            oldest = next(iter(self._reads))
            self._forget(oldest)

    def _forget(self, key: Hashable) -> None:
        self._reads.pop(key, None)
        self.held -= self._sizes.pop(key, 0)

    async def _fetch(self, object_name: str, field: str, values: Sequence[Any], seq: int) -> Any:
        return await self._read(object_name, field, values, seq)


def judged(view: View, verdicts: dict[int, bool]) -> View:
    """``view`` matching exactly the records judged (by identity): what a renderer sees of one change."""
    return dataclasses.replace(view, match=lambda record: verdicts.get(id(record), False))


class RelatedRows:
    """What related changes mean to the rows of one view: its routes, and how it judges a record."""

    def __init__(self, view: View, carries: Iterable[Carries]) -> None:
        self.view = view
        self.through = has_relations(view.node)
        carried = (c.route(view.object) for c in carries)
        self.routes = tuple(dict.fromkeys((*carried, *filter_routes(view.object, view.node))))
        # The objects it depends on: the hub's dependency index holds it under each.
        self.objects = frozenset(r.object for r in self.routes)

    async def matches(self, records: list[Record], seq: int, read: Read) -> list[bool]:
        """Whether each of ``records`` (as of ``seq``) is in the view as of ``seq``."""
        if not self.through:
            return [self.view.match(r) for r in records]
        graph = await load_graph(self.view.node, records, seq, read)
        match = compile_matcher(self.view.node, graph)
        return [match(r) for r in records]

    async def own(self, event: ChangeEvent, render: Render, read: Read) -> str | None:
        """A change of the view's own object, judged as of its seq (a view through relations)."""
        before = event.previous is not None and (await self.matches([event.previous], event.seq - 1, read))[0]
        after = event.record is not None and (await self.matches([event.record], event.seq, read))[0]
        view = judged(self.view, {id(event.previous): before, id(event.record): after})
        return await render(view, event)

    async def related(self, event: ChangeEvent, render: Render, read: Read) -> list[str]:
        """The ``related`` changes of the view's records that ``event`` (of an object it depends on) makes, in
        id order, rendered."""
        reached: dict[str, tuple[Record | None, Record | None]] = {}
        names: dict[str, list[str]] = {}
        carried: set[str] = set()
        for route in self.routes:
            if route.object != event.object:
                continue
            for seq in (event.seq - 1, event.seq):
                for record in await _walk_back(route, event, seq, read):
                    rid = record["id"]
                    if event.object == self.view.object and rid == event.id:
                        continue  # the record itself changed: its own change says so
                    before, after = reached.get(rid, (None, None))
                    reached[rid] = (record, after) if seq < event.seq else (before, record)
                    if route.name not in names.setdefault(rid, []):
                        names[rid].append(route.name)
                    if route.carried:
                        carried.add(rid)
        if not reached:
            return []
        ids = sorted(reached)
        # A record reached as of one seq but not the other was reached through a record that changed there
        # (only the event's object changed between the two seqs): read it as of the other too.
        olds = [reached[i][0] for i in ids]
        news = [reached[i][1] for i in ids]
        missing_old = [i for i, r in zip(ids, olds, strict=True) if r is None]
        missing_new = [i for i, r in zip(ids, news, strict=True) if r is None]
        if missing_old:
            found = {r["id"]: r for r in await read(self.view.object, "id", tuple(missing_old), event.seq - 1)}
            olds = [r if r is not None else found.get(i) for i, r in zip(ids, olds, strict=True)]
        if missing_new:
            found = {r["id"]: r for r in await read(self.view.object, "id", tuple(missing_new), event.seq)}
            news = [r if r is not None else found.get(i) for i, r in zip(ids, news, strict=True)]
        old_in = await self._judge(olds, event.seq - 1, read)
        new_in = await self._judge(news, event.seq, read)
        out: list[str] = []
        for rid, old, new, was, now in zip(ids, olds, news, old_in, new_in, strict=True):
            if not was and not now:
                continue
            if was and now and rid not in carried:
                continue  # it stays, and carries nothing that changed
            previous = dict(old) if old is not None else {"id": rid}
            record = dict(new) if new is not None else {"id": rid}
            change = ChangeEvent(
                event.seq, self.view.object, RELATED, rid, record, previous, tuple(names[rid]), event.user_id, event.ts
            )
            text = await render(judged(self.view, {id(previous): was, id(record): now}), change)
            if text is not None:
                out.append(text)
        return out

    async def _judge(self, records: list[Record | None], seq: int, read: Read) -> list[bool]:
        present = [r for r in records if r is not None]
        verdicts = iter(await self.matches(present, seq, read)) if present else iter(())
        return [next(verdicts) if r is not None else False for r in records]


async def _walk_back(route: Route, event: ChangeEvent, seq: int, read: Read) -> list[Record]:
    """The records of the view's object that reach ``event``'s record through ``route``, as of ``seq``."""
    if event.previous is None and not route.steps[-1].many:
        return []  # a record just created: nothing referenced it yet (a reference is checked when written)
    lower: list[Record] = [r for r in (event.previous, event.record) if r is not None]
    for step in reversed(route.steps):
        if step.many:
            ids = {r.get(step.field) for r in lower} - {None}
            lower = await read(step.upper, "id", tuple(sorted(ids, key=str)), seq) if ids else []
        else:
            ids = {r.get("id") for r in lower} - {None}
            lower = await read(step.upper, step.field, tuple(sorted(ids, key=str)), seq) if ids else []
        if not lower:
            return []
    return lower


__all__ = [
    "RELATED",
    "Carries",
    "MemoryGraph",
    "RelatedReads",
    "RelatedRows",
    "Route",
    "Step",
    "filter_routes",
    "judged",
    "load_graph",
]
