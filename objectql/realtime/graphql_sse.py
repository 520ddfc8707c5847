"""GraphQL over SSE (the graphql-sse protocol, distinct connections mode).

One ``POST /graphql`` with ``Accept: text/event-stream`` per operation: each result is ``event: next`` with
the execution result as data, and the stream ends with ``event: complete``. Subscriptions run on the hub like
every other transport (grouped execution, bounded queue, replay with ``after``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import Receive, Send

from objectql.engine.user import User
from objectql.errors import ObjectQLError
from objectql.realtime.connection import CLOSE_NORMAL, Connection
from objectql.realtime.hub import Subscription
from objectql.realtime.protocols.graphql_session import EXPIRY_GRACE, GraphQLService, error_object
from objectql.realtime.service import Realtime
from objectql.realtime.sse import end_stream, watch_disconnect
from objectql.realtime.subscribe import open_subscription
from objectql.realtime.transports import StreamTransport
from objectql.realtime.wire import dumps

NEXT_PREFIX = "event: next\ndata: "
NEXT_SUFFIX = "\n\n"
COMPLETE = "event: complete\ndata: \n\n"
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def stream_errors(send: Send, errors: list[dict[str, Any]]) -> None:
    """An operation refused before it ran: one ``next`` carrying the errors, then ``complete``."""
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    body = NEXT_PREFIX + dumps({"errors": errors}) + NEXT_SUFFIX + COMPLETE
    await send({"type": "http.response.body", "body": body.encode("utf-8"), "more_body": False})


async def stream_operation(
    receive: Receive,
    send: Send,
    rt: Realtime,
    service: GraphQLService,
    prepared: Any,
    user: User | None,
    ends_at: float | None,
) -> None:
    """Run one prepared operation as an event stream on an HTTP response."""
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    transport = StreamTransport(send)
    if not service.is_subscription(prepared):
        try:
            result = await service.execute(prepared, user)
        except ObjectQLError as exc:
            result = {"errors": [error_object(exc)]}
        await transport.send(NEXT_PREFIX + dumps(result) + NEXT_SUFFIX + COMPLETE)
        await transport.close(CLOSE_NORMAL, "")
        return
    conn = Connection(transport, queue_size=rt.limits.queue_size)
    rt.track(conn)
    conn.start()
    hub = rt.require_hub()
    loop = asyncio.get_running_loop()
    watcher = loop.create_task(watch_disconnect(receive, conn), name=f"graphql-sse watcher {conn.id}")
    expiry = None
    sub: Subscription | None = None
    try:
        try:
            plan = service.plan(prepared, user)
            sub = Subscription(conn, conn.id, plan.view, prefix=NEXT_PREFIX, suffix=NEXT_SUFFIX, renderer=plan.renderer)
            opening = await open_subscription(rt.app, hub, sub, resume_from=plan.after)
        except ObjectQLError as exc:
            conn.push(NEXT_PREFIX + dumps({"errors": [error_object(exc)]}) + NEXT_SUFFIX + COMPLETE)
            conn.close(CLOSE_NORMAL)
            await conn.closed.wait()
            return
        if opening.reset:
            message = "the resume point is outside the retention window; refetch and subscribe again"
            error = {"message": message, "extensions": {"code": "RESET", "seq": str(opening.seq)}}
            conn.push(NEXT_PREFIX + dumps({"errors": [error]}) + NEXT_SUFFIX + COMPLETE)
            conn.close(CLOSE_NORMAL)
        else:
            for message in opening.replay:
                conn.push(message)
            sub.go_live(opening.seq)
            if ends_at is not None:
                delay = max(ends_at - time.time() + EXPIRY_GRACE, 0.0)
                expiry = loop.call_later(delay, _expire, conn)
        await conn.closed.wait()
    finally:
        if sub is not None:
            hub.remove(sub)
        if expiry is not None:
            expiry.cancel()
        await end_stream(conn, transport, watcher)


def _expire(conn: Connection) -> None:
    error = {"message": "the token expired", "extensions": {"code": "TOKEN_EXPIRED"}}
    conn.push(NEXT_PREFIX + dumps({"errors": [error]}) + NEXT_SUFFIX + COMPLETE)
    conn.close(CLOSE_NORMAL, "token expired")
