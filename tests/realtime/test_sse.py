"""``GET /api/events/{object}`` over real sockets (docs/realtime.md): the stream, the core's effects, resume
and reset, permissions, statuses, token expiry and the heartbeat.

The SSE reader below parses frames as the HTML spec says (fields ``id`` / ``event`` / ``data`` / ``retry``,
``:`` comments, one leading space stripped, a blank line ends a frame) in a reader task the stream owns;
tests take frames with a bounded wait. "Nothing else arrived" is proved with a marker write the stream does
see: its change must be the very next frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from objectql import User
from tests.realtime.conftest import NOTES, ORDERS, SECRET, LiveServer, ServerFactory

WAIT = 5.0
ADMIN = ["admin"]
VAULT = """
fields:
  text: {type: text}
permissions:
  read: [admin]
"""
OBJECTS = {"orders": ORDERS, "notes": NOTES, "vault": VAULT}


@dataclass
class Frame:
    """One SSE block: the fields it set, and its comment lines."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None, self
        return json.loads(self.data)


def parse_frame(lines: list[str]) -> Frame | None:
    frame = Frame()
    seen = False
    for line in lines:
        if line.startswith(":"):
            frame.comments.append(line[1:].removeprefix(" "))
            seen = True
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            frame.data = value if frame.data is None else f"{frame.data}\n{value}"
        elif name in ("id", "event", "retry"):
            setattr(frame, name, value)
        seen = True
    return frame if seen else None


class EventStream:
    """The frames of one open SSE response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        pending: list[str] = []
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    frame = parse_frame(pending)
                    pending = []
                    if frame is not None:
                        self._frames.put_nowait(frame)
                else:
                    pending.append(line)
        except httpx.HTTPError:
            pass  # the server dropped the stream: that is its end
        finally:
            self._frames.put_nowait(None)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def next(self, timeout: float = WAIT, *, pings: bool = False) -> Frame:
        """The next frame (heartbeat comments skipped unless ``pings``); fails when the stream ended."""
        while True:
            frame = await asyncio.wait_for(self._frames.get(), timeout)
            assert frame is not None, "the stream ended"
            if pings or frame.comments != ["ping"]:
                return frame

    async def change(self, timeout: float = WAIT) -> tuple[int, dict[str, Any]]:
        """The next frame, which must be a change: ``(id as int, data)``."""
        frame = await self.next(timeout)
        assert frame.event == "change", frame
        assert frame.id is not None and frame.id.isdigit(), frame
        body: dict[str, Any] = frame.json()
        return int(frame.id), body

    async def ended(self, timeout: float = WAIT) -> None:
        """Wait for the end of the stream; any frame before it fails."""
        while True:
            frame = await asyncio.wait_for(self._frames.get(), timeout)
            if frame is None:
                return
            assert frame.comments == ["ping"], f"unexpected frame before the end: {frame}"


@asynccontextmanager
async def open_stream(
    server: LiveServer,
    object_name: str = "orders",
    *,
    token: str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str | bytes] | None = None,
    opened: bool = True,
) -> AsyncIterator[EventStream]:
    """An open stream of ``/api/events/<object>``; with ``opened`` the ``retry:`` frame is read first."""
    sent: dict[str, str | bytes] = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    timeout = httpx.Timeout(WAIT, read=None)
    async with (
        httpx.AsyncClient(base_url=server.http, timeout=timeout) as client,
        client.stream("GET", f"/api/events/{object_name}", params=params, headers=sent) as response,
    ):
        assert response.status_code == 200, (response.status_code, (await response.aread())[:500])
        stream = EventStream(response)
        try:
            if opened:
                first = await stream.next()
                assert first.retry == "3000", first
            yield stream
        finally:
            await stream.close()


async def refused(
    server: LiveServer,
    object_name: str = "orders",
    *,
    token: str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str | bytes] | None = None,
) -> tuple[int, dict[str, Any]]:
    """``(status, error object)`` of a request the server answers with an error instead of a stream."""
    sent: dict[str, str | bytes] = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=server.http, timeout=WAIT) as client:
        response = await client.get(f"/api/events/{object_name}", params=params, headers=sent)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error: dict[str, Any] = response.json()["error"]
    return response.status_code, error


# -- helpers --------------------------------------------------------------------------------------


async def keyed_server(live_server: ServerFactory, **env: str) -> LiveServer:
    return await live_server(objects=OBJECTS, OBJECTQL_JWT_SECRET=SECRET, **env)


async def age_and_prune_outbox(server: LiveServer) -> None:
    """Make every retained event old, then prune: only the newest event survives."""
    engine = server.engine
    async with engine.sql_engine.begin() as conn:
        await conn.execute(update(engine.outbox.events).values(ts=datetime(2000, 1, 1, tzinfo=UTC)))
    await engine.prune_events()


# -- the stream -----------------------------------------------------------------------------------


async def test_stream_is_text_event_stream_starting_with_retry_3000(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    async with open_stream(server, token=server.token("root", ADMIN), opened=False) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        first = await stream.next()
        assert first == Frame(retry="3000")


async def test_create_update_delete_arrive_as_change_frames_with_seq_ids_and_effects(
    live_server: ServerFactory,
) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    async with open_stream(server, token=server.token("root", ADMIN)) as stream:
        created = await orders.create({"total": 5, "note": "n"})
        seq, added = await stream.change()
        assert added["seq"] == seq == await server.engine.current_seq()
        assert "type" not in added and "id" not in added
        assert added["object"] == "orders" and added["action"] == "create" and added["effect"] == "added"
        assert added["record"]["id"] == created["id"] and added["record"]["total"] == 5
        assert "previous" not in added and "changed" not in added

        await orders.update(created["id"], {"total": 6})
        seq2, modified = await stream.change()
        assert seq2 > seq and modified["seq"] == seq2
        assert modified["action"] == "update" and modified["effect"] == "modified"
        assert modified["record"]["total"] == 6 and modified["previous"]["total"] == 5
        assert set(modified["changed"]) == {"total", "updated_at"}

        await orders.delete(created["id"])
        seq3, removed = await stream.change()
        assert seq3 > seq2
        assert removed["action"] == "delete" and removed["effect"] == "removed"
        assert removed["record"] == {"id": created["id"]}
        assert removed["previous"]["total"] == 6


async def test_filters_param_sends_only_matching_changes_and_moves_as_added_or_removed(
    live_server: ServerFactory,
) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    params = {"filters": json.dumps([["status", "=", "pending"]])}
    async with open_stream(server, token=server.token("root", ADMIN), params=params) as stream:
        await orders.create({"status": "paid", "total": 1})  # never visible
        pending = await orders.create({"total": 2})
        _, added = await stream.change()
        assert added["record"]["id"] == pending["id"] and added["effect"] == "added"

        await orders.update(pending["id"], {"status": "paid"})
        _, removed = await stream.change()
        assert removed["effect"] == "removed" and removed["action"] == "update"
        assert removed["record"] == {"id": pending["id"]} and removed["previous"]["status"] == "pending"

        await orders.update(pending["id"], {"total": 3})  # outside the filter: nothing
        await orders.update(pending["id"], {"status": "pending"})
        _, back = await stream.change()
        assert back["effect"] == "added" and back["action"] == "update" and "previous" not in back


async def test_object_form_filter_is_accepted_too(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    params = {"filters": json.dumps({"total": {"$gt": 10}})}
    async with open_stream(server, token=server.token("root", ADMIN), params=params) as stream:
        await orders.create({"total": 1})
        big = await orders.create({"total": 11})
        _, change = await stream.change()
        assert change["record"]["id"] == big["id"]


async def test_fields_param_projects_record_previous_and_changed_with_id_always(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    async with open_stream(server, token=server.token("root", ADMIN), params={"fields": "status,total"}) as stream:
        created = await orders.create({"total": 9, "note": "n"})
        _, added = await stream.change()
        assert added["record"] == {"id": created["id"], "status": "pending", "total": 9}
        await orders.update(created["id"], {"note": "m"})
        _, modified = await stream.change()
        assert modified["changed"] == []  # note and updated_at changed, neither is carried
        assert set(modified["previous"]) == {"id", "status", "total"}


async def test_record_id_param_follows_one_record(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    mine = await orders.create({"total": 1})
    other = await orders.create({"total": 2})
    async with open_stream(server, token=server.token("root", ADMIN), params={"record_id": mine["id"]}) as stream:
        await orders.update(other["id"], {"total": 3})
        await orders.update(mine["id"], {"total": 4})
        _, change = await stream.change()
        assert change["record"]["id"] == mine["id"] and change["record"]["total"] == 4
        await orders.delete(other["id"])
        await orders.delete(mine["id"])
        _, gone = await stream.change()
        assert gone["effect"] == "removed" and gone["record"] == {"id": mine["id"]}


async def test_hidden_fields_are_never_pushed(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    async with open_stream(server, token=server.token("bob", ["clerk"])) as stream:
        created = await orders.create({"cost": 3, "total": 1})
        _, added = await stream.change()
        assert "cost" not in added["record"]
        await orders.update(created["id"], {"cost": 4})
        _, modified = await stream.change()
        assert "cost" not in modified["record"] and "cost" not in modified["previous"]
        assert "cost" not in modified["changed"]
        await orders.delete(created["id"])
        _, removed = await stream.change()
        assert "cost" not in removed["previous"]


async def test_a_hidden_field_in_filters_or_fields_is_403_naming_the_field(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    token = server.token("bob", ["clerk"])
    for params in ({"fields": "total,cost"}, {"filters": json.dumps([["cost", ">", 1]])}):
        status, error = await refused(server, token=token, params=params)
        assert status == 403 and error["code"] == "FORBIDDEN" and error["details"]["field"] == "cost"


async def test_user_only_receives_rows_their_row_rules_let_them_see(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    async with (
        open_stream(server, token=server.token("sam", ["sales"])) as sam,
        open_stream(server, token=server.token("kim", ["sales"])) as kim,
    ):
        kims = await orders.create({"owner": "kim", "total": 1})
        sams = await orders.create({"owner": "sam", "total": 2})
        assert (await kim.change())[1]["record"]["id"] == kims["id"]
        assert (await sam.change())[1]["record"]["id"] == sams["id"]  # kim's row never reached sam
        # Moving a row from sam to kim: sam sees it leave, kim sees it arrive.
        await orders.update(sams["id"], {"owner": "kim"})
        _, left = await sam.change()
        assert left["effect"] == "removed" and left["record"] == {"id": sams["id"]}
        _, arrived = await kim.change()
        assert arrived["effect"] == "added" and arrived["record"]["owner"] == "kim"


async def test_a_rolled_back_transaction_pushes_nothing(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    async with open_stream(server, token=server.token("root", ADMIN)) as stream:
        with pytest.raises(RuntimeError):
            async with server.engine.transaction(User("root", ("admin",))) as tx:
                await tx.object("orders").create({"total": 1})
                raise RuntimeError("roll back")
        marker = await server.engine.object("orders").create({"total": 2})
        _, change = await stream.change()
        assert change["record"]["id"] == marker["id"]


async def test_an_open_server_streams_to_anonymous_clients_without_hidden_fields(live_server: ServerFactory) -> None:
    server = await live_server(objects=OBJECTS)
    async with open_stream(server) as stream:
        created = await server.engine.object("orders").create({"total": 1, "cost": 2})
        _, change = await stream.change()
        assert change["record"]["id"] == created["id"] and "cost" not in change["record"]


# -- resume and reset -----------------------------------------------------------------------------


async def test_reconnect_with_last_event_id_replays_exactly_the_missed_events_in_order(
    live_server: ServerFactory,
) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    token = server.token("root", ADMIN)
    async with open_stream(server, token=token) as stream:
        await orders.create({"total": 0})
        last_seen, _ = await stream.change()
    await orders.create({"status": "paid"})  # another object's stream would not see it; this one must
    missed = [await orders.create({"total": n}) for n in range(1, 5)]
    await server.engine.object("notes").create({"text": "other object: not replayed"})
    async with open_stream(server, token=token, headers={"Last-Event-ID": str(last_seen)}) as stream:
        replayed = [await stream.change() for _ in range(5)]
        seqs = [seq for seq, _ in replayed]
        assert seqs == sorted(seqs) and seqs[0] > last_seen
        assert [body["record"]["total"] for _, body in replayed[1:]] == [1, 2, 3, 4]
        assert [body["record"]["id"] for _, body in replayed[1:]] == [r["id"] for r in missed]
        live = await orders.create({"total": 99})
        seq, body = await stream.change()  # the very next frame: nothing was replayed twice or extra
        assert body["record"]["id"] == live["id"] and seq > seqs[-1]


async def test_replay_applies_the_filter_and_row_rules_as_live_would(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    start = await server.engine.current_seq()
    kept = await orders.create({"owner": "sam", "total": 1})
    await orders.create({"owner": "kim", "total": 2})
    await orders.update(kept["id"], {"owner": "kim"})
    headers = {"Last-Event-ID": str(start)}
    async with open_stream(server, token=server.token("sam", ["sales"]), headers=headers) as stream:
        _, added = await stream.change()
        _, removed = await stream.change()
        assert added["effect"] == "added" and added["record"]["id"] == kept["id"]
        assert removed["effect"] == "removed" and removed["record"] == {"id": kept["id"]}
        marker = await orders.create({"owner": "sam"})
        assert (await stream.change())[1]["record"]["id"] == marker["id"]


async def test_last_event_id_outside_retention_gets_reset_with_current_seq_then_live(
    live_server: ServerFactory,
) -> None:
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    token = server.token("root", ADMIN)
    first = await orders.create({"total": 1})
    resume_point = await server.engine.current_seq()
    for n in range(3):
        await orders.update(first["id"], {"total": n + 2})
    await age_and_prune_outbox(server)
    await orders.create({"total": 10})
    current = await server.engine.current_seq()
    assert (await server.engine.oldest_seq() or 0) > resume_point + 1
    async with open_stream(server, token=token, headers={"Last-Event-ID": str(resume_point)}) as stream:
        reset = await stream.next()
        assert reset.event == "reset" and reset.id is None
        body = reset.json()
        assert body["seq"] == current and isinstance(body["reason"], str) and body["reason"]
        live = await orders.create({"total": 11})
        seq, change = await stream.change()  # no replay between the reset and live events
        assert change["record"]["id"] == live["id"] and seq == current + 1


async def test_last_event_id_ahead_of_the_current_seq_gets_reset(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    await server.engine.object("orders").create({"total": 1})
    current = await server.engine.current_seq()
    headers = {"Last-Event-ID": str(current + 1000)}
    async with open_stream(server, token=server.token("root", ADMIN), headers=headers) as stream:
        reset = await stream.next()
        assert reset.event == "reset" and reset.json()["seq"] == current


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "12abc", "1_0", b"\xb2", b"\xb9\xb2"])
async def test_a_last_event_id_that_is_not_an_integer_is_ignored(
    live_server: ServerFactory, value: str | bytes
) -> None:
    # b"\xb2" is "²" once decoded as Latin-1: str.isdigit() says yes, int() says no.
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    await orders.create({"total": 1})  # would be replayed if the header were taken as 0
    async with open_stream(server, token=server.token("root", ADMIN), headers={"Last-Event-ID": value}) as stream:
        live = await orders.create({"total": 2})
        _, change = await stream.change()
        assert change["record"]["id"] == live["id"]


async def test_an_overlong_numeric_last_event_id_is_ignored_rather_than_an_error(live_server: ServerFactory) -> None:
    # 5000 digits is past what int() parses: the header is unusable, so it is ignored like any other.
    server = await keyed_server(live_server)
    orders = server.engine.object("orders")
    await orders.create({"total": 1})
    headers: dict[str, str | bytes] = {"Last-Event-ID": "9" * 5000}
    async with open_stream(server, token=server.token("root", ADMIN), headers=headers) as stream:
        live = await orders.create({"total": 2})
        _, change = await stream.change()
        assert change["record"]["id"] == live["id"]


# -- statuses -------------------------------------------------------------------------------------


async def test_missing_invalid_or_expired_token_is_401_on_a_server_with_a_key(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    cases = {
        "missing": None,
        "garbage": "not-a-jwt",
        "expired": server.token("root", ADMIN, ttl=-3600),
        "wrong key": server.token("root", ADMIN)[:-4] + "AAAA",
    }
    for name, token in cases.items():
        status, error = await refused(server, token=token)
        assert (status, error["code"]) == (401, "UNAUTHENTICATED"), name


async def test_object_without_read_permission_is_403(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    status, error = await refused(server, "vault", token=server.token("sam", ["sales"]))
    assert (status, error["code"]) == (403, "FORBIDDEN")
    async with open_stream(server, "vault", token=server.token("root", ADMIN)):
        pass


async def test_foreign_origin_is_403_while_own_or_no_origin_is_allowed(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    token = server.token("root", ADMIN)
    status, error = await refused(server, token=token, headers={"Origin": "http://evil.example"})
    assert (status, error["code"]) == (403, "FORBIDDEN")
    status, _ = await refused(server, token=token, headers={"Origin": "http://localhost:1"})
    assert status == 403
    async with open_stream(server, token=token, headers={"Origin": server.http}):
        pass
    async with open_stream(server, token=token):
        pass


async def test_origin_listed_in_allowed_origins_is_accepted(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server, OBJECTQL_ALLOWED_ORIGINS="https://app.example")
    token = server.token("root", ADMIN)
    async with open_stream(server, token=token, headers={"Origin": "https://app.example"}):
        pass
    status, _ = await refused(server, token=token, headers={"Origin": "http://app.example"})
    assert status == 403


async def test_unknown_object_or_unknown_or_invisible_record_id_is_404(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    theirs = await server.engine.object("orders").create({"owner": "kim"})
    status, error = await refused(server, "nope", token=server.token("root", ADMIN))
    assert (status, error["code"]) == (404, "NOT_FOUND")
    for record_id in ("missing", theirs["id"]):
        status, error = await refused(server, token=server.token("sam", ["sales"]), params={"record_id": record_id})
        assert (status, error["code"]) == (404, "NOT_FOUND"), record_id


@pytest.mark.parametrize(
    ("filters", "path"),
    [
        ('[["nope", "=", 1]]', "[0][0]"),
        ('[["total", "~", 1]]', "[0][1]"),
        ('[["total", ">", "x"]]', "[0][2]"),
        ('[["status", "=", "paid"], "xor", ["total", ">", 1]]', "[1]"),
        ('{"$or": [{"total": {"$gt": "x"}}]}', "$or[0].total.$gt"),
        ("not json", ""),
    ],
)
async def test_a_bad_filter_is_400_invalid_filter_with_its_path(
    live_server: ServerFactory, filters: str, path: str
) -> None:
    server = await keyed_server(live_server)
    status, error = await refused(server, token=server.token("root", ADMIN), params={"filters": filters})
    assert status == 400
    assert error["code"] == "INVALID_FILTER" and error["path"] == path and error["message"]


@pytest.mark.parametrize("fields", ["", "id,,total", "total,nope"])
async def test_a_bad_field_list_is_400_invalid_request(live_server: ServerFactory, fields: str) -> None:
    server = await keyed_server(live_server)
    status, error = await refused(server, token=server.token("root", ADMIN), params={"fields": fields})
    assert status == 400
    assert error["code"] == "INVALID_REQUEST" and error["message"] and "path" in error


# -- credentials ----------------------------------------------------------------------------------


async def test_access_token_query_parameter_authenticates(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    params = {"access_token": server.token("sam", ["sales"])}
    async with open_stream(server, params=params) as stream:
        await server.engine.object("orders").create({"owner": "kim"})
        mine = await server.engine.object("orders").create({"owner": "sam"})
        _, change = await stream.change()
        assert change["record"]["id"] == mine["id"]


async def test_authorization_header_wins_over_access_token(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    admin_query = {"access_token": server.token("root", ADMIN)}
    status, _ = await refused(server, token="not-a-jwt", params=admin_query)
    assert status == 401  # the bad header is used, not the good query token
    # A sales header with an admin query token: the stream is sam's, so kim's rows never arrive.
    async with open_stream(server, token=server.token("sam", ["sales"]), params=admin_query) as stream:
        await server.engine.object("orders").create({"owner": "kim"})
        mine = await server.engine.object("orders").create({"owner": "sam"})
        _, change = await stream.change()
        assert change["record"]["id"] == mine["id"]


async def test_expired_token_ends_the_stream_with_token_expired_never_before_exp(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server, OBJECTQL_JWT_LEEWAY="0")
    token = server.token("root", ADMIN, ttl=2)
    exp = server.policy.authenticate(token).expires_at
    assert exp is not None
    async with open_stream(server, token=token) as stream:
        frame = await stream.next(timeout=exp - time.time() + WAIT)
        assert time.time() >= exp
        assert frame.event == "error" and frame.json() == {"code": "TOKEN_EXPIRED"}
        await stream.ended()


async def test_heartbeat_ping_comment_arrives_at_the_configured_interval(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    server.set_limits(sse_ping_interval=0.05)
    async with open_stream(server, token=server.token("root", ADMIN)) as stream:
        for _ in range(2):
            ping = await stream.next(pings=True)
            assert ping == Frame(comments=["ping"])
        created = await server.engine.object("orders").create({"total": 1})
        assert (await stream.change())[1]["record"]["id"] == created["id"]


async def test_the_subscription_is_registered_before_the_stream_opens(live_server: ServerFactory) -> None:
    # Once a client has seen the stream open, a change committed after that must reach it.
    server = await keyed_server(live_server)
    hub = server.realtime.require_hub()
    async with open_stream(server, token=server.token("root", ADMIN), opened=False) as stream:
        assert hub.subscription_count == 1
        created = await server.engine.object("orders").create({"total": 1})
        assert (await stream.next()).retry == "3000"
        assert (await stream.change())[1]["record"]["id"] == created["id"]


async def test_closing_the_stream_releases_its_subscription_and_connection(live_server: ServerFactory) -> None:
    server = await keyed_server(live_server)
    hub = server.realtime.require_hub()
    async with open_stream(server, token=server.token("root", ADMIN)):
        assert hub.subscription_count == 1 and len(server.realtime.connections) == 1
    for _ in range(500):  # the server notices the disconnect asynchronously; bounded at 5 s
        if hub.subscription_count == 0 and not server.realtime.connections:
            break
        await asyncio.sleep(0.01)
    assert hub.subscription_count == 0 and not server.realtime.connections
