"""Scalars: ``DateTime`` as ISO 8601 with ``Z``, ``Date``, ``Decimal`` (exact, as a string) and ``JSON``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import strawberry
from strawberry.scalars import JSON

from objectql.engine.values import to_wire


def _serialize_datetime(value: datetime) -> str:
    return str(to_wire(value))


def _parse_temporal(value: Any) -> str:
    # Kept as text: the filter DSL and validation type it per field (a date field takes YYYY-MM-DD).
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 string")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date or date-time") from None
    return value


DateTime = strawberry.scalar(
    name="DateTime",
    description="An instant as ISO 8601, in UTC with Z on output (naive input means UTC).",
    serialize=_serialize_datetime,
    parse_value=_parse_temporal,
)
Date = strawberry.scalar(
    name="Date",
    description="A calendar date, YYYY-MM-DD.",
    serialize=lambda d: d.isoformat(),
    parse_value=_parse_temporal,
)


def _parse_decimal(value: Any) -> Decimal:
    """A string (exact) or a number; the field's own rules (range, places) are the engine's to check."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError('expected a decimal number as a string, e.g. "12.50"')
    try:
        out = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not out.is_finite():
        raise ValueError("NaN and Infinity are not decimal numbers")
    return out


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number (currency amounts), serialised as a string such as "12.5"; '
    "input as a string, or as a number when exactness does not matter.",
    serialize=lambda d: str(d),
    parse_value=_parse_decimal,
)

SCALAR_MAP: dict[object, Any] = {datetime: DateTime, date: Date, Decimal: DecimalScalar}

__all__ = ["JSON", "SCALAR_MAP", "UTC", "Date", "DateTime", "DecimalScalar"]
