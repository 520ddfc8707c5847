"""Query resolvers: ``<x>``, ``<x>List``, ``<x>Count``, ``<x>Connection`` — all through the engine.

They run under the request's user, so hooks, permissions and validation apply exactly as in Python.
Errors name what the document wrote — the GraphQL argument (``orderBy[0]``, ``groupBy[0]``, ``limit``,
``first``) or the selection (``ordersAggregate.sum.cost``) — not the engine's arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from typing import Any

import strawberry
from strawberry.types.unset import UnsetType

from objectql.engine.filters.parse import AllOf
from objectql.engine.query import MAX_LIMIT
from objectql.errors import Forbidden, InvalidRequest
from objectql.resolvers import cursors
from objectql.resolvers.context import GraphQLContext, Row
from objectql.resolvers.names import python_name
from objectql.resolvers.selection import selected_fields
from objectql.resolvers.where import where_to_filter

DEFAULT_FIRST = 100
_RENAMES = {"sort": "orderBy", "skip": "offset", "group_by": "groupBy"}
AGGREGATE_PARTS = ("sum", "avg", "min", "max")


def given(value: Any) -> Any:
    return None if isinstance(value, UnsetType) else value


def context_of(info: strawberry.Info) -> GraphQLContext:
    ctx: GraphQLContext = info.context
    return ctx


def filter_args(where: Any, filters: Any) -> AllOf:
    return AllOf(where_to_filter(given(where)), given(filters), labels=("where", None))


def sort_of(order_by: Any) -> list[list[str]] | None:
    order_by = given(order_by)
    if order_by is None:
        return None
    return [_sort_key(item, f"orderBy[{i}]") for i, item in enumerate(order_by)]


def _sort_key(item: Any, path: str) -> list[str]:
    """``{field, direction}``, or ``{customer_ref: {field: name}}`` for the path ``customer.name``: a
    field or one reference at each level; the innermost direction given applies."""
    names: list[str] = []
    direction: Any = None
    while True:
        direction = given(getattr(item, "direction", None)) or direction
        field = given(getattr(item, "field", None))
        refs = [
            (f.name, value)
            for f in dataclasses.fields(item)
            if f.name.endswith("_ref") and (value := given(getattr(item, f.name))) is not None
        ]
        if (field is None) == (not refs) or len(refs) > 1:
            raise InvalidRequest(path, "name either a field or one <reference>_ref at each level")
        if field is not None:
            names.append(field.value if isinstance(field, Enum) else field)
            break
        ref, item = refs[0]
        names.append(ref.removesuffix("_ref"))
    return [".".join(names), direction.value if direction is not None else "asc"]


def _graphql_path(path: str, limit_name: str, root: str | None, field: Any) -> str | None:
    """An engine argument path (``sort[0]``) as the GraphQL argument's (``orderBy[0]``), if it is one; an
    aggregated field (``sum[1]``) as where the selection of ``root`` names it (``ordersAggregate.sum.cost``)."""
    part = path.split("[", 1)[0]
    if root is not None and part in AGGREGATE_PARTS and isinstance(field, str):
        return f"{root}.{part}.{field}"
    for engine_name, gql_name in {**_RENAMES, "limit": limit_name}.items():
        if path == engine_name or path.startswith(f"{engine_name}["):
            return gql_name + path[len(engine_name) :]
    return None


def renamed(
    exc: InvalidRequest | Forbidden, limit_name: str = "limit", root: str | None = None
) -> InvalidRequest | Forbidden:
    """``exc`` with its path in the names the document used (``root``: the field whose selection says what an
    aggregate computes)."""
    field = exc.details.get("field")
    if isinstance(exc, Forbidden):
        path = _graphql_path(str(exc.details.get("path") or ""), limit_name, root, field)
        if path is None:
            return exc
        return Forbidden(exc.message, details={**exc.details, "path": path})
    path = _graphql_path(exc.path or "", limit_name, root, field)
    return exc if path is None else InvalidRequest(path, exc.reason, details=exc.details)


def field_resolver(name: str, annotation: Any) -> Callable[..., Any]:
    """A field the user may not be allowed to read: selecting it then is FORBIDDEN on that field."""

    def resolve(root: Row) -> Any:
        if name not in root:
            raise Forbidden(f"field {name!r} is not readable", details={"field": name})
        return root[name]

    resolve.__annotations__ = {"root": strawberry.Parent[Row], "return": annotation}
    return resolve


def get_one(object_name: str) -> Callable[..., Any]:
    async def resolve(info: strawberry.Info, id: str) -> Row | None:
        record = await context_of(info).repo(object_name).find_one(id)
        return Row(record) if record is not None else None

    return resolve


def find_list(object_name: str) -> Callable[..., Any]:
    async def resolve(
        info: strawberry.Info,
        *,
        where: Any = None,
        filters: Any = None,
        orderBy: Any = None,
        limit: Any = None,
        offset: Any = None,
    ) -> list[Row]:
        try:
            rows = (
                await context_of(info)
                .repo(object_name)
                .find(
                    filters=filter_args(where, filters),
                    sort=sort_of(orderBy),
                    skip=given(offset) or 0,
                    limit=given(limit),
                )
            )
        except (InvalidRequest, Forbidden) as exc:
            raise renamed(exc) from None
        return [Row(r) for r in rows]

    return resolve


def count(object_name: str) -> Callable[..., Any]:
    async def resolve(info: strawberry.Info, *, where: Any = None, filters: Any = None) -> int:
        return await context_of(info).repo(object_name).count(filters=filter_args(where, filters))

    return resolve


def connection(object_name: str, edge: type, connection_type: type, page_info: type) -> Callable[..., Any]:
    async def resolve(
        info: strawberry.Info,
        *,
        where: Any = None,
        filters: Any = None,
        orderBy: Any = None,
        first: Any = None,
        after: Any = None,
    ) -> Any:
        ctx = context_of(info)
        repo = ctx.repo(object_name)
        size = given(first)
        size = DEFAULT_FIRST if size is None else size
        if isinstance(size, bool) or not 1 <= size <= MAX_LIMIT:
            raise InvalidRequest("first", f"a whole number from 1 to {MAX_LIMIT}")
        sort = sort_of(orderBy) or []
        for i, (field, _direction) in enumerate(sort):
            if "." in field:
                # A cursor holds the record's own sort values; a related record's are not in the row.
                raise InvalidRequest(
                    f"orderBy[{i}]", "a connection cannot order by a related record's field yet (the list query can)"
                )
        keys = [(field, direction == "desc") for field, direction in sort]
        base = filter_args(where, filters)
        position = given(after)
        page_filter: AllOf = base
        if position is not None:
            keyset = cursors.after(repo.obj, keys, cursors.decode(position, keys))
            page_filter = AllOf(*base.parts, keyset, labels=(*base.labels, None))
        try:
            rows = await repo.find(filters=page_filter, sort=sort or None, limit=min(size + 1, MAX_LIMIT))
            has_next = len(rows) > size
            if len(rows) == size == MAX_LIMIT:
                # A full page of the largest size: one more probe tells whether another page follows.
                beyond = cursors.after(repo.obj, keys, cursors.decode(cursors.encode(rows[-1], keys), keys))
                more = await repo.find(filters=AllOf(*base.parts, beyond, labels=(*base.labels, None)), limit=1)
                has_next = bool(more)
            total = await repo.count(filters=base)
        except (InvalidRequest, Forbidden) as exc:
            raise renamed(exc, "first") from None
        rows = rows[:size]
        edges = [edge(node=Row(r), cursor=cursors.encode(r, keys)) for r in rows]
        page = page_info(
            hasNextPage=has_next,
            hasPreviousPage=position is not None,
            startCursor=edges[0].cursor if edges else None,
            endCursor=edges[-1].cursor if edges else None,
        )
        return connection_type(edges=edges, pageInfo=page, totalCount=total)

    return resolve


def aggregate(object_name: str) -> Callable[..., Any]:
    """``<x>Aggregate``: the engine's aggregate of what the selection asks for (``sum { total }`` sums total)."""

    async def resolve(info: strawberry.Info, *, where: Any = None, filters: Any = None, groupBy: Any = None) -> Any:
        raw = info._raw_info
        asked: dict[str, list[str]] = {part: [] for part in AGGREGATE_PARTS}
        for node in raw.field_nodes:
            if node.selection_set is None:
                continue
            for sub in selected_fields(node.selection_set, raw.fragments):
                if sub.name.value in asked and sub.selection_set is not None:
                    names = [f.name.value for f in selected_fields(sub.selection_set, raw.fragments)]
                    asked[sub.name.value].extend(n for n in names if n != "__typename")
        group_by = [g.value if isinstance(g, Enum) else g for g in given(groupBy) or []]
        try:
            groups = (
                await context_of(info)
                .repo(object_name)
                .aggregate(
                    filters=filter_args(where, filters),
                    count=True,
                    group_by=group_by,
                    **{part: list(dict.fromkeys(names)) for part, names in asked.items()},
                )
            )
        except (InvalidRequest, Forbidden) as exc:
            raise renamed(exc, root=info.field_name) from None
        return [aggregate_row(group) for group in groups]

    return resolve


def aggregate_row(group: dict[str, Any]) -> Row:
    """A group as GraphQL resolves it: its key and each part as rows (``sum.total``)."""
    row = Row(key=_attributes(group["key"]), count=group.get("count"))
    for part in AGGREGATE_PARTS:
        if part in group:
            row[part] = _attributes(group[part])
    return row


def _attributes(values: dict[str, Any]) -> Row:
    return Row({python_name(name): value for name, value in values.items()})
