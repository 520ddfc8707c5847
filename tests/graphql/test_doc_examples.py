"""The GraphQL examples of docs/graphql.md run as written against the shop: every query and mutation block is
executed over HTTP (as sam, the sales user the shop's README follows), every subscription block validated, and
the page shows at least a plain list query and a create mutation."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from graphql import OperationDefinitionNode, OperationType, parse, validate

from objectql.server.app import create_app
from objectql.server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
SECRET = "doc-examples-test-secret-0123456789abcdef"


def blocks() -> list[str]:
    text = (ROOT / "docs" / "graphql.md").read_text(encoding="utf-8")
    return re.findall(r"^```graphql\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def kinds(document: str) -> set[tuple[OperationType, str]]:
    """(operation type, root field) of each operation in ``document``."""
    found = set()
    for definition in parse(document).definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                found.add((definition.operation, selection.name.value))  # type: ignore[attr-defined]
    return found


def test_the_page_shows_a_plain_list_query_and_a_create_mutation() -> None:
    shown = set().union(*(kinds(block) for block in blocks()))
    assert (OperationType.QUERY, "ordersList") in shown
    assert (OperationType.MUTATION, "createOrders") in shown


async def test_every_example_runs_against_the_shop(tmp_path: Path) -> None:
    env = {"OBJECTQL_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}", "OBJECTQL_JWT_SECRET": SECRET}
    app = create_app(SHOP, Settings.load({}, env, app_dir=SHOP))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost", timeout=10) as client,
    ):
        sam = {"authorization": f"Bearer {app.state.policy.authenticator.mint('sam', ['sales'], 600)}"}
        schema = app.state.graphql.executor.graphql_schema
        for block in blocks():
            assert validate(schema, parse(block)) == [], block
            if any(kind is OperationType.SUBSCRIPTION for kind, _ in kinds(block)):
                continue
            answer = (await client.post("/graphql", json={"query": block}, headers=sam)).json()
            assert "errors" not in answer, (block, answer)
