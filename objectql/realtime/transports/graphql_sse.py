"""GraphQL over SSE (the graphql-sse protocol, distinct connections mode).

One ``POST /graphql`` with ``Accept: text/event-stream`` per operation: each result is ``event: next`` with
the execution result as data, and the stream ends with ``event: complete``. Subscriptions run on the hub like
every other transport (grouped execution, bounded queue, lossless replay with ``after``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive, Send

from objectql.engine.user import User
from objectql.errors import ObjectQLError
from objectql.realtime.connection import Connection
from objectql.realtime.live import Ending
from objectql.realtime.operations import OperationRunner
from objectql.realtime.policy import ConnectionPolicy
from objectql.realtime.service import Realtime
from objectql.realtime.transports.protocols.graphql_session import OperationFraming, error_object, reset_error
from objectql.realtime.transports.sockets import StreamTransport
from objectql.realtime.transports.sse import PING, Repeating, end_stream, start_stream, watch_disconnect
from objectql.realtime.transports.timers import ConnectionTimers
from objectql.realtime.vocabulary import CLOSE_NORMAL
from objectql.realtime.wire import dumps

NEXT_PREFIX = "event: next\ndata: "
NEXT_SUFFIX = "\n\n"
COMPLETE = "event: complete\ndata: \n\n"


def last_result(errors: list[dict[str, Any]]) -> str:
    """A ``next`` carrying only ``errors``, then ``complete``: how a stream ends on an error."""
    return NEXT_PREFIX + dumps({"errors": errors}) + NEXT_SUFFIX + COMPLETE


async def stream_errors(send: Send, errors: list[dict[str, Any]]) -> None:
    """An operation refused before it ran: one ``next`` carrying the errors, then ``complete``."""
    await start_stream(send)
    await send({"type": "http.response.body", "body": last_result(errors).encode("utf-8"), "more_body": False})


async def stream_operation(
    receive: Receive,
    send: Send,
    realtime: Realtime,
    policy: ConnectionPolicy,
    operations: OperationRunner,
    prepared: Any,
    user: User | None,
    ends_at: float | None,
) -> None:
    """Run one prepared operation as an event stream on an HTTP response."""
    await start_stream(send)
    transport = StreamTransport(send)
    if not operations.is_subscription(prepared):
        try:
            result = await operations.execute(prepared, user)
        except ObjectQLError as exc:
            result = {"errors": [error_object(exc)]}
        await transport.send(NEXT_PREFIX + dumps(result) + NEXT_SUFFIX + COMPLETE)
        await transport.close(CLOSE_NORMAL, "")
        return
    conn = Connection(transport, queue_size=policy.limits.queue_size, kind="graphql-sse")
    realtime.track(conn)
    conn.start()
    loop = asyncio.get_running_loop()
    watcher = loop.create_task(watch_disconnect(receive, conn), name=f"graphql-sse watcher {conn.id}")
    timers = ConnectionTimers()
    pending = None
    # Like /api/events: a comment now and then keeps proxies from timing an idle stream out.
    heartbeat = Repeating(loop, policy.limits.sse_ping_interval, lambda: conn.push(PING))
    try:
        try:
            operation = operations.live(prepared, user)
            framing = OperationFraming(NEXT_PREFIX, NEXT_SUFFIX, lambda seq: (last_result([reset_error(seq)]),))
            pending = await realtime.open(conn, conn.id, operation.request, framing, end=ending(conn))
        except ObjectQLError as exc:
            conn.push(last_result([error_object(exc)]))
            conn.close(CLOSE_NORMAL)
            await conn.closed.wait()
            return
        if pending.release() is None:
            conn.close(CLOSE_NORMAL)  # ended by a reset
        else:
            timers.set_expiry(ends_at, lambda: _expire(conn))
        await conn.closed.wait()
    finally:
        heartbeat.cancel()
        if pending is not None:
            pending.cancel()
        timers.cancel()
        await end_stream(conn, transport, watcher)


def ending(conn: Connection) -> Ending:
    """How a live aggregate or window that can no longer be kept ends the stream: its error as the last result."""

    def end(error: ObjectQLError) -> None:
        conn.push(last_result([error_object(error)]))
        conn.close(CLOSE_NORMAL, error.code)

    return end


def _expire(conn: Connection) -> None:
    conn.push(last_result([{"message": "the token expired", "extensions": {"code": "TOKEN_EXPIRED"}}]))
    conn.close(CLOSE_NORMAL, "token expired")
