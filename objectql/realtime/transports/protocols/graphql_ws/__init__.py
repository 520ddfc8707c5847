"""The legacy ``graphql-ws`` subprotocol (subscriptions-transport-ws, as Apollo's older clients speak it)."""

SUBPROTOCOL = "graphql-ws"
