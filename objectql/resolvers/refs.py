"""``<field>_ref`` lookups: the referenced record, batched per request (no N+1 queries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from objectql.resolvers.context import Row
from objectql.resolvers.queries import context_of


def ref_resolver(field: str, target: str, target_type: type) -> Callable[..., Any]:
    async def resolve(root: strawberry.Parent[Row], info: strawberry.Info) -> Row | None:
        value = root.get(field)
        if value is None:
            return None
        return await context_of(info).loader(target).load(value)

    resolve.__annotations__ = {
        "root": strawberry.Parent[Row],
        "info": strawberry.Info,
        "return": target_type | None,
    }
    return resolve
