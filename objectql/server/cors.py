"""CORS for the HTTP endpoints (GraphQL, SSE, health), from the origins the WebSocket check allows.

A page on another origin may call the API only when that origin is listed in ``OBJECTQL_ALLOWED_ORIGINS``
(the list the WebSocket handshake and SSE already use). For such an origin the server answers preflights
(``OPTIONS`` with ``Access-Control-Request-Method``) with the methods and request headers the API takes,
and marks every response with the exact origin — never ``*`` — plus ``Vary: Origin`` and
``Access-Control-Allow-Credentials: true``, which is what a browser requires before it hands a
credentialed response to the page. An origin that is not listed gets no CORS headers at all (its preflight
is 403), so the browser keeps the response from the page. Same-origin requests need none of this.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from objectql.server.origins import NULL_ORIGIN, OriginPolicy

ALLOW_METHODS = "GET, POST, OPTIONS"
# What clients of this API send: tokens, JSON bodies, graphql-sse's and EventSource's headers.
ALLOW_HEADERS = frozenset({"authorization", "content-type", "accept", "last-event-id", "x-graphql-event-stream-token"})
MAX_AGE = "600"


class CORSMiddleware:
    def __init__(self, app: ASGIApp, origins: OriginPolicy) -> None:
        self.app = app
        self.origins = origins

    def _listed(self, origin: str) -> bool:
        # Only a listed origin is granted: the server's own origin needs no CORS, and a rebound one gets none.
        if origin.strip() == NULL_ORIGIN:
            return self.origins.allow_null
        return self.origins.allows(origin, scheme="", host_header=None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        listed = self._listed(origin)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, listed, headers)(scope, receive, send)
            return
        if not listed:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["access-control-allow-origin"] = origin
                response_headers["access-control-allow-credentials"] = "true"
                response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _preflight(self, origin: str, listed: bool, headers: Headers) -> PlainTextResponse:
        method = headers["access-control-request-method"].strip().upper()
        requested = {h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",")}
        requested.discard("")
        if not listed:
            return PlainTextResponse("origin not allowed", status_code=403, headers={"vary": "Origin"})
        if method not in ("GET", "POST") or not requested <= ALLOW_HEADERS:
            return PlainTextResponse("method or headers not allowed", status_code=400, headers={"vary": "Origin"})
        return PlainTextResponse(
            "",
            status_code=204,
            headers={
                "access-control-allow-origin": origin,
                "access-control-allow-credentials": "true",
                "access-control-allow-methods": ALLOW_METHODS,
                "access-control-allow-headers": ", ".join(sorted(ALLOW_HEADERS)),
                "access-control-max-age": MAX_AGE,
                "vary": "Origin",
            },
        )


__all__ = ["ALLOW_HEADERS", "CORSMiddleware"]
