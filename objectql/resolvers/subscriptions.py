"""Subscription root fields. Events are delivered by the realtime transports, which execute each distinct
(document, variables, permission scope) once per event and fan the result out; these source resolvers only
exist so the schema declares the fields, and refuse to run outside those transports."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import strawberry

from objectql.errors import InvalidRequest


def source(object_name: str, kind: str) -> Callable[..., Any]:
    async def subscribe(info: strawberry.Info, **_: Any) -> AsyncGenerator[Any, None]:
        raise InvalidRequest(None, "subscriptions run over the /graphql WebSocket or graphql-sse")
        yield  # pragma: no cover - makes this an async generator

    return subscribe
