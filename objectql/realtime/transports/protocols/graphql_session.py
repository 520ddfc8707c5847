"""What both GraphQL WebSocket protocols share: connection_init auth, operations, limits, live subscriptions.

The protocol folders (``graphql_transport_ws``, ``graphql_ws``) only frame messages; the rules are here and
identical for both (docs/graphql.md): ``connection_init`` within 10 s or 4408; an operation before the ack
4401; a bad or expired token 4403; a duplicate operation id 4409; a second ``connection_init`` 4429; at most
``OBJECTQL_WS_MAX_SUBSCRIPTIONS`` active operations, the next gets ``TOO_MANY_SUBSCRIPTIONS``.
Documents are run by an :class:`~objectql.realtime.operations.OperationRunner`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from objectql.engine.user import ANONYMOUS, User
from objectql.errors import ObjectQLError, Unauthenticated
from objectql.realtime.connection import Connection, Message
from objectql.realtime.live import Ending, ResetReply
from objectql.realtime.opening import Live
from objectql.realtime.operations import OperationError, OperationRunner
from objectql.realtime.policy import ConnectionPolicy
from objectql.realtime.rows import Enclosed
from objectql.realtime.service import Realtime
from objectql.realtime.transports.credentials import connection_init_token
from objectql.realtime.transports.timers import ConnectionTimers
from objectql.realtime.vocabulary import (
    CLOSE_AUTH_TIMEOUT,
    CLOSE_BAD_MESSAGE,
    CLOSE_DUPLICATE_ID,
    CLOSE_FLOOD,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    RESET_REASON,
)
from objectql.realtime.wire import dumps, loads

log = logging.getLogger("objectql.graphql")


@dataclass(frozen=True)
class ConnectionInit:
    """``connection_init`` (both subprotocols): its payload carries the credentials."""

    payload: Any

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> ConnectionInit:
        return cls(msg.get("payload"))


@dataclass(frozen=True)
class StartOperation:
    """``subscribe`` (graphql-transport-ws) or ``start`` (graphql-ws): run a document under an id. The id and
    the payload are checked when it is handled, after the connection's own state (an operation before the
    ack closes 4401, whatever it holds)."""

    id: Any
    payload: Any

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> StartOperation:
        return cls(msg.get("id"), msg.get("payload"))


@dataclass(frozen=True)
class StopOperation:
    """``complete`` (graphql-transport-ws) or ``stop`` (graphql-ws): end the operation of an id."""

    id: Any

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> StopOperation:
        return cls(msg.get("id"))


class ServerMessages(Protocol):
    """The server messages of one GraphQL WebSocket subprotocol."""

    def ack(self) -> str: ...

    def next(self, op_id: str) -> tuple[str, str]:
        """Prefix and suffix around a serialised execution result."""

    def error(self, op_id: str, errors: list[dict[str, Any]]) -> str: ...

    def complete(self, op_id: str) -> str: ...


def error_object(exc: ObjectQLError) -> dict[str, Any]:
    data = exc.to_dict()
    extensions: dict[str, Any] = {"code": data["code"]}
    if "path" in data:
        extensions["path"] = data["path"]
    if "details" in data:
        extensions["details"] = data["details"]
    errors = exc.details.get("errors") if exc.code == "VALIDATION_ERROR" else None
    if errors:
        extensions["fields"] = {e["field"]: e["message"] for e in errors}
    return {"message": data["message"], "extensions": extensions}


def reset_error(seq: int) -> dict[str, Any]:
    """A resume point (``after:``) out of reach ends the subscription with this error."""
    return {"message": f"{RESET_REASON} and subscribe again", "extensions": {"code": "RESET", "seq": str(seq)}}


def internal_error() -> dict[str, Any]:
    return {"message": "internal error", "extensions": {"code": "INTERNAL_ERROR"}}


class OperationFraming:
    """A subscription operation's messages, for every kind of request: each result framed as the
    subprotocol's ``next`` / ``data``; a reset ends the operation with the messages ``on_reset`` gives for the
    current seq."""

    def __init__(self, prefix: str, suffix: str, on_reset: Callable[[int], tuple[str, ...]]) -> None:
        self.change = self.aggregate = Enclosed(prefix, suffix)
        self._on_reset = on_reset

    def opened(self, seq: int, records: list[dict[str, Any]] | None, *, ack: bool = True) -> list[Message]:
        return []  # a window's rows are rendered results like its changes

    def reset(self, seq: int) -> ResetReply:
        return ResetReply(self._on_reset(seq), live=False)


class GraphQLSession:
    """One GraphQL WebSocket connection; subclasses handle the messages of their subprotocol."""

    messages: ServerMessages

    def __init__(
        self, realtime: Realtime, policy: ConnectionPolicy, operations: OperationRunner, conn: Connection
    ) -> None:
        self.realtime = realtime
        self.policy = policy
        self.limits = policy.limits
        self.operations = operations
        self.conn = conn
        self.init_received = False
        self.acknowledged = False
        self.user: User | None = None
        self.running: dict[str, Live | asyncio.Task[None]] = {}
        self.timers = ConnectionTimers()
        self._init_task: asyncio.Task[None] | None = None

    def handle(self, msg: dict[str, Any]) -> None:
        """Dispatch to ``handle_<type>``; an unknown type closes 4400."""
        handler = getattr(self, f"handle_{msg['type']}", None)
        if handler is None:
            self.conn.close(CLOSE_BAD_MESSAGE, f"unknown message type {msg['type'][:32]!r}")
            return
        handler(msg)

    def handle_connection_init(self, msg: dict[str, Any]) -> None:
        self.init(ConnectionInit.parse(msg).payload)

    def send_error(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        self.conn.push(self.messages.error(op_id, errors))

    def send_complete(self, op_id: str) -> None:
        self.conn.push(self.messages.complete(op_id))

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.timers.set_deadline(self.limits.auth_timeout, self._init_timeout)
        self.conn.on_close(lambda _c: self.release())

    def release(self) -> None:
        for op in self.running.values():
            self._end(op)
        self.running.clear()
        if self._init_task is not None:
            self._init_task.cancel()
        self.timers.cancel()

    def _init_timeout(self) -> None:
        if not self.init_received:
            self.conn.close(CLOSE_AUTH_TIMEOUT, "connection initialisation timeout")

    def receive_text(self, text: str) -> None:
        if self.conn.closed.is_set():
            return
        limit = self.limits.max_message_bytes
        if len(text) * 4 > limit and len(text.encode()) > limit:
            self.conn.close(CLOSE_TOO_BIG, "message too big")
            return
        try:
            msg = loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            self.conn.close(CLOSE_BAD_MESSAGE, "invalid message")
            return
        try:
            self.handle(msg)
        except Exception:
            log.exception("GraphQL WebSocket handler failed")
            self.conn.close(CLOSE_INTERNAL, "internal error")

    def receive_bytes(self) -> None:
        self.conn.close(CLOSE_BAD_MESSAGE, "binary messages are not accepted")

    # -- connection_init -----------------------------------------------------------------------

    def init(self, payload: Any) -> None:
        if self.init_received:
            self.conn.close(CLOSE_FLOOD, "too many initialisation requests")
            return
        self.init_received = True
        self.timers.clear_deadline()
        if payload is not None and not isinstance(payload, dict):
            self.conn.close(CLOSE_BAD_MESSAGE, "the connection_init payload must be an object")
            return
        token = connection_init_token(payload)
        pending = self.policy.keys_pending(token)
        if pending is not None:
            # A key not seen yet: fetch the provider's keys, then answer (operations before the ack close 4401).
            self._init_task = asyncio.get_running_loop().create_task(
                self._init_when_keys(pending, token), name=f"graphql init {self.conn.id}"
            )
            return
        self._authenticate(token)

    async def _init_when_keys(self, pending: Awaitable[None], token: str | None) -> None:
        await pending
        if not self.conn.closed.is_set():
            self._authenticate(token)

    def _authenticate(self, token: str | None) -> None:
        try:
            principal = self.policy.authenticate(token)
        except Unauthenticated:
            self.conn.close(CLOSE_FORBIDDEN, "forbidden")
            return
        self.user = principal.user if self.policy.auth_required else ANONYMOUS
        self.timers.set_expiry(principal.ends_at, lambda: self.conn.close(CLOSE_FORBIDDEN, "token expired"))
        self.acknowledged = True
        self.conn.push(self.messages.ack())

    # -- operations ----------------------------------------------------------------------------

    def start_operation(self, op_id: Any, payload: Any) -> None:
        if not self.acknowledged:
            self.conn.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return
        if not isinstance(op_id, str) or not op_id:
            self.conn.close(CLOSE_BAD_MESSAGE, "an operation needs an id")
            return
        if op_id in self.running:
            self.conn.close(CLOSE_DUPLICATE_ID, f"subscriber for {op_id[:64]} already exists")
            return
        if not isinstance(payload, dict):
            self.conn.close(CLOSE_BAD_MESSAGE, "an operation needs a payload")
            return
        if len(self.running) >= self.limits.max_subscriptions:
            message = f"at most {self.limits.max_subscriptions} active operations per connection"
            self.send_error(op_id, [{"message": message, "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"}}])
            return
        try:
            prepared = self.operations.prepare(
                payload.get("query"), payload.get("variables"), payload.get("operationName")
            )
        except OperationError as exc:
            self.send_error(op_id, exc.errors)
            return
        task = asyncio.get_running_loop().create_task(self._run(op_id, prepared), name=f"graphql op {op_id}")
        self.running[op_id] = task

    def stop_operation(self, op_id: Any) -> None:
        op = self.running.pop(op_id, None) if isinstance(op_id, str) else None
        self._end(op)

    def _end(self, op: Live | asyncio.Task[None] | None) -> None:
        if isinstance(op, asyncio.Task):
            op.cancel()
        elif op is not None:
            op.drop()

    async def _run(self, op_id: str, prepared: Any) -> None:
        try:
            if self.operations.is_subscription(prepared):
                await self._subscribe(op_id, prepared)
                return
            result = await self.operations.execute(prepared, self.user)
            if self.running.get(op_id) is asyncio.current_task():
                prefix, suffix = self.messages.next(op_id)
                self.conn.push(prefix + dumps(result) + suffix)
                self.send_complete(op_id)
                del self.running[op_id]
        except asyncio.CancelledError:
            raise
        except ObjectQLError as exc:
            self._fail(op_id, [error_object(exc)])
        except Exception:
            log.exception("GraphQL operation failed")
            self._fail(op_id, [internal_error()])

    def _ending(self, op_id: str) -> Ending:
        """How a live aggregate or window that can no longer be kept ends the operation: its error."""

        def end(error: ObjectQLError) -> None:
            op = self.running.get(op_id)
            if op is not None and getattr(op, "end", None) is end:  # still this one
                self._fail(op_id, [error_object(error)])

        return end

    def _fail(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        op = self.running.pop(op_id, None)
        if not isinstance(op, asyncio.Task):
            self._end(op)
        self.send_error(op_id, errors)

    async def _subscribe(self, op_id: str, prepared: Any) -> None:
        operation = self.operations.live(prepared, self.user)
        prefix, suffix = self.messages.next(op_id)
        framing = OperationFraming(prefix, suffix, lambda seq: (self.messages.error(op_id, [reset_error(seq)]),))
        opening = await self.realtime.open(self.conn, op_id, operation.request, framing, end=self._ending(op_id))
        if self.running.get(op_id) is not asyncio.current_task():
            opening.cancel()  # stopped while opening
            return
        live = opening.release()
        if live is None:
            del self.running[op_id]  # ended by a reset (its error is sent)
        else:
            self.running[op_id] = live
