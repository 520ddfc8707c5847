"""The realtime vocabulary every transport shares: close codes, timings and fixed texts.

WebSocket close codes (see docs/websocket.md and docs/graphql.md): the 1xxx codes are RFC 6455's, the
4xxx codes this server's; both GraphQL subprotocols use the same 44xx codes as the plain protocol.
"""

from __future__ import annotations

# -- RFC 6455 close codes ------------------------------------------------------------------------
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008  # a handshake refused before it completes (the client sees HTTP 403)
CLOSE_TOO_BIG = 1009
CLOSE_RESTART = 1012
CLOSE_TRY_AGAIN = 1013  # slow consumer or overload

# -- this server's close codes -------------------------------------------------------------------
CLOSE_BAD_MESSAGE = 4400  # a frame that is not a message of the protocol
CLOSE_UNAUTHORIZED = 4401  # a request before the connection is authenticated / acknowledged
CLOSE_FORBIDDEN = 4403  # a bad or expired token
CLOSE_SUBPROTOCOL = 4406  # /graphql without a GraphQL subprotocol
CLOSE_AUTH_TIMEOUT = 4408  # no auth / connection_init in time
CLOSE_DUPLICATE_ID = 4409  # a subscription or operation id already active
CLOSE_FLOOD = 4429  # too many messages (plain), a second connection_init (GraphQL)
CLOSE_INTERNAL = 4500

# A message over this many bytes (after decompression) closes the connection with 1009.
MAX_MESSAGE_BYTES = 65_536

# Close reasons must fit a control frame (125 bytes, 2 of them the code); a little margin below that.
MAX_REASON_BYTES = 122

# -- timings --------------------------------------------------------------------------------------
# A live connection whose token expires ends this long after exp + leeway: never early, and well
# within the two seconds allowed.
EXPIRY_GRACE = 0.25
# A close handshake that cannot be written within this many seconds is an abort.
CLOSE_TIMEOUT = 1.0
# EventSource reconnects this many milliseconds after a stream ends.
SSE_RETRY_MS = 3000

# -- texts ----------------------------------------------------------------------------------------
RESET_REASON = "resume point outside the retention window; refetch"
SLOW_CONSUMER = "slow consumer"

# -- event streams --------------------------------------------------------------------------------
# Response headers of every event stream (SSE and graphql-sse): no caching, no proxy buffering.
EVENT_STREAM_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def clip_reason(reason: str) -> str:
    """``reason`` cut to what a close frame can carry, never in the middle of a character."""
    data = reason.encode("utf-8")[:MAX_REASON_BYTES]
    return data.decode("utf-8", "ignore")
