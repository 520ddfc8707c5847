"""``/graphql`` over WebSocket: ``graphql-transport-ws`` or legacy ``graphql-ws``, chosen by subprotocol."""

from __future__ import annotations

from starlette.websockets import WebSocket

from objectql.realtime.transports.protocols.graphql_session import GraphQLSession
from objectql.realtime.transports.protocols.graphql_transport_ws import SUBPROTOCOL as TRANSPORT_WS
from objectql.realtime.transports.protocols.graphql_transport_ws.handlers import TransportWSSession
from objectql.realtime.transports.protocols.graphql_ws import SUBPROTOCOL as LEGACY_WS
from objectql.realtime.transports.protocols.graphql_ws.handlers import LegacyWSSession
from objectql.realtime.transports.state import operations_of, policy_of, realtime_of
from objectql.realtime.transports.websocket import accepted_connection, origin_refused, serve
from objectql.realtime.vocabulary import CLOSE_SUBPROTOCOL

SESSIONS: dict[str, type[GraphQLSession]] = {TRANSPORT_WS: TransportWSSession, LEGACY_WS: LegacyWSSession}


async def graphql_websocket(websocket: WebSocket) -> None:
    realtime, policy = realtime_of(websocket.scope), policy_of(websocket.scope)
    if await origin_refused(websocket, policy):
        return
    offered = websocket.scope.get("subprotocols") or []
    chosen = next((p for p in offered if p in SESSIONS), None)
    if chosen is None:
        await websocket.accept()
        await websocket.close(CLOSE_SUBPROTOCOL, "Subprotocol not acceptable")
        return
    await websocket.accept(subprotocol=chosen)
    conn = accepted_connection(websocket, realtime, policy, kind="graphql-ws")
    await serve(websocket, conn, SESSIONS[chosen](realtime, policy, operations_of(websocket.scope), conn))
