"""OBJECTQL_JWKS_URL: keys fetched from an identity provider served locally, cached, fetched again when a
token names a new key (the first token of a rotated key is accepted, floods of made-up kids or not), bounded
against those floods, and a key the provider removed refused at the next fetch even for tokens verified before —
over GraphQL HTTP, the plain WebSocket, graphql-transport-ws and SSE."""

from __future__ import annotations

import asyncio
import contextlib
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


STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def forged(provider: Provider) -> str:
    """A token under a made-up kid, signed by someone who is not the provider."""
    return provider.token(f"made-up-{uuid.uuid4().hex}", key=STRANGER)


async def test_a_flood_of_unknown_kids_costs_the_provider_one_fetch(
    live_server: ServerFactory, provider: Provider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(jwks, "MIN_INTERVAL", 1.0)  # the waves below wait for it
    server = await live_server(OBJECTQL_JWKS_URL=provider.url)
    (kid,) = provider.keys
    for wave in (1, 2):
        # A wave of tokens with made-up kids within one interval waits for one and the same fetch.
        tokens = [asyncio.ensure_future(graphql_ok(server.http, forged(provider))) for _ in range(40)]
        assert await graphql_ok(server.http, provider.token(kid))  # known keys go on working meanwhile
        assert not any(await asyncio.gather(*tokens))
        assert provider.fetches == 1 + wave
    # A token signed by someone else under a kid the provider does publish is refused too.
    assert not await graphql_ok(server.http, provider.token(kid, key=STRANGER))
    # On the plain WebSocket a made-up kid waits for a fetch once, then is refused (it does not wait again).
    client = await connect(server, auth=False)
    await client.send({"type": "auth", "token": forged(provider)})
    assert await client.closed_with() == 4403


async def test_a_provider_down_at_start_is_retried_when_tokens_arrive(
    live_server: ServerFactory, provider: Provider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(jwks, "MIN_INTERVAL", 0.0)
    server = await live_server(OBJECTQL_JWKS_URL=provider.url.replace("/jwks.json", "/missing.json"))
    (kid,) = provider.keys
    assert not await graphql_ok(server.http, provider.token(kid))  # 404: no keys, refused, no crash
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        assert (await http.get("/health/ready")).status_code == 200


@pytest.fixture
def database() -> str:
    """Keys are the HTTP layer's business: one database is enough."""
    return "sqlite"


async def test_made_up_kids_cannot_keep_the_first_token_of_a_rotated_key_out(
    live_server: ServerFactory, provider: Provider
) -> None:
    server = await live_server(OBJECTQL_JWKS_URL=provider.url)

    async def flood() -> None:
        while True:
            await asyncio.gather(*(graphql_ok(server.http, forged(provider)) for _ in range(5)))

    flooding = asyncio.ensure_future(flood())
    try:
        for _ in range(600):  # until the flood has made the server fetch: a bound on a hung test
            if provider.fetches >= 2:
                break
            await asyncio.sleep(0.1)
        assert provider.fetches >= 2
        # The provider rotates just after a fetch the flood prompted; the new key's first token gets in.
        new = provider.add()
        assert await graphql_ok(server.http, provider.token(new))
    finally:
        flooding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flooding


async def test_tokens_waiting_for_a_fetch_are_bounded_beyond_which_an_unknown_kid_is_refused_at_once(
    live_server: ServerFactory, provider: Provider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(jwks, "MAX_WAITING", 3)
    monkeypatch.setattr(jwks, "MIN_INTERVAL", 3.0)  # long enough for the fourth token to come while three wait
    server = await live_server(OBJECTQL_JWKS_URL=provider.url)
    waiting = [asyncio.ensure_future(graphql_ok(server.http, forged(provider))) for _ in range(3)]
    remote = server.policy.authenticator.jwks
    assert isinstance(remote, jwks.RemoteKeys)
    for _ in range(300):
        if remote.waiting == 3:
            break
        await asyncio.sleep(0.01)
    assert remote.waiting == 3
    assert not await graphql_ok(server.http, forged(provider))  # answered while the three still wait
    assert not any(task.done() for task in waiting)
    assert not any(await asyncio.gather(*waiting))  # judged after the fetch: the provider has no such kid
    assert provider.fetches == 2


async def test_a_key_removed_from_the_jwks_is_refused_after_the_next_fetch_even_for_verified_tokens(
    live_server: ServerFactory, provider: Provider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(jwks, "MIN_INTERVAL", 0.0)
    server = await live_server(OBJECTQL_JWKS_URL=provider.url)
    (old,) = provider.keys
    verified = provider.token(old)
    assert await graphql_ok(server.http, verified)  # verified, and kept as verified
    client = await connect(server, auth=False)
    await client.send({"type": "auth", "token": verified})
    await client.expect("auth_ok")

    # The provider removes the old key; a token of the new one makes the server fetch the set again.
    del provider.keys[old]
    new = provider.add()
    assert await graphql_ok(server.http, provider.token(new))
    assert provider.fetches == 2
    assert not await graphql_ok(server.http, verified)
    again = await connect(server, auth=False)
    await again.send({"type": "auth", "token": verified})
    assert await again.closed_with() == 4403
