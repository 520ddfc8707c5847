"""``graphql-transport-ws``: one ``handle_<type>`` per client message over the shared GraphQL session."""

from __future__ import annotations

from typing import Any

from objectql.realtime.transports.protocols.graphql_session import GraphQLSession, StartOperation, StopOperation
from objectql.realtime.transports.protocols.graphql_transport_ws.types import MESSAGES


class TransportWSSession(GraphQLSession):
    messages = MESSAGES

    def handle_ping(self, msg: dict[str, Any]) -> None:
        self.conn.push(MESSAGES.pong())

    def handle_pong(self, msg: dict[str, Any]) -> None:
        return None

    def handle_subscribe(self, msg: dict[str, Any]) -> None:
        start = StartOperation.parse(msg)
        self.start_operation(start.id, start.payload)

    def handle_complete(self, msg: dict[str, Any]) -> None:
        self.stop_operation(StopOperation.parse(msg).id)
