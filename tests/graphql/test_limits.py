"""Query limits, refused before execution with QUERY_TOO_COMPLEX on HTTP and both WebSocket protocols;
introspection and suggestions switchable."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.wsclient import PROTOCOLS, codes, open_ws, post
from tests.realtime.conftest import LiveServer, ServerFactory

TRANSPORTS = ("http", *PROTOCOLS)
LOOKUPS = {
    "nodes": "fields:\n  parent: {type: lookup, reference_to: nodes}\n  name: {type: text}\n",
}


def nested(depth: int) -> str:
    """A query whose deepest field is at ``depth`` (the root field is depth 1, the leaf ``name`` last)."""
    inner = "name"
    for _ in range(depth - 2):
        inner = f"parent_ref {{ {inner} }}"
    return f"{{ nodesList {{ {inner} }} }}"


async def run(server: LiveServer, transport: str, query: str) -> dict[str, Any]:
    if transport == "http":
        response = await post(server, query)
        body: dict[str, Any] = response.json()
        return body
    client = await open_ws(server, transport)
    await client.start("1", query)
    message = await client.recv()
    if message["type"] == "error":
        payload = message["payload"]
        return {"errors": payload if isinstance(payload, list) else [payload]}
    return dict(message["payload"])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_depth_10_runs_and_depth_11_is_refused(live_server: ServerFactory, transport: str) -> None:
    server = await live_server(LOOKUPS)
    assert "errors" not in await run(server, transport, nested(10))
    refused = await run(server, transport, nested(11))
    assert codes(refused) == ["QUERY_TOO_COMPLEX"] and refused.get("data") is None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_depth_counts_fragments_inlined(live_server: ServerFactory, transport: str) -> None:
    server = await live_server(LOOKUPS)
    deep = "parent_ref { " * 9 + "name" + " }" * 9
    query = f"query {{ nodesList {{ ...F }} }} fragment F on Nodes {{ {deep} }}"
    assert codes(await run(server, transport, query)) == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_more_than_2000_tokens_is_refused(live_server: ServerFactory, transport: str) -> None:
    server = await live_server(LOOKUPS)
    query = "{ nodesList { " + "name " * 2000 + "} }"
    assert codes(await run(server, transport, query)) == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_aliases_over_30_are_refused_counting_each_fragment_spread(
    live_server: ServerFactory, transport: str
) -> None:
    server = await live_server(LOOKUPS)
    thirty = " ".join(f"a{i}: nodesCount" for i in range(30))
    assert "errors" not in await run(server, transport, f"{{ {thirty} }}")
    assert codes(await run(server, transport, f"{{ {thirty} extra: nodesCount }}")) == ["QUERY_TOO_COMPLEX"]
    # 16 aliases in a fragment spread twice count 32.
    sixteen = " ".join(f"b{i}: nodesCount" for i in range(16))
    query = f"query {{ ...F ...F }} fragment F on Query {{ {sixteen} }}"
    assert codes(await run(server, transport, query)) == ["QUERY_TOO_COMPLEX"]


async def test_abusive_introspection_is_refused_on_every_transport(live_server: ServerFactory) -> None:
    server = await live_server(LOOKUPS)
    type_ref = "kind name"
    for _ in range(24):
        type_ref = f"kind name ofType {{ {type_ref} }}"
    too_deep = f"{{ __schema {{ types {{ fields {{ type {{ {type_ref} }} }} }} }} }}"
    # Each type list nested in another multiplies the answer: two on one path are what tools ask for.
    three_lists = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    for transport in ("http", *PROTOCOLS):
        assert codes(await run(server, transport, too_deep)) == ["QUERY_TOO_COMPLEX"], transport
        refused = await run(server, transport, three_lists)
        assert codes(refused) == ["GRAPHQL_VALIDATION_FAILED"], transport
        assert "introspection depth" in refused["errors"][0]["message"]
    # Introspection beside a query does not lift the query's own depth limit.
    beside = nested(11).replace("{ nodesList", "{ __schema { queryType { name } } nodesList", 1)
    assert codes(await run(server, "http", beside)) == ["QUERY_TOO_COMPLEX"]
    shallow = "{ __schema { types { name fields { name type { kind name ofType { kind name ofType { name } } } } } } }"
    body = (await post(server, shallow)).json()
    assert "errors" not in body and any(t["name"] == "Nodes" for t in body["data"]["__schema"]["types"])


async def test_introspection_can_be_switched_off(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_GRAPHQL_INTROSPECTION="false")
    body = (await post(server, "{ __schema { queryType { name } } }")).json()
    assert body["errors"] and "introspection" in body["errors"][0]["message"].lower()
    assert (await post(server, "{ ordersCount }")).json() == {"data": {"ordersCount": 0}}


async def test_field_suggestions_can_be_switched_off(live_server: ServerFactory) -> None:
    typo = "{ ordersCont }"
    on = await live_server()
    assert "Did you mean" in (await post(on, typo)).json()["errors"][0]["message"]
    off = await live_server(OBJECTQL_GRAPHQL_SUGGESTIONS="false")
    assert "Did you mean" not in (await post(off, typo)).json()["errors"][0]["message"]


async def test_a_cached_document_still_refuses_and_still_runs_per_request(live_server: ServerFactory) -> None:
    server = await live_server(LOOKUPS)
    for _ in range(3):  # the second and third answers come from the document cache
        assert codes((await post(server, nested(11))).json()) == ["QUERY_TOO_COMPLEX"]
        assert codes((await post(server, "{ nodesCont }")).json()) == ["GRAPHQL_VALIDATION_FAILED"]
        body = (await post(server, "query ($n: String) { nodesCount(filters: {name: $n}) }", {"n": "x"})).json()
        assert body == {"data": {"nodesCount": 0}}
