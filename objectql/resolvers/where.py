"""GraphQL ``where`` inputs → the filter DSL's object form (one AST with ``filters: JSON``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from strawberry.types.unset import UnsetType

OPERATORS = {
    "eq": "$eq",
    "ne": "$ne",
    "gt": "$gt",
    "gte": "$gte",
    "lt": "$lt",
    "lte": "$lte",
    "in": "$in",
    "nin": "$nin",
    "contains": "$contains",
    "notcontains": "$notcontains",
    "startsWith": "$startswith",
    "endsWith": "$endswith",
    "between": "$between",
    "isNull": "$null",
}


def _given(value: Any) -> bool:
    return not isinstance(value, UnsetType)


def _items(value: Any) -> list[tuple[str, Any]]:
    """(GraphQL name, value) of an input: a strawberry input instance or a coerced dict."""
    if isinstance(value, dict):
        return list(value.items())
    return [(getattr(f, "graphql_name", None) or f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]


def where_to_filter(where: Any) -> dict[str, Any] | None:
    """The object-form filter for a ``<X>Filter`` input value (None when absent)."""
    if where is None or not _given(where):
        return None
    out: dict[str, Any] = {}
    for name, value in _items(where):
        if not _given(value) or value is None:
            continue
        if name == "AND":
            parts = [p for p in (where_to_filter(v) for v in value) if p is not None]
            if parts:
                out["$and"] = parts
        elif name == "OR":
            parts = [p for p in (where_to_filter(v) for v in value) if p is not None]
            out["$or"] = parts or [{"id": {"$in": []}}]
        elif name == "NOT":
            inner = where_to_filter(value)
            if inner:
                out["$not"] = inner
        else:
            ops = {
                OPERATORS[op]: operand
                for op, operand in _items(value)
                if _given(operand) and (operand is not None or op in ("eq", "ne"))
            }
            if ops:
                out[name] = ops
    return out
