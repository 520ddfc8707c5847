"""Who may join a presence channel: channel patterns, record channels, anonymous users on a keyed server,
roles that change, and members' metas kept from those not let in."""

from __future__ import annotations

import asyncio
from typing import Any

from objectql.engine.user import User
from tests.realtime.conftest import SECRET, Client, LiveServer, ServerFactory, connect

PATTERNS = """
channels:
  - pattern: "lobby"
    join: ["*"]
  - pattern: "support:*"
    join: [admin]
  - pattern: "orders:*"
    join: ["*"]
  - pattern: "kiosk"
    join: [anonymous]
"""


async def join(client: Client, channel: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    await client.send({"type": "join", "channel": channel, "meta": meta or {}})
    return await client.recv()


def refused(message: dict[str, Any], channel: str) -> bool:
    return (
        message.get("type") == "error"
        and message.get("code") == "FORBIDDEN"
        and message.get("details") == {"channel": channel}
    )


async def test_anonymous_users_cannot_join_on_a_keyed_server(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    member = await connect(server, server.token("sam", ["sales"]))
    assert (await join(member, "room:1", {"secret": "s"}))["type"] == "presence_state"
    anonymous = await connect(server, None)
    reply = await join(anonymous, "room:1")
    assert refused(reply, "room:1") and "sign in" in reply["message"]
    # Not let in: the members' metas never reach it, and nobody saw it arrive.
    await member.send({"type": "update", "channel": "room:1", "meta": {"secret": "t"}})
    await anonymous.nothing(server)
    await member.nothing(server)
    assert server.realtime.presence.members("room:1").keys() == {"sam"}


async def test_on_an_open_server_without_rules_anyone_joins(live_server: ServerFactory) -> None:
    server = await live_server()
    assert (await join(await connect(server), "room:1"))["type"] == "presence_state"


async def test_declared_patterns_decide_and_undeclared_channels_are_closed(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET, presence=PATTERNS)
    sales = await connect(server, server.token("sam", ["sales"]))
    admin = await connect(server, server.token("ada", ["admin"]))
    anonymous = await connect(server, None)

    assert (await join(sales, "lobby"))["type"] == "presence_state"
    assert refused(await join(anonymous, "lobby"), "lobby")
    assert refused(await join(sales, "support:7"), "support:7")
    assert (await join(admin, "support:7", {"agent": True}))["type"] == "presence_state"
    assert refused(await join(admin, "elsewhere"), "elsewhere")  # no pattern matches
    assert (await join(anonymous, "kiosk"))["type"] == "presence_state"

    # The refused member of support:7 hears nothing of it.
    await admin.send({"type": "update", "channel": "support:7", "meta": {"agent": False}})
    await sales.nothing(server)
    assert set(server.realtime.presence.members("support:7")) == {"ada"}


async def test_a_refused_join_is_not_an_update_target(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET, presence=PATTERNS)
    sales = await connect(server, server.token("sam", ["sales"]))
    assert refused(await join(sales, "support:1"), "support:1")
    await sales.send({"type": "update", "channel": "support:1", "meta": {"x": 1}})
    reply = await sales.recv()
    assert reply["type"] == "error" and reply["code"] == "INVALID_REQUEST"


async def create_order(server: LiveServer, owner: str) -> str:
    record = await server.engine.context(User(owner, ("sales",))).object("orders").create({"owner": owner})
    return str(record["id"])


async def test_a_record_channel_is_joined_only_by_readers_of_the_record(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    own = await create_order(server, "sam")
    sam = await connect(server, server.token("sam", ["sales"]))
    kim = await connect(server, server.token("kim", ["sales"]))  # row rule: only her own orders
    ada = await connect(server, server.token("ada", ["admin"]))  # no row rule: every order

    assert (await join(sam, f"orders:{own}"))["type"] == "presence_state"
    assert (await join(sam, f"orders:{own}:typing"))["type"] == "presence_state"
    assert (await join(ada, f"orders:{own}"))["type"] == "presence_state"
    invisible = await join(kim, f"orders:{own}")
    missing = await join(kim, "orders:no_such_order")
    assert refused(invisible, f"orders:{own}") and refused(missing, "orders:no_such_order")
    # Missing and invisible answer alike: joining is no way to learn which ids exist.
    assert invisible["message"].replace(own, "X") == missing["message"].replace("no_such_order", "X")
    assert refused(await join(kim, f"orders:{own}:typing"), f"orders:{own}:typing")
    assert refused(await join(kim, "orders:"), "orders:")
    await sam.expect("presence_diff")  # ada's join
    await sam.nothing(server)


async def test_record_channels_also_obey_the_declared_patterns(live_server: ServerFactory) -> None:
    rules = PATTERNS.replace('pattern: "orders:*"\n    join: ["*"]', 'pattern: "orders:*"\n    join: [admin]')
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET, presence=rules)
    own = await create_order(server, "sam")
    sam = await connect(server, server.token("sam", ["sales"]))
    ada = await connect(server, server.token("ada", ["admin"]))
    assert refused(await join(sam, f"orders:{own}"), f"orders:{own}")  # may read it, but not sales
    assert (await join(ada, f"orders:{own}"))["type"] == "presence_state"


async def test_losing_a_role_leaves_the_channels_it_opened(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET, presence=PATTERNS)
    ada = await connect(server, server.token("ada", ["admin"]))
    observer = await connect(server, server.token("obi", ["admin"]))
    assert (await join(ada, "support:1", {"tab": 1}))["type"] == "presence_state"
    assert (await join(ada, "lobby"))["type"] == "presence_state"
    assert (await join(observer, "support:1"))["type"] == "presence_state"
    await ada.expect("presence_diff")  # the observer's join

    await ada.send({"type": "auth", "token": server.token("ada", ["sales"])})
    await ada.expect("auth_ok")
    assert refused(await ada.recv(), "support:1")
    diff = await observer.expect("presence_diff")
    assert set(diff["leaves"]) == {"ada"} and diff["joins"] == {}
    assert set(server.realtime.presence.members("lobby")) == {"ada"}  # still allowed there
    await observer.send({"type": "update", "channel": "support:1", "meta": {"x": 1}})
    await ada.nothing(server)


async def test_join_then_update_back_to_back_are_handled_in_order(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    own = await create_order(server, "sam")
    sam = await connect(server, server.token("sam", ["sales"]))
    for i in range(3):  # nine presence messages: within the 10 per second
        channel = f"orders:{own}:{i}"
        await sam.send({"type": "join", "channel": channel, "meta": {"v": 1}})
        await sam.send({"type": "update", "channel": channel, "meta": {"v": 2}})
        await sam.send({"type": "leave", "channel": channel})
    for _ in range(3):
        assert (await sam.recv())["type"] == "presence_state"
    await sam.nothing(server)
    assert server.realtime.presence.entry_count == 0


async def test_a_connection_gone_during_its_join_check_leaves_no_member(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    own = await create_order(server, "sam")
    token = server.token("sam", ["sales"])
    for _ in range(30):
        sam = await connect(server, token)
        await sam.send({"type": "join", "channel": f"orders:{own}"})
        sam.ws.transport.abort()  # gone while the record is being read
        await asyncio.sleep(0)
    for _ in range(200):
        if not server.realtime.connections:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert server.realtime.presence.entry_count == 0


async def test_an_unauthenticated_join_still_closes_4401(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    client = await connect(server, auth=False)
    await client.send({"type": "join", "channel": "room:1"})
    assert await client.closed_with() == 4401


async def test_a_broken_record_lookup_is_refused_not_crashed(live_server: ServerFactory) -> None:
    # A channel naming a defined object with an id that is no record id at all.
    server = await live_server(OBJECTQL_JWT_SECRET=SECRET)
    sam = await connect(server, server.token("sam", ["sales"]))
    assert refused(await join(sam, "notes:" + "x" * 100), "notes:" + "x" * 100)
    await sam.nothing(server)
