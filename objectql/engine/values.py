"""Typed values: turning wire values (JSON, Python) into a field kind's Python type, without coercion.

Shared by the filter parser and record validation so that a value means the same thing in both.
Each function raises :class:`ValueError` with a short reason a user can act on.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from objectql.metadata.model import Kind

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
CURRENCY_PLACES = 4
CURRENCY_LIMIT = Decimal(10) ** 14
CURRENCY_QUANTUM = Decimal(1).scaleb(-CURRENCY_PLACES)


def check_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def check_integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a whole number")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("whole number out of the 64-bit range")
    return value


def check_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("expected a number")
    try:
        out = float(value)
    except OverflowError:
        raise ValueError("number out of range") from None
    if not math.isfinite(out):
        raise ValueError("NaN and Infinity are not numbers here")
    return out


def check_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("expected a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not numbers here")
    try:
        out = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError("expected a number") from None
    if not out.is_finite():
        raise ValueError("NaN and Infinity are not numbers here")
    # The range first: quantizing a huge amount to 4 places overflows the decimal context.
    if abs(out) >= CURRENCY_LIMIT:
        raise ValueError("currency amount out of range (|amount| < 10^14)")
    if out != out.quantize(CURRENCY_QUANTUM):
        raise ValueError(f"currency has at most {CURRENCY_PLACES} decimal places")
    return tidy_decimal(out)


def tidy_decimal(value: Decimal) -> Decimal:
    """The shortest exact form of a currency amount (``19.9900`` → ``19.99``, ``1E+2`` → ``100``)."""
    out = value.normalize()
    return out.quantize(Decimal(1)) if out.as_tuple().exponent > 0 else out  # type: ignore[operator]


def check_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def check_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError("expected a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("expected an ISO 8601 date (YYYY-MM-DD)")


def check_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        out = value
    elif isinstance(value, date):
        out = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            out = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 date-time") from None
    else:
        raise ValueError("expected an ISO 8601 date-time")
    if out.tzinfo is None:
        return out.replace(tzinfo=UTC)
    try:
        return out.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range") from None


def check_json(value: Any) -> Any:
    return value


CHECKS = {
    Kind.TEXT: check_text,
    Kind.INTEGER: check_integer,
    Kind.FLOAT: check_float,
    Kind.DECIMAL: check_decimal,
    Kind.BOOLEAN: check_boolean,
    Kind.DATE: check_date,
    Kind.DATETIME: check_datetime,
    Kind.JSON: check_json,
}


def check_value(kind: Kind, value: Any) -> Any:
    """``value`` as the Python type of ``kind``; ValueError when it is not one."""
    return CHECKS[kind](value)


def to_wire(value: Any) -> Any:
    """A Python record value as JSON: datetimes in ISO 8601 with ``Z``, decimals as numbers."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
