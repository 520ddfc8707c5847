"""Query limits, refused before execution with QUERY_TOO_COMPLEX on every transport (HTTP, both WebSocket
protocols, graphql-sse): depth, tokens, aliases and cost, measured in time linear in the document;
introspection and suggestions switchable."""

from __future__ import annotations

from typing import Any

import pytest

from objectql.resolvers.executor import GraphQLExecutor
from tests.graphql.wsclient import PROTOCOLS, TRANSPORT_WS, TRANSPORTS, codes, post, result
from tests.realtime.conftest import LiveServer, ServerFactory

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
    return await result(server, transport, query)


@pytest.mark.parametrize("transport", ("http", *PROTOCOLS))
async def test_depth_10_runs_and_depth_11_is_refused(live_server: ServerFactory, transport: str) -> None:
    server = await live_server(LOOKUPS)
    assert "errors" not in await run(server, transport, nested(10))
    refused = await run(server, transport, nested(11))
    assert codes(refused) == ["QUERY_TOO_COMPLEX"] and refused.get("data") is None


@pytest.mark.parametrize("transport", ("http", *PROTOCOLS))
async def test_depth_counts_fragments_inlined(live_server: ServerFactory, transport: str) -> None:
    server = await live_server(LOOKUPS)
    deep = "parent_ref { " * 9 + "name" + " }" * 9
    query = f"query {{ nodesList {{ ...F }} }} fragment F on Nodes {{ {deep} }}"
    assert codes(await run(server, transport, query)) == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize("transport", ("http", *PROTOCOLS))
async def test_more_than_2000_tokens_is_refused(live_server: ServerFactory, transport: str) -> None:
    server = await live_server(LOOKUPS)
    query = "{ nodesList { " + "name " * 2000 + "} }"
    assert codes(await run(server, transport, query)) == ["QUERY_TOO_COMPLEX"]


@pytest.mark.parametrize("transport", ("http", *PROTOCOLS))
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


def doubling_fragments(levels: int, leaf: str = "nodesCount") -> str:
    """A document of ``levels`` fragments, each spreading the next twice: 2^levels copies of ``leaf`` when
    inlined, in a few hundred bytes."""
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join(["query { ...F0 }", *fragments, f"fragment F{levels} on Query {{ {leaf} }}"])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_fragments_spread_twice_32_levels_deep_are_measured_at_once_and_refused(
    live_server: ServerFactory, transport: str
) -> None:
    server = await live_server(LOOKUPS)
    query = doubling_fragments(32)
    assert len(query) < 1400
    refused = await run(server, transport, query)
    assert codes(refused) == ["QUERY_TOO_COMPLEX"] and refused.get("data") is None
    assert "cost" in refused["errors"][0]["message"]
    # The server answers the next request at once: measuring did not hold it.
    assert (await run(server, transport, "{ nodesCount }")) == {"data": {"nodesCount": 0}}


def many_pages(lists: int) -> str:
    """``lists`` aliased pages of 1000 rows of five fields: 5001 each (the served schema nests no list in a
    list, so a large document is a wide one)."""
    return (
        "{ " + " ".join(f"p{i}: ordersList(limit: 1000) {{ id status total owner note }}" for i in range(lists)) + " }"
    )


@pytest.mark.parametrize("transport", ("http", TRANSPORT_WS))
async def test_the_cost_bound_refuses_an_expensive_document_before_it_runs(
    live_server: ServerFactory, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    executed: list[object] = []
    original = GraphQLExecutor.run

    async def counted(self: GraphQLExecutor, *args: Any) -> dict[str, Any]:
        executed.append(args)
        return await original(self, *args)

    monkeypatch.setattr(GraphQLExecutor, "run", counted)
    server = await live_server()
    refused = await run(server, transport, many_pages(20))  # 100,020 > 100,000
    assert codes(refused) == ["QUERY_TOO_COMPLEX"] and "100000" in refused["errors"][0]["message"]
    assert executed == []
    answered = await run(server, transport, many_pages(19))
    assert "errors" not in answered and answered["data"]["p18"] == [] and len(executed) == 1


async def test_the_cost_bound_is_a_setting_and_counts_limits_given_as_variables(live_server: ServerFactory) -> None:
    server = await live_server(OBJECTQL_GRAPHQL_MAX_COST="1000")
    query = "query ($n: Int) { ordersList(limit: $n) { id total } }"
    assert (await post(server, query, {"n": 499})).json() == {"data": {"ordersList": []}}  # 1 + 499 × 2
    assert codes((await post(server, query, {"n": 500})).json()) == ["QUERY_TOO_COMPLEX"]
    # Without a limit, a page is its default of 100 rows; a connection's edges are its first.
    assert (await post(server, "{ ordersList { id total note status owner } }")).json() == {"data": {"ordersList": []}}
    connection = "{ ordersConnection(first: 300) { totalCount edges { cursor node { id status } } } }"  # 1203
    assert codes((await post(server, connection)).json()) == ["QUERY_TOO_COMPLEX"]
    assert "errors" not in (await post(server, connection.replace("300", "200"))).json()  # 803
