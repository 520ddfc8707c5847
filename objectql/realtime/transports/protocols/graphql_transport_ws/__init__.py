"""The ``graphql-transport-ws`` subprotocol (the graphql-ws library's protocol)."""

SUBPROTOCOL = "graphql-transport-ws"
