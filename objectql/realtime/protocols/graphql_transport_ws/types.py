"""Messages of ``graphql-transport-ws``: client → server types and the server's message builders."""

from __future__ import annotations

from typing import Any

from objectql.realtime.wire import dumps

CONNECTION_INIT = "connection_init"
CONNECTION_ACK = "connection_ack"
PING = "ping"
PONG = "pong"
SUBSCRIBE = "subscribe"
NEXT = "next"
ERROR = "error"
COMPLETE = "complete"


def ack() -> str:
    return '{"type":"connection_ack"}'


def pong() -> str:
    return '{"type":"pong"}'


def next_frame(op_id: str) -> tuple[str, str]:
    """Prefix and suffix around a serialised execution result."""
    return '{"id":' + dumps(op_id) + ',"type":"next","payload":', "}"


def error(op_id: str, errors: list[dict[str, Any]]) -> str:
    return dumps({"id": op_id, "type": ERROR, "payload": errors})


def complete(op_id: str) -> str:
    return dumps({"id": op_id, "type": COMPLETE})
