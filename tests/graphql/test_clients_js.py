"""``/graphql`` driven by third-party npm clients under Node.js, one script per client in ``js/``.

``graphql-ws`` (createClient, graphql-transport-ws), ``@apollo/client`` (HttpLink for the query and the
mutation, GraphQLWsLink for the subscription), ``subscriptions-transport-ws`` (the legacy graphql-ws
subprotocol) and ``graphql-sse`` (distinct connections mode). Each script runs a query, starts a
subscription and prints ``{"type":"subscribed"}``, waits for a line on stdin, runs ``createOrders``, waits
for the subscription's event and prints one ``{"type":"summary",...}`` line (``js/common.mjs``). The test
writes that line once the server's hub holds the subscription, so the change arrives live.

The packages are installed with ``npm ci`` from the committed lock file once per session when
``node_modules`` lacks one of them. Without Node.js or npm these tests fail in CI and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.nodejs import node_with_packages
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory

JS_DIR = Path(__file__).parent / "js"
WAIT = 10.0

# Script name → the WebSocket subprotocol it negotiates (graphql-sse needs none).
CLIENTS = {
    "graphql-ws": "graphql-transport-ws",
    "apollo": "graphql-transport-ws",
    "subscriptions-transport-ws": "graphql-ws",
    "graphql-sse": "graphql-sse",
}


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with the clients' packages installed in ``js/node_modules``."""
    return node_with_packages(JS_DIR)


async def subscribed(server: LiveServer, count: int) -> None:
    hub = server.realtime.require_hub()
    for _ in range(int(WAIT * 100)):
        if hub.subscription_count >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{hub.subscription_count} of {count} subscriptions registered within {WAIT}s")


async def run_client(
    node: str,
    client: str,
    server: LiveServer,
    *,
    token: str | None = None,
    owner: str = "js",
    total: int = 42,
    before_mutation: Callable[[], Awaitable[object]] | None = None,
) -> dict[str, Any]:
    """Run ``js/<client>.mjs`` against ``server``; returns its summary once it exited 0.

    ``before_mutation`` runs once the subscription is held by the server and before the script mutates.
    """
    args = [str(JS_DIR / f"{client}.mjs"), f"{server.http}/graphql", "--owner", owner, "--total", str(total)]
    args += ["--timeout-ms", str(int(WAIT * 1000))]
    if token is not None:
        args += ["--token", token]
    process = await asyncio.create_subprocess_exec(
        node,
        *args,
        cwd=JS_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None

    async def line() -> dict[str, Any]:
        assert process.stdout is not None
        raw = await asyncio.wait_for(process.stdout.readline(), WAIT)
        message: dict[str, Any] = json.loads(raw) if raw else {"type": "exited"}
        if message["type"] in ("error", "exited"):
            stderr = b""
            assert process.stderr is not None
            with contextlib.suppress(TimeoutError):
                stderr = await asyncio.wait_for(process.stderr.read(), 2)
            raise AssertionError(f"{client}: {message} {stderr.decode()[-2000:]}")
        return message

    try:
        assert await line() == {"type": "subscribed"}
        await subscribed(server, 1)
        if before_mutation is not None:
            await before_mutation()
        process.stdin.write(b"go\n")
        await process.stdin.drain()
        summary = await line()
        assert summary["type"] == "summary", summary
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
        return summary
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.mark.parametrize("client", list(CLIENTS))
async def test_js_client_runs_query_and_mutation_and_its_subscription_receives_the_created_record(
    node: str, live_server: ServerFactory, client: str
) -> None:
    server = await live_server()
    seeded = await server.engine.object("orders").create({"status": "pending", "total": 1, "owner": "kim"})
    summary = await run_client(node, client, server, owner="js", total=42)

    assert summary["client"] == client and summary["protocol"] == CLIENTS[client]
    assert summary["queried"] == [{"id": seeded["id"], "status": "pending", "total": 1, "owner": "kim"}]
    created = summary["created"]
    assert created["status"] == "paid" and created["total"] == 42 and created["owner"] == "js"
    event = summary["event"]
    assert event["action"] == "CREATE" and event["effect"] == "ADDED"
    assert event["record"] == created
    assert event["seq"] == str(await server.engine.current_seq())


@pytest.mark.parametrize("client", list(CLIENTS))
async def test_js_client_token_makes_row_rules_apply_to_its_query_and_events(
    node: str, live_server: ServerFactory, client: str
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    own = await orders.create({"owner": "sam", "total": 1})
    await orders.create({"owner": "kim", "total": 2})

    # Kim's order is committed while sam's subscription is live and before sam's own: had it leaked through
    # the row rule, seq order would make it the event the script reports.
    summary = await run_client(
        node,
        client,
        server,
        token=server.token("sam", ["sales"]),
        owner="sam",
        total=5,
        before_mutation=lambda: orders.create({"owner": "kim", "total": 3}),
    )

    assert [row["id"] for row in summary["queried"]] == [own["id"]]
    assert summary["created"]["owner"] == "sam"
    assert summary["event"]["record"] == summary["created"]
    assert summary["event"]["effect"] == "ADDED"
