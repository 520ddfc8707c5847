"""The doors of the realtime core: endpoints, socket adapters and wire protocols.

Every endpoint reads what it needs from the app's state (:mod:`.state`), opens subscriptions through
:meth:`objectql.realtime.service.Realtime.open` with a :class:`~objectql.realtime.opening.Framing` of its
own, and speaks to its socket or stream through a :class:`~objectql.realtime.connection.Connection`.

- ``websocket``: ``/api/realtime`` (the plain protocol) and the read loop every WebSocket shares
- ``graphql_websocket``: ``/graphql`` over ``graphql-transport-ws`` or legacy ``graphql-ws``
- ``sse``: ``/api/events/{object}``; ``graphql_sse``: ``POST /graphql`` as an event stream
- ``protocols/``: one folder per WebSocket protocol (constants, typed messages, ``handle_<type>``)
- ``sockets``: the connection's adapters over ASGI WebSockets and HTTP response bodies
- ``credentials``: where each transport's clients put their token
"""
