"""The GraphQL service the transports run documents through: the executor plus live subscription plans.

It implements the transports' contract, :class:`objectql.realtime.operations.OperationRunner`.
"""

from __future__ import annotations

from typing import Any

from objectql.engine.user import User
from objectql.realtime.operations import LiveOperation
from objectql.resolvers.executor import GraphQLExecutor, Prepared, is_subscription
from objectql.resolvers.live import plan


class GraphQLService:
    def __init__(self, executor: GraphQLExecutor) -> None:
        self.executor = executor

    def prepare(self, query: Any, variables: Any = None, operation_name: Any = None) -> Prepared:
        return self.executor.prepare(query, variables, operation_name)

    def is_subscription(self, prepared: Prepared) -> bool:
        return is_subscription(prepared)

    def is_query(self, prepared: Prepared) -> bool:
        return prepared.kind == "query"

    async def execute(self, prepared: Prepared, user: User | None) -> dict[str, Any]:
        return await self.executor.execute(prepared, user)

    def live(self, prepared: Prepared, user: User | None) -> LiveOperation:
        return plan(self.executor, prepared, user)
