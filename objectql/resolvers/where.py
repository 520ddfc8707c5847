"""GraphQL ``where`` inputs → the filter DSL's object form (one AST with ``filters: JSON``).

Relations: ``customer_ref: {region: {eq: "EU"}}`` is the path ``{"customer.region": {"$eq": "EU"}}`` (every
field the inner filter names, through its AND / OR / NOT, gets the prefix), and ``orders: {any: {...}}`` is
``{"orders": {"$any": {...}}}``.
"""

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


def _relations(where: Any) -> dict[str, tuple[str, str]]:
    """Which inputs of a ``<X>Filter`` follow a relation: ``{"customer_ref": ("path", "customer"), "orders":
    ("related", "orders")}`` (the schema builder marks its filter types)."""
    marked = getattr(type(where), "__objectql_relations__", None)
    if isinstance(marked, dict):
        return marked
    out: dict[str, tuple[str, str]] = {}
    if isinstance(where, dict):
        for name, value in where.items():
            keys = set(value) if isinstance(value, dict) else set()
            if name.endswith("_ref") and keys and not keys <= set(OPERATORS):
                out[name] = ("path", name.removesuffix("_ref"))
            elif keys and keys <= {"any", "none"}:
                out[name] = ("related", name)
    return out


def _prefixed(flt: dict[str, Any], field: str) -> dict[str, Any]:
    """A filter on a referenced record as the same filter through the reference ``field``."""
    out: dict[str, Any] = {}
    for key, value in flt.items():
        if key in ("$and", "$or"):
            out[key] = [_prefixed(part, field) for part in value]
        elif key == "$not":
            out[key] = _prefixed(value, field)
        else:
            out[f"{field}.{key}"] = value
    return out


def where_to_filter(where: Any) -> dict[str, Any] | None:
    """The object-form filter for a ``<X>Filter`` input value (None when absent)."""
    if where is None or not _given(where):
        return None
    out: dict[str, Any] = {}
    paths: list[dict[str, Any]] = []
    relations = _relations(where)
    for name, value in _items(where):
        if not _given(value) or value is None:
            continue
        kind, target = relations.get(name, ("", ""))
        if kind == "path":
            inner = where_to_filter(value)
            if inner:
                paths.append(_prefixed(inner, target))
        elif kind == "related":
            quantified = {
                f"${q}": where_to_filter(sub) or {} for q, sub in _items(value) if _given(sub) and sub is not None
            }
            if quantified:
                out[target] = quantified
        elif name == "AND":
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
    if paths:
        # Beside the filter's own AND rather than merged into it: both may name $and / $or / $not.
        out = {"$and": [out, *paths]} if out else ({"$and": paths} if len(paths) > 1 else paths[0])
    return out
