"""Related lists on an object type: ``Customers.orders(...)`` and ``Customers.ordersCount(...)``.

Batched per request: every parent asking with the same arguments joins one batch loader, keyed by
(relation, arguments), whose one query reads the children of all of them (a page per parent: the engine's
:meth:`~objectql.engine.repository.ObjectRepository.find_related`). So a list of 50 customers selecting
``orders { id }`` costs one query for the orders, not 50. The arguments mean what they mean on the
top-level list query, applied to each parent's children apart (``limit: 10`` is ten per customer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader

from objectql.engine.query import DEFAULT_LIMIT
from objectql.errors import Forbidden, InvalidRequest
from objectql.metadata.model import Relation
from objectql.resolvers.context import GraphQLContext, Row
from objectql.resolvers.queries import context_of, filter_args, given, renamed, sort_of
from objectql.resolvers.where import where_to_filter


def _arguments_key(*parts: Any) -> str:
    """Equal arguments, equal key: which parents may share a batch."""
    return json.dumps(parts, sort_keys=True, default=repr)


def list_resolver(relation: Relation) -> Callable[..., Any]:
    """``<parent>.<related list>(where, filters, orderBy, limit, offset)``: each parent's children."""

    async def resolve(
        root: Row,
        info: strawberry.Info,
        *,
        where: Any = None,
        filters: Any = None,
        orderBy: Any = None,
        limit: Any = None,
        offset: Any = None,
    ) -> list[Row]:
        sort = sort_of(orderBy)
        skip = given(offset) or 0
        size = given(limit)
        size = DEFAULT_LIMIT if size is None else size
        key = _arguments_key("list", where_to_filter(given(where)), given(filters), sort, skip, size)
        ctx = context_of(info)

        async def load(parents: Sequence[str]) -> list[list[Row] | BaseException]:
            try:
                rows = await ctx.repo(relation.child).find_related(
                    relation.field, parents, filters=filter_args(where, filters), sort=sort, skip=skip, limit=size
                )
            except (InvalidRequest, Forbidden) as exc:
                error = renamed(exc)
                return [error for _ in parents]
            groups: dict[str, list[Row]] = {}
            for row in rows:
                groups.setdefault(row[relation.field], []).append(Row(row))
            return [groups.get(parent, []) for parent in parents]

        rows: list[Row] = await _loader(ctx, (relation.parent, relation.name, key), load).load(root["id"])
        return rows

    return resolve


def count_resolver(relation: Relation) -> Callable[..., Any]:
    """``<parent>.<related list>Count(where, filters)``: how many children each parent has."""

    async def resolve(root: Row, info: strawberry.Info, *, where: Any = None, filters: Any = None) -> int:
        key = _arguments_key("count", where_to_filter(given(where)), given(filters))
        ctx = context_of(info)

        async def load(parents: Sequence[str]) -> list[int | BaseException]:
            try:
                counts = await ctx.repo(relation.child).count_related(
                    relation.field, parents, filters=filter_args(where, filters)
                )
            except (InvalidRequest, Forbidden) as exc:
                error = renamed(exc)
                return [error for _ in parents]
            return [counts.get(parent, 0) for parent in parents]

        count: int = await _loader(ctx, (relation.parent, relation.name, key), load).load(root["id"])
        return count

    return resolve


def _loader(ctx: GraphQLContext, key: tuple[str, str, str], load: Callable[..., Any]) -> DataLoader[str, Any]:
    """The request's loader for ``key``, made with ``load`` by the first parent that asks."""
    loader = ctx.related.get(key)
    if loader is None:
        loader = DataLoader(load_fn=load)
        ctx.related[key] = loader
    return loader


__all__ = ["count_resolver", "list_resolver"]
