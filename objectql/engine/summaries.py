"""Summary fields: which parents a child write touches, and their summaries computed afresh.

A summary field (``type: summary``) of a parent holds count, sum, min, max or avg of a field of the child
records pointing at it, among those matching its filter. It is stored, and recomputed from the children —
never adjusted by a difference — in the transaction of every child write that can change it, so it is exact
whatever other writers do: on PostgreSQL the parents are locked (``FOR NO KEY UPDATE``) before the children
are aggregated, so a second writer of children of the same parent waits, then aggregates what the first
committed; on SQLite writers take turns anyway.

Values: count is an integer; sum, min and max have the summarised field's kind (currency sums are exact
decimals); avg is a float, or for currency an exact decimal rounded to the currency's 4 places, as
``aggregate()`` gives it. Over no children count and sum are 0; min, max and avg are null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from objectql.engine.aggregates import AggregateSpec, aggregate_rows
from objectql.engine.filters.ast import Criterion, Node, Op, conjoin
from objectql.engine.filters.matcher import compile_matcher
from objectql.engine.filters.parse import parse_filter
from objectql.engine.statements import Record, chunks
from objectql.errors import DefinitionError, InvalidFilter
from objectql.metadata.model import FieldDef, Kind, ObjectDef, SummaryType
from objectql.metadata.registry import Registry


@dataclass(frozen=True)
class CompiledSummary:
    """One summary field, ready to maintain: ``parent.field`` summarises ``child`` through ``reference``."""

    parent: str
    field: str
    child: str
    reference: str
    type: SummaryType
    summarised: str | None
    kind: Kind
    where: Node
    matches: Callable[[Record], bool]

    @property
    def group(self) -> tuple[str, str, str, str]:
        """Summaries sharing a group are computed by one query: same child rows, same filter (by its text: a
        filter's values may be lists, which do not hash)."""
        return (self.parent, self.child, self.reference, repr(self.where))

    def parents(self, before: Record | None, after: Record | None) -> set[str]:
        """The parents whose value a child going from ``before`` to ``after`` (None: absent) may change."""
        was = before is not None and before.get(self.reference) is not None and self.matches(before)
        now = after is not None and after.get(self.reference) is not None and self.matches(after)
        out: set[str] = set()
        moved = before is not None and after is not None and before.get(self.reference) != after.get(self.reference)
        if was != now or moved:
            if was:
                out.add(before[self.reference])  # type: ignore[index]
            if now:
                out.add(after[self.reference])  # type: ignore[index]
        elif was and now and self.summarised is not None:
            assert before is not None and after is not None
            if before.get(self.summarised) != after.get(self.summarised):
                out.add(after[self.reference])
        return out


def compile_summaries(registry: Registry) -> dict[str, list[CompiledSummary]]:
    """Every summary field by the child object it summarises; a filter that is not a valid filter on the
    child is a :class:`DefinitionError` naming the parent's file and the field's ``filters`` key."""
    out: dict[str, list[CompiledSummary]] = {obj.name: [] for obj in registry}
    for obj in registry:
        for parent_name, fdef in registry.summaries_over(obj.name):
            out[obj.name].append(_compile(registry.get(parent_name), obj, fdef))
    return out


def _compile(parent: ObjectDef, child: ObjectDef, fdef: FieldDef) -> CompiledSummary:
    summary = fdef.summary
    assert summary is not None and summary.reference is not None
    try:
        where = parse_filter(summary.filters, child)
    except InvalidFilter as exc:
        at = f" at {exc.path}" if exc.path else ""
        raise DefinitionError(
            parent.file, f"fields.{fdef.name}.filters", f"a filter on {child.name} ({exc.reason}{at})"
        ) from None
    return CompiledSummary(
        parent=parent.name,
        field=fdef.name,
        child=child.name,
        reference=summary.reference,
        type=summary.type,
        summarised=summary.field,
        kind=fdef.kind,
        where=where,
        matches=compile_matcher(where),
    )


def empty_value(kind: Kind, stype: SummaryType) -> Any:
    """A summary's value over no children."""
    if stype is SummaryType.COUNT:
        return 0
    if stype is SummaryType.SUM:
        return Decimal(0) if kind is Kind.DECIMAL else 0.0 if kind is Kind.FLOAT else 0
    return None


def initial_values(obj: ObjectDef) -> Record:
    """The summary fields of a new record (it has no children yet)."""
    return {f.name: empty_value(f.kind, f.summary.type) for f in obj.declared.values() if f.summary is not None}


async def lock_parents(conn: AsyncConnection, table: Table, obj: ObjectDef, ids: set[str]) -> dict[str, Record]:
    """The current rows of the parents ``ids`` still there, locked against other summary writers on
    PostgreSQL (``FOR NO KEY UPDATE``: a child's lookup check holds ``FOR KEY SHARE``, which this does not
    wait for)."""
    out: dict[str, Record] = {}
    for chunk in chunks(sorted(ids)):
        stmt = select(*(table.c[f] for f in obj.fields)).where(table.c.id.in_(chunk)).order_by(table.c.id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(key_share=True)
        for row in (await conn.execute(stmt)).mappings():
            out[row["id"]] = dict(row)
    return out


async def compute(
    conn: AsyncConnection,
    child_table: Table,
    child: ObjectDef,
    summaries: Iterable[CompiledSummary],
    ids: list[str],
) -> dict[str, Record]:
    """The values of ``summaries`` (one group: same child, reference and filter) for the parents ``ids``,
    by one aggregate query per chunk of parents."""
    group = list(summaries)
    first = group[0]
    by_type: dict[SummaryType, tuple[str, ...]] = {}
    for s in group:
        if s.summarised is not None:
            by_type[s.type] = (*by_type.get(s.type, ()), s.summarised)
    aggregated = {s.summarised for s in group if s.summarised is not None}
    spec = AggregateSpec(
        count=any(s.type is SummaryType.COUNT for s in group),
        sum=tuple(dict.fromkeys(by_type.get(SummaryType.SUM, ()))),
        avg=tuple(dict.fromkeys(by_type.get(SummaryType.AVG, ()))),
        min=tuple(dict.fromkeys(by_type.get(SummaryType.MIN, ()))),
        max=tuple(dict.fromkeys(by_type.get(SummaryType.MAX, ()))),
        group_by=(first.reference,),
        exact=frozenset(f for f in aggregated if child.fields[f].kind is Kind.DECIMAL),
        floats=frozenset(f for f in aggregated if child.fields[f].kind is Kind.FLOAT),
    )
    values: dict[str, Record] = {pid: {s.field: empty_value(s.kind, s.type) for s in group} for pid in ids}
    dialect = conn.dialect.name
    for chunk in chunks(ids):
        where = conjoin(Criterion(first.reference, Op.IN, tuple(chunk)), first.where)
        rows = await aggregate_rows(conn, child_table, child, dialect, where, spec, max_groups=len(chunk))
        for row in rows:
            pid = row["key"][first.reference]
            for s in group:
                values[pid][s.field] = _value_of(s, row)
    return values


def _value_of(s: CompiledSummary, row: dict[str, Any]) -> Any:
    if s.type is SummaryType.COUNT:
        return int(row["count"])
    assert s.summarised is not None
    value = row[s.type.value][s.summarised]
    if value is None:
        return empty_value(s.kind, s.type)
    if s.kind is Kind.FLOAT:
        return float(value)
    return value


async def fill_added(
    conn: AsyncConnection,
    registry: Registry,
    tables: dict[str, Table],
    compiled: dict[str, list[CompiledSummary]],
    added: set[str],
) -> list[str]:
    """Fill the summary columns the schema sync just added (``added``: ``"<object>.<field>"``) from the
    children already there, a summary of a summary after the one it summarises. No events: like the column,
    the values are part of the schema change."""
    pending = [s for group in compiled.values() for s in group if f"{s.parent}.{s.field}" in added]
    done: list[str] = []
    while pending:
        waiting = {(s.parent, s.field) for s in pending}
        ready = [s for s in pending if (s.child, s.summarised) not in waiting]
        if not ready:  # a circle: the registry refuses them
            break
        for s in ready:
            parent = tables[s.parent]
            ids = list((await conn.execute(select(parent.c.id).order_by(parent.c.id))).scalars())
            if ids:
                values = await compute(conn, tables[s.child], registry.get(s.child), [s], ids)
                value = bindparam("_objectql_value", type_=parent.c[s.field].type)
                stmt = update(parent).where(parent.c.id == bindparam("_objectql_id")).values({s.field: value})
                rows = [{"_objectql_id": pid, "_objectql_value": row[s.field]} for pid, row in values.items()]
                await conn.execute(stmt, rows)
            done.append(f"fill summary {s.parent}.{s.field} ({len(ids)} records)")
        pending = [s for s in pending if s not in ready]
    return done
