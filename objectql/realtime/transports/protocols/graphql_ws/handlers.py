"""Legacy ``graphql-ws``: one ``handle_<type>`` per client message over the shared GraphQL session."""

from __future__ import annotations

from typing import Any

from objectql.realtime.transports.protocols.graphql_session import GraphQLSession, StartOperation, StopOperation
from objectql.realtime.transports.protocols.graphql_ws.types import MESSAGES
from objectql.realtime.vocabulary import CLOSE_NORMAL


class LegacyWSSession(GraphQLSession):
    # No "ka" keep-alives: once a client has seen one it expects them on a timer; the server's
    # WebSocket pings already keep the connection alive.
    messages = MESSAGES

    def handle_start(self, msg: dict[str, Any]) -> None:
        start = StartOperation.parse(msg)
        self.start_operation(start.id, start.payload)

    def handle_stop(self, msg: dict[str, Any]) -> None:
        op_id = StopOperation.parse(msg).id
        if isinstance(op_id, str) and op_id in self.running:
            self.stop_operation(op_id)
            self.send_complete(op_id)

    def handle_connection_terminate(self, msg: dict[str, Any]) -> None:
        self.conn.close(CLOSE_NORMAL, "terminated")
