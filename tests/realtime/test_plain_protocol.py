"""The plain WebSocket protocol's rules: every close code and error code of docs/websocket.md, auth and expiry."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets

from tests.realtime.conftest import SECRET, LiveServer, ServerFactory, connect, drain, settle

ADMIN = ["admin"]


async def keyed(live_server: ServerFactory, **env: str) -> LiveServer:
    return await live_server(OBJECTQL_JWT_SECRET=SECRET, **env)


# -- authentication --------------------------------------------------------------------------------


async def test_auth_ok_carries_user_roles_and_expiry(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    client = await connect(server, auth=False)
    token = server.token("sam", ["sales"], ttl=600)
    await client.send({"type": "auth", "token": token})
    ok = await client.expect("auth_ok")
    assert ok["user"] == {"id": "sam", "roles": ["sales"]}
    assert isinstance(ok["expires_at"], int | float) and ok["expires_at"] > time.time()


async def test_anonymous_auth_on_a_keyed_server(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    client = await connect(server, auth=False)
    await client.send({"type": "auth", "token": None})
    ok = await client.expect("auth_ok")
    assert ok == {"type": "auth_ok", "user": {"id": None, "roles": ["anonymous"]}, "expires_at": None}


async def test_ping_is_allowed_before_auth(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    client = await connect(server, auth=False)
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}


async def test_a_request_before_auth_closes_4401(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    client = await connect(server, auth=False)
    await client.send({"type": "subscribe", "id": "s", "object": "orders"})
    assert await client.closed_with() == 4401


async def test_a_bad_token_closes_4403(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    client = await connect(server, auth=False)
    await client.send({"type": "auth", "token": "not.a.jwt"})
    assert await client.closed_with() == 4403


async def test_an_expired_token_closes_4403(live_server: ServerFactory) -> None:
    server = await keyed(live_server, OBJECTQL_JWT_LEEWAY="0")
    client = await connect(server, auth=False)
    await client.send({"type": "auth", "token": server.token("sam", ["sales"], ttl=-5)})
    assert await client.closed_with() == 4403


async def test_no_auth_in_time_closes_4408(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    server.set_limits(auth_timeout=0.3)
    client = await connect(server, auth=False)
    assert await client.closed_with() == 4408


async def test_an_open_server_needs_no_auth(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server, auth=False)
    await client.subscribe("s")
    await client.send({"type": "auth", "token": None})
    assert (await client.expect("auth_ok"))["user"]["roles"] == ["anonymous"]


async def test_token_expiry_ends_the_connection_not_before_exp_plus_leeway(live_server: ServerFactory) -> None:
    server = await keyed(live_server, OBJECTQL_JWT_LEEWAY="1")
    client = await connect(server, auth=False)
    token = server.token("sam", ["sales"], ttl=2)
    await client.send({"type": "auth", "token": token})
    ok = await client.expect("auth_ok")
    error = await client.expect("error", timeout=10)
    ended = time.time()
    assert error["code"] == "TOKEN_EXPIRED"
    assert ended >= ok["expires_at"] + 1
    assert await client.closed_with() == 4403


async def test_re_auth_with_a_fresh_token_for_the_same_sub_keeps_the_connection(live_server: ServerFactory) -> None:
    server = await keyed(live_server, OBJECTQL_JWT_LEEWAY="0")
    client = await connect(server, server.token("sam", ["admin"], ttl=2))
    await client.subscribe("s")
    await client.send({"type": "auth", "token": server.token("sam", ["admin"], ttl=600)})
    await client.expect("auth_ok")
    await asyncio.sleep(2.6)
    await server.engine.object("orders").create({"total": 1})
    assert (await client.expect("change"))["id"] == "s"


async def test_re_auth_as_another_user_closes_4403(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    client = await connect(server, server.token("sam", ["sales"]))
    await client.send({"type": "auth", "token": server.token("kim", ["sales"])})
    assert await client.closed_with() == 4403


async def test_re_auth_with_roles_that_lost_read_answers_auth_ok_then_ends_those_subscriptions(
    live_server: ServerFactory,
) -> None:
    secret_object = """
fields:
  text: {type: text}
permissions:
  read: [admin]
"""
    server = await live_server({"secrets": secret_object}, OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token("sam", ["admin"]))
    await client.subscribe("s", obj="secrets")
    await client.send({"type": "auth", "token": server.token("sam", ["clerk"])})
    # The reply to the auth message first, then what the new roles caused.
    ok = await client.expect("auth_ok")
    assert ok["user"]["roles"] == ["clerk"]
    error = await client.expect("error")
    assert error["code"] == "FORBIDDEN" and error["id"] == "s"
    await server.engine.object("secrets").create({"text": "x"})
    await client.nothing(server)


TENANT_DOCS = """
fields:
  tenant: {type: text}
  total:  {type: number}
permissions:
  rows:
    - roles: [member]
      filters: [["tenant", "=", "$user.tenant"]]
"""


async def test_re_auth_with_a_new_claim_re_scopes_rows_windows_aggregates_and_record_channels(
    live_server: ServerFactory,
) -> None:
    """Same user, same roles, another ``tenant`` claim (used by a row rule): everything the connection holds
    is authorised again as the new token says."""
    server = await live_server({"docs": TENANT_DOCS}, OBJECTQL_JWT_SECRET=SECRET, OBJECTQL_AGGREGATE_INTERVAL="0")
    docs = server.engine.object("docs")
    ours = await docs.create({"tenant": "a", "total": 1})
    await docs.create({"tenant": "b", "total": 2})
    client = await connect(server, server.token("sam", ["member"], tenant="a"))
    await client.subscribe("rows", obj="docs")
    await client.subscribe("window", obj="docs", sort=[["total", "desc"]], limit=5)
    assert [r["tenant"] for r in (await client.expect("snapshot"))["records"]] == ["a"]
    await client.subscribe("count", obj="docs", aggregate={"count": True})
    assert (await client.expect("aggregate"))["groups"] == [{"key": {}, "count": 1}]
    await client.send({"type": "join", "channel": f"docs:{ours['id']}"})
    assert (await client.expect("presence_state"))["channel"] == f"docs:{ours['id']}"

    await client.send({"type": "auth", "token": server.token("sam", ["member"], tenant="b")})
    await client.expect("auth_ok")
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < 3:  # the window's fresh snapshot, the aggregate again, the channel left
        message = await client.recv()
        seen[message.get("id") or message["type"]] = message
    assert [r["tenant"] for r in seen["window"]["records"]] == ["b"]
    assert seen["count"]["groups"] == [{"key": {}, "count": 1}] and seen["count"]["type"] == "aggregate"
    assert seen["error"]["code"] == "FORBIDDEN" and seen["error"]["details"] == {"channel": f"docs:{ours['id']}"}
    assert server.realtime.presence.members(f"docs:{ours['id']}") == {}

    await docs.create({"tenant": "a", "total": 9})  # the old tenant's rows reach the connection no more
    assert await drain(client, server) == []
    created = await docs.create({"tenant": "b", "total": 3})
    messages = {m["id"]: m for m in await drain(client, server)}
    assert messages["rows"]["effect"] == "added" and messages["rows"]["record"]["id"] == created["id"]
    assert messages["window"]["effect"] == "added" and messages["window"]["index"] == 0
    assert messages["count"]["groups"] == [{"key": {}, "count": 2}]


async def test_a_channel_that_cannot_be_checked_again_is_left(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New claims and the database away: a presence channel not known to be allowed any more is left."""
    server = await live_server({"docs": TENANT_DOCS}, OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token("sam", ["member"], tenant="a"))
    await client.send({"type": "join", "channel": "room:1"})
    await client.expect("presence_state")

    async def away(user: Any, channel: str) -> None:
        raise ConnectionError("the database is away")

    monkeypatch.setattr(server.realtime.channels, "check_join", away)
    await client.send({"type": "auth", "token": server.token("sam", ["member"], tenant="b")})
    await client.expect("auth_ok")
    error = await client.expect("error")
    assert error["code"] == "UNAVAILABLE" and error["details"] == {"channel": "room:1"}
    assert server.realtime.presence.members("room:1") == {}


async def test_a_refreshed_token_with_the_same_claims_changes_nothing(live_server: ServerFactory) -> None:
    server = await live_server({"docs": TENANT_DOCS}, OBJECTQL_JWT_SECRET=SECRET)
    await server.engine.object("docs").create({"tenant": "a", "total": 1})
    client = await connect(server, server.token("sam", ["member"], tenant="a"))
    await client.subscribe("window", obj="docs", sort=[["total", "desc"]], limit=5)
    await client.expect("snapshot")
    await client.subscribe("count", obj="docs", aggregate={"count": True})
    await client.expect("aggregate")
    await client.send({"type": "auth", "token": server.token("sam", ["member"], ttl=7200, tenant="a")})
    await client.expect("auth_ok")
    await client.nothing(server)  # no fresh snapshot, no repeated aggregate


# -- frames ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x01binary",
        "not json",
        "[1, 2]",
        '"a string"',
        '{"type": "dance"}',
        '{"no_type": 1}',
        "[" * 30_000 + "]" * 30_000,
        '{"type":"ping","x":' + '{"a":' * 70 + "1" + "}" * 70 + "}",
        '{"type":"ping","n":' + "9" * 4001 + "}",
        '{"type":"ping","n":NaN}',
    ],
    ids=[
        "binary",
        "not json",
        "array",
        "string",
        "unknown type",
        "no type",
        "deep array",
        "depth 71",
        "huge number",
        "NaN",
    ],
)
async def test_a_malformed_frame_closes_4400_and_others_are_undisturbed(
    live_server: ServerFactory, frame: str | bytes
) -> None:
    server = await live_server()
    bystander = await connect(server)
    await bystander.subscribe("s")
    client = await connect(server)
    await client.send(frame)
    code = await client.closed_with()
    assert code == 4400
    await server.engine.object("orders").create({"total": 1})
    assert (await bystander.expect("change"))["id"] == "s"


async def test_nesting_of_64_and_4000_digits_are_accepted(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.send('{"type":"ping","x":' + "[" * 62 + "]" * 62 + ',"n":' + "9" * 4000 + "}")
    assert await client.recv() == {"type": "pong"}


async def test_a_message_over_64_kib_closes_1009(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.send(json.dumps({"type": "ping", "pad": "x" * 70_000}))
    assert await client.closed_with() == 1009


async def test_a_sustained_flood_closes_4429(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    for _ in range(30):  # ~150 messages per second for 3 s
        for _ in range(15):
            await client.send({"type": "ping"})
        await asyncio.sleep(0.1)
    assert await client.closed_with(timeout=10) == 4429


# -- errors that keep the socket open ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code", "path"),
    [
        (
            {"type": "subscribe", "id": "e", "object": "orders", "filters": [["nope", "=", 1]]},
            "INVALID_FILTER",
            "[0][0]",
        ),
        (
            {"type": "subscribe", "id": "e", "object": "orders", "filters": {"total": {"$gt": "x"}}},
            "INVALID_FILTER",
            "total.$gt",
        ),
        ({"type": "subscribe", "id": "e", "object": "nope"}, "NOT_FOUND", None),
        ({"type": "subscribe", "id": "e"}, "INVALID_REQUEST", "object"),
        ({"type": "subscribe", "id": "", "object": "orders"}, "INVALID_REQUEST", "id"),
        ({"type": "subscribe", "id": "x" * 129, "object": "orders"}, "INVALID_REQUEST", "id"),
        ({"type": "subscribe", "id": 7, "object": "orders"}, "INVALID_REQUEST", "id"),
        ({"type": "subscribe", "id": "e", "object": "orders", "fields": "status"}, "INVALID_REQUEST", "fields"),
        ({"type": "subscribe", "id": "e", "object": "orders", "fields": ["nope"]}, "INVALID_REQUEST", "fields[0]"),
        ({"type": "subscribe", "id": "e", "object": "orders", "resume_from": -1}, "INVALID_REQUEST", "resume_from"),
        ({"type": "unsubscribe", "id": "never"}, "NOT_FOUND", None),
        ({"type": "update", "channel": "room:1", "meta": {}}, "INVALID_REQUEST", "channel"),
        ({"type": "join", "channel": "bad channel!"}, "INVALID_REQUEST", "channel"),
        ({"type": "join", "channel": "room:1", "meta": {"x": "y" * 1100}}, "INVALID_REQUEST", "meta"),
        ({"type": "join", "channel": "room:1", "meta": [1]}, "INVALID_REQUEST", "meta"),
    ],
)
async def test_errors_keep_the_socket_open_and_repeat_the_id(
    live_server: ServerFactory, message: dict[str, object], code: str, path: str | None
) -> None:
    server = await live_server()
    client = await connect(server)
    await client.send(message)
    error = await client.expect("error")
    assert error["code"] == code and error.get("path") == path, error
    if isinstance(message.get("id"), str) and message["id"]:
        assert error["id"] == message["id"]
    assert "Traceback" not in error["message"] and "SELECT" not in error["message"]
    await client.send({"type": "ping"})
    assert await client.recv() == {"type": "pong"}


async def test_unknown_fields_in_a_message_are_ignored(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.send({"type": "subscribe", "id": "s", "object": "orders", "colour": "blue"})
    await client.expect("subscribed")


async def test_object_without_read_permission_is_forbidden(live_server: ServerFactory) -> None:
    private = """
fields:
  text: {type: text}
permissions:
  read: [admin]
"""
    server = await live_server({"private": private}, OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, server.token("sam", ["sales"]))
    await client.send({"type": "subscribe", "id": "p", "object": "private"})
    error = await client.expect("error")
    assert error["code"] == "FORBIDDEN" and error["id"] == "p"


async def test_a_duplicate_active_subscription_id_closes_4409(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.subscribe("s")
    await client.send({"type": "subscribe", "id": "s", "object": "orders"})
    assert await client.closed_with() == 4409


async def test_more_than_the_subscription_limit_is_refused_with_the_socket_open(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_WS_MAX_SUBSCRIPTIONS="3")
    client = await connect(server)
    for i in range(3):
        await client.subscribe(f"s{i}")
    await client.send({"type": "subscribe", "id": "s3", "object": "orders"})
    error = await client.expect("error")
    assert error["code"] == "TOO_MANY_SUBSCRIPTIONS" and error["id"] == "s3"
    await client.send({"type": "unsubscribe", "id": "s0"})
    await client.expect("unsubscribed")
    await client.subscribe("s3")


async def test_default_subscription_limit_is_100(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    for i in range(100):
        await client.send({"type": "subscribe", "id": f"s{i}", "object": "orders"})
    for _ in range(100):
        await client.expect("subscribed")
    await client.send({"type": "subscribe", "id": "s100", "object": "orders"})
    assert (await client.expect("error"))["code"] == "TOO_MANY_SUBSCRIPTIONS"


async def test_presence_updates_over_10_per_second_are_rate_limited(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.send({"type": "join", "channel": "room:1"})
    await client.expect("presence_state")
    for i in range(12):
        await client.send({"type": "update", "channel": "room:1", "meta": {"i": i}})
    await client.send({"type": "ping"})
    seen = []
    while True:
        message = await client.recv()
        if message["type"] == "pong":
            break
        seen.append(message)
    assert any(m["type"] == "error" and m["code"] == "RATE_LIMITED" for m in seen)


# -- origin and lifecycle ---------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused_before_the_handshake(live_server: ServerFactory) -> None:
    server = await live_server()
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(server.ws, origin=websockets.Origin("http://evil.example"))
    assert info.value.response.status_code == 403
    same = await websockets.connect(server.ws, origin=websockets.Origin(f"http://127.0.0.1:{server.port}"))
    await same.close()


async def test_allowed_origins_are_matched_exactly(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_ALLOWED_ORIGINS="https://app.example:8443")
    ok = await websockets.connect(server.ws, origin=websockets.Origin("https://app.example:8443"))
    await ok.close()
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(server.ws, origin=websockets.Origin("https://app.example"))


async def test_shutdown_closes_sockets_with_1012(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.subscribe("s")
    await server.realtime.stop()
    assert await client.closed_with() == 1012
    assert server.realtime.hub is not None and server.realtime.hub.subscription_count == 0


async def test_disconnect_releases_subscriptions(live_server: ServerFactory) -> None:
    server = await live_server()
    client = await connect(server)
    await client.subscribe("a")
    await client.subscribe("b", filters=[["status", "=", "paid"]])
    hub = server.realtime.require_hub()
    assert hub.subscription_count == 2
    await client.ws.close()
    for _ in range(100):
        if hub.subscription_count == 0:
            break
        await asyncio.sleep(0.02)
    assert hub.subscription_count == 0 and hub.group_count == 0
    await settle(server)


async def test_an_internal_error_answers_that_message_and_costs_the_connection_nothing_else(
    live_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from objectql.realtime.transports.protocols.plain.handlers import PlainSession

    def broken(self: PlainSession, msg: dict[str, object]) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(PlainSession, "handle_ping", broken)
    server = await live_server()
    bystander = await connect(server)
    await bystander.subscribe("s")
    client = await connect(server)
    await client.subscribe("mine")
    await client.send({"type": "ping"})
    error = await client.expect("error")
    assert error["code"] == "INTERNAL_ERROR" and "secret" not in error["message"]
    await server.engine.object("orders").create({"total": 1})
    assert (await bystander.expect("change"))["id"] == "s"
    assert (await client.expect("change"))["id"] == "mine"  # its own subscription goes on too
