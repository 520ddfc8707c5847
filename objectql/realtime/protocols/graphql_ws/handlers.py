"""Legacy ``graphql-ws``: one ``handle_<type>`` per client message over the shared GraphQL session."""

from __future__ import annotations

from typing import Any

from objectql.realtime.connection import CLOSE_NORMAL
from objectql.realtime.protocols.graphql_session import GraphQLSession
from objectql.realtime.protocols.graphql_ws import types


class LegacyWSSession(GraphQLSession):
    def handle_start(self, msg: dict[str, Any]) -> None:
        self.start_operation(msg.get("id"), msg.get("payload"))

    def handle_stop(self, msg: dict[str, Any]) -> None:
        op_id = msg.get("id")
        if isinstance(op_id, str) and op_id in self.operations:
            self.stop_operation(op_id)
            self.send_complete(op_id)

    def handle_connection_terminate(self, msg: dict[str, Any]) -> None:
        self.conn.close(CLOSE_NORMAL, "terminated")

    # -- framing -------------------------------------------------------------------------------

    def send_ack(self) -> None:
        # No "ka" keep-alives: once a client has seen one it expects them on a timer; the server's
        # WebSocket pings already keep the connection alive.
        self.conn.push(types.ack())

    def next_prefix(self, op_id: str) -> tuple[str, str]:
        return types.data_frame(op_id)

    def send_error(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        self.conn.push(types.error(op_id, errors))

    def send_complete(self, op_id: str) -> None:
        self.conn.push(types.complete(op_id))
