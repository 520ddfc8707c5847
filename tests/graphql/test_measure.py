"""The document measure: linear in the document however fragments spread, never looping on a fragment cycle,
and a cost of list sizes times selections where nested lists multiply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    get_introspection_query,
    parse,
)

from objectql import ObjectQL
from objectql.resolvers.executor import DEFAULT_MAX_COST, graphql_schema_of
from objectql.resolvers.measure import FragmentCycle, OperationMeasure, measure
from objectql.schema.builder import build_schema as build_strawberry_schema
from objectql.server.development import dev_users
from objectql.server.playground_example import example_document

ROOT = Path(__file__).resolve().parents[2]

SCHEMA = build_schema(
    """
    type Query { things(first: Int): [Thing!]! thing: Thing groups: [Thing!]! count: Int }
    type Thing { name: String parts(limit: Int): [Part!]! page(first: Int): Page tags: [String!] }
    type Page { edges: [Part!]! total: Int }
    type Part { name: String }
    """
)


def measured(query: str, variables: dict[str, Any] | None = None) -> OperationMeasure:
    document = parse(query)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return measure(SCHEMA, operation, fragments, variables or {})


def selections(document: DocumentNode) -> int:
    """How many selections (fields, spreads, inline fragments) the document holds."""
    count = 0
    pending: list[SelectionSetNode] = [d.selection_set for d in document.definitions]  # type: ignore[attr-defined]
    while pending:
        for node in pending.pop().selections:
            count += 1
            if isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set is not None:
                pending.append(node.selection_set)
    return count


def doubling(levels: int) -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    return " ".join(["{ ...F0 }", *fragments, f"fragment F{levels} on Query {{ a: count }}"])


@pytest.mark.parametrize("levels", [10, 40, 200])
def test_fragments_spread_twice_at_every_level_are_measured_once_each(levels: int) -> None:
    query = doubling(levels)
    result = measured(query)
    # Each selection is looked at twice at most (finding the spreads, then measuring) ...
    assert result.visits <= 2 * selections(parse(query))
    # ... and what the fragments add up to still counts every spread, as the answer would.
    assert result.aliases == 2**levels and result.cost == 2**levels and result.depth == 1


def test_depth_adds_up_through_fragments_and_introspection_is_measured_apart() -> None:
    query = "{ thing { ...A } } fragment A on Thing { page { ...B } } fragment B on Page { edges { name } }"
    assert measured(query).depth == 4
    intro = measured("{ __schema { types { name fields { name } } } count }")
    assert (intro.depth, intro.introspection_depth) == (1, 4)


def test_a_fragment_that_spreads_itself_is_refused_not_followed() -> None:
    query = "{ ...A } fragment A on Query { ...B } fragment B on Query { thing { name } ...A }"
    with pytest.raises(FragmentCycle):
        measured(query)


def test_a_long_chain_of_fragments_does_not_deepen_the_stack() -> None:
    chain = [f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(3000)]
    result = measured(" ".join(["{ ...F0 }", *chain, "fragment F3000 on Query { count }"]))
    assert result.cost == 1


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ count }", 1),
        # A list's size is its first / limit, else the default page of 100.
        ("{ things(first: 3) { name } }", 1 + 3 * 1),
        ("{ things { name } }", 1 + 100 * 1),
        ("query ($n: Int) { things(first: $n) { name } }", 1 + 7 * 1),
        # Nested lists multiply.
        ("{ things(first: 1000) { parts(limit: 1000) { name } } }", 1 + 1000 * (1 + 1000 * 1)),
        ("{ things(first: 10) { name parts(limit: 5) { name } } }", 1 + 10 * (1 + 1 + 5 * 1)),
        # A list nothing pages counts its maximum; a list of leaves is one value.
        ("{ groups { name tags } }", 1 + 1000 * 2),
        # A page's lists (a connection's edges) are the size of the page's first.
        ("{ thing { page(first: 20) { total edges { name } } } }", 1 + 1 + 1 + 1 + 20 * 1),
        ("{ thing { page { edges { name } } } }", 1 + 1 + 1 + 100 * 1),
        # Beyond the largest page counts as the largest page (the resolver refuses it, naming the argument).
        ("{ things(first: 5000) { name } }", 1 + 1000),
        # Fragments count where they are spread, inline or named.
        ("{ things(first: 4) { ...T ... on Thing { name } } } fragment T on Thing { name }", 1 + 4 * 2),
    ],
)
def test_cost_is_list_sizes_times_selections(query: str, cost: int) -> None:
    assert measured(query, {"n": 7}).cost == cost


def test_introspection_costs_its_selections_without_list_sizes() -> None:
    assert measured("{ __schema { types { name fields { name args { name } } } } }").cost == 7
    # The standard query, fragments inlined, is a couple of hundred selections (its lists at 1000 items each
    # would be over 10^9), far below the default bound.
    query = get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True)
    assert measured(query).cost < DEFAULT_MAX_COST / 100


async def test_the_playgrounds_example_documents_are_far_below_the_default_bound() -> None:
    shop = ROOT / "examples" / "shop"
    async with ObjectQL(shop, "sqlite+aiosqlite://") as engine:
        schema = graphql_schema_of(build_strawberry_schema(engine.registry))
        document = parse(await example_document(engine, dev_users(shop, engine.registry)))
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 3
    for operation in operations:
        assert measure(schema, operation, fragments, {}).cost < DEFAULT_MAX_COST / 100
