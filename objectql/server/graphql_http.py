"""``/graphql`` over HTTP: POST (JSON) and GET, and graphql-sse when the client accepts an event stream.

Credentials: ``Authorization: Bearer``. An invalid or expired token is 401 with a GraphQL error body
(``UNAUTHENTICATED``); no token is an anonymous request, and permissions decide from there.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from objectql.errors import Unauthenticated
from objectql.realtime.operations import OperationError
from objectql.realtime.policy import authenticate
from objectql.realtime.transports.credentials import bearer_token
from objectql.realtime.transports.graphql_sse import stream_errors, stream_operation
from objectql.realtime.transports.state import operations_of, policy_of, realtime_of
from objectql.realtime.wire import loads
from objectql.resolvers.errors import request_error


def errors_response(errors: list[dict[str, Any]], status: int = 200) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status)


async def _request_body(request: Request) -> dict[str, Any] | None:
    if request.method == "GET":
        params = request.query_params
        variables = params.get("variables")
        try:
            parsed = loads(variables) if variables else None
        except ValueError:
            return None
        return {"query": params.get("query"), "variables": parsed, "operationName": params.get("operationName")}
    try:
        body = loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


JSON_TYPES = ("application/json", "application/graphql+json", "application/graphql-response+json")


def _json_content(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in JSON_TYPES


class GraphQLEndpoint:
    """The HTTP side of ``/graphql`` as an ASGI app (it streams for graphql-sse)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.respond(request, receive, send)
        if response is not None:
            await response(scope, receive, send)

    async def respond(self, request: Request, receive: Receive, send: Send) -> Response | None:
        policy, operations = policy_of(request.scope), operations_of(request.scope)
        headers = request.headers
        # Another site's page can make a visitor's browser send a "simple" request (text/plain, form
        # types) without a preflight: only JSON bodies are GraphQL here, and a foreign Origin is refused.
        if not policy.origin_allowed(headers.get("origin"), request.url.scheme, headers.get("host")):
            return errors_response([request_error("FORBIDDEN", "origin not allowed")], 403)
        if request.method == "POST" and not _json_content(headers.get("content-type")):
            message = "a GraphQL POST is application/json (or application/graphql+json)"
            return errors_response([request_error("BAD_REQUEST", message)], 415)
        body = await _request_body(request)
        if body is None:
            return errors_response([request_error("BAD_REQUEST", "the body must be a JSON object")], 400)
        try:
            principal = await authenticate(policy, bearer_token(request.headers))
        except Unauthenticated as exc:
            error = request_error("UNAUTHENTICATED", exc.message)
            error["extensions"]["details"] = exc.details  # {"reason": "expired" | "invalid"}
            return errors_response([error], 401)
        streaming = "text/event-stream" in request.headers.get("accept", "") and request.method == "POST"
        try:
            prepared = operations.prepare(body.get("query"), body.get("variables"), body.get("operationName"))
        except OperationError as exc:
            if streaming:
                # The client asked for a stream: the refusal is its one result, like any other.
                await stream_errors(send, exc.errors)
                return None
            return errors_response(exc.errors)
        if streaming:
            realtime = realtime_of(request.scope)
            await stream_operation(
                receive, send, realtime, policy, operations, prepared, principal.user, principal.ends_at
            )
            return None
        if operations.is_subscription(prepared):
            message = "subscriptions run over the /graphql WebSocket or graphql-sse (Accept: text/event-stream)"
            return errors_response([request_error("BAD_REQUEST", message)], 400)
        if request.method == "GET" and not operations.is_query(prepared):
            return errors_response([request_error("BAD_REQUEST", "mutations need POST")], 405)
        return JSONResponse(await operations.execute(prepared, principal.user))
