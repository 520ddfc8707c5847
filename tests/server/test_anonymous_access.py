"""Who is anonymous, on every transport (docs/auth.md): on a server with a key a client that says so is
anonymous and reaches what `anonymous` may — the object's read roles decide, the same on every transport: GraphQL
over HTTP, both WebSocket protocols and graphql-sse, the plain WebSocket, SSE and the dashboard's list; an open
server says it has no sign-in instead of asking for one; an expired token is called expired everywhere."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from tests.graphql.test_graphql_sse import stream as graphql_stream
from tests.graphql.wsclient import PROTOCOLS, open_ws, post, registered
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory, connect, live_server
from tests.realtime.test_sse import open_stream, refused

__all__ = ["live_server"]  # the real-server fixture

OBJECTS = {
    "notes": "fields:\n  text: {type: text}\npermissions:\n  read: [anonymous]\n  create: [admin]\n",
    "secrets": "fields:\n  text: {type: text}\npermissions:\n  read: [admin]\n  create: [admin]\n",
}


async def keyed(live_server: ServerFactory) -> LiveServer:
    return await live_server(OBJECTS, OBJECTQL_JWT_SECRET=SECRET)


async def test_graphql_http_without_a_token_is_anonymous_on_a_keyed_server(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    await server.engine.object("notes").create({"text": "public"})
    assert (await post(server, "{ notesList { text } }")).json() == {"data": {"notesList": [{"text": "public"}]}}
    body = (await post(server, "{ secretsList { text } }")).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_graphql_websocket_without_credentials_is_anonymous_on_a_keyed_server(
    live_server: ServerFactory, protocol: str
) -> None:
    server = await keyed(live_server)
    client = await open_ws(server, protocol)  # connection_init without a payload
    await client.start("n", "subscription { notesCreated { text } }")
    await registered(server, 1)
    await server.engine.object("notes").create({"text": "hello"})
    assert (await client.next("n"))["data"] == {"notesCreated": {"text": "hello"}}
    await client.start("s", "subscription { secretsCreated { text } }")
    assert (await client.error("s"))[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_plain_websocket_auth_with_a_null_token_is_anonymous_on_a_keyed_server(
    live_server: ServerFactory,
) -> None:
    server = await keyed(live_server)
    client = await connect(server, None)
    await client.subscribe("n", "notes")
    await client.send({"type": "subscribe", "id": "s", "object": "secrets"})
    error = await client.expect("error")
    assert error["id"] == "s" and error["code"] == "UNAUTHENTICATED"
    await server.engine.object("notes").create({"text": "hi"})
    assert (await client.expect("change"))["record"]["text"] == "hi"


async def test_sse_without_a_token_is_anonymous_on_a_keyed_server(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    async with open_stream(server, "notes") as stream:
        await server.engine.object("notes").create({"text": "streamed"})
        _, change = await stream.change()
        assert change["record"]["text"] == "streamed"
    window = {"sort": "text:asc", "limit": "5"}
    async with open_stream(server, "notes", params=window, opened=False) as stream:
        assert (await stream.next()).retry == "3000"
        assert (await stream.next()).event == "snapshot"
    for params in ({}, window, {"aggregate": '{"count":true}'}):
        status, error = await refused(server, "secrets", params=params)
        assert status == 401 and error["code"] == "UNAUTHENTICATED", params


async def test_graphql_sse_without_a_token_is_anonymous_on_a_keyed_server(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    await server.engine.object("notes").create({"text": "public"})
    [(kind, result), _] = await graphql_stream(server, "{ notesList { text } }")
    assert (kind, result) == ("next", {"data": {"notesList": [{"text": "public"}]}})
    [(_, refusal), _] = await graphql_stream(server, "subscription { secretsCreated { text } }")
    assert refusal["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_dashboard_list_without_a_token_is_anonymous_on_a_keyed_server(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    await server.engine.object("notes").create({"text": "listed"})
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as client:
        notes = await client.get("/api/dashboard/notes")
        secrets = await client.get("/api/dashboard/secrets")
    assert notes.status_code == 200 and [r["text"] for r in notes.json()["records"]] == ["listed"]
    assert secrets.status_code == 401 and secrets.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_an_open_server_refuses_a_role_restricted_action_saying_it_has_no_sign_in(
    live_server: ServerFactory,
) -> None:
    server = await live_server(OBJECTS)
    body = (await post(server, 'mutation { createNotes(input: {text: "x"}) { id } }')).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN" and "no sign-in" in error["message"]
    assert "admin" in error["message"]
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "s", "object": "secrets"})
    refusal = await client.expect("error")
    assert refusal["code"] == "FORBIDDEN" and "no sign-in" in refusal["message"]
    status, sse_error = await refused(server, "secrets")
    assert status == 403 and "no sign-in" in sse_error["message"]


async def test_an_expired_token_is_called_expired_on_http_and_the_plain_websocket(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    expired = server.token("root", ["admin"], ttl=-60)
    response = await post(server, "{ notesList { text } }", token=expired)
    assert response.status_code == 401
    extensions = response.json()["errors"][0]["extensions"]
    assert extensions["code"] == "UNAUTHENTICATED" and extensions["details"]["reason"] == "expired"
    client = await connect(server, auth=False)
    await client.send({"type": "auth", "token": expired})
    try:
        await asyncio.wait_for(client.ws.recv(), 5)
        raise AssertionError("the socket stayed open")
    except websockets.ConnectionClosed as exc:
        assert exc.rcvd is not None and exc.rcvd.code == 4403 and exc.rcvd.reason == "token expired"
    status, sse_error = await refused(server, "notes", token=expired)
    assert status == 401 and sse_error["code"] == "UNAUTHENTICATED" and sse_error["details"]["reason"] == "expired"
