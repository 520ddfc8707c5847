"""Keyset cursors: an opaque position in a sort order (the sort values and the id).

A cursor names a position, not an offset: writes elsewhere do not shift later pages, and a cursor whose
record was deleted still works. Positions compare with nulls last in both directions, ties by id.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from objectql.engine.filters.ast import Criterion, Node, Op, conjoin, disjoin
from objectql.engine.filters.parse import typed_criterion
from objectql.engine.values import to_wire
from objectql.errors import InvalidFilter, InvalidRequest
from objectql.metadata.model import ObjectDef
from objectql.realtime.wire import loads

SortKeys = list[tuple[str, bool]]  # (field, descending)


def encode(record: dict[str, Any], keys: SortKeys) -> str:
    values = [to_wire(record.get(field)) for field, _ in keys] + [record["id"]]
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, keys: SortKeys) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = loads(raw)
    except (ValueError, TypeError):
        raise InvalidRequest("after", "not a cursor of this query") from None
    if not isinstance(values, list) or len(values) != len(keys) + 1 or not isinstance(values[-1], str):
        raise InvalidRequest("after", "not a cursor of this query")
    return values


def after(obj: ObjectDef, keys: SortKeys, values: list[Any]) -> Node:
    """Rows strictly after the position ``values`` in the order ``keys`` + id ascending."""
    record_id = values[-1]
    alternatives: list[Node] = []
    equal_so_far: list[Node] = []
    try:
        for (field, descending), value in zip(keys, values, strict=False):
            fdef = obj.fields[field]
            if value is None:
                # Nulls sort last: nothing non-null comes after a null.
                equal_so_far.append(Criterion(field, Op.IS_NULL))
                continue
            beyond = typed_criterion(fdef, Op.LT if descending else Op.GT, value, "")
            alternatives.append(conjoin(*equal_so_far, disjoin(beyond, Criterion(field, Op.IS_NULL))))
            equal_so_far.append(typed_criterion(fdef, Op.EQ, value, ""))
    except InvalidFilter:
        raise InvalidRequest("after", "not a cursor of this query") from None
    alternatives.append(conjoin(*equal_so_far, Criterion("id", Op.GT, record_id)))
    return disjoin(*alternatives)
