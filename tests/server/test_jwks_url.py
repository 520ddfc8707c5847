"""OBJECTQL_JWKS_URL: keys fetched from an identity provider served locally, cached, fetched again when a
token names a new key (the first token of a rotated key is accepted), and bounded against floods of unknown
kids — over GraphQL HTTP, the plain WebSocket, graphql-transport-ws and SSE."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from objectql.server import jwks
from tests.realtime.conftest import ServerFactory, connect, live_server, start_uvicorn

__all__ = ["live_server"]  # the real-server fixture


class Provider:
    """An identity provider's JWKS endpoint whose keys the test rotates; it counts the fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        self.url = ""

    def add(self) -> str:
        kid = uuid.uuid4().hex[:8]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def token(self, kid: str, sub: str = "sam", key: rsa.RSAPrivateKey | None = None) -> str:
        claims = {"sub": sub, "roles": ["admin"], "exp": int(time.time()) + 600}
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})

    async def document(self, request: Request) -> JSONResponse:
        self.fetches += 1
        keys = [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"}
            for kid, key in self.keys.items()
        ]
        return JSONResponse({"keys": keys})


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    provider = Provider()
    provider.add()
    server, task, port = await start_uvicorn(Starlette(routes=[Route("/jwks.json", provider.document)]))
    provider.url = f"http://127.0.0.1:{port}/jwks.json"
    yield provider
    server.should_exit = True
    await task


async def graphql_ok(base: str, token: str) -> bool:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.post(
            "/graphql", json={"query": "{ ordersCount }"}, headers={"authorization": f"Bearer {token}"}
        )
    return response.status_code == 200 and response.json() == {"data": {"ordersCount": 0}}


async def graphql_ws_acked(port: int, token: str) -> bool:
    async with websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        try:
            return bool(json.loads(await ws.recv())["type"] == "connection_ack")
        except websockets.ConnectionClosed:
            return False


async def test_keys_are_fetched_cached_and_refetched_for_a_rotated_key(
    live_server: ServerFactory, provider: Provider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(jwks, "MIN_INTERVAL", 0.0)  # every unknown kid may fetch: rotation under test here
    (first,) = provider.keys
    server = await live_server(OBJECTQL_JWKS_URL=provider.url)
    assert provider.fetches == 1  # at start
    assert await graphql_ok(server.http, provider.token(first))
    assert await graphql_ok(server.http, provider.token(first))
    assert provider.fetches == 1  # cached

    # The provider rotates: a new key appears, the old one goes.
    del provider.keys[first]
    second = provider.add()
    assert await graphql_ok(server.http, provider.token(second))  # the very first token of the new key
    assert provider.fetches == 2
    client = await connect(server, auth=False)
    await client.send({"type": "auth", "token": provider.token(second, sub="kim")})
    assert (await client.expect("auth_ok"))["user"]["id"] == "kim"

    third = provider.add()
    assert await graphql_ws_acked(server.port, provider.token(third))
    fourth = provider.add()
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=10) as http,
        http.stream("GET", "/api/events/orders", params={"access_token": provider.token(fourth)}) as stream,
    ):
        assert stream.status_code == 200
    fifth = provider.add()
    plain = await connect(server, auth=False)
    await plain.send({"type": "auth", "token": provider.token(fifth)})
    assert (await plain.expect("auth_ok"))["user"]["id"] == "sam"


async def test_a_flood_of_unknown_kids_costs_the_provider_one_fetch(
    live_server: ServerFactory, provider: Provider
) -> None:
    server = await live_server(OBJECTQL_JWKS_URL=provider.url)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for i in range(40):
        forged = provider.token(f"made-up-{i}", key=stranger)
        assert not await graphql_ok(server.http, forged)
    assert provider.fetches <= 2  # the start, and at most one within the interval
    (kid,) = provider.keys
    assert await graphql_ok(server.http, provider.token(kid))  # known keys go on working meanwhile
    # A token signed by someone else under a kid the provider does publish is refused too.
    assert not await graphql_ok(server.http, provider.token(kid, key=stranger))


async def test_a_provider_down_at_start_is_retried_when_tokens_arrive(
    live_server: ServerFactory, provider: Provider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(jwks, "MIN_INTERVAL", 0.0)
    server = await live_server(OBJECTQL_JWKS_URL=provider.url.replace("/jwks.json", "/missing.json"))
    (kid,) = provider.keys
    assert not await graphql_ok(server.http, provider.token(kid))  # 404: no keys, refused, no crash
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        assert (await http.get("/health/ready")).status_code == 200
