"""The contract between the GraphQL transports and whatever runs GraphQL documents.

The transports (HTTP, both WebSocket subprotocols, graphql-sse) hold an :class:`OperationRunner`; the
resolvers layer implements it (:class:`objectql.resolvers.service.GraphQLService`). Neither side imports
the other: both import this module. A subscription becomes a :class:`LiveOperation` — a subscription
request for the core plus the renderer that executes the document once per event for a whole group.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from objectql.engine.user import User
from objectql.realtime.changes import Renderer
from objectql.realtime.opening import SubscriptionRequest
from objectql.realtime.windows import WindowRenderer


class OperationError(Exception):
    """A GraphQL request refused before execution; ``errors`` are wire-ready error objects."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors


class LiveOperation(Protocol):
    """A checked subscription operation, ready for the hub."""

    @property
    def request(self) -> SubscriptionRequest: ...

    @property
    def renderer(self) -> Renderer: ...


class GroupsRenderer(Protocol):
    """Executes a live aggregate's document for its groups: once per message for a whole group."""

    @property
    def key(self) -> Hashable: ...

    async def __call__(self, groups: list[dict[str, Any]]) -> str: ...


@dataclass(frozen=True)
class LiveAggregate:
    """A checked ``<x>Aggregate`` subscription: what the live aggregate computes, and its renderer."""

    object: str
    filters: Any
    aggregate: dict[str, Any]
    group_by: list[str]
    renderer: GroupsRenderer


@dataclass(frozen=True)
class LiveWindow:
    """A checked ``<x>Window`` subscription: the window it watches, and the renderer of its changes."""

    object: str
    filters: Any
    fields: list[str]
    sort: Any
    limit: Any
    renderer: WindowRenderer


class OperationRunner(Protocol):
    def prepare(self, query: Any, variables: Any, operation_name: Any) -> Any:
        """Parse, validate and limit-check a request; raises OperationError."""

    def is_subscription(self, prepared: Any) -> bool: ...

    def is_query(self, prepared: Any) -> bool: ...

    async def execute(self, prepared: Any, user: User | None) -> dict[str, Any]:
        """Run a query or mutation; the result as ``{"data": ..., "errors"?: [...]}``."""

    def live(self, prepared: Any, user: User | None) -> LiveOperation | LiveAggregate | LiveWindow:
        """Check a subscription as ``user`` and plan it for the hub (or, for ``<x>Aggregate`` and
        ``<x>Window``, for the live aggregates and windows); raises ObjectQL errors."""
