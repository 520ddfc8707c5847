"""Find/count arguments — fields, sort, skip, limit — checked and turned into SQL parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table

from objectql.engine.filters.parse import FieldGuard, Links, follow_path
from objectql.engine.filters.sql import Hop, path_value, text_order_key
from objectql.errors import InvalidFilter, InvalidRequest
from objectql.metadata.model import FieldDef, Kind, ObjectDef

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# GraphQL's Int: beyond it a database's OFFSET arithmetic overflows (and no page is that far).
MAX_SKIP = 2**31 - 1
_DIRECTIONS = {"asc": False, "desc": True}


@dataclass(frozen=True)
class SortKey:
    """One sort key: a field of the record, or with ``hops`` the field ``field`` at the end of a path
    (``customer.name``: a null when the path reaches no visible parent, sorted last like any null)."""

    field: str
    descending: bool
    hops: tuple[Hop, ...] = ()


def parse_fields(raw: Any, obj: ObjectDef, guard: FieldGuard | None, name: str = "fields") -> tuple[str, ...] | None:
    """The requested projection (``id`` always included), or None for every readable field."""
    if raw is None:
        return None
    if not isinstance(raw, list | tuple):
        raise InvalidRequest(name, "a list of field names")
    out: dict[str, None] = {"id": None}
    for i, f in enumerate(raw):
        path = f"{name}[{i}]"
        if not isinstance(f, str) or f not in obj.fields:
            raise InvalidRequest(path, f"unknown field {f!r} on {obj.name}", details={"field": f})
        if guard is not None:
            guard(f, path)
        out[f] = None
    return tuple(out)


def parse_sort(
    raw: Any, obj: ObjectDef, guard: FieldGuard | None, name: str = "sort", links: Links | None = None
) -> list[SortKey]:
    """Sort keys; with ``links``, a key may be a path (``customer.name``) checked as a filter's path is."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise InvalidRequest(name, "a list of [field, direction] pairs or {field, order} objects")
    keys: list[SortKey] = []
    for i, item in enumerate(raw):
        path = f"{name}[{i}]"
        if isinstance(item, dict):
            field, direction = item.get("field"), item.get("order", item.get("direction", "asc"))
        elif isinstance(item, list | tuple) and len(item) in (1, 2):
            field, direction = item[0], (item[1] if len(item) == 2 else "asc")
        elif isinstance(item, str):
            field, direction = item, "asc"
        else:
            raise InvalidRequest(path, "a [field, direction] pair or a {field, order} object")
        hops: tuple[Hop, ...] = ()
        fdef: FieldDef | None
        if isinstance(field, str) and "." in field and links is not None:
            try:
                found, fdef = follow_path(field, obj, links, guard, path)
            except InvalidFilter as exc:
                raise InvalidRequest(path, exc.reason, details=exc.details) from None
            hops = tuple(found)
        else:
            fdef = obj.fields.get(field) if isinstance(field, str) else None
        if fdef is None:
            raise InvalidRequest(path, f"unknown sort field {field!r}", details={"field": field})
        if fdef.kind is Kind.JSON:
            raise InvalidRequest(path, f"{field!r} cannot be sorted on", details={"field": field})
        if not isinstance(direction, str) or direction.lower() not in _DIRECTIONS:
            raise InvalidRequest(path, f"unknown sort direction {direction!r} (asc or desc)")
        if guard is not None and not hops:
            guard(fdef.name, path)
        keys.append(SortKey(fdef.name, _DIRECTIONS[direction.lower()], hops))
    return keys


def parse_paging(skip: Any, limit: Any) -> tuple[int, int]:
    if skip is None:
        skip = 0
    if isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= MAX_SKIP:
        raise InvalidRequest("skip", f"a whole number from 0 to {MAX_SKIP}")
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest("limit", f"a whole number from 1 to {MAX_LIMIT}")
    return skip, limit


def parse_page(skip: Any, limit: Any, path: str = "") -> tuple[int, int | None]:
    """A page of each parent's related records: ``limit`` None takes them all; errors at ``<path>skip`` or
    ``<path>limit`` (``expand.orders.limit``)."""
    if skip is None:
        skip = 0
    if isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= MAX_SKIP:
        raise InvalidRequest(f"{path}skip", f"a whole number from 0 to {MAX_SKIP}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT):
        raise InvalidRequest(f"{path}limit", f"a whole number from 1 to {MAX_LIMIT}")
    return skip, limit


def order_by(keys: Sequence[SortKey], table: Table, dialect: str) -> list[ColumnElement[Any]]:
    """ORDER BY with nulls last in both directions and ties broken by id ascending."""
    text_columns = table.info.get("text_columns", ())
    out: list[ColumnElement[Any]] = []
    for key in keys:
        col: ColumnElement[Any]
        if key.hops:
            col = path_value(table, dialect, key.hops, key.field)
        else:
            col = table.c[key.field]
            if key.field in text_columns:
                col = text_order_key(col, dialect)
        out.append((col.desc() if key.descending else col.asc()).nulls_last())
    out.append(text_order_key(table.c.id, dialect).asc())
    return out
