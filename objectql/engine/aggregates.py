"""Aggregates: count, sum, avg, min and max over the rows a user may see, optionally per group.

:func:`parse_aggregate` checks a request against the object and the user — every aggregated or grouped field
exists, may be read by the user (``FORBIDDEN`` with the field, as for filters), and suits the function
(``sum`` / ``avg`` take numbers; ``min`` / ``max`` numbers, dates and date-times) — and gives an
:class:`AggregateSpec`. :func:`aggregate_rows` runs it as one SQL query. The result is a list of groups,
ordered by their key (code-point order, nulls last), each ``{"key": {field: value}, "count": n, "sum":
{...}, "avg": {...}, "min": {...}, "max": {...}}`` with the parts asked for. Without ``group_by`` there is
one group with the key ``{}``, also over no rows (count 0, the others null); with it, a group per distinct
key among the rows.

Currency is stored as scaled integers, so its sums are exact in SQL on both databases; its averages are
exact decimals rounded to the currency's 4 places. Sums and averages of integers and floats are exact totals
rounded once (:mod:`objectql.engine.totals`): they do not depend on the order of the rows, and a float sum
too large for a float is ``None``. More than ``max_groups`` groups is ``TOO_MANY_GROUPS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from objectql.engine import totals
from objectql.engine.filters.ast import FALSE, Node
from objectql.engine.filters.sql import compile_sql, text_order_key
from objectql.engine.user import User
from objectql.engine.values import CURRENCY_QUANTUM, tidy_decimal
from objectql.errors import Forbidden, InvalidRequest, TooManyGroups
from objectql.metadata.model import Kind, ObjectDef

FUNCTIONS = ("sum", "avg", "min", "max")
# ``counts``: the number of non-null values per field — what a running average needs (live aggregates).
PARTS = (*FUNCTIONS, "counts")
NUMERIC = frozenset({Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL})
ORDERED = NUMERIC | {Kind.DATE, Kind.DATETIME}
GROUPABLE = frozenset(Kind) - {Kind.JSON}
MAX_GROUPS = 1000


@dataclass(frozen=True)
class AggregateSpec:
    count: bool = False
    sum: tuple[str, ...] = ()
    avg: tuple[str, ...] = ()
    min: tuple[str, ...] = ()
    max: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()
    counts: tuple[str, ...] = ()
    # The currency fields among those aggregated: their sums and averages are exact decimals.
    exact: frozenset[str] = frozenset()
    # The float fields among those aggregated (the others are integers).
    floats: frozenset[str] = frozenset()
    # Sums as exact totals (integers; floats in units of 2**-1074) rather than as users see them: what a
    # state kept from change events starts from.
    raw: bool = False

    def fields(self, function: str) -> tuple[str, ...]:
        result: tuple[str, ...] = getattr(self, function)
        return result

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.count, self.sum, self.avg, self.min, self.max, self.group_by, self.counts)


def _names(raw: Any, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not all(isinstance(n, str) for n in raw):
        raise InvalidRequest(path, "a list of field names")
    return tuple(dict.fromkeys(raw))


def parse_aggregate(
    obj: ObjectDef,
    can_read: Any,
    *,
    count: Any = False,
    sum: Any = None,
    avg: Any = None,
    min: Any = None,
    max: Any = None,
    group_by: Any = None,
) -> AggregateSpec:
    """The checked request; ``can_read(field)`` says whether the user may read a field."""
    if not isinstance(count, bool):
        raise InvalidRequest("count", "true or false")
    parts = {"sum": sum, "avg": avg, "min": min, "max": max, "group_by": group_by}
    checked: dict[str, tuple[str, ...]] = {}
    for part, raw in parts.items():
        names = _names(raw, part)
        allowed = {"sum": NUMERIC, "avg": NUMERIC, "min": ORDERED, "max": ORDERED, "group_by": GROUPABLE}[part]
        for i, name in enumerate(names):
            fdef = obj.fields.get(name)
            if fdef is None:
                raise InvalidRequest(f"{part}[{i}]", f"unknown field {name!r} on {obj.name}", details={"field": name})
            if not can_read(name):
                raise Forbidden(f"field {name!r} is not readable", details={"field": name, "path": f"{part}[{i}]"})
            if fdef.kind not in allowed or fdef.multiple:
                what = "a number" if allowed is NUMERIC else "a number or a date" if part != "group_by" else "not json"
                raise InvalidRequest(
                    f"{part}[{i}]",
                    f"{part} takes fields that are {what}; {name!r} is {fdef.type.value}",
                    details={"field": name},
                )
        checked[part] = names
    aggregated = {n for part in FUNCTIONS for n in checked[part]}
    exact = frozenset(n for n in aggregated if obj.fields[n].kind is Kind.DECIMAL)
    floats = frozenset(n for n in aggregated if obj.fields[n].kind is Kind.FLOAT)
    spec = AggregateSpec(
        count=count,
        sum=checked["sum"],
        avg=checked["avg"],
        min=checked["min"],
        max=checked["max"],
        group_by=checked["group_by"],
        exact=exact,
        floats=floats,
    )
    if not spec.count and not any(spec.fields(f) for f in FUNCTIONS):
        raise InvalidRequest("aggregate", "ask for count or at least one of sum, avg, min, max")
    return spec


def _label(function: str, field: str) -> str:
    return f"{function}__{field}"


async def aggregate_rows(
    conn: AsyncConnection,
    table: Table,
    obj: ObjectDef,
    dialect: str,
    where: Node,
    spec: AggregateSpec,
    max_groups: int = MAX_GROUPS,
) -> list[dict[str, Any]]:
    """Run ``spec`` over the rows matching ``where`` (row rules included by the caller); more than
    ``max_groups`` groups is :class:`TooManyGroups`."""
    if where == FALSE:
        return [empty_group(spec)] if not spec.group_by else []
    try:
        rows = (await conn.execute(_statement(table, obj, dialect, where, spec, max_groups, wide=False))).all()
    except OperationalError as exc:
        if "integer overflow" not in str(exc.orig):
            raise
        # An integer sum past 64 bits (SQLite's own sum stops there): again, summed exactly.
        rows = (await conn.execute(_statement(table, obj, dialect, where, spec, max_groups, wide=True))).all()
    if len(rows) > max_groups:
        raise too_many_groups(max_groups)
    return [_group(obj, spec, dialect, row._mapping) for row in rows]


def _statement(
    table: Table, obj: ObjectDef, dialect: str, where: Node, spec: AggregateSpec, max_groups: int, *, wide: bool
) -> Select[Any]:
    columns: list[ColumnElement[Any]] = [table.c[f].label(_label("key", f)) for f in spec.group_by]
    columns.append(func.count().label("count"))
    for function in PARTS:
        for field in spec.fields(function):
            column = table.c[field]
            total: ColumnElement[Any] = func.sum(column)  # currency: scaled integers, exact in SQL
            if field not in spec.exact and function in ("sum", "avg"):
                total = totals.exact_sum_sql(column, dialect, is_float=field in spec.floats, wide=wide)
            if function == "counts":
                columns.append(func.count(column).label(_label("counts", field)))
            elif function == "avg":
                # avg = sum / count of non-null values, computed here so every total stays exact.
                columns.append(total.label(_label("avgsum", field)))
                columns.append(func.count(column).label(_label("avgcount", field)))
            elif function == "sum":
                columns.append(total.label(_label("sum", field)))
            else:
                columns.append(getattr(func, function)(column).label(_label(function, field)))
    stmt = select(*columns).select_from(table).where(compile_sql(where, table, dialect))
    if spec.group_by:
        keys = [table.c[f] for f in spec.group_by]
        stmt = stmt.group_by(*keys).order_by(*(_key_order(table, obj, f, dialect) for f in spec.group_by))
        stmt = stmt.limit(max_groups + 1)
    return stmt


def too_many_groups(max_groups: int) -> TooManyGroups:
    return TooManyGroups(
        f"more than {max_groups} groups; group by fewer values or filter the rows", details={"limit": max_groups}
    )


def _key_order(table: Table, obj: ObjectDef, field: str, dialect: str) -> Any:
    column: Any = table.c[field]
    if obj.fields[field].is_text:
        column = text_order_key(column, dialect)
    return column.asc().nulls_last()


def empty_group(spec: AggregateSpec) -> dict[str, Any]:
    """The one group of an aggregate without ``group_by`` over no rows."""
    group: dict[str, Any] = {"key": {}}
    if spec.count:
        group["count"] = 0
    for function in FUNCTIONS:
        if spec.fields(function):
            group[function] = dict.fromkeys(spec.fields(function))
    if spec.counts:
        group["counts"] = dict.fromkeys(spec.counts, 0)
    return group


def _group(obj: ObjectDef, spec: AggregateSpec, dialect: str, row: Any) -> dict[str, Any]:
    group: dict[str, Any] = {"key": {f: _value(obj, f, row[_label("key", f)]) for f in spec.group_by}}
    if spec.count:
        group["count"] = int(row["count"])
    if spec.counts:
        group["counts"] = {f: int(row[_label("counts", f)]) for f in spec.counts}
    for function in FUNCTIONS:
        fields = spec.fields(function)
        if not fields:
            continue
        if function == "avg":
            group["avg"] = {
                f: _mean(spec, dialect, f, row[_label("avgsum", f)], row[_label("avgcount", f)]) for f in fields
            }
        elif function == "sum":
            group["sum"] = {f: _sum(obj, spec, dialect, f, row[_label("sum", f)]) for f in fields}
        else:
            group[function] = {f: _value(obj, f, row[_label(function, f)]) for f in fields}
    return group


def _value(obj: ObjectDef, field: str, raw: Any) -> Any:
    """A SQL aggregate's value in the field's Python type (sum, min and max of a currency column come back
    through its column type: already exact decimals)."""
    if raw is None:
        return None
    kind = obj.fields[field].kind
    if kind is Kind.DECIMAL:
        return tidy_decimal(Decimal(raw))
    if kind is Kind.INTEGER:
        return int(raw)
    if kind is Kind.FLOAT:
        return float(raw)
    return raw


def _sum(obj: ObjectDef, spec: AggregateSpec, dialect: str, field: str, raw: Any) -> Any:
    if field in spec.exact:
        return _value(obj, field, raw)
    is_float = field in spec.floats
    total = totals.parse_total(raw, is_float=is_float, dialect=dialect)
    return total if spec.raw or total is None else user_total(spec, field, total)


def _mean(spec: AggregateSpec, dialect: str, field: str, raw: Any, count: Any) -> Any:
    if field in spec.exact:
        return mean(raw, count, True)
    return mean(
        totals.parse_total(raw, is_float=field in spec.floats, dialect=dialect), count, False, field in spec.floats
    )


def user_total(spec: AggregateSpec, field: str, total: int) -> Any:
    """An exact total of a non-currency field as users see it: an int, or the nearest float (None when no float
    holds it)."""
    return totals.nearest(total, is_float=True) if field in spec.floats else total


def mean(total: Any, count: Any, exact: bool, is_float: bool = False) -> Any:
    """The mean of ``count`` non-null values summing to ``total``: exact (currency) rounds to 4 places, other
    totals (exact integers, floats in units of 2**-1074) give the nearest float."""
    if not count or total is None:
        return None
    if exact:
        quotient = Decimal(total) / Decimal(int(count))
        return tidy_decimal(quotient.quantize(CURRENCY_QUANTUM, rounding=ROUND_HALF_EVEN))
    return totals.nearest(total, int(count), is_float=is_float)


def readable_check(policy: Any, user: User | None) -> Any:
    return lambda field: policy.can_read_field(field, user)


def group_sort_key(spec: AggregateSpec, group: dict[str, Any]) -> tuple[Any, ...]:
    """The order of groups: by key values, nulls last (as the SQL query orders them)."""
    return tuple(
        (group["key"][f] is None, group["key"][f] if group["key"][f] is not None else 0) for f in spec.group_by
    )


def sorted_groups(spec: AggregateSpec, groups: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(groups, key=lambda g: group_sort_key(spec, g))


__all__ = [
    "AggregateSpec",
    "aggregate_rows",
    "empty_group",
    "group_sort_key",
    "mean",
    "parse_aggregate",
    "readable_check",
    "sorted_groups",
    "too_many_groups",
    "user_total",
]
