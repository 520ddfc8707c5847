"""What an endpoint finds in its app's state: set up by the server's app factory at start-up."""

from __future__ import annotations

from typing import Any

from objectql.realtime.operations import OperationRunner
from objectql.realtime.policy import ConnectionPolicy
from objectql.realtime.service import Realtime


def _state(scope: Any) -> Any:
    return scope["app"].state


def realtime_of(scope: Any) -> Realtime:
    """The realtime service (hub, presence, connections)."""
    realtime: Realtime = _state(scope).realtime
    return realtime


def policy_of(scope: Any) -> ConnectionPolicy:
    """Who may connect, and the per-connection limits."""
    policy: ConnectionPolicy = _state(scope).policy
    return policy


def operations_of(scope: Any) -> OperationRunner:
    """What runs GraphQL documents."""
    operations: OperationRunner = _state(scope).graphql
    return operations
