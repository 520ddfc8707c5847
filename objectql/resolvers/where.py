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


def where_to_filter(where: Any) -> dict[str, Any] | None:
    """The object-form filter for a ``<X>Filter`` input value (None when absent)."""
    if where is None or not _given(where):
        return None
    out: dict[str, Any] = {}
    for f in dataclasses.fields(where):
        value = getattr(where, f.name)
        if not _given(value) or value is None:
            continue
        if f.name == "AND":
            parts = [p for p in (where_to_filter(v) for v in value) if p is not None]
            if parts:
                out["$and"] = parts
        elif f.name == "OR":
            parts = [p for p in (where_to_filter(v) for v in value) if p is not None]
            out["$or"] = parts or [{"id": {"$in": []}}]
        elif f.name == "NOT":
            inner = where_to_filter(value)
            if inner:
                out["$not"] = inner
        else:
            ops = {
                OPERATORS[op.name]: getattr(value, op.name)
                for op in dataclasses.fields(value)
                if _given(getattr(value, op.name)) and (getattr(value, op.name) is not None or op.name in ("eq", "ne"))
            }
            if ops:
                out[f.name] = ops
    return out
