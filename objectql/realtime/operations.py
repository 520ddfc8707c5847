"""The contract between the GraphQL transports and whatever runs GraphQL documents.

The transports (HTTP, both WebSocket subprotocols, graphql-sse) hold an :class:`OperationRunner`; the
resolvers layer implements it (:class:`objectql.resolvers.service.GraphQLService`). Neither side imports
the other: both import this module. A subscription becomes a :class:`LiveOperation` — a request for the
core, of any kind, plus the renderer that executes the document once per message for a whole group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from objectql.engine.user import User
from objectql.realtime.live import LiveRequest


class OperationError(Exception):
    """A GraphQL request refused before execution; ``errors`` are wire-ready error objects."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors


@dataclass(frozen=True)
class LiveOperation:
    """A checked subscription operation: the request it makes of the realtime core, of any kind, carrying the
    renderer that executes its document once per message for a whole group."""

    request: LiveRequest


class OperationRunner(Protocol):
    def prepare(self, query: Any, variables: Any, operation_name: Any) -> Any:
        """Parse, validate and limit-check a request; raises OperationError."""

    def is_subscription(self, prepared: Any) -> bool: ...

    def is_query(self, prepared: Any) -> bool: ...

    async def execute(self, prepared: Any, user: User | None) -> dict[str, Any]:
        """Run a query or mutation; the result as ``{"data": ..., "errors"?: [...]}``."""

    def live(self, prepared: Any, user: User | None) -> LiveOperation:
        """Check a subscription as ``user`` and plan it for the realtime core; raises ObjectQL errors."""
