"""Exact totals of number fields: one answer for a sum, whatever the order of the rows or the database.

A sum of floats is the exact sum of the stored values (each a double, taken as exactly the number it is),
rounded once, at the end, to the nearest float: so it does not depend on the order of the rows
(``1e16 + 1 − 1e16`` is 1), and a total kept by adding and subtracting rows as they change equals the total
read again from the database. A sum too large for a float is ``None`` — never ``Infinity``, which is not
JSON. Integer sums are exact integers, past 64 bits too.

Exact float totals are integers counting units of 2⁻¹⁰⁷⁴ (every finite double is a whole number of them), so
adding and subtracting them is integer arithmetic. In SQL: :class:`ExactSum`, a Python aggregate registered on
every SQLite connection, returns the total as text (SQLite's own ``sum`` rounds floats at every step; its
integer sums, exact and fast, are used first and summed again here only when they pass 64 bits); PostgreSQL
sums integers exactly itself (``sum`` of a bigint is a numeric) and hands its float values over
(``array_agg``), whose exact total is taken here — its ``float8`` sum rounds at every step and fails on
overflow, and no cast of a ``float8`` to ``numeric`` is exact.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, func
from sqlalchemy.sql.elements import ColumnElement

# Every finite double is a whole number of 2**-1074 (the smallest subnormal).
FLOAT_UNITS = 1074
SQLITE_FUNCTION = "objectql_exact_sum"


def term(value: Any, *, is_float: bool) -> int:
    """A stored number as an exact term of a total: float values in units of 2**-1074."""
    if not is_float:
        return int(value)
    numerator, denominator = float(value).as_integer_ratio()  # the denominator is a power of two
    return numerator << (FLOAT_UNITS + 1 - denominator.bit_length())


def nearest(total: int, count: int = 1, *, is_float: bool) -> float | None:
    """The float nearest ``total / count`` (one rounding), or None when no float holds it."""
    try:
        return total / (count << FLOAT_UNITS if is_float else count)
    except OverflowError:
        return None


def total_of(values: Any, *, is_float: bool) -> int | None:
    """The exact total of the non-null ``values`` (None when there are none)."""
    terms = [term(v, is_float=is_float) for v in values or () if v is not None]
    return sum(terms) if terms else None


def parse_total(raw: Any, *, is_float: bool, dialect: str) -> int | None:
    """An exact total as the database hands it back (None over no values): :class:`ExactSum`'s text on
    SQLite; on PostgreSQL an exact numeric for integers, the values themselves for floats."""
    if dialect != "sqlite" and is_float:
        return total_of(raw, is_float=True)
    return None if raw is None else int(raw)


def exact_sum_sql(column: Any, dialect: str, *, is_float: bool, wide: bool = True) -> ColumnElement[Any]:
    """What the database returns for an exact total of ``column`` (see :func:`parse_total`); NULL over no
    values on SQLite, an empty or null array on PostgreSQL. Without ``wide``, SQLite sums integers itself
    (exact, and far faster), failing with "integer overflow" past 64 bits."""
    if dialect == "sqlite" and not is_float and not wide:
        return func.sum(column)
    if dialect == "sqlite":
        return func.objectql_exact_sum(column, 1 if is_float else 0, type_=Text)
    if is_float:
        return func.array_agg(column)
    return func.sum(column)


class ExactSum:
    """SQLite aggregate ``objectql_exact_sum(value, is_float)``: the exact total of the non-null values as the
    text of an integer (floats in units of 2**-1074), NULL over none."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: Any, is_float: int) -> None:
        if value is None:
            return
        part = term(value, is_float=bool(is_float))
        self.total = part if self.total is None else self.total + part

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


__all__ = ["FLOAT_UNITS", "SQLITE_FUNCTION", "ExactSum", "exact_sum_sql", "nearest", "parse_total", "term", "total_of"]
