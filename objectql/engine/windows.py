"""Windows: the first ``limit`` rows of ``find(filters, sort, limit)``, as a live window keeps them.

:func:`parse_window` checks a window's sort and limit against the object and the user (every sort field
readable, ``FORBIDDEN`` naming it otherwise) and gives a :class:`WindowSpec`. :func:`row_key` orders rows in
Python exactly as :func:`objectql.engine.query.order_by` orders them in SQL — each sort field in its
direction with nulls last either way, text by code point, ties broken by ``id`` ascending — so a window kept
from change events and one read from the database agree on every position. :func:`window_rows` reads the
first rows in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import total_ordering
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from objectql.engine.filters.ast import FALSE, Node
from objectql.engine.filters.parse import forbid_unreadable
from objectql.engine.filters.sql import compile_sql
from objectql.engine.query import MAX_LIMIT, SortKey, order_by, parse_sort
from objectql.errors import InvalidRequest
from objectql.metadata.model import ObjectDef


@dataclass(frozen=True)
class WindowSpec:
    keys: tuple[SortKey, ...]
    limit: int

    @property
    def key(self) -> tuple[Any, ...]:
        return (tuple((k.field, k.descending) for k in self.keys), self.limit)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(k.field for k in self.keys)


def parse_window(obj: ObjectDef, readable: Callable[[str], bool], *, sort: Any, limit: Any) -> WindowSpec:
    """A window's sort (the find form; empty: by id) and limit (required, 1 to 1000)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest("limit", f"a whole number from 1 to {MAX_LIMIT} (the window's size)")
    for i, item in enumerate(sort if isinstance(sort, list | tuple) else ()):
        field = item.get("field") if isinstance(item, dict) else item[0] if isinstance(item, list | tuple) else item
        if isinstance(field, str) and "." in field:
            # The realtime core cannot yet re-rank a row when the related record it sorts by changes.
            raise InvalidRequest(
                f"sort[{i}]",
                "live subscriptions through relations (here: a sort by a related record's field) are not supported "
                "yet; a one-shot query supports them",
            )
    keys = parse_sort(sort, obj, forbid_unreadable(readable))
    return WindowSpec(tuple(keys), limit)


@total_ordering
class _Descending:
    """A value that sorts the other way round."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: _Descending) -> bool:
        return bool(other.value < self.value)

    def __hash__(self) -> int:
        return hash(self.value)


RowKey = tuple[Any, ...]


def row_key(keys: Sequence[SortKey], row: Mapping[str, Any]) -> RowKey:
    """Where ``row`` goes in the window's order (a total order: ``id`` last)."""
    parts: list[Any] = []
    for key in keys:
        value = row.get(key.field)
        if value is None:
            parts.append((1, 0))  # nulls last in both directions
        else:
            parts.append((0, _Descending(value) if key.descending else value))
    parts.append(row["id"])
    return tuple(parts)


async def window_rows(
    conn: AsyncConnection,
    table: Table,
    dialect: str,
    where: Node,
    spec: WindowSpec,
    fields: Sequence[str],
    count: int,
) -> list[dict[str, Any]]:
    """The first ``count`` rows matching ``where`` in the window's order, with ``fields``."""
    if where == FALSE:
        return []
    stmt = (
        select(*(table.c[f] for f in fields))
        .where(compile_sql(where, table, dialect))
        .order_by(*order_by(spec.keys, table, dialect))
        .limit(count)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


__all__ = ["RowKey", "WindowSpec", "parse_window", "row_key", "window_rows"]
