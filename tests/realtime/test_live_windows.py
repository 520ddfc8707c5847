"""Live windows over the plain WebSocket: the ack and the window's snapshot, then changes relative to the
window — rows pushed out and pulled in, moves within it, ties broken by id, rows entering and leaving the
filter — so that the client's window equals find(filters, sort, limit) after every seq; over the user's
visible rows only, sorted on readable fields only; a fresh snapshot on resume; shared by identical windows."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from objectql.engine.user import User
from objectql.realtime.windows import WindowGroup
from objectql.resolvers import executor
from tests.graphql.wsclient import PROTOCOLS, open_ws
from tests.realtime.conftest import SECRET, Client, LiveServer, Outage, ServerFactory, connect, drain, settle
from tests.realtime.test_live_aggregates import ORDERS
from tests.realtime.windows import WindowModel, expected_window

SORT = [["total", "desc"]]
FIELDS = ["status", "total", "owner"]


async def changes_until_quiet(client: Client, server: LiveServer, sid: str = "w") -> list[dict[str, Any]]:
    """Every change message sent for ``sid`` once everything committed has been dispatched."""
    messages = await drain(client, server)
    for message in messages:
        assert message["type"] == "change" and message["id"] == sid, message
    return messages


async def open_window(client: Client, sid: str = "w", **extra: Any) -> WindowModel:
    request = {"type": "subscribe", "id": sid, "object": "orders", "sort": SORT, "limit": 3, "fields": FIELDS}
    await client.send({**request, **extra})
    ack = await client.expect("subscribed")
    snapshot = await client.expect("snapshot")
    assert ack["id"] == snapshot["id"] == sid and ack["seq"] == snapshot["seq"]
    return WindowModel(snapshot["records"])


async def test_changes_keep_the_window_equal_to_find(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    made = {}
    for name, total in [("a", "10"), ("b", "20"), ("c", "30"), ("d", "5")]:
        made[name] = await orders.create({"status": "paid", "total": Decimal(total), "owner": name})
    client = await connect(server)
    window = await open_window(client)
    want = await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)
    assert window.records == want and [r["owner"] for r in want] == ["c", "b", "a"]

    async def step(action: Any, *effects: tuple[str, str, int | None]) -> None:
        await action
        changes = await changes_until_quiet(client, server)
        names = {r["id"]: r["owner"] for r in await orders.find(fields=["owner"], limit=100)}
        got = [(c["effect"], names.get(c["record"]["id"], "gone"), c.get("index")) for c in changes]
        assert got == list(effects)
        assert len({c["seq"] for c in changes}) <= 1  # one step
        for change in changes:
            window.apply(change)
        assert window.records == await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)

    # A new best row pushes the last one out.
    made["e"] = await orders.create({"status": "paid", "total": Decimal("40"), "owner": "e"})
    await step(asyncio.sleep(0), ("removed", "a", None), ("added", "e", 0))
    # A move within the window.
    await step(orders.update(made["b"]["id"], {"total": Decimal("50")}), ("modified", "b", 0))
    # A row leaves the window: the first row beyond it (a) is pulled in, read as it is now.
    await step(orders.update(made["c"]["id"], {"total": Decimal("1")}), ("removed", "c", None), ("added", "a", 2))
    # An update beyond the window changes nothing in it.
    await step(orders.update(made["d"]["id"], {"total": Decimal("2")}))
    # A tie with the last row: the smaller id wins.
    tie = await orders.create({"status": "paid", "total": Decimal("10"), "owner": "f"})
    changes = await changes_until_quiet(client, server)
    for change in changes:
        window.apply(change)
    assert window.records == await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)
    assert (tie["id"] < made["a"]["id"]) == (window.records[2]["owner"] == "f")
    # A delete pulls the next row in.
    await orders.delete(made["e"]["id"])
    for change in await changes_until_quiet(client, server):
        window.apply(change)
    assert window.records == await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)


async def test_rows_entering_and_leaving_the_filter(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    rows = [await orders.create({"status": "paid", "total": Decimal(t), "owner": "x"}) for t in ("1", "2", "3", "4")]
    client = await connect(server)
    filters = [["status", "=", "paid"]]
    window = await open_window(client, filters=filters)
    for row, status in [(rows[3], "pending"), (rows[0], "pending"), (rows[3], "paid"), (rows[2], "shipped")]:
        await orders.update(row["id"], {"status": status})
        for change in await changes_until_quiet(client, server):
            window.apply(change)
        want = await expected_window(server.engine, None, "orders", filters=filters, fields=FIELDS, sort=SORT, limit=3)
        assert window.records == want


async def test_many_rows_leaving_read_the_window_again(live_server: ServerFactory) -> None:
    """Past the rows held beyond the window, the window is read again and sent as changes at the read's seq."""
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    rows = [await orders.create({"status": "paid", "total": Decimal(t), "owner": "x"}) for t in range(1, 13)]
    client = await connect(server)
    window = await open_window(client)
    for row in sorted(rows, key=lambda r: -r["total"])[:8]:
        await orders.delete(row["id"])
        for change in await changes_until_quiet(client, server):
            window.apply(change)
        assert window.records == await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)
    assert [r["total"] for r in window.records] == [4, 3, 2]


async def test_a_window_is_over_the_users_visible_rows(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    for owner, total in [("sam", "1"), ("kim", "9"), ("sam", "3"), ("kim", "8")]:
        await orders.create({"status": "paid", "total": Decimal(total), "owner": owner})
    client = await connect(server, server.token("sam", ["sales"]))
    window = await open_window(client)
    sam = User("sam", ("sales",))
    assert window.records == await expected_window(server.engine, sam, "orders", fields=FIELDS, sort=SORT, limit=3)
    assert {r["owner"] for r in window.records} == {"sam"}
    await orders.create({"status": "paid", "total": Decimal("100"), "owner": "kim"})  # not sam's: nothing
    assert await changes_until_quiet(client, server) == []
    await orders.create({"status": "paid", "total": Decimal("2"), "owner": "sam"})
    for change in await changes_until_quiet(client, server):
        window.apply(change)
    assert window.records == await expected_window(server.engine, sam, "orders", fields=FIELDS, sort=SORT, limit=3)

    # A hidden field can neither be sorted on nor carried.
    await client.send({"type": "subscribe", "id": "h", "object": "orders", "sort": [["cost", "desc"]], "limit": 3})
    error = await client.expect("error")
    assert error["id"] == "h" and error["code"] == "FORBIDDEN" and error["details"]["field"] == "cost"
    await client.send({"type": "subscribe", "id": "h", "object": "orders", "limit": 3, "fields": ["cost"]})
    assert (await client.expect("error"))["code"] == "FORBIDDEN"


async def test_bad_windows_are_refused_with_their_reason(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS})
    client = await connect(server)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"sort": SORT}, "limit"),
        ({"sort": SORT, "limit": 0}, "limit"),
        ({"sort": SORT, "limit": 1001}, "limit"),
        ({"sort": SORT, "limit": True}, "limit"),
        ({"sort": [["nope", "asc"]], "limit": 3}, "sort[0]"),
        ({"sort": [["total", "sideways"]], "limit": 3}, "sort[0]"),
        ({"sort": "total", "limit": 3}, "sort"),
        ({"limit": 3, "record_id": "x"}, "record_id"),
        ({"limit": 3, "aggregate": {"count": True}}, "aggregate"),
    ]
    for i, (extra, path) in enumerate(bad):
        await client.send({"type": "subscribe", "id": f"b{i}", "object": "orders", **extra})
        error = await client.expect("error")
        assert error["id"] == f"b{i}" and error["code"] == "INVALID_REQUEST" and error["path"] == path, error
    # The connection is fine and the ids were not taken.
    window = await open_window(client, "b0")
    assert window.records == []


async def test_resuming_a_window_sends_a_fresh_snapshot(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    await orders.create({"status": "paid", "total": Decimal("1"), "owner": "x"})
    client = await connect(server)
    first = await open_window(client)
    await orders.create({"status": "paid", "total": Decimal("2"), "owner": "y"})
    await settle(server)
    await client.ws.close()
    again = await connect(server)
    resumed = await open_window(again, resume_from=1)
    assert len(first.records) == 1
    want = await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)
    assert resumed.records == want and len(want) == 2


async def test_identical_windows_share_one_group(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    clients = [await connect(server) for _ in range(5)]
    windows = [await open_window(c) for c in clients]
    smaller = await connect(server)
    await open_window(smaller, limit=2)
    assert server.group_count(WindowGroup) == 2  # five equal windows, and one of another size
    await orders.create({"status": "paid", "total": Decimal("7"), "owner": "x"})
    want = await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)
    for client, window in zip(clients, windows, strict=True):
        for change in await changes_until_quiet(client, server):
            window.apply(change)
        assert window.records == want
    for client in [*clients, smaller]:
        await client.ws.close()
    for _ in range(100):
        if server.group_count(WindowGroup) == 0:
            break
        await settle(server)
    assert server.group_count(WindowGroup) == 0


async def test_new_roles_send_a_fresh_snapshot_or_end_the_window(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    for owner, total in [("sam", "1"), ("kim", "9")]:
        await orders.create({"status": "paid", "total": Decimal(total), "owner": owner})
    client = await connect(server, server.token("sam", ["sales"]))
    window = await open_window(client)
    assert [r["owner"] for r in window.records] == ["sam"]
    # Admin sees every row: the window is the admin's now, as a fresh snapshot.
    await client.send({"type": "auth", "token": server.token("sam", ["admin"])})
    await client.expect("auth_ok")
    snapshot = await client.expect("snapshot")
    assert snapshot["id"] == "w"
    want = await expected_window(server.engine, User("sam", ("admin",)), "orders", fields=FIELDS, sort=SORT, limit=3)
    assert snapshot["records"] == want and [r["owner"] for r in want] == ["kim", "sam"]
    # A window sorted on a field only admins read ends, with its error, when the admin role goes; the other
    # window gets the sales user's rows again.
    await client.send({"type": "subscribe", "id": "c", "object": "orders", "sort": [["cost", "desc"]], "limit": 3})
    await client.expect("subscribed")
    await client.expect("snapshot")
    await client.send({"type": "auth", "token": server.token("sam", ["sales"])})
    await client.expect("auth_ok")
    first, second = await client.recv(), await client.recv()
    error, snapshot = (first, second) if first["type"] == "error" else (second, first)
    assert error["id"] == "c" and error["code"] == "FORBIDDEN" and error["details"]["field"] == "cost"
    assert snapshot["type"] == "snapshot" and [r["owner"] for r in snapshot["records"]] == ["sam"]
    await orders.create({"status": "paid", "total": Decimal("5"), "owner": "kim"})
    await client.nothing(server)
    assert server.group_count(WindowGroup) == 1


async def test_unsubscribe_ends_a_window(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS})
    client = await connect(server)
    await open_window(client)
    await client.send({"type": "unsubscribe", "id": "w"})
    assert (await client.expect("unsubscribed"))["id"] == "w"
    await server.engine.object("orders").create({"status": "paid", "total": Decimal("7"), "owner": "x"})
    await client.nothing(server)
    assert server.group_count(WindowGroup) == 0


async def test_sse_streams_a_window(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    await orders.create({"status": "paid", "total": Decimal("5"), "owner": "x"})
    params = {"sort": "total:desc", "limit": "2", "fields": ",".join(FIELDS)}
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=10) as http,
        http.stream("GET", "/api/events/orders", params=params) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()

        async def event() -> tuple[str, dict[str, Any]]:
            kind, data = "", {}
            async for line in lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif not line and kind:
                    return kind, data
            raise AssertionError("the stream ended")

        kind, snapshot = await asyncio.wait_for(event(), 5)
        assert kind == "snapshot"
        window = WindowModel(snapshot["records"])
        await orders.create({"status": "paid", "total": Decimal("9"), "owner": "y"})
        kind, change = await asyncio.wait_for(event(), 5)
        assert kind == "change" and change["effect"] == "added" and change["index"] == 0
        window.apply(change)
        assert window.records == await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=2)
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        bad = await http.get("/api/events/orders", params={"sort": "total:sideways", "limit": "2"})
        assert bad.status_code == 400 and bad.json()["error"]["path"] == "sort[0]"
        bad = await http.get("/api/events/orders", params={"sort": "total", "limit": "lots"})
        assert bad.status_code == 400 and bad.json()["error"]["path"] == "limit"
        bad = await http.get("/api/events/orders", params={"sort": "total", "limit": "2", "record_id": "x"})
        assert bad.status_code == 400 and bad.json()["error"]["path"] == "record_id"


async def test_sse_and_graphql_refuse_sorting_on_a_hidden_field(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET)
    sam = server.token("sam", ["sales"])
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        params = {"sort": "cost:desc", "limit": "2", "access_token": sam}
        refused = await http.get("/api/events/orders", params=params)
        assert refused.status_code == 403 and refused.json()["error"]["details"]["field"] == "cost"
    client = await open_ws(server, PROTOCOLS[0], {"authorization": sam})
    await client.start("w", "subscription { ordersWindow(orderBy: [{field: cost}], limit: 2) { index record { id } } }")
    (error,) = await client.error("w")
    assert error["extensions"]["code"] == "FORBIDDEN" and error["extensions"]["details"]["path"] == "orderBy[0]"
    await client.start("v", "subscription { ordersWindow(limit: 2) { index record { id cost } } }")
    (error,) = await client.error("v")
    assert (
        error["extensions"]["code"] == "FORBIDDEN"
        and error["extensions"]["details"]["path"] == "ordersWindow.record.cost"
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_graphql_window_subscription(live_server: ServerFactory, protocol: str) -> None:
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    for total in ("1", "2", "3"):
        await orders.create({"status": "paid", "total": Decimal(total), "owner": "x"})
    query = """subscription { ordersWindow(orderBy: [{field: total, direction: DESC}], limit: 2) {
        seq effect index record { id total } } }"""
    client = await open_ws(server, protocol)
    await client.start("w", query)
    first = [(await client.next("w"))["data"]["ordersWindow"] for _ in range(2)]
    assert [(c["effect"], c["index"], c["record"]["total"]) for c in first] == [("ADDED", 0, "3"), ("ADDED", 1, "2")]
    await orders.create({"status": "paid", "total": Decimal("2.5"), "owner": "x"})
    pushed, added = [(await client.next("w"))["data"]["ordersWindow"] for _ in range(2)]
    assert pushed["effect"] == "REMOVED" and pushed["index"] is None and pushed["record"]["total"] is None
    assert (added["effect"], added["index"], added["record"]["total"]) == ("ADDED", 1, "2.5")
    await client.start("bad", query.replace("limit: 2", "limit: 0"))
    (error,) = await client.error("bad")
    assert error["extensions"]["code"] == "INVALID_REQUEST" and error["extensions"]["path"] == "limit"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_graphql_windows_rows_are_one_execution_shared_by_the_subscribers_joining_it(
    live_server: ServerFactory, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    executions = 0
    original = executor.execute

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal executions
        executions += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(executor, "execute", counted)
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    for total in range(1, 6):
        await orders.create({"status": "paid", "total": Decimal(total), "owner": "x"})
    query = """subscription { ordersWindow(orderBy: [{field: total, direction: DESC}], limit: 4) {
        seq effect index record { id total } } }"""

    async def subscribe() -> tuple[Any, list[dict[str, Any]]]:
        client = await open_ws(server, protocol)
        await client.start("w", query)
        return client, [(await client.next("w"))["data"]["ordersWindow"] for _ in range(4)]

    first, rows = await subscribe()
    added = [(r["effect"], r["index"], r["record"]["total"]) for r in rows]
    assert added == [("ADDED", i, str(5 - i)) for i in range(4)]
    assert executions == 1  # four rows, one execution
    joiner, joined = await subscribe()
    assert joined == rows and executions == 1  # the window has not changed: its rendered rows are the joiner's
    await orders.create({"status": "paid", "total": Decimal(10), "owner": "x"})
    for client in (first, joiner):
        pushed, entered = [(await client.next("w"))["data"]["ordersWindow"] for _ in range(2)]
        assert (pushed["effect"], pushed["record"]["total"], entered["index"]) == ("REMOVED", None, 0)
    assert executions == 2  # the step's two changes, for both subscribers
    _, late = await subscribe()
    assert [r["record"]["total"] for r in late] == ["10", "5", "4", "3"] and executions == 3


async def test_a_window_read_during_an_outage_arrives_when_the_database_is_back(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its subscribe waits without holding the connection: pings, other subscriptions and unsubscribes go on;
    a window unsubscribed meanwhile stops reading."""
    server = await live_server({"orders": ORDERS})
    orders = server.engine.object("orders")
    for total in ("10", "20"):
        await orders.create({"status": "paid", "total": Decimal(total), "owner": "x"})
    source = server.realtime.source
    outage = Outage(source.window_snapshot, refused=2)
    monkeypatch.setattr(source, "window_snapshot", outage)
    client = await connect(server)
    request = {"type": "subscribe", "object": "orders", "sort": SORT, "limit": 3, "fields": FIELDS}
    await client.send({**request, "id": "w"})
    await client.send({**request, "id": "gone", "limit": 2})
    await client.send({"type": "unsubscribe", "id": "gone"})
    assert await client.expect("unsubscribed") == {"type": "unsubscribed", "id": "gone"}
    await client.send({"type": "ping"})
    assert await client.expect("pong") == {"type": "pong"}
    plain = await client.subscribe("p", filters=[["owner", "=", "y"]])
    assert plain["id"] == "p"
    await orders.create({"status": "paid", "total": Decimal("30"), "owner": "y"})  # written while reads fail
    change = await client.expect("change")
    assert change["id"] == "p" and change["record"]["owner"] == "y"
    # The window's group reads again (and that read hangs); the unsubscribed one does not.
    await outage.retried(3)
    await asyncio.sleep(0.5)  # the unsubscribed group's retry would be due with the window's
    assert [spec.limit for _, spec, _ in outage.calls] == [3, 2, 3]
    # Joining the window's group while its read hangs holds nothing up either.
    await client.send({**request, "id": "w2"})
    await client.send({"type": "ping"})
    assert await client.expect("pong") == {"type": "pong"}

    outage.restore()
    windows = {}
    for sid in ("w", "w2"):
        ack = await client.expect("subscribed")
        snapshot = await client.expect("snapshot")
        assert ack["id"] == snapshot["id"] == sid
        assert ack["seq"] == snapshot["seq"] == await server.engine.current_seq()
        windows[sid] = WindowModel(snapshot["records"])
    want = await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)
    assert [r["total"] for r in want] == [30, 20, 10]
    assert windows["w"].records == windows["w2"].records == want
    await orders.create({"status": "paid", "total": Decimal("25"), "owner": "x"})
    for change in await drain(client, server):
        assert change["type"] == "change", change
        windows[change["id"]].apply(change)
    want = await expected_window(server.engine, None, "orders", fields=FIELDS, sort=SORT, limit=3)
    assert windows["w"].records == windows["w2"].records == want
    assert server.group_count(WindowGroup) == 1


async def test_new_roles_during_an_outage_keep_the_windows_first_messages(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window re-checked before it was read still opens with its ``subscribed``, then the new roles' rows."""
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    for owner, total in [("sam", "1"), ("kim", "9")]:
        await orders.create({"status": "paid", "total": Decimal(total), "owner": owner})
    source = server.realtime.source
    outage = Outage(source.window_snapshot)
    monkeypatch.setattr(source, "window_snapshot", outage)
    client = await connect(server, server.token("sam", ["sales"]))
    request = {"type": "subscribe", "id": "w", "object": "orders", "sort": SORT, "limit": 3, "fields": FIELDS}
    await client.send(request)
    await client.send({"type": "auth", "token": server.token("sam", ["admin"])})
    await client.expect("auth_ok")
    outage.restore()
    ack = await client.expect("subscribed")
    snapshot = await client.expect("snapshot")
    assert ack["id"] == snapshot["id"] == "w" and ack["seq"] == snapshot["seq"]
    want = await expected_window(server.engine, User("sam", ("admin",)), "orders", fields=FIELDS, sort=SORT, limit=3)
    assert snapshot["records"] == want and [r["owner"] for r in want] == ["kim", "sam"]
    await client.nothing(server)
    assert server.group_count(WindowGroup) == 1


# -- the rows a connection's windows may hold -----------------------------------------------------------


async def test_a_connections_windows_hold_at_most_its_row_budget(live_server: ServerFactory) -> None:
    """Each window counts its limit; past the budget a window is refused with TOO_MANY_ROWS, the others go on,
    and closing one frees its rows."""
    server = await live_server({"orders": ORDERS}, OBJECTQL_WINDOW_ROWS="50")
    orders = server.engine.object("orders")
    await orders.create({"status": "paid", "total": Decimal(1)})
    client = await connect(server)
    await open_window(client, "w1", limit=30)
    await client.send({"type": "subscribe", "id": "w2", "object": "orders", "sort": SORT, "limit": 30})
    error = await client.expect("error")
    assert error["id"] == "w2" and error["code"] == "TOO_MANY_ROWS"
    assert error["details"] == {"limit": 50, "held": 30}
    await open_window(client, "w3", limit=20)  # 30 + 20 = 50: within the budget
    assert server.realtime.require_context().budget.held(server.realtime.connections.copy().pop()) == 50
    await orders.create({"status": "paid", "total": Decimal(2)})
    assert {m["id"] for m in await drain(client, server)} == {"w1", "w3"}  # both still live
    await client.send({"type": "unsubscribe", "id": "w1"})
    await client.expect("unsubscribed")
    await open_window(client, "w4", limit=30)  # the rows w1 held are free again
    other = await connect(server)
    await open_window(other, "w1", limit=50)  # the budget is per connection
    await client.send({"type": "subscribe", "id": "w5", "object": "orders", "sort": SORT, "limit": 1})
    assert (await client.expect("error"))["code"] == "TOO_MANY_ROWS"  # 20 + 30 held: none left


async def test_a_window_past_the_budget_is_refused_on_sse_and_graphql(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_WINDOW_ROWS="50")
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        refused = await http.get("/api/events/orders", params={"sort": "total:desc", "limit": "51"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "TOO_MANY_ROWS"
    window = "subscription { ordersWindow(orderBy: [{field: total, direction: DESC}], limit: 30) { seq } }"
    for protocol in PROTOCOLS:
        client = await open_ws(server, protocol)
        await client.start("a", window)
        await client.start("b", window.replace("limit: 30", "limit: 25"))
        errors = await client.error("b")
        assert errors[0]["extensions"]["code"] == "TOO_MANY_ROWS"
        await client.ws.close()


async def test_a_joiner_s_first_messages_carry_the_seq_of_the_objects_last_change(live_server: ServerFactory) -> None:
    """Writes to other objects do not concern a window or an aggregate: a subscriber joining one later is
    told the seq of its own object's last change, as the first subscriber was."""
    server = await live_server()
    orders, notes = server.engine.object("orders"), server.engine.object("notes")
    await orders.create({"status": "paid", "total": Decimal(1)})
    first = await connect(server)
    await open_window(first, "w")
    await first.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True}})
    await first.expect("subscribed")
    first_aggregate = await first.expect("aggregate")
    await notes.create({"text": "x"})
    await notes.create({"text": "y"})
    await settle(server)
    joiner = await connect(server)
    await joiner.send({"type": "subscribe", "id": "w", "object": "orders", "sort": SORT, "limit": 3, "fields": FIELDS})
    ack, snapshot = await joiner.expect("subscribed"), await joiner.expect("snapshot")
    assert ack["seq"] == snapshot["seq"] == 1
    await joiner.send({"type": "subscribe", "id": "a", "object": "orders", "aggregate": {"count": True}})
    assert (await joiner.expect("subscribed"))["seq"] == 3  # an aggregate's ack: every commit dispatched
    assert (await joiner.expect("aggregate"))["seq"] == first_aggregate["seq"] == 1
