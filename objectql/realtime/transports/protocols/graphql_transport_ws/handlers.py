"""``graphql-transport-ws``: one ``handle_<type>`` per client message over the shared GraphQL session."""

from __future__ import annotations

from typing import Any

from objectql.realtime.transports.protocols.graphql_session import GraphQLSession
from objectql.realtime.transports.protocols.graphql_transport_ws.types import FRAMES


class TransportWSSession(GraphQLSession):
    frames = FRAMES

    def handle_ping(self, msg: dict[str, Any]) -> None:
        self.conn.push(FRAMES.pong())

    def handle_pong(self, msg: dict[str, Any]) -> None:
        return None

    def handle_subscribe(self, msg: dict[str, Any]) -> None:
        self.start_operation(msg.get("id"), msg.get("payload"))

    def handle_complete(self, msg: dict[str, Any]) -> None:
        self.stop_operation(msg.get("id"))
