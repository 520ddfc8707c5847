"""Server messages of the legacy ``graphql-ws`` subprotocol, as typed constructors of their texts."""

from __future__ import annotations

from typing import Any

from objectql.realtime.wire import dumps


class LegacyWSMessages:
    def ack(self) -> str:
        return '{"type":"connection_ack"}'

    def next(self, op_id: str) -> tuple[str, str]:
        return '{"id":' + dumps(op_id) + ',"type":"data","payload":', "}"

    def error(self, op_id: str, errors: list[dict[str, Any]]) -> str:
        # This protocol's error payload is one error object.
        return dumps({"id": op_id, "type": "error", "payload": errors[0] if errors else {"message": "error"}})

    def complete(self, op_id: str) -> str:
        return dumps({"id": op_id, "type": "complete"})


MESSAGES = LegacyWSMessages()
