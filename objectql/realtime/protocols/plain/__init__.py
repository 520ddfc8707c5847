"""The plain WebSocket protocol of ``/api/realtime`` (SPEC §9): close codes and limits."""

CLOSE_BAD_FRAME = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_DUPLICATE_ID = 4409
CLOSE_FLOOD = 4429
CLOSE_INTERNAL = 4500

MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 4000
MAX_ID_LENGTH = 128
# 4429: more than this many messages per second, in two consecutive seconds.
FLOOD_SECONDS = 2
