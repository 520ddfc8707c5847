"""Bounded request bodies: no HTTP body of the app is read past ``max_body_bytes``.

A request that declares a ``Content-Length`` over the bound is answered 413 before the app runs, without reading
a byte of its body. A body without one (chunked) is counted as the app reads it: the read that passes the bound
raises instead of returning, and the request is answered 413. What one request may hold in memory is the bound
plus one read.

The answer says ``Connection: close``. Closing a socket whose peer is still sending makes the kernel reset the
connection, and a client that sends its whole body before reading (most HTTP libraries do) would lose the 413 with
it: so, with the whole answer written, the rest of the body is read and thrown away — for at most
:data:`LINGER_SECONDS` — before the answer is ended and the server closes the connection (the "lingering close" of
other HTTP servers).

The refusal is a :class:`~objectql.errors.PayloadTooLarge` in the shape of the route: GraphQL errors on
``/graphql``, ``{"error": {code, message, details}}`` (as the SSE endpoint answers) elsewhere. Paths are read
under the app's ``root_path``, so an app mounted under a prefix answers the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from objectql.errors import PayloadTooLarge

GRAPHQL_PATH = "/graphql"
LINGER_SECONDS = 5.0


class _PastTheBound(Exception):
    """Raised by the counting receive; never leaves the middleware."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await self._refuse(scope, receive, send, body_left=True)
            return
        received = 0
        started = False
        body_left = True

        async def counting_receive() -> Message:
            nonlocal received, body_left
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_left = message.get("more_body", False)
                if received > self.max_bytes:
                    raise _PastTheBound
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _PastTheBound:
            # A response already under way cannot become a 413; ending here leaves it unfinished, and the
            # server closes the connection. No route of this app reads its body after it starts answering.
            if not started:
                await self._refuse(scope, receive, send, body_left=body_left)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, body_left: bool) -> None:
        error = PayloadTooLarge(
            f"the request body is over {self.max_bytes} bytes", details={"max_bytes": self.max_bytes}
        )
        content: dict[str, Any]
        if _route_path(scope) == GRAPHQL_PATH:
            extensions = {"code": error.code, "details": error.details}
            content = {"errors": [{"message": error.message, "extensions": extensions}]}
        else:
            content = {"error": error.to_dict()}
        response = JSONResponse(content, status_code=413, headers={"connection": "close"})
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
        if body_left:
            await _discard_body(receive)
        await send({"type": "http.response.body", "body": b""})


async def _discard_body(receive: Receive) -> None:
    """Read what is left of the request body and drop it, until it ends, the client goes or time is up."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return


def _declared_length(scope: Scope) -> int:
    """The body length the request declares; 0 without a (valid) ``Content-Length`` — the server enforces
    the header it parsed, and a body without one is counted as it is read."""
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else 0


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


__all__ = ["BodyLimitMiddleware"]
