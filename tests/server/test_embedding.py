"""ObjectQL mounted under a prefix in a Starlette and a FastAPI app, its lifespan run by the host: GraphQL over
HTTP, a graphql-transport-ws subscription and the plain WebSocket all work under ``/data``, and the host's
garbage collector is left alone."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from objectql import ObjectQL
from objectql.server.auth import Authenticator
from objectql.server.embed import asgi_app, lifespan
from objectql.server.settings import Settings
from tests.conftest import write_objects
from tests.realtime.conftest import Serve, serve
from tests.server.test_serve import free_port, wait_until_healthy

__all__ = ["serve"]  # the real-server fixture

ORDERS = "fields:\n  status: {type: text}\n  total: {type: number}\n"


async def host_page(request: Any) -> PlainTextResponse:
    return PlainTextResponse("the host's own page")


def starlette_host(api: Starlette) -> Starlette:
    return Starlette(routes=[Route("/", host_page), Mount("/data", app=api)], lifespan=lifespan(api))


def fastapi_host(api: Starlette) -> FastAPI:
    app = FastAPI(lifespan=lifespan(api))

    @app.get("/")
    async def page() -> PlainTextResponse:
        return PlainTextResponse("the host's own page")

    app.mount("/data", api)
    return app


async def exercise(port: int) -> None:
    """Everything a front-end uses, under /data, on a host that keeps its own routes."""
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        assert (await http.get("/")).text == "the host's own page"
        assert (await http.get("/data/health/ready")).json() == {"status": "ok"}
        plain = await websockets.connect(f"ws://127.0.0.1:{port}/data/api/realtime")
        await plain.send(json.dumps({"type": "auth"}))
        assert json.loads(await plain.recv())["type"] == "auth_ok"
        await plain.send(json.dumps({"type": "subscribe", "id": "s", "object": "orders"}))
        assert json.loads(await plain.recv())["type"] == "subscribed"
        graphql = await websockets.connect(f"ws://127.0.0.1:{port}/data/graphql", subprotocols=["graphql-transport-ws"])
        await graphql.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await graphql.recv())["type"] == "connection_ack"
        query = "subscription { ordersCreated { status } }"
        await graphql.send(json.dumps({"type": "subscribe", "id": "g", "payload": {"query": query}}))
        await asyncio.sleep(0.2)  # the subscription registers (graphql-transport-ws has no ack)

        created = await http.post(
            "/data/graphql", json={"query": 'mutation { createOrders(input: {status: "new"}) { id } }'}
        )
        assert "errors" not in created.json(), created.text
        change = json.loads(await asyncio.wait_for(plain.recv(), 5))
        assert change["type"] == "change" and change["record"]["status"] == "new"
        pushed = json.loads(await asyncio.wait_for(graphql.recv(), 5))
        assert pushed == {"id": "g", "type": "next", "payload": {"data": {"ordersCreated": {"status": "new"}}}}
        listed = await http.get("/data/graphql", params={"query": "{ ordersCount }"})
        assert listed.json() == {"data": {"ordersCount": 1}}
        await plain.close()
        await graphql.close()


@pytest.mark.parametrize("host", [starlette_host, fastapi_host], ids=["starlette", "fastapi"])
async def test_mounted_under_a_prefix_with_the_host_running_its_lifespan(
    tmp_path: Path, serve: Serve, host: Callable[[Starlette], Any]
) -> None:
    app_dir = write_objects(tmp_path / "app", {"orders": ORDERS})
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    api = asgi_app(app_dir, database_url=f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}")
    await exercise(await serve(host(api)))
    # An embedded app leaves the host process's collector as it found it (only `objectql serve` tunes it).
    assert gc.get_threshold() == thresholds and gc.get_freeze_count() == frozen


@pytest.fixture
async def owned_engine(tmp_path: Path) -> AsyncIterator[ObjectQL]:
    """An engine the host opened; requested before ``serve``, so it outlives the host's shutdown."""
    app_dir = write_objects(tmp_path / "owned", {"orders": ORDERS})
    engine = await ObjectQL(app_dir, f"sqlite+aiosqlite:///{tmp_path / 'owned.db'}").init()
    yield engine
    assert engine.ready, "the embedded app closed an engine it does not own"
    await engine.close()


async def test_an_engine_the_host_owns_is_served(owned_engine: ObjectQL, serve: Serve) -> None:
    await exercise(await serve(starlette_host(asgi_app(engine=owned_engine))))
    assert await owned_engine.object("orders").count() == 1


def test_an_app_needs_a_directory_or_an_engine() -> None:
    with pytest.raises(ValueError, match="directory or an engine"):
        asgi_app()


# -- the example of docs/embedding.md, copied into a fresh directory ------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("index", [0, 1], ids=["starlette", "fastapi"])
def test_the_docs_example_runs_copied_into_a_fresh_directory_with_a_key(tmp_path: Path, index: int) -> None:
    fresh, elsewhere = tmp_path / "fresh", tmp_path / "elsewhere"
    fresh.mkdir()
    elsewhere.mkdir()
    [setup] = doc_blocks("sh")
    assert "objectql init app" in setup and "OBJECTQL_JWT_SECRET" in setup
    subprocess.run(
        [sys.executable, "-m", "objectql.server.cli", "init", "app"], cwd=fresh, check=True, capture_output=True
    )
    (fresh / "myapp.py").write_text(doc_blocks("python")[index], encoding="utf-8")
    secret = "embedding-doc-secret-0123456789abcdef0123"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJECTQL_")} | {"OBJECTQL_JWT_SECRET": secret}
    port = free_port()
    log_path = tmp_path / "host.log"
    # Started from another directory: the example must not depend on the current one.
    command = [sys.executable, "-m", "uvicorn", "myapp:app", "--app-dir", str(fresh), "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/data"
    try:
        wait_until_healthy(proc, base, log_path)  # /data/health: the mounted app is started and ready
        anonymous = httpx.post(f"{base}/graphql", json={"query": "{ tasksCount }"}, timeout=10).json()
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # the key is on
        token = Authenticator.from_settings(Settings.load({}, {"OBJECTQL_JWT_SECRET": secret})).mint("sam", [], 60)
        counted = httpx.post(
            f"{base}/graphql",
            json={"query": "{ tasksCount }"},
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert counted.json() == {"data": {"tasksCount": 3}}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def test_the_dashboard_under_a_prefix_reads_and_streams_under_it(tmp_path: Path) -> None:
    app_dir = write_objects(tmp_path / "app", {"orders": ORDERS})
    api = asgi_app(app_dir, database_url=f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}")
    host = starlette_host(api)
    transport = httpx.ASGITransport(app=host)
    async with (
        host.router.lifespan_context(host),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=10) as http,
    ):
        page = await http.get("/data/")
        found = re.search(r'<script type="application/json" id="objectql-config">(.*?)</script>', page.text, re.S)
        assert page.status_code == 200 and found is not None
        config = json.loads(found[1])
        paths = [config["read"], config["events"], config["graphql"], config["aggregate"]["events"]]
        assert all(path.startswith("/data/") for path in paths), paths
        assert (await http.get(config["read"])).json()["object"] == "orders"
        answered = await http.post(config["graphql"], json={"query": "{ ordersCount }"})
        assert answered.json() == {"data": {"ordersCount": 0}}
