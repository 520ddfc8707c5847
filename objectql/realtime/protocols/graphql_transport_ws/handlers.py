"""``graphql-transport-ws``: one ``handle_<type>`` per client message over the shared GraphQL session."""

from __future__ import annotations

from typing import Any

from objectql.realtime.protocols.graphql_session import GraphQLSession
from objectql.realtime.protocols.graphql_transport_ws import types


class TransportWSSession(GraphQLSession):
    def handle_ping(self, msg: dict[str, Any]) -> None:
        self.conn.push(types.pong())

    def handle_pong(self, msg: dict[str, Any]) -> None:
        return None

    def handle_subscribe(self, msg: dict[str, Any]) -> None:
        self.start_operation(msg.get("id"), msg.get("payload"))

    def handle_complete(self, msg: dict[str, Any]) -> None:
        self.stop_operation(msg.get("id"))

    # -- framing -------------------------------------------------------------------------------

    def send_ack(self) -> None:
        self.conn.push(types.ack())

    def next_prefix(self, op_id: str) -> tuple[str, str]:
        return types.next_frame(op_id)

    def send_error(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        self.conn.push(types.error(op_id, errors))

    def send_complete(self, op_id: str) -> None:
        self.conn.push(types.complete(op_id))
