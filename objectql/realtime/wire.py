"""JSON on the wire: compact, UTF-8, datetimes as ISO 8601 with ``Z``, decimals as numbers."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from objectql.engine.values import to_wire

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=lambda v: _default(v))


def _default(value: Any) -> Any:
    if isinstance(value, date | Decimal):
        return to_wire(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return _encoder.encode(value)
