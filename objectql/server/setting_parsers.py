"""Parsers of setting values by type: text from flags and environment variables into typed values.

Each raises :class:`ValueError` with a reason; the settings table names the setting and the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def parse_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    value = raw.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected a whole number")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f"expected a whole number, not {text!r}")
    return int(text)


def parse_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list | tuple):
        items = [str(v).strip() for v in raw]
    else:
        items = [part.strip() for part in str(raw).split(",")]
    return tuple(item for item in items if item)


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {text!r}")


PARSERS: dict[type, Callable[[Any], Any]] = {
    str: parse_str,
    int: parse_int,
    tuple: parse_list,
    bool: parse_bool,
}
