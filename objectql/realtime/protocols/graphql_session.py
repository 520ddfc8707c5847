"""What both GraphQL WebSocket protocols share: connection_init auth, operations, limits, live subscriptions.

The protocol modules (``graphql_transport_ws``, ``graphql_ws``) only frame messages; the rules are here and
identical for both (SPEC §6): ``connection_init`` within 10 s or 4408; an operation before the ack 4401; a
bad or expired token 4403; a duplicate operation id 4409; a second ``connection_init`` 4429; at most
``OBJECTQL_WS_MAX_SUBSCRIPTIONS`` active operations, the next gets ``TOO_MANY_SUBSCRIPTIONS``.
Documents are run by a :class:`GraphQLService` (the resolvers layer implements it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Protocol

from objectql.engine.user import ANONYMOUS, User
from objectql.engine.views import View
from objectql.errors import ObjectQLError, Unauthenticated
from objectql.realtime.connection import Connection
from objectql.realtime.credentials import connection_init_token
from objectql.realtime.hub import Renderer, Subscription
from objectql.realtime.service import Realtime
from objectql.realtime.subscribe import open_subscription
from objectql.realtime.wire import dumps

log = logging.getLogger("objectql.graphql")

CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
CLOSE_DUPLICATE_OPERATION = 4409
CLOSE_TOO_MANY_INITS = 4429
CLOSE_INTERNAL = 4500
EXPIRY_GRACE = 0.25


class OperationError(Exception):
    """A GraphQL request refused before execution; ``errors`` are wire-ready error objects."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "bad request")
        self.errors = errors


class LivePlan(Protocol):
    @property
    def view(self) -> View: ...

    @property
    def renderer(self) -> Renderer: ...

    @property
    def after(self) -> int | None: ...


class GraphQLService(Protocol):
    def prepare(self, query: Any, variables: Any, operation_name: Any) -> Any: ...

    def is_subscription(self, prepared: Any) -> bool: ...

    async def execute(self, prepared: Any, user: User | None) -> dict[str, Any]: ...

    def plan(self, prepared: Any, user: User | None) -> LivePlan: ...


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


class GraphQLSession:
    """One GraphQL WebSocket connection; subclasses frame the messages of their subprotocol."""

    def __init__(self, rt: Realtime, service: GraphQLService, conn: Connection) -> None:
        self.rt = rt
        self.service = service
        self.conn = conn
        self.hub = rt.require_hub()
        self.init_received = False
        self.acknowledged = False
        self.user: User | None = None
        self.operations: dict[str, Subscription | asyncio.Task[None]] = {}
        self._deadline: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None

    # -- framing (per protocol) ----------------------------------------------------------------

    def next_prefix(self, op_id: str) -> tuple[str, str]:
        raise NotImplementedError

    def send_error(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def send_complete(self, op_id: str) -> None:
        raise NotImplementedError

    def send_ack(self) -> None:
        raise NotImplementedError

    def handle(self, msg: dict[str, Any]) -> None:
        """Dispatch to ``handle_<type>``; an unknown type closes 4400."""
        handler = getattr(self, f"handle_{msg['type']}", None)
        if handler is None:
            self.conn.close(CLOSE_BAD_MESSAGE, f"unknown message type {msg['type'][:32]!r}")
            return
        handler(msg)

    def handle_connection_init(self, msg: dict[str, Any]) -> None:
        self.init(msg.get("payload"))

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.rt.limits.auth_timeout, self._init_timeout)
        self.conn.on_close(lambda _c: self.release())

    def release(self) -> None:
        for op in self.operations.values():
            if isinstance(op, Subscription):
                self.hub.remove(op)
            else:
                op.cancel()
        self.operations.clear()
        for handle in (self._deadline, self._expiry):
            if handle is not None:
                handle.cancel()

    def _init_timeout(self) -> None:
        if not self.init_received:
            self.conn.close(CLOSE_INIT_TIMEOUT, "connection initialisation timeout")

    def receive_text(self, text: str) -> None:
        if self.conn.closed.is_set():
            return
        if len(text) * 4 > self.rt.limits.max_message_bytes and len(text.encode()) > self.rt.limits.max_message_bytes:
            self.conn.close(1009, "message too big")
            return
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError):
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
            self.conn.close(CLOSE_TOO_MANY_INITS, "too many initialisation requests")
            return
        self.init_received = True
        if self._deadline is not None:
            self._deadline.cancel()
        if payload is not None and not isinstance(payload, dict):
            self.conn.close(CLOSE_BAD_MESSAGE, "the connection_init payload must be an object")
            return
        try:
            identity = self.rt.authenticator.authenticate(connection_init_token(payload))
        except Unauthenticated:
            self.conn.close(CLOSE_FORBIDDEN, "forbidden")
            return
        self.user = identity.user if self.rt.authenticator.enabled else ANONYMOUS
        if identity.ends_at is not None:
            delay = identity.ends_at - time.time() + EXPIRY_GRACE
            self._expiry = asyncio.get_running_loop().call_later(
                max(delay, 0.0), self.conn.close, CLOSE_FORBIDDEN, "token expired"
            )
        self.acknowledged = True
        self.send_ack()

    # -- operations ----------------------------------------------------------------------------

    def start_operation(self, op_id: Any, payload: Any) -> None:
        if not self.acknowledged:
            self.conn.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return
        if not isinstance(op_id, str) or not op_id:
            self.conn.close(CLOSE_BAD_MESSAGE, "an operation needs an id")
            return
        if op_id in self.operations:
            self.conn.close(CLOSE_DUPLICATE_OPERATION, f"subscriber for {op_id[:64]} already exists")
            return
        if not isinstance(payload, dict):
            self.conn.close(CLOSE_BAD_MESSAGE, "an operation needs a payload")
            return
        if len(self.operations) >= self.rt.limits.max_subscriptions:
            limit = self.rt.limits.max_subscriptions
            message = f"at most {limit} active operations per connection"
            self.send_error(op_id, [{"message": message, "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"}}])
            return
        try:
            prepared = self.service.prepare(
                payload.get("query"), payload.get("variables"), payload.get("operationName")
            )
        except OperationError as exc:
            self.send_error(op_id, exc.errors)
            return
        task = asyncio.get_running_loop().create_task(self._run(op_id, prepared), name=f"graphql op {op_id}")
        self.operations[op_id] = task

    def stop_operation(self, op_id: Any) -> None:
        op = self.operations.pop(op_id, None) if isinstance(op_id, str) else None
        if isinstance(op, Subscription):
            self.hub.remove(op)
        elif op is not None:
            op.cancel()

    async def _run(self, op_id: str, prepared: Any) -> None:
        try:
            if self.service.is_subscription(prepared):
                await self._subscribe(op_id, prepared)
                return
            result = await self.service.execute(prepared, self.user)
            if self.operations.get(op_id) is asyncio.current_task():
                prefix, suffix = self.next_prefix(op_id)
                self.conn.push(prefix + dumps(result) + suffix)
                self.send_complete(op_id)
                del self.operations[op_id]
        except asyncio.CancelledError:
            raise
        except ObjectQLError as exc:
            self._fail(op_id, [error_object(exc)])
        except Exception:
            log.exception("GraphQL operation failed")
            self._fail(op_id, [{"message": "internal error", "extensions": {"code": "INTERNAL_ERROR"}}])

    def _fail(self, op_id: str, errors: list[dict[str, Any]]) -> None:
        op = self.operations.pop(op_id, None)
        if isinstance(op, Subscription):
            self.hub.remove(op)
        self.send_error(op_id, errors)

    async def _subscribe(self, op_id: str, prepared: Any) -> None:
        plan = self.service.plan(prepared, self.user)
        prefix, suffix = self.next_prefix(op_id)
        sub = Subscription(self.conn, op_id, plan.view, prefix=prefix, suffix=suffix, renderer=plan.renderer)
        opening = await open_subscription(self.rt.app, self.hub, sub, resume_from=plan.after)
        if self.operations.get(op_id) is not asyncio.current_task() or self.conn.closed.is_set():
            self.hub.remove(sub)
            return
        self.operations[op_id] = sub
        if opening.reset:
            message = "the resume point is outside the retention window; refetch and subscribe again"
            self._fail(op_id, [{"message": message, "extensions": {"code": "RESET", "seq": str(opening.seq)}}])
            return
        # Nothing awaits from here to go_live: the replay precedes every live event.
        for message in opening.replay:
            self.conn.push(message)
        sub.go_live(opening.seq)
