"""Filter AST → SQLAlchemy boolean expression, with the exact semantics of the in-memory matcher.

- Three-valued logic is SQL's own: every construct below yields NULL when its field is NULL.
- Text ordering compares code points: SQLite's BINARY collation already does; PostgreSQL is told
  ``COLLATE "C"`` (byte order of UTF-8 = code-point order) whatever the database's collation.
- Pattern operators compare ``str.lower()`` of both sides: the record side is a shadow column written
  by the engine with Python's ``str.lower()``, the value side is lowered here, and matching uses
  position/substring functions, so ``%`` and ``_`` are plain characters.
- A path hop is a correlated scalar subquery: the parent's column where the parent's id is the reference
  and the parent is within the hop's ``visible`` filter — NULL when there is no such parent, exactly the matcher's
  "every field null". A related list is an EXISTS over the children (never NULL: ``any`` / ``none`` are
  two-valued). Every hop reads a fresh alias, so a path may come back to an object it started from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, FromClause, Table, and_, exists, false, func, literal, not_, or_, select, true

from objectql.engine.filters.ast import COMPARISONS, And, Const, Criterion, Node, Not, Op, Or, Related, Via
from objectql.engine.tables import lower_column_name

Hop = tuple[str, str, Node]
"""(reference field, target object, the target records the reader can see): one step of a path, as in :class:`Via`."""


def compile_sql(node: Node, table: Table, dialect: str) -> ColumnElement[bool]:
    return _Compiler(table, table, dialect).node(node)


def path_value(table: Table, dialect: str, hops: Sequence[Hop], field: str) -> ColumnElement[Any]:
    """The value at the end of a path, as sorted (null when any hop finds no visible parent)."""
    compiler = _Compiler(table, table, dialect)
    for ref, target, visible in hops:
        compiler = compiler.hop(ref, target, visible)
    return compiler.ordered(field)


def text_order_key(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """A text column as compared and sorted by code point on every dialect."""
    return column.collate("C") if dialect == "postgresql" else column


class _Compiler:
    """Compiles a filter on the rows of ``source`` (a table or an alias of ``base``); ``reach`` wraps a
    column of those rows into what the enclosing record sees (itself, or a path's subquery)."""

    def __init__(
        self,
        source: FromClause,
        base: Table,
        dialect: str,
        reach: Callable[[ColumnElement[Any]], ColumnElement[Any]] | None = None,
    ) -> None:
        self.source = source
        self.base = base
        self.dialect = dialect
        self.reach = reach

    def column(self, name: str) -> ColumnElement[Any]:
        col: ColumnElement[Any] = self.source.c[name]
        return col if self.reach is None else self.reach(col)

    def ordered(self, name: str) -> ColumnElement[Any]:
        """A column as compared and sorted: text by code point."""
        col = self.column(name)
        return text_order_key(col, self.dialect) if name in self.base.info.get("text_columns", ()) else col

    def table_of(self, name: str) -> Table:
        metadata = self.base.metadata
        return metadata.tables[name]

    def hop(self, ref: str, target: str, visible: Node) -> _Compiler:
        """A compiler of filters on the parent that reference ``ref`` reaches."""
        table = self.table_of(target)
        parent = table.alias()
        link = self.column(ref)
        shown = _Compiler(parent, table, self.dialect).node(visible)

        def reach(col: ColumnElement[Any]) -> ColumnElement[Any]:
            # Correlated to every enclosing query, however deep: only the hop's own alias is its FROM.
            return select(col).where(parent.c.id == link, shown).correlate_except(parent).scalar_subquery()

        return _Compiler(parent, table, self.dialect, reach)

    def node(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, Criterion):
            return self.criterion(node)
        if isinstance(node, Via):
            return self.hop(node.field, node.target, node.visible).node(node.item)
        if isinstance(node, Related):
            return self.related(node)
        if isinstance(node, And):
            return and_(*(self.node(i) for i in node.items))
        if isinstance(node, Or):
            return or_(*(self.node(i) for i in node.items))
        if isinstance(node, Not):
            return not_(self.node(node.item))
        assert isinstance(node, Const)
        return true() if node.value else false()

    def criterion(self, c: Criterion) -> ColumnElement[bool]:
        op, v = c.op, c.value
        if op is Op.IS_NULL:
            return self.column(c.field).is_(None)
        if op is Op.IS_NOT_NULL:
            return self.column(c.field).is_not(None)
        if op in (Op.CONTAINS, Op.NOTCONTAINS, Op.STARTSWITH, Op.ENDSWITH):
            return self.pattern(c)
        col = self.ordered(c.field)
        if op in COMPARISONS:
            return cast(ColumnElement[bool], COMPARISONS[op](col, v))
        if op is Op.IN:
            return col.in_(list(v))
        if op is Op.NIN:
            return col.not_in(list(v))
        assert op is Op.BETWEEN
        # Spelled out: BETWEEN with COLLATE bounds does not parse on PostgreSQL.
        return and_(col >= v[0], col <= v[1])

    def related(self, node: Related) -> ColumnElement[bool]:
        table = self.table_of(node.child)
        child = table.alias()
        on_child = _Compiler(child, table, self.dialect)
        found = exists(
            select(literal(1))
            .select_from(child)
            .where(child.c[node.field] == self.column("id"), on_child.node(node.visible), on_child.node(node.item))
            .correlate_except(child)
        )
        return not_(found) if node.none else found

    def pattern(self, c: Criterion) -> ColumnElement[bool]:
        lowered = self.column(lower_column_name(c.field))
        needle: str = c.value.lower()
        if c.op in (Op.CONTAINS, Op.NOTCONTAINS):
            if self.dialect == "postgresql":
                found = func.strpos(lowered, needle) > 0
            else:
                found = func.instr(lowered, needle) > 0
            return found if c.op is Op.CONTAINS else not_(found)
        n = len(needle)
        if c.op is Op.STARTSWITH:
            return func.substr(lowered, 1, n) == needle
        length = func.length(lowered)
        return and_(length >= n, func.substr(lowered, length - n + 1) == needle)
