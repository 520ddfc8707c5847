"""``expand`` on rows subscriptions (plain WebSocket ``subscribe`` and SSE ``?expand=``): the snapshot and each
change of the subscribed record carry the related records as the user may see them when it is delivered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from objectql.engine import expand as expand_module
from objectql.errors import Unavailable
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory, connect
from tests.realtime.test_sse import open_stream, refused

CUSTOMERS = """
fields:
  name:  {type: text}
  owner: {type: text}
permissions:
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
"""
ORDERS = """
fields:
  total:    {type: integer}
  owner:    {type: text}
  customer: {type: lookup, reference_to: customers}
permissions:
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
"""


async def shop(live_server: ServerFactory) -> LiveServer:
    server = await live_server({"customers": CUSTOMERS, "orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET)
    customers = server.engine.object("customers")
    await customers.create({"id": "c1", "name": "Ada", "owner": "sam"})
    await customers.create({"id": "c2", "name": "Bob", "owner": "kim"})
    orders = server.engine.object("orders")
    await orders.create({"id": "o1", "total": 10, "owner": "sam", "customer": "c1"})
    await orders.create({"id": "o2", "total": 20, "owner": "kim", "customer": "c1"})
    await orders.create({"id": "o3", "total": 30, "owner": "sam", "customer": "c2"})
    return server


async def test_the_snapshot_carries_the_expanded_data_as_the_user_sees_it(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.send(
        {
            "type": "subscribe",
            "id": "s",
            "object": "orders",
            "snapshot": True,
            "fields": ["total"],
            "expand": {"customer": {"fields": ["name"]}},
        }
    )
    await sam.expect("subscribed")
    snapshot = await sam.expect("snapshot")
    # The reference field an expand follows travels with the records; Bob (kim's) is invisible: None.
    assert sorted(snapshot["records"], key=lambda r: r["id"]) == [
        {"id": "o1", "total": 10, "customer": "c1", "customer_ref": {"id": "c1", "name": "Ada"}},
        {"id": "o3", "total": 30, "customer": "c2", "customer_ref": None},
    ]
    await sam.send({"type": "subscribe", "id": "c", "object": "customers", "snapshot": True, "expand": {"orders": {}}})
    await sam.expect("subscribed")
    (ada,) = (await sam.expect("snapshot"))["records"]
    assert [o["id"] for o in ada["orders"]] == ["o1"]  # kim's o2 is absent


async def changes_by_id(client: Any, count: int) -> dict[str, dict[str, Any]]:
    """The next ``count`` changes, by subscription id (two subscriptions' messages of one seq come in either
    order: each group renders in its own task)."""
    out: dict[str, dict[str, Any]] = {}
    for _ in range(count):
        change = await client.expect("change")
        assert change["id"] not in out, change
        out[change["id"]] = change
    return out


async def test_each_change_carries_the_expanded_data_and_related_changes_refresh_it(
    live_server: ServerFactory,
) -> None:
    server = await shop(live_server)
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.subscribe("s", expand={"customer": {"fields": ["name"]}})
    await sam.subscribe("c", obj="customers", expand={"orders": {"fields": ["total"], "sort": [["total", "desc"]]}})
    customers, orders = server.engine.object("customers"), server.engine.object("orders")

    renamed = await customers.update("c1", {"name": "Ada L."})
    seq = await server.engine.current_seq()
    got = await changes_by_id(sam, 2)
    assert got["c"]["action"] == "update" and got["c"]["record"]["orders"] == [{"id": "o1", "total": 10}]
    # The rename reaches the orders that carry Ada: o1 (o2 is kim's), as a related change at the rename's seq.
    related = got["s"]
    assert (related["seq"], related["action"], related["effect"]) == (seq, "related", "modified")
    assert related["changed"] == ["customer"] and "previous" not in related
    assert related["record"]["id"] == "o1" and related["record"]["customer_ref"] == {
        "id": "c1",
        "name": renamed["name"],
    }
    await sam.nothing(server)

    await orders.update("o1", {"total": 11})
    got = await changes_by_id(sam, 2)
    change = got["s"]
    assert change["action"] == "update" and change["effect"] == "modified"
    assert change["record"]["customer_ref"] == {"id": "c1", "name": "Ada L."}
    assert "customer_ref" not in change["previous"]
    # Ada's nested orders changed: the customers' subscription gets a related change naming the list.
    assert got["c"]["action"] == "related" and got["c"]["changed"] == ["orders"]
    assert got["c"]["record"]["orders"] == [{"id": "o1", "total": 11}]
    await sam.nothing(server)

    await orders.update("o1", {"owner": "kim"})
    got = await changes_by_id(sam, 2)
    assert got["s"]["effect"] == "removed" and got["s"]["record"] == {"id": "o1"}
    assert got["c"]["action"] == "related" and got["c"]["record"]["orders"] == []
    await sam.nothing(server)

    created = await orders.create({"total": 5, "owner": "sam", "customer": "c1"})
    got = await changes_by_id(sam, 2)
    assert got["s"]["record"]["id"] == created["id"] and got["s"]["record"]["customer_ref"]["name"] == "Ada L."
    assert got["c"]["record"]["orders"] == [{"id": created["id"], "total": 5}]


async def test_a_parent_turning_invisible_is_a_related_change_too(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.subscribe("s", expand={"customer": {"fields": ["name"]}})
    customers = server.engine.object("customers")
    # Not an expanded field, but sam's row rule on customers reads it: Ada is no longer sam's to see.
    await customers.update("c1", {"owner": "kim"})
    change = await sam.expect("change")
    assert (change["action"], change["record"]["id"], change["record"]["customer_ref"]) == ("related", "o1", None)
    await sam.nothing(server)
    await customers.update("c2", {"name": "Bo"})  # Bob's only order is o3, sam's; Bob stays kim's
    change = await sam.expect("change")
    assert (change["action"], change["record"]["id"], change["record"]["customer_ref"]) == ("related", "o3", None)
    await customers.create({"id": "c3", "name": "Cy", "owner": "sam"})  # no order carries a new customer
    await sam.nothing(server)


async def test_a_bad_expand_is_an_error_naming_its_path(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    sam = await connect(server, server.token("sam", ["sales"]))
    cases = [
        ({"nope": {}}, "INVALID_REQUEST", "expand.nope"),
        ({"customer": {"fields": ["nope"]}}, "INVALID_REQUEST", "expand.customer.fields[0]"),
        ({"customer": {"expand": {"orders": {"limit": 0}}}}, "INVALID_REQUEST", "expand.customer.expand.orders.limit"),
        ([], "INVALID_REQUEST", "expand"),
    ]
    for expand, code, path in cases:
        await sam.send({"type": "subscribe", "id": "s", "object": "orders", "expand": expand})
        error = await sam.expect("error")
        assert (error["code"], error.get("path")) == (code, path), error
    await sam.send({"type": "subscribe", "id": "w", "object": "orders", "limit": 5, "expand": {"customer": {}}})
    error = await sam.expect("error")
    assert error["code"] == "INVALID_REQUEST" and error["path"] == "expand"


async def test_a_resumed_subscription_replays_with_the_expanded_data(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    seq = await server.engine.current_seq()
    await server.engine.object("orders").update("o1", {"total": 12})
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.send({"type": "subscribe", "id": "s", "object": "orders", "resume_from": seq, "expand": {"customer": {}}})
    await sam.expect("subscribed")
    replayed = await sam.expect("change")
    assert replayed["record"]["total"] == 12 and replayed["record"]["customer_ref"]["name"] == "Ada"


async def test_sse_takes_expand_as_json(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    token = server.token("sam", ["sales"])
    params = {"expand": json.dumps({"customer": {"fields": ["name"]}}), "fields": "total"}
    async with open_stream(server, token=token, params=params) as stream:
        await server.engine.object("orders").update("o1", {"total": 13})
        _, change = await stream.change()
        assert change["record"] == {
            "id": "o1",
            "total": 13,
            "customer": "c1",
            "customer_ref": {"id": "c1", "name": "Ada"},
        }
        await server.engine.object("orders").update("o3", {"total": 31})
        _, change = await stream.change()
        assert change["record"]["customer_ref"] is None  # Bob is kim's
    for params, path in [
        ({"expand": "{not json"}, "expand"),
        ({"expand": json.dumps({"nope": {}})}, "expand.nope"),
        ({"expand": json.dumps({"customer": {}}), "limit": "5"}, "expand"),
    ]:
        status, error = await refused(server, token=token, params=params)
        assert status == 400 and error["code"] == "INVALID_REQUEST" and error["path"] == path


async def test_a_change_whose_expand_cannot_be_read_closes_1013_and_resuming_delivers_it(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await shop(live_server)
    sam = await connect(server, server.token("sam", ["sales"]))
    acked = await sam.subscribe("s", expand={"customer": {"fields": ["name"]}})
    original = expand_module.expand_records
    failures = [Unavailable("the database is unavailable; try again")]

    async def flaky(*args: Any) -> None:
        if failures:
            raise failures.pop()
        await original(*args)

    monkeypatch.setattr(expand_module, "expand_records", flaky)
    await server.engine.object("orders").update("o1", {"total": 14})
    # The change cannot be rendered: rather than miss it silently, the connection is closed "try again".
    assert await sam.closed_with() == 1013
    again = await connect(server, server.token("sam", ["sales"]))
    await again.subscribe("s", resume_from=acked["seq"], expand={"customer": {"fields": ["name"]}})
    change = await again.expect("change")
    assert change["record"]["total"] == 14 and change["record"]["customer_ref"]["name"] == "Ada"


async def test_a_resumed_subscription_replays_the_related_changes_as_of_their_seqs(live_server: ServerFactory) -> None:
    server = await shop(live_server)
    customers, orders = server.engine.object("customers"), server.engine.object("orders")
    seq = await server.engine.current_seq()
    await customers.update("c1", {"name": "Ada L."})
    renamed = await server.engine.current_seq()
    # After the rename, o1 moves to Bob: as of the rename's seq it still carried Ada, and the replay says so.
    await orders.update("o1", {"customer": "c2"})
    sam = await connect(server, server.token("sam", ["sales"]))
    await sam.send({"type": "subscribe", "id": "s", "object": "orders", "resume_from": seq, "expand": {"customer": {}}})
    await sam.expect("subscribed")
    related = await sam.expect("change")
    assert (related["seq"], related["action"], related["record"]["id"]) == (renamed, "related", "o1")
    assert related["record"]["customer"] == "c1" and related["changed"] == ["customer"]
    moved = await sam.expect("change")
    assert moved["action"] == "update" and moved["record"]["customer"] == "c2"
    await sam.nothing(server)
