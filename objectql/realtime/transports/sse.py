"""``GET /api/events/{object}``: Server-Sent Events over the same subscription core (docs/realtime.md).

The stream starts with ``retry: 3000``; each change is ``id: <seq>`` / ``event: change`` / ``data: <the
change object without type and id>``; a ``: ping`` comment keeps proxies from timing the stream out.
``Last-Event-ID`` resumes losslessly: missed events are replayed; only a point outside retention gets
``event: reset``. A slow reader overflows its bounded queue and the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from objectql.engine.user import User
from objectql.errors import (
    Forbidden,
    InvalidFilter,
    InvalidRequest,
    NotFound,
    ObjectQLError,
    TooManyRows,
    Unauthenticated,
)
from objectql.realtime.connection import Connection, Message
from objectql.realtime.live import AggregateRequest, Ending, LiveRequest, ResetReply, RowsRequest, WindowRequest
from objectql.realtime.opening import Opening
from objectql.realtime.policy import ConnectionPolicy, Principal, authenticate
from objectql.realtime.service import Realtime
from objectql.realtime.transports.credentials import sse_token
from objectql.realtime.transports.sockets import StreamTransport
from objectql.realtime.transports.state import policy_of, realtime_of
from objectql.realtime.transports.timers import ConnectionTimers
from objectql.realtime.vocabulary import CLOSE_NORMAL, EVENT_STREAM_HEADERS, RESET_REASON, SSE_RETRY_MS
from objectql.realtime.wire import dumps, loads

STATUS = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    InvalidFilter: 400,
    InvalidRequest: 400,
    TooManyRows: 400,
}
PING = ": ping\n\n"
TOKEN_EXPIRED = 'event: error\ndata: {"code":"TOKEN_EXPIRED"}\n\n'


def error_response(exc: ObjectQLError) -> JSONResponse:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 500)
    return JSONResponse({"error": exc.to_dict()}, status_code=status)


def parse_query(request: Request) -> tuple[Any, list[str] | None, str | None]:
    raw_filters = request.query_params.get("filters")
    filters: Any = None
    if raw_filters:
        try:
            filters = loads(raw_filters)
        except ValueError:
            raise InvalidFilter("", "filters must be URL-encoded JSON") from None
    fields: list[str] | None = None
    raw_fields = request.query_params.get("fields")
    if raw_fields is not None:
        fields = [f.strip() for f in raw_fields.split(",")]
        if not all(fields):
            raise InvalidRequest("fields", "a comma-separated list of field names")
    return filters, fields, request.query_params.get("record_id") or None


def last_event_id(request: Request) -> int | None:
    raw = (request.headers.get("last-event-id") or "").strip()
    # isascii: str.isdigit() also accepts "²" (a Latin-1 header byte), which int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        return None  # not an integer: ignored
    try:
        return int(raw)
    except ValueError:  # more digits than int() parses: no seq looks like that
        return None


def change_frame(seq: int, fragment: bytes) -> bytes:
    """A change as an SSE event: the seq is its id (what ``Last-Event-ID`` sends back)."""
    return b"id: %d\nevent: change\ndata: {%b\n\n" % (seq, fragment)


def aggregate_frame(seq: int, fragment: bytes) -> bytes:
    """A live aggregate's shared ``"seq":…,"groups":[…]`` as an ``aggregate`` event."""
    return b"id: %d\nevent: aggregate\ndata: {%b}\n\n" % (seq, fragment)


class SSEFraming:
    """A stream's events, for every kind of request: ``retry`` first, a window's ``snapshot``, ``change`` and
    ``aggregate`` events, ``reset``."""

    change = staticmethod(change_frame)
    aggregate = staticmethod(aggregate_frame)

    def opened(self, seq: int, records: list[dict[str, Any]] | None, *, ack: bool = True) -> list[Message]:
        messages: list[Message] = [f"retry: {SSE_RETRY_MS}\n\n"] if ack else []
        if records is not None:  # a window starts with its rows (also when it resumes: it is not replayed)
            data = dumps({"seq": seq, "records": records})
            messages.append(f"id: {seq}\nevent: snapshot\ndata: {data}\n\n")
        return messages

    def reset(self, seq: int) -> ResetReply:
        data = dumps({"reason": RESET_REASON, "seq": seq})
        return ResetReply((f"event: reset\ndata: {data}\n\n",), live=True)


SSE_FRAMING = SSEFraming()


async def start_stream(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": EVENT_STREAM_HEADERS})


class EventStream:
    """The SSE endpoint as an ASGI app: it writes the stream itself so it controls every chunk."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        realtime, policy = realtime_of(scope), policy_of(scope)
        headers = request.headers
        if not policy.origin_allowed(headers.get("origin"), request.url.scheme, headers.get("host")):
            await JSONResponse({"error": {"code": "FORBIDDEN", "message": "origin not allowed"}}, 403)(
                scope, receive, send
            )
            return
        transport = StreamTransport(send)
        conn = Connection(transport, queue_size=policy.limits.queue_size, kind="sse")
        try:
            # No token is the anonymous user, as on every transport: the object's read roles decide.
            principal = await authenticate(policy, sse_token(headers, request.query_params))
            filters, fields, record_id = parse_query(request)
        except ObjectQLError as exc:
            await error_response(exc)(scope, receive, send)
            return
        try:
            live_request = request_of(request, principal.user, filters, fields, record_id)
            # Registered before the response starts: a client that has seen the stream open gets every change
            # committed after that (live messages are held until the replay has been queued).
            pending = await realtime.open(conn, conn.id, live_request, SSE_FRAMING, end=stream_ending(conn))
        except ObjectQLError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self._stream(realtime, conn, transport, receive, send, policy, principal, pending)

    async def _stream(
        self,
        realtime: Realtime,
        conn: Connection,
        transport: StreamTransport,
        receive: Receive,
        send: Send,
        policy: ConnectionPolicy,
        principal: Principal,
        pending: Opening,
    ) -> None:
        loop = asyncio.get_running_loop()
        heartbeat: Repeating | None = None
        timers = ConnectionTimers()
        watcher: asyncio.Task[None] | None = None
        try:
            await start_stream(send)
            realtime.track(conn)
            conn.start()
            watcher = loop.create_task(watch_disconnect(receive, conn), name=f"sse watcher {conn.id}")
            pending.release()
            heartbeat = Repeating(loop, policy.limits.sse_ping_interval, lambda: conn.push(PING))
            timers.set_expiry(principal.ends_at, lambda: _expire(conn))
            await conn.closed.wait()
        finally:
            pending.cancel()
            if heartbeat is not None:
                heartbeat.cancel()
            timers.cancel()
            await end_stream(conn, transport, watcher)


def request_of(
    request: Request, user: User, filters: Any, fields: list[str] | None, record_id: str | None
) -> LiveRequest:
    """What a stream asks for: an aggregate (``?aggregate=``), a window (``?sort=``, ``?limit=``), or rows."""
    object_name = request.path_params["object"]
    aggregate = parse_aggregate_query(request)
    window = parse_window_query(request)
    if aggregate is not None and window is not None:
        raise InvalidRequest("aggregate", "a stream is a window (sort, limit) or an aggregate")
    expand = parse_expand_query(request)
    if expand is not None and (aggregate is not None or window is not None):
        raise InvalidRequest("expand", "rows only: a window or an aggregate does not expand")
    if aggregate is not None:
        return AggregateRequest(object_name, user, filters=filters, aggregate=aggregate[0], group_by=aggregate[1])
    if window is not None:
        if record_id is not None:
            raise InvalidRequest("record_id", "a window (sort, limit) watches many records, not one")
        return WindowRequest(object_name, user, filters=filters, fields=fields, sort=window[0], limit=window[1])
    return RowsRequest(
        object_name,
        user,
        filters=filters,
        fields=fields,
        record_id=record_id,
        resume_from=last_event_id(request),
        expand=expand,
    )


def parse_expand_query(request: Request) -> Any:
    """``?expand=<JSON>``: related records nested in each record, as in a find."""
    raw = request.query_params.get("expand")
    if raw is None:
        return None
    try:
        expand = loads(raw)
    except ValueError:
        raise InvalidRequest("expand", "URL-encoded JSON: {<field or related list>: {...}}") from None
    if not isinstance(expand, dict):
        raise InvalidRequest("expand", "an object of reference fields and related lists to expand")
    return expand


def parse_aggregate_query(request: Request) -> tuple[Any, Any] | None:
    """``?aggregate=<JSON>`` (and ``group_by``: a comma-separated list, or a ``group_by`` key in the JSON)."""
    raw = request.query_params.get("aggregate")
    if raw is None:
        return None
    try:
        aggregate = loads(raw)
    except ValueError:
        raise InvalidRequest("aggregate", "URL-encoded JSON: {count?, sum?, avg?, min?, max?}") from None
    if not isinstance(aggregate, dict):
        raise InvalidRequest("aggregate", "an object: {count?, sum?, avg?, min?, max?}")
    group_by = aggregate.pop("group_by", None)
    listed = request.query_params.get("group_by")
    if listed is not None:
        group_by = [name.strip() for name in listed.split(",") if name.strip()]
    return aggregate, group_by


def parse_window_query(request: Request) -> tuple[Any, Any] | None:
    """``?sort=`` (URL-encoded JSON as in find, or ``total:desc,id``) and ``?limit=``: a live window."""
    raw_sort, raw_limit = request.query_params.get("sort"), request.query_params.get("limit")
    if raw_sort is None and raw_limit is None:
        return None
    sort: Any = None
    if raw_sort is not None and raw_sort.lstrip().startswith("["):
        try:
            sort = loads(raw_sort)
        except ValueError:
            raise InvalidRequest("sort", "URL-encoded JSON or a list like total:desc,id") from None
    elif raw_sort is not None:
        sort = [part.strip().split(":", 1) for part in raw_sort.split(",")]
    limit: Any = raw_limit
    if raw_limit is not None and raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) < 10:
        limit = int(raw_limit)
    return sort, limit


def _expire(conn: Connection) -> None:
    conn.push(TOKEN_EXPIRED)
    conn.close(CLOSE_NORMAL, "token expired")


def stream_ending(conn: Connection) -> Ending:
    """How a live aggregate or window that can no longer be kept ends a stream: ``event: error``, then the end."""

    def end(error: ObjectQLError) -> None:
        conn.push(f"event: error\ndata: {dumps(error.to_dict())}\n\n")
        conn.close(CLOSE_NORMAL, error.code)

    return end


class Repeating:
    """A timer that re-arms itself: the heartbeat."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, fn: Callable[[], None]) -> None:
        self.loop, self.interval, self.fn = loop, interval, fn
        self.handle = loop.call_later(interval, self._tick)

    def _tick(self) -> None:
        self.fn()
        self.handle = self.loop.call_later(self.interval, self._tick)

    def cancel(self) -> None:
        self.handle.cancel()


async def end_stream(conn: Connection, transport: StreamTransport, watcher: asyncio.Task[None] | None) -> None:
    """Stop watching the request, release the connection and finish the response body."""
    if watcher is not None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if not conn.closed.is_set():
        conn.peer_gone()
    await conn.wait_closed()
    if not transport.finished:
        with contextlib.suppress(Exception):
            await transport.close(CLOSE_NORMAL, "")


async def watch_disconnect(receive: Receive, conn: Connection) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            conn.peer_gone()
            return
