"""Presence over /api/realtime: state, diffs, identity from the token, leave on close and on abrupt drop."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tests.realtime.conftest import SECRET, Client, LiveServer, ServerFactory, connect


async def keyed(live_server: ServerFactory) -> LiveServer:
    return await live_server(OBJECTQL_JWT_SECRET=SECRET)


async def join(client: Client, channel: str = "room:42", meta: dict[str, Any] | None = None) -> dict[str, Any]:
    await client.send({"type": "join", "channel": channel, **({"meta": meta} if meta is not None else {})})
    return await client.expect("presence_state")


def conns(members: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
    return {user: [m["meta"] for m in metas] for user, metas in members.items()}


async def test_two_tabs_of_one_user_and_a_second_user(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    sam_tab1 = await connect(server, server.token("sam", ["sales"]))
    sam_tab2 = await connect(server, server.token("sam", ["sales"]))
    kim = await connect(server, server.token("kim", ["sales"]))

    state = await join(sam_tab1, meta={"tab": 1})
    assert state["channel"] == "room:42" and conns(state["members"]) == {"sam": [{"tab": 1}]}
    entry = state["members"]["sam"][0]
    assert set(entry) == {"conn", "meta", "joined_at"} and entry["joined_at"].endswith("Z")

    state = await join(sam_tab2, meta={"tab": 2})
    assert sorted(m["tab"] for m in conns(state["members"])["sam"]) == [1, 2]
    diff = await sam_tab1.expect("presence_diff")
    assert conns(diff["joins"]) == {"sam": [{"tab": 2}]} and diff["leaves"] == {}

    state = await join(kim, meta={"tab": 1})
    assert set(state["members"]) == {"sam", "kim"}
    for tab in (sam_tab1, sam_tab2):
        diff = await tab.expect("presence_diff")
        assert conns(diff["joins"]) == {"kim": [{"tab": 1}]}

    await sam_tab2.send({"type": "update", "channel": "room:42", "meta": {"tab": 2, "typing": True}})
    for other in (sam_tab1, kim):
        diff = await other.expect("presence_diff")
        assert conns(diff["leaves"]) == {"sam": [{"tab": 2}]}
        assert conns(diff["joins"]) == {"sam": [{"tab": 2, "typing": True}]}

    await kim.send({"type": "leave", "channel": "room:42"})
    for tab in (sam_tab1, sam_tab2):
        diff = await tab.expect("presence_diff")
        assert conns(diff["leaves"]) == {"kim": [{"tab": 1}]} and diff["joins"] == {}

    await sam_tab2.ws.close()
    diff = await sam_tab1.expect("presence_diff")
    assert conns(diff["leaves"]) == {"sam": [{"tab": 2, "typing": True}]}
    assert server.realtime.presence.entry_count == 1


async def test_a_second_join_of_the_same_channel_is_an_update(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    a = await connect(server, server.token("a", []))
    b = await connect(server, server.token("b", []))
    await join(a, meta={"v": 1})
    await join(b)
    await a.expect("presence_diff")
    await a.send({"type": "join", "channel": "room:42", "meta": {"v": 2}})
    diff = await b.expect("presence_diff")
    assert conns(diff["leaves"]) == {"a": [{"v": 1}]} and conns(diff["joins"]) == {"a": [{"v": 2}]}


async def test_anonymous_members_are_keyed_by_connection(live_server: ServerFactory) -> None:
    server = await live_server()
    a = await connect(server)
    state = await join(a)
    (key,) = state["members"]
    assert key.startswith("anonymous:") and state["members"][key][0]["conn"] == key.split(":", 1)[1]


async def test_an_abrupt_drop_leaves_at_once(live_server: ServerFactory) -> None:
    server = await keyed(live_server)
    watcher = await connect(server, server.token("w", []))
    dropper = await connect(server, server.token("d", []))
    await join(watcher)
    await join(dropper)
    await watcher.expect("presence_diff")
    # Reset the TCP connection without a close handshake.
    sock = dropper.ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    dropper.ws.transport.abort()
    diff = await watcher.expect("presence_diff")
    assert list(diff["leaves"]) == ["d"]
    for _ in range(50):
        if server.realtime.presence.entry_count == 1:
            break
        await asyncio.sleep(0.02)
    assert server.realtime.presence.entry_count == 1
