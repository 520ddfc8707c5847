"""A record leaving a subscriber's view: on every transport ``record`` identifies it and carries nothing else,
``previous`` is the record as the subscriber last saw it, projected the same way — a field the subscriber may
read is there, one it may not is never; and on GraphQL a null field of a removed record is no error."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.graphql.wsclient import PROTOCOLS, STREAM, events, open_ws, registered
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory, connect
from tests.realtime.test_sse import open_stream

ADMIN = ("root", ["admin"])  # may read every field, `cost` included
SALES = ("sam", ["sales"])  # may not read `cost`; sees its own rows only
CHANGED = """subscription {
  ordersChanged(where: {status: {eq: "pending"}}) { effect record { id note total } previous { id note total } }
}"""


async def leave_the_view(server: LiveServer) -> tuple[str, str]:
    """Create a pending order of sam's, move it out of the pending filter, create another and delete it."""
    orders = server.engine.object("orders")
    moved = await orders.create({"owner": "sam", "note": "first", "total": 1, "cost": 9})
    await orders.update(moved["id"], {"status": "paid"})
    deleted = await orders.create({"owner": "sam", "note": "second", "total": 2, "cost": 8})
    await orders.delete(deleted["id"])
    return moved["id"], deleted["id"]


def assert_removals(
    changes: list[dict[str, Any]], ids: tuple[str, str], carried: set[str], hidden: frozenset[str] = frozenset()
) -> None:
    """Both removals identify their record only; ``previous`` carries ``carried`` and none of ``hidden``."""
    removed = [c for c in changes if c["effect"] in ("removed", "REMOVED")]
    assert [c["record"]["id"] for c in removed] == list(ids)
    for change, note in zip(removed, ("first", "second"), strict=True):
        assert {k for k, v in change["record"].items() if v is not None} == {"id"}
        previous = set(change["previous"])
        assert change["previous"]["note"] == note and carried <= previous and not hidden & previous


@pytest.mark.parametrize(
    ("who", "carried"), [(ADMIN, {"id", "note", "total", "cost"}), (SALES, {"id", "note", "total"})]
)
async def test_plain_websocket_removed_record_is_its_id_and_previous_what_was_visible(
    live_server: ServerFactory, who: tuple[str, list[str]], carried: set[str]
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token(*who))
    fields = ["id", "note", "total", "cost"]
    await client.send({"type": "subscribe", "id": "s", "object": "orders", "filters": [["status", "=", "pending"]],
                       "fields": fields})  # fmt: skip
    if "cost" not in carried:
        refused = await client.expect("error")  # a field it may not read cannot even be asked for
        assert refused["code"] == "FORBIDDEN" and refused["details"]["field"] == "cost"
        await client.subscribe("s", filters=[["status", "=", "pending"]], fields=fields[:3])
    else:
        await client.expect("subscribed")
    ids = await leave_the_view(server)
    changes = [await client.expect("change") for _ in range(4)]
    assert changes[1]["record"] == {"id": ids[0]} and changes[3]["record"] == {"id": ids[1]}
    assert_removals(changes, ids, carried)


@pytest.mark.parametrize(
    ("who", "carried", "hidden"),
    [(ADMIN, {"id", "note", "total", "cost"}, frozenset()), (SALES, {"id", "note", "total"}, frozenset({"cost"}))],
)
async def test_sse_removed_record_is_its_id_and_previous_what_was_visible(
    live_server: ServerFactory, who: tuple[str, list[str]], carried: set[str], hidden: frozenset[str]
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    params = {"filters": json.dumps([["status", "=", "pending"]])}
    async with open_stream(server, token=server.token(*who), params=params) as sse:
        await registered(server, 1)
        ids = await leave_the_view(server)
        changes = [(await sse.change())[1] for _ in range(4)]
    assert changes[1]["record"] == {"id": ids[0]} and changes[3]["record"] == {"id": ids[1]}
    assert_removals(changes, ids, carried, hidden)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("who", [ADMIN, SALES])
async def test_graphql_websocket_removed_record_has_null_fields_and_no_error(
    live_server: ServerFactory, protocol: str, who: tuple[str, list[str]]
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    client = await open_ws(server, protocol, payload={"authorization": server.token(*who)})
    await client.start("s", CHANGED)
    await registered(server, 1)
    ids = await leave_the_view(server)
    results = [await client.next("s") for _ in range(4)]
    assert all("errors" not in r for r in results), results
    changes = [r["data"]["ordersChanged"] for r in results]
    assert changes[1]["record"] == {"id": ids[0], "note": None, "total": None}
    assert_removals(changes, ids, {"id", "note", "total"})


async def test_graphql_selecting_a_field_the_user_may_not_read_is_refused_before_any_event(
    live_server: ServerFactory,
) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    client = await open_ws(server, payload={"authorization": server.token(*SALES)})
    await client.start("s", "subscription { ordersChanged { effect record { id cost } } }")
    errors = await client.error("s")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert server.realtime.require_hub().subscription_count == 0


async def test_graphql_sse_removed_record_has_null_fields_and_no_error(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    token = server.token(*ADMIN)
    results: list[Any] = []

    async def listen() -> None:
        headers = {**STREAM, "authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=server.http, timeout=10) as http,
            http.stream("POST", "/graphql", json={"query": CHANGED}, headers=headers) as response,
        ):
            async for _kind, data in events(response):
                results.append(json.loads(data))
                if len(results) == 4:
                    return

    listener = asyncio.create_task(listen())
    await registered(server, 1)
    ids = await leave_the_view(server)
    await asyncio.wait_for(listener, 10)
    assert all("errors" not in r for r in results), results
    changes = [r["data"]["ordersChanged"] for r in results]
    assert_removals(changes, ids, {"id", "note", "total"})
