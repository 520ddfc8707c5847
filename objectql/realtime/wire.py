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


MAX_DEPTH = 64


class UnreadableJSON(ValueError):
    """Untrusted JSON that is malformed, nested too deeply or holds half a surrogate pair."""


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, **options: Any) -> Any:
    """Parse JSON from a client: raises ValueError (never RecursionError) and UnreadableJSON for JSON nested
    deeper than ``max_depth`` or whose strings hold a lone surrogate (``"\\ud800"``), which no UTF-8 reply,
    log line or database text can carry. ``options`` go to :func:`json.loads` (its hooks may raise)."""
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise UnreadableJSON(f"nested deeper than {max_depth}") from None
    brackets = text.count(b"[") + text.count(b"{") if isinstance(text, bytes) else text.count("[") + text.count("{")
    if brackets > max_depth and not _depth_ok(value, max_depth):
        raise UnreadableJSON(f"nested deeper than {max_depth}")
    escaped = b"\\u" in text if isinstance(text, bytes) else "\\u" in text
    if escaped and _has_lone_surrogate(value):
        raise UnreadableJSON("a string holds a lone surrogate (\\ud800-\\udfff)")
    return value


def _depth_ok(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
