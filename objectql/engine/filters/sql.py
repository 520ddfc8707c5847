"""Filter AST → SQLAlchemy boolean expression, with the exact semantics of the in-memory matcher.

- Three-valued logic is SQL's own: every construct below yields NULL when its field is NULL.
- Text ordering compares code points: SQLite's BINARY collation already does; PostgreSQL is told
  ``COLLATE "C"`` (byte order of UTF-8 = code-point order) whatever the database's collation.
- Pattern operators compare ``str.lower()`` of both sides: the record side is a shadow column written
  by the engine with Python's ``str.lower()``, the value side is lowered here, and matching uses
  position/substring functions, so ``%`` and ``_`` are plain characters.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, false, func, not_, or_, true

from objectql.engine.filters.ast import COMPARISONS, And, Const, Criterion, Node, Not, Op, Or
from objectql.engine.tables import lower_column_name


def compile_sql(node: Node, table: Table, dialect: str) -> ColumnElement[bool]:
    return _Compiler(table, dialect).node(node)


def text_order_key(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """A text column as compared and sorted by code point on every dialect."""
    return column.collate("C") if dialect == "postgresql" else column


class _Compiler:
    def __init__(self, table: Table, dialect: str) -> None:
        self.table = table
        self.dialect = dialect

    def node(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, Criterion):
            return self.criterion(node)
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
            return self.table.c[c.field].is_(None)
        if op is Op.IS_NOT_NULL:
            return self.table.c[c.field].is_not(None)
        if op in (Op.CONTAINS, Op.NOTCONTAINS, Op.STARTSWITH, Op.ENDSWITH):
            return self.pattern(c)
        col: ColumnElement[Any] = self.table.c[c.field]
        if c.field in self.table.info.get("text_columns", ()):
            col = text_order_key(col, self.dialect)
        if op in COMPARISONS:
            return cast(ColumnElement[bool], COMPARISONS[op](col, v))
        if op is Op.IN:
            return col.in_(list(v))
        if op is Op.NIN:
            return col.not_in(list(v))
        assert op is Op.BETWEEN
        # Spelled out: BETWEEN with COLLATE bounds does not parse on PostgreSQL.
        return and_(col >= v[0], col <= v[1])

    def pattern(self, c: Criterion) -> ColumnElement[bool]:
        lowered = self.table.c[lower_column_name(c.field)]
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
