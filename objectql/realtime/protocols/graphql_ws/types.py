"""Messages of the legacy ``graphql-ws`` subprotocol."""

from __future__ import annotations

from typing import Any

from objectql.realtime.wire import dumps

CONNECTION_INIT = "connection_init"
CONNECTION_ACK = "connection_ack"
CONNECTION_ERROR = "connection_error"
CONNECTION_TERMINATE = "connection_terminate"
KEEP_ALIVE = "ka"
START = "start"
STOP = "stop"
DATA = "data"
ERROR = "error"
COMPLETE = "complete"


def ack() -> str:
    return '{"type":"connection_ack"}'


def data_frame(op_id: str) -> tuple[str, str]:
    return '{"id":' + dumps(op_id) + ',"type":"data","payload":', "}"


def error(op_id: str, errors: list[dict[str, Any]]) -> str:
    # This protocol's error payload is one error object.
    return dumps({"id": op_id, "type": ERROR, "payload": errors[0] if errors else {"message": "error"}})


def complete(op_id: str) -> str:
    return dumps({"id": op_id, "type": COMPLETE})
