"""The plain WebSocket protocol of ``/api/realtime`` (docs/websocket.md): its frame limits.

Close codes are the shared ones of :mod:`objectql.realtime.vocabulary`.
"""

MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 4000
MAX_ID_LENGTH = 128
