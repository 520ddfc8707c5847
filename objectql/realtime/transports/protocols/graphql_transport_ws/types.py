"""Server messages of ``graphql-transport-ws``, as typed constructors of their texts."""

from __future__ import annotations

from typing import Any

from objectql.realtime.wire import dumps


class TransportWSMessages:
    def ack(self) -> str:
        return '{"type":"connection_ack"}'

    def pong(self) -> str:
        return '{"type":"pong"}'

    def next(self, op_id: str) -> tuple[str, str]:
        return '{"id":' + dumps(op_id) + ',"type":"next","payload":', "}"

    def error(self, op_id: str, errors: list[dict[str, Any]]) -> str:
        return dumps({"id": op_id, "type": "error", "payload": errors})

    def complete(self, op_id: str) -> str:
        return dumps({"id": op_id, "type": "complete"})


MESSAGES = TransportWSMessages()
