"""``/graphql`` over WebSocket: ``graphql-transport-ws`` or legacy ``graphql-ws``, chosen by subprotocol."""

from __future__ import annotations

from starlette.websockets import WebSocket

from objectql.realtime.protocols.graphql_session import GraphQLService, GraphQLSession
from objectql.realtime.protocols.graphql_transport_ws import SUBPROTOCOL as TRANSPORT_WS
from objectql.realtime.protocols.graphql_transport_ws.handlers import TransportWSSession
from objectql.realtime.protocols.graphql_ws import SUBPROTOCOL as LEGACY_WS
from objectql.realtime.protocols.graphql_ws.handlers import LegacyWSSession
from objectql.realtime.service import Realtime
from objectql.realtime.websocket import accepted_connection, origin_refused, serve

CLOSE_SUBPROTOCOL = 4406
SESSIONS: dict[str, type[GraphQLSession]] = {TRANSPORT_WS: TransportWSSession, LEGACY_WS: LegacyWSSession}


async def graphql_websocket(websocket: WebSocket) -> None:
    rt: Realtime = websocket.app.state.realtime
    service: GraphQLService = websocket.app.state.graphql
    if await origin_refused(websocket, rt):
        return
    offered = websocket.scope.get("subprotocols") or []
    chosen = next((p for p in offered if p in SESSIONS), None)
    if chosen is None:
        await websocket.accept()
        await websocket.close(CLOSE_SUBPROTOCOL, "Subprotocol not acceptable")
        return
    await websocket.accept(subprotocol=chosen)
    conn = accepted_connection(websocket, rt)
    await serve(websocket, conn, SESSIONS[chosen](rt, service, conn))
