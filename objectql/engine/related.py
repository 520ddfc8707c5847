"""Related records read in batches: the records whose reference field holds one of many parent ids.

What ``expand`` and GraphQL's related lists read. Whatever the number of parents, one statement reads the
children of all of them (one per :data:`CHUNK` parents): a page per parent — its own ``sort``, ``skip`` and
``limit`` — is the rank of each row within its parent's rows, ``ROW_NUMBER() OVER (PARTITION BY <field>
ORDER BY ...)``, which SQLite and PostgreSQL both compute; counts are one ``GROUP BY <field>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, select

from objectql.engine.query import SortKey, order_by

# Parent ids per statement: far below what either database takes as bound parameters in one statement
# (SQLite 32,766, PostgreSQL 32,767).
CHUNK = 5000
# The rank of a row among its parent's rows; no field name starts with an underscore.
_RANK = "_objectql_rank"


def chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[start : start + CHUNK] for start in range(0, len(values), CHUNK)]


def children_statement(
    table: Table,
    columns: Sequence[str],
    where: ColumnElement[bool],
    field: str,
    values: Sequence[Any],
    keys: Sequence[SortKey],
    skip: int,
    limit: int | None,
    dialect: str,
) -> Select[Any]:
    """The rows (``columns``) matching ``where`` whose ``field`` is one of ``values``, grouped by ``field``
    and in ``keys`` order within each; ``skip`` and ``limit`` apply to each value's rows apart (``limit`` None:
    all of them)."""
    reference = table.c[field]
    ordering = order_by(keys, table, dialect)
    if limit is None and skip == 0:
        return select(*(table.c[c] for c in columns)).where(reference.in_(values), where).order_by(reference, *ordering)
    rank = func.row_number().over(partition_by=reference, order_by=ordering).label(_RANK)
    ranked = select(*(table.c[c] for c in columns), rank).where(reference.in_(values), where).subquery()
    stmt = select(*(ranked.c[c] for c in columns)).where(ranked.c[_RANK] > skip)
    if limit is not None:
        stmt = stmt.where(ranked.c[_RANK] <= skip + limit)
    return stmt.order_by(ranked.c[field], ranked.c[_RANK])


def counts_statement(table: Table, where: ColumnElement[bool], field: str, values: Sequence[Any]) -> Select[Any]:
    """How many rows matching ``where`` each of ``values`` has in ``field`` (values without any are absent)."""
    reference = table.c[field]
    return select(reference, func.count().label("n")).where(reference.in_(values), where).group_by(reference)


__all__ = ["CHUNK", "children_statement", "chunks", "counts_statement"]
