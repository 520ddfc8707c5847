"""Scalars: ``DateTime`` as ISO 8601 with ``Z``, ``Date``, and ``JSON``."""

from __future__ import annotations

from datetime import UTC, date, datetime
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

SCALAR_MAP: dict[object, Any] = {datetime: DateTime, date: Date}

__all__ = ["JSON", "SCALAR_MAP", "UTC", "Date", "DateTime"]
