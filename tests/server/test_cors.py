"""CORS on the HTTP endpoints: granted to the listed origins only, with the exact origin and credentials,
preflights answered; same-origin and unlisted requests get no CORS headers."""

from __future__ import annotations

import httpx
import pytest

from tests.realtime.conftest import SECRET, ServerFactory, live_server

__all__ = ["live_server"]  # the real-server fixture

FRONT = "http://front.example:3000"


@pytest.mark.parametrize("path", ["/graphql", "/api/events/orders", "/health/ready"])
async def test_a_listed_origin_gets_its_preflight_and_cors_headers(live_server: ServerFactory, path: str) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_ALLOWED_ORIGINS=FRONT)
    preflight_headers = {
        "origin": FRONT,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        preflight = await http.options(path, headers=preflight_headers)
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == FRONT
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert {"authorization", "content-type"} <= {
            h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")
        }
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "Origin" in preflight.headers["vary"]

        refused = await http.options(path, headers={**preflight_headers, "origin": "http://evil.example"})
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
        odd = await http.options(path, headers={**preflight_headers, "access-control-request-headers": "x-evil"})
        assert odd.status_code == 400 and "access-control-allow-origin" not in odd.headers


async def test_responses_carry_the_exact_origin_never_a_wildcard(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_ALLOWED_ORIGINS=FRONT)
    token = server.token("root", ["admin"])
    headers = {"origin": FRONT, "authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        response = await http.post("/graphql", json={"query": "{ ordersCount }"}, headers=headers)
        assert response.json() == {"data": {"ordersCount": 0}}
        assert response.headers["access-control-allow-origin"] == FRONT
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["vary"] == "Origin"
        # An error is readable by the front-end too (else it could not show why).
        bad = await http.post("/graphql", json={"query": "{ nope }"}, headers=headers)
        assert bad.headers["access-control-allow-origin"] == FRONT
        async with http.stream("GET", "/api/events/orders", headers=headers) as stream:
            assert stream.status_code == 200 and stream.headers["access-control-allow-origin"] == FRONT

        unlisted = await http.post(
            "/graphql", json={"query": "{ ordersCount }"}, headers={**headers, "origin": "http://evil.example"}
        )
        assert unlisted.status_code == 403 and "access-control-allow-origin" not in unlisted.headers
        same = await http.get("/health/ready", headers={"origin": server.http.replace("127.0.0.1", "localhost")})
        assert "access-control-allow-origin" not in same.headers


async def test_without_allowed_origins_nobody_else_is_granted(live_server: ServerFactory) -> None:
    server = await live_server()
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        preflight = await http.options("/graphql", headers={"origin": FRONT, "access-control-request-method": "POST"})
        assert preflight.status_code == 403
        assert (await http.get("/health/live")).json() == {"status": "ok"}
