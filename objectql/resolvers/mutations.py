"""Mutation resolvers: ``create<X>``, ``update<X>``, ``delete<X>`` through the engine (hooks, validation,
permissions)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types.unset import UnsetType

from objectql.resolvers.context import Row
from objectql.resolvers.queries import context_of


def input_values(value: Any) -> dict[str, Any]:
    """The fields given in an input object (absent ones left out; an explicit null kept)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if not isinstance(item, UnsetType):
            out[getattr(f, "graphql_name", None) or f.name] = item
    return out


def create(object_name: str) -> Callable[..., Any]:
    async def resolve(info: strawberry.Info, *, input: Any) -> Row:
        return Row(await context_of(info).repo(object_name).create(input_values(input)))

    return resolve


def update(object_name: str) -> Callable[..., Any]:
    async def resolve(info: strawberry.Info, *, id: str, input: Any) -> Row:
        return Row(await context_of(info).repo(object_name).update(id, input_values(input)))

    return resolve


def delete(object_name: str) -> Callable[..., Any]:
    async def resolve(info: strawberry.Info, *, id: str) -> bool:
        await context_of(info).repo(object_name).delete(id)
        return True

    return resolve
