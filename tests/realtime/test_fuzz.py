"""Random frames, filters and GraphQL documents thrown at a live `objectql serve` process.

Whatever arrives, the server answers with typed errors or a documented close code: never HTTP 500, never
4500 or 1011, never ``INTERNAL_ERROR`` or ``UNAVAILABLE``, never a traceback or an error line in its log;
and a connection that is still open keeps delivering its other subscription.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import websockets
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from objectql.engine.filters.parse import OPERATORS
from tests.conftest import write_objects
from tests.scaleout.conftest import free_port

SECRET = "fuzz-secret-0123456789abcdef0123456789"
OBJECTS = {
    "customers": "fields:\n  name: {type: text}\n",
    "orders": """
fields:
  status:   {type: select, options: [pending, paid]}
  total:    {type: currency}
  qty:      {type: integer}
  note:     {type: text}
  placed:   {type: datetime}
  cost:     {type: number}
  customer: {type: lookup, reference_to: customers}
permissions:
  fields:
    cost: {read: [admin]}
  rows:
    - roles: [sales]
      filters: [["note", "!=", "secret"]]
""",
}
# Close codes a hostile client may earn (docs/websocket.md, docs/graphql.md).
PLAIN_CLOSES = {1000, 1009, 4400, 4401, 4403, 4409, 4429}
GRAPHQL_CLOSES = {1000, 1009, 4400, 4401, 4403, 4409, 4429}
REFUSED_CODES = {"INTERNAL_ERROR", "UNAVAILABLE"}
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Server:
    port: int
    log: Path
    token: str
    seen: int = 0

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_log(self) -> str:
        """What the server logged since the last call."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        fresh, self.seen = text[self.seen :], len(text)
        return fresh


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("fuzz")
    app_dir = write_objects(tmp / "app", OBJECTS)
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "OBJECTQL_JWT_SECRET": SECRET, "OBJECTQL_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "objectql.server.cli", "serve", str(app_dir), "--port", str(port)]
    command += ["--db", f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}"]
    with log.open("wb") as out:
        popen = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    token = jwt.encode({"sub": "sam", "roles": ["sales"], "exp": int(time.time()) + 3600}, SECRET, "HS256")
    try:
        for _ in range(300):
            assert popen.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        server = Server(port, log, token)
        server.new_log()  # the start-up lines
        yield server
    finally:
        popen.terminate()
        popen.wait(15)


def clean_log(server: Server) -> None:
    fresh = server.new_log()
    assert "Traceback" not in fresh and " ERROR " not in fresh, fresh


# -- what is thrown ----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e24, 1e300, -1e300, 2**62, 2**63, 0.1, "", "pending", "paid", "$user.id"]),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\udfff", "\x00", "'; drop table orders; --", "%_", "é" * 300]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "status",
        "total",
        "qty",
        "note",
        "placed",
        "cost",
        "customer",
        "id",
        "created_at",
        "updated_at",
        "nope",
        "_lc_note",
        "Status",
    ]
) | st.text(max_size=6)
operators = st.sampled_from([*sorted(OPERATORS), "~", "IN", "$eq"])  # the real ones and near misses
criteria = st.tuples(field_names, operators, json_values).map(list) | st.tuples(field_names, operators).map(list)
list_filters = st.recursive(
    criteria.map(lambda c: [c]),
    lambda children: st.lists(children | criteria | st.sampled_from(["and", "or", "xor"]), min_size=1, max_size=5),
    max_leaves=8,
)
object_filters = st.recursive(
    st.dictionaries(
        field_names,
        json_values
        | st.dictionaries(
            st.sampled_from(["$eq", "$in", "$gt", "$between", "$null", "$contains", "$bogus"]), json_values, max_size=2
        ),
        max_size=3,
    ),
    lambda children: st.dictionaries(
        st.sampled_from(["$and", "$or", "$not", "$nor"]), st.lists(children, max_size=3) | children, max_size=2
    ),
    max_leaves=8,
)
filters = st.one_of(list_filters, object_filters, json_values)
ids = st.sampled_from(["s1", "s2", "", "x" * 129, "keep2"]) | json_values
plain_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "join", "update", "leave", "ping", "auth", "nope"])},
    optional={
        "id": ids,
        "object": st.sampled_from(["orders", "customers", "nope", ""]) | json_values,
        "filters": filters,
        "fields": st.lists(field_names, max_size=4) | json_values,
        "record_id": st.text(max_size=30) | json_values,
        "snapshot": st.booleans() | json_values,
        "resume_from": st.integers(min_value=-(2**70), max_value=2**70) | json_values,
        "channel": st.sampled_from(["room:1", "orders:x", "customers:", "a" * 129, "room:1\n"]) | json_values,
        "meta": json_values,
        "token": st.sampled_from(["", "x.y.z", "Bearer x"]) | json_values,
    },
)
plain_frames = st.one_of(
    plain_messages.map(lambda m: json.dumps(m)),
    st.text(max_size=40),
    st.binary(max_size=20),
    st.sampled_from(["[" * 200, '{"type": "ping", "x": ' + "[" * 70 + "]" * 70 + "}", "1" * 5000, "NaN"]),
)


def literal(value: Any) -> str:
    """A Python value as a GraphQL input literal."""
    if isinstance(value, dict):
        return "{" + " ".join(f"{key}: {literal(v)}" for key, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + " ".join(literal(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


where_keys = st.sampled_from(["status", "total", "qty", "note", "cost", "AND", "OR", "NOT", "bogus"])
where_ops = st.sampled_from(["eq", "ne", "gt", "in", "between", "isNull", "contains", "startsWith", "nope"])
wheres = st.recursive(
    st.dictionaries(where_keys, st.dictionaries(where_ops, json_values, max_size=2) | json_values, max_size=2),
    lambda children: st.dictionaries(where_keys, st.lists(children, max_size=3) | children, max_size=2),
    max_leaves=6,
)
selections = st.lists(
    st.sampled_from(
        [
            "id",
            "status",
            "total",
            "cost",
            "qty",
            "customer",
            "customer_ref { name }",
            "customer_ref { id name }",
            "nope",
            "__typename",
            "record { id cost }",
            "record { id }",
        ]
    ),
    min_size=1,
    max_size=4,
).map(lambda names: " ".join(names))
roots = st.sampled_from(
    [
        "ordersList",
        "ordersCount",
        "orders",
        "ordersChanged",
        "ordersCreated",
        "createOrders",
        "updateOrders",
        "deleteOrders",
        "nope",
    ]
)
arguments = st.dictionaries(
    st.sampled_from(["where", "filters", "offset", "limit", "orderBy", "after", "id", "input", "first"]),
    wheres | json_values,
    max_size=3,
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["query", "mutation", "subscription", "", "fragment"]))
    root = draw(roots)
    args = draw(arguments)
    rendered = "(" + " ".join(f"{k}: {literal(v)}" for k, v in args.items()) + ")" if args else ""
    body = f"{kind} {{ {root}{rendered} {{ {draw(selections)} }} }}"
    return draw(st.sampled_from([body, body[: draw(st.integers(0, max(len(body) - 1, 0)))], body + "}"]))


graphql_payloads = st.fixed_dictionaries(
    {"query": documents() | json_values},
    optional={"variables": json_values, "operationName": json_values},
)


# -- the plain WebSocket ------------------------------------------------------------------------


async def write_order(server: Server) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{server.http}/graphql",
            json={"query": 'mutation { createOrders(input: {note: "fuzz"}) { id } }'},
            headers={"authorization": f"Bearer {server.token}"},
        )
    assert response.status_code == 200 and "errors" not in response.json(), response.text


async def keeps_delivering(ws: Any, server: Server, is_kept: Any) -> None:
    """A write reaches the kept subscription; nothing on the way is an internal error."""
    await write_order(server)
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await ws.recv())
            assert message.get("code") not in REFUSED_CODES, message
            payload = message.get("payload")
            if isinstance(payload, dict | list):
                errors = payload if isinstance(payload, list) else payload.get("errors") or []
                assert not any(e.get("extensions", {}).get("code") in REFUSED_CODES for e in errors), message
            if is_kept(message):
                return


async def throw_plain(server: Server, frames: list[str | bytes]) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/api/realtime", max_size=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": server.token}))
        assert json.loads(await ws.recv())["type"] == "auth_ok"
        await ws.send(json.dumps({"type": "subscribe", "id": "keep", "object": "orders", "fields": ["id"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        try:
            for frame in frames:
                await ws.send(frame)
            await keeps_delivering(ws, server, lambda m: m.get("type") == "change" and m.get("id") == "keep")
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            assert code in PLAIN_CLOSES, (code, exc.rcvd.reason if exc.rcvd else None)


def touches_keep(frame: str | bytes) -> bool:
    try:
        message = json.loads(frame)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("id") == "keep"


@EXAMPLES
@given(frames=st.lists(plain_frames, min_size=1, max_size=6))
def test_random_frames_on_the_plain_websocket(server: Server, frames: list[str | bytes]) -> None:
    assume(not any(touches_keep(f) for f in frames))  # unsubscribing the kept subscription is allowed
    asyncio.run(throw_plain(server, frames))
    clean_log(server)


# -- GraphQL ------------------------------------------------------------------------------------


async def throw_graphql_ws(server: Server, payloads: list[Any]) -> None:
    async with websockets.connect(
        f"ws://127.0.0.1:{server.port}/graphql", subprotocols=["graphql-transport-ws"], max_size=None
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": server.token}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        keep = {"query": "subscription { ordersChanged { record { id } } }"}
        await ws.send(json.dumps({"type": "subscribe", "id": "keep", "payload": keep}))
        await asyncio.sleep(0.05)
        try:
            for i, payload in enumerate(payloads):
                await ws.send(json.dumps({"type": "subscribe", "id": f"f{i}", "payload": payload}))
            await keeps_delivering(ws, server, lambda m: m.get("type") == "next" and m.get("id") == "keep")
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            assert code in GRAPHQL_CLOSES, (code, exc.rcvd.reason if exc.rcvd else None)


@EXAMPLES
@given(payloads=st.lists(graphql_payloads, min_size=1, max_size=4))
def test_random_graphql_documents_over_graphql_transport_ws(server: Server, payloads: list[Any]) -> None:
    asyncio.run(throw_graphql_ws(server, payloads))
    clean_log(server)


@EXAMPLES
@given(payload=graphql_payloads, truncated=st.booleans())
def test_random_graphql_documents_over_http(server: Server, payload: Any, truncated: bool) -> None:
    headers = {"authorization": f"Bearer {server.token}", "content-type": "application/json"}
    content = json.dumps(payload)
    if truncated:
        content = content[: max(1, len(content) // 2)]
    response = httpx.post(f"{server.http}/graphql", content=content, headers=headers, timeout=10)
    assert response.status_code < 500, response.text
    errors = response.json().get("errors") or []
    assert not any(e.get("extensions", {}).get("code") in REFUSED_CODES for e in errors), response.text
    clean_log(server)


# -- SSE ----------------------------------------------------------------------------------------


@EXAMPLES
@given(
    obj=st.sampled_from(["orders", "customers", "nope"]),
    params=st.fixed_dictionaries(
        {},
        optional={
            "filters": filters.map(json.dumps) | st.text(max_size=30),
            "fields": st.lists(field_names, max_size=3).map(",".join) | st.text(max_size=10),
            "record_id": st.text(max_size=30),
        },
    ),
    last_event_id=st.none() | st.text(max_size=25),
)
def test_random_sse_requests(server: Server, obj: str, params: dict[str, str], last_event_id: str | None) -> None:
    headers = {"authorization": f"Bearer {server.token}"}
    sendable = last_event_id is not None and last_event_id.isprintable() and last_event_id.isascii()
    if sendable and last_event_id and last_event_id.strip() == last_event_id:  # what an HTTP header can carry
        headers["last-event-id"] = last_event_id
    try:
        with httpx.stream("GET", f"{server.http}/api/events/{obj}", params=params, headers=headers, timeout=10) as r:
            assert r.status_code < 500, r.read()
            if r.status_code != 200:
                body = json.loads(r.read())
                assert body["error"]["code"] not in REFUSED_CODES, body
    except UnicodeEncodeError:
        assume(False)  # not sendable as a URL: nothing reached the server
    clean_log(server)
