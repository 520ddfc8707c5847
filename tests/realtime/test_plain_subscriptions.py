"""Query and record subscriptions over /api/realtime: the effects (docs/websocket.md), projection and permissions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from objectql import User
from objectql.engine import source
from tests.realtime.conftest import SECRET, LiveServer, ServerFactory, connect

ADMIN = ["admin"]


async def open_server(live_server: ServerFactory) -> LiveServer:
    return await live_server(OBJECTQL_JWT_SECRET=SECRET)


async def test_query_subscription_sends_added_modified_removed_and_nothing_it_cannot_see(
    live_server: ServerFactory,
) -> None:
    server = await open_server(live_server)
    client = await connect(server, server.token("root", ADMIN))
    await client.subscribe("s1", filters=[["status", "=", "pending"]])
    orders = server.engine.object("orders")

    created = await orders.create({"total": 5})
    added = await client.expect("change")
    assert added["id"] == "s1" and added["effect"] == "added" and added["action"] == "create"
    assert added["record"]["id"] == created["id"] and added["record"]["total"] == 5
    assert "previous" not in added and "changed" not in added

    await orders.update(created["id"], {"total": 6})
    modified = await client.expect("change")
    assert modified["effect"] == "modified" and modified["previous"]["total"] == 5
    assert set(modified["changed"]) == {"total", "updated_at"}

    await orders.update(created["id"], {"status": "paid"})
    removed = await client.expect("change")
    assert removed["effect"] == "removed" and removed["record"] == {"id": created["id"]}
    assert removed["previous"]["status"] == "pending"

    await orders.update(created["id"], {"total": 7})  # outside the filter: nothing
    await client.nothing(server)

    await orders.update(created["id"], {"status": "pending"})
    back = await client.expect("change")
    assert back["effect"] == "added" and back["action"] == "update" and "previous" not in back

    await orders.delete(created["id"])
    gone = await client.expect("change")
    assert gone["effect"] == "removed" and gone["action"] == "delete" and gone["record"] == {"id": created["id"]}

    await orders.create({"status": "paid"})
    await client.nothing(server)
    assert [m["seq"] for m in (added, modified, removed, back, gone)] == sorted(
        m["seq"] for m in (added, modified, removed, back, gone)
    )


async def test_record_subscription_follows_one_record(live_server: ServerFactory) -> None:
    server = await open_server(live_server)
    orders = server.engine.object("orders")
    mine = await orders.create({"total": 1})
    other = await orders.create({"total": 2})
    client = await connect(server, server.token("root", ADMIN))
    await client.subscribe("r", record_id=mine["id"])
    await orders.update(other["id"], {"total": 3})
    await orders.update(mine["id"], {"total": 4})
    change = await client.expect("change")
    assert change["record"]["id"] == mine["id"] and change["effect"] == "modified"
    await client.nothing(server)


async def test_unknown_or_invisible_record_id_is_not_found(live_server: ServerFactory) -> None:
    server = await open_server(live_server)
    theirs = await server.engine.object("orders").create({"owner": "kim"})
    client = await connect(server, server.token("sam", ["sales"]))
    for record_id in ("missing", theirs["id"]):
        await client.send({"type": "subscribe", "id": "r", "object": "orders", "record_id": record_id})
        error = await client.expect("error")
        assert error["code"] == "NOT_FOUND" and error["id"] == "r"


async def test_fields_projection_carries_requested_fields_and_id(live_server: ServerFactory) -> None:
    server = await open_server(live_server)
    client = await connect(server, server.token("root", ADMIN))
    await client.subscribe("p", fields=["status"])
    created = await server.engine.object("orders").create({"total": 9, "note": "n"})
    change = await client.expect("change")
    assert change["record"] == {"id": created["id"], "status": "pending"}
    await server.engine.object("orders").update(created["id"], {"total": 10})
    change = await client.expect("change")
    assert change["changed"] == []  # total and updated_at changed, but neither is carried
    assert set(change["previous"]) == {"id", "status"}


async def test_hidden_fields_are_never_pushed_and_cannot_be_requested(live_server: ServerFactory) -> None:
    server = await open_server(live_server)
    client = await connect(server, server.token("bob", ["clerk"]))
    await client.subscribe("all")
    created = await server.engine.object("orders").create({"cost": 3, "total": 1})
    change = await client.expect("change")
    assert "cost" not in change["record"]
    await server.engine.object("orders").update(created["id"], {"cost": 4})
    change = await client.expect("change")
    assert "cost" not in change["record"] and "cost" not in change["previous"]
    assert "cost" not in change["changed"]
    for bad in ({"fields": ["cost"]}, {"filters": [["cost", ">", 1]]}):
        await client.send({"type": "subscribe", "id": "x", "object": "orders", **bad})
        error = await client.expect("error")
        assert error["code"] == "FORBIDDEN" and error["details"]["field"] == "cost" and error["id"] == "x"


async def test_user_never_receives_a_row_only_another_user_may_see(live_server: ServerFactory) -> None:
    server = await open_server(live_server)
    sam = await connect(server, server.token("sam", ["sales"]))
    kim = await connect(server, server.token("kim", ["sales"]))
    same_filter = [["status", "=", "pending"]]
    await sam.subscribe("s", filters=same_filter)
    await kim.subscribe("s", filters=same_filter)
    orders = server.engine.object("orders")
    await orders.create({"owner": "kim", "total": 1})
    kims = await kim.expect("change")
    assert kims["record"]["owner"] == "kim"
    await sam.nothing(server)
    sams_order = await orders.create({"owner": "sam"})
    assert (await sam.expect("change"))["record"]["id"] == sams_order["id"]
    await kim.nothing(server)
    # Moving a row from sam to kim: sam sees it leave, kim sees it arrive.
    await orders.update(sams_order["id"], {"owner": "kim"})
    assert (await sam.expect("change"))["effect"] == "removed"
    assert (await kim.expect("change"))["effect"] == "added"


async def test_a_rolled_back_transaction_pushes_nothing(live_server: ServerFactory) -> None:
    server = await open_server(live_server)
    client = await connect(server, server.token("root", ADMIN))
    await client.subscribe("all")
    try:
        async with server.engine.transaction(User("root", ("admin",))) as tx:
            await tx.object("orders").create({"total": 1})
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    await client.nothing(server)


async def test_several_subscriptions_on_one_connection_each_get_their_message(live_server: ServerFactory) -> None:
    server = await open_server(live_server)
    client = await connect(server, server.token("root", ADMIN))
    await client.subscribe("a")
    await client.subscribe("b", filters={"total": {"$gt": 0}})
    await server.engine.object("orders").create({"total": 1})
    ids = sorted([(await client.expect("change"))["id"], (await client.expect("change"))["id"]])
    assert ids == ["a", "b"]
    await client.send({"type": "unsubscribe", "id": "a"})
    assert (await client.expect("unsubscribed"))["id"] == "a"
    await server.engine.object("orders").create({"total": 2})
    assert (await client.expect("change"))["id"] == "b"
    await client.nothing(server)


async def test_a_live_only_subscribe_reads_nothing_from_the_database_and_acks_every_commit_so_far(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await live_server()
    orders = server.engine.object("orders")
    for i in range(3):
        await orders.create({"total": i})
    reads: list[str] = []
    source = server.realtime.source
    for name in ("current_seq", "oldest_seq", "events", "snapshot"):
        original = getattr(source, name)

        def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            reads.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(source, name, counted)
    client = await connect(server)
    ack = await client.subscribe("s")
    assert ack["seq"] == 3 and reads == []
    created = await orders.create({"total": 9})
    change = await client.expect("change")
    assert change["seq"] == 4 and change["record"]["id"] == created["id"]
    await client.subscribe("t", snapshot=True)  # a snapshot reads its rows and seq from the database
    assert reads == ["current_seq", "snapshot"]


async def test_a_snapshot_the_database_cannot_give_is_unavailable(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = await live_server()
    client = await connect(server)

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT …", {}, ConnectionRefusedError("the database is away"))

    monkeypatch.setattr(source, "snapshot", away)  # the read a snapshot makes, as the driver fails it
    await client.send({"type": "subscribe", "id": "s", "object": "orders", "snapshot": True})
    error = await client.expect("error")
    assert error["id"] == "s" and error["code"] == "UNAVAILABLE"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    monkeypatch.undo()
    await client.subscribe("s", snapshot=True)  # the id is free again, and the database back
