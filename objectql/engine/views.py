"""Views: what one subscriber may see of one object — the engine's answer for every realtime transport.

A :class:`View` fixes a subscription's filter, the user's row rules (bound to the user), the optional record
id and the projected fields (requested ∩ readable, ``id`` always). Two subscribers with equal views see
exactly the same events with exactly the same payloads, so the realtime hub evaluates and serialises
once per view. The combined filter tree is kept so the hub can index equality criteria.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from objectql.engine.aggregates import AggregateSpec, aggregate_rows, parse_aggregate
from objectql.engine.filters.ast import FALSE, And, Criterion, Node, Op, conjoin, has_relations
from objectql.engine.filters.matcher import FieldValues, compile_matcher
from objectql.engine.filters.parse import forbid_unreadable, parse_filter
from objectql.engine.filters.sql import compile_sql, text_order_key
from objectql.engine.ids import is_id, no_such_id
from objectql.engine.permissions import reader_links
from objectql.engine.query import parse_fields
from objectql.engine.user import User
from objectql.engine.windows import WindowSpec, parse_window, window_rows
from objectql.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from objectql.engine.core import ObjectQL

SNAPSHOT_LIMIT = 1000


@dataclass(frozen=True)
class View:
    object: str
    node: Node
    fields: tuple[str, ...]
    record_id: str | None = None
    match: Callable[[FieldValues], bool] = field(compare=False, hash=False, repr=False, default=lambda r: False)

    @property
    def key(self) -> tuple[str, Node, tuple[str, ...]]:
        """Equal keys see equal events with equal payloads (the row rules are bound into ``node``)."""
        return (self.object, self.node, self.fields)

    def equality(self) -> tuple[str, tuple[Any, ...]] | None:
        """A field and the values a record must have there to be visible, if the filter pins one."""
        if isinstance(self.node, Criterion):
            candidates: list[Node] = [self.node]
        elif isinstance(self.node, And):
            candidates = list(self.node.items)
        else:
            return None
        best: tuple[str, tuple[Any, ...]] | None = None
        for c in candidates:
            if not isinstance(c, Criterion) or c.op not in (Op.EQ, Op.IN):
                continue
            pinned = (c.field, (c.value,) if c.op is Op.EQ else tuple(c.value))
            if c.field == "id":
                return pinned
            if best is None or len(pinned[1]) < len(best[1]):
                best = pinned
        return best


def build_view(
    engine: ObjectQL,
    object_name: str,
    user: User | None,
    *,
    filters: Any = None,
    fields: Any = None,
    record_id: str | None = None,
    live: bool = True,
) -> View:
    """Check a subscription request as ``user`` and compile it; raises the engine's errors.

    A filter or row scope through a path or a related list is live: the realtime core follows the related
    records' changes (realtime/related.py); such a view is matched against them, never alone (its ``match``
    raises). ``live=False`` checks a one-shot read (a record's visibility).
    """
    obj = engine.registry.get(object_name)
    policy = engine.policies[object_name]
    policy.require("read", user)
    guard = None
    if user is not None and policy.hides_fields():
        guard = forbid_unreadable(lambda f: policy.can_read_field(f, user))
    node = parse_filter(filters, obj, guard=guard, links=reader_links(engine.registry, engine.policies, user))
    projection = parse_fields(fields, obj, guard)
    readable = policy.readable_fields(user)
    chosen = projection if projection is not None else readable
    chosen = tuple(f for f in chosen if f in readable)
    id_node = None
    if record_id is not None:
        if not isinstance(record_id, str):
            raise InvalidRequest("record_id", "a string")
        if not is_id(record_id):
            raise no_such_id(object_name)
        id_node = Criterion("id", Op.EQ, record_id)
    combined = conjoin(id_node, node, policy.row_filter(user))
    if not live:
        return View(object_name, combined, chosen, record_id)
    if has_relations(combined):
        return View(object_name, combined, chosen, record_id, _needs_graph)
    return View(object_name, combined, chosen, record_id, compile_matcher(combined))


def _needs_graph(record: FieldValues) -> bool:
    raise TypeError("a view through relations is matched against the related records (realtime/related.py)")


async def require_visible(engine: ObjectQL, view: View) -> None:
    """NotFound unless the view's record exists and is visible (record subscriptions)."""
    if view.record_id is None:
        return
    table = engine.tables[view.object]
    where = conjoin(Criterion("id", Op.EQ, view.record_id), view.node)
    found = None
    if where != FALSE:
        async with engine.sql_engine.connect() as conn:
            stmt = select(table.c.id).where(compile_sql(where, table, engine.dialect))
            found = (await conn.execute(stmt)).scalar()
    if found is None:
        raise NotFound(f"{view.object} {view.record_id!r} not found", details={"id": view.record_id})


async def snapshot(engine: ObjectQL, view: View, limit: int = SNAPSHOT_LIMIT) -> tuple[int, list[dict[str, Any]]]:
    """The view's records (id order, at most ``limit``) and the seq they are consistent with."""
    table = engine.tables[view.object]
    async with engine.sql_engine.connect() as conn:
        if engine.dialect == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        # One read transaction: the counter and the rows come from the same database snapshot.
        seq = await engine.outbox.current_seq(conn)
        if view.node == FALSE:
            return seq, []
        stmt = (
            select(*(table.c[f] for f in view.fields))
            .where(compile_sql(view.node, table, engine.dialect))
            .order_by(text_order_key(table.c.id, engine.dialect))
            .limit(limit)
        )
        rows = (await conn.execute(stmt)).mappings().all()
    return seq, [dict(r) for r in rows]


def build_aggregate_view(
    engine: ObjectQL,
    object_name: str,
    user: User | None,
    *,
    filters: Any = None,
    aggregate: Any = None,
    group_by: Any = None,
) -> tuple[View, AggregateSpec]:
    """Check a live aggregate as ``user`` (as :meth:`Repository.aggregate` does) and compile its view: the rows
    it counts are the filter's, within the user's row rules."""
    if not isinstance(aggregate, dict):
        raise InvalidRequest("aggregate", "an object: {count?, sum?, avg?, min?, max?}")
    unknown = set(aggregate) - {"count", "sum", "avg", "min", "max"}
    if unknown:
        raise InvalidRequest("aggregate", f"unknown key {sorted(unknown)[0]!r} (count, sum, avg, min, max)")
    # The object, read, the filter (through relations too: the live aggregate reads itself again on their changes).
    view = build_view(engine, object_name, user, filters=filters, fields=["id"])
    policy = engine.policies[object_name]
    spec = parse_aggregate(
        engine.registry.get(object_name),
        lambda f: policy.can_read_field(f, user),
        count=aggregate.get("count", False),
        sum=aggregate.get("sum"),
        avg=aggregate.get("avg"),
        min=aggregate.get("min"),
        max=aggregate.get("max"),
        group_by=group_by,
    )
    return view, spec


async def aggregate_snapshot(engine: ObjectQL, view: View, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
    """The aggregate of the view's rows and the seq it is consistent with (one read transaction)."""
    table = engine.tables[view.object]
    async with engine.sql_engine.connect() as conn:
        if engine.dialect == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        seq = await engine.outbox.current_seq(conn)
        obj = engine.registry.get(view.object)
        groups = await aggregate_rows(conn, table, obj, engine.dialect, view.node, spec, engine.max_groups)
    return seq, groups


def build_window_view(
    engine: ObjectQL,
    object_name: str,
    user: User | None,
    *,
    filters: Any = None,
    fields: Any = None,
    sort: Any = None,
    limit: Any = None,
) -> tuple[View, WindowSpec]:
    """Check a live window as ``user`` and compile it: the view of its rows (filter, row rules, projected
    fields) and its sort and limit; every sort field must be readable."""
    view = build_view(engine, object_name, user, filters=filters, fields=fields)
    policy = engine.policies[object_name]
    spec = parse_window(
        engine.registry.get(object_name), lambda f: policy.can_read_field(f, user), sort=sort, limit=limit
    )
    return view, spec


async def window_snapshot(
    engine: ObjectQL, view: View, spec: WindowSpec, count: int
) -> tuple[int, list[dict[str, Any]]]:
    """The first ``count`` rows of the view in the window's order — the view's fields and the sort fields —
    and the seq they are consistent with (one read transaction)."""
    table = engine.tables[view.object]
    fields = tuple(dict.fromkeys((*view.fields, *spec.fields)))
    async with engine.sql_engine.connect() as conn:
        if engine.dialect == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        seq = await engine.outbox.current_seq(conn)
        rows = await window_rows(conn, table, engine.dialect, view.node, spec, fields, count)
    return seq, rows
