"""The GraphiQL playground at ``GET /graphql``: which requests get the page, its assets, a missing bundle.

Most tests mount :func:`playground_routes` over a small fake bundle in front of a stand-in GraphQL
endpoint, so they show both what the page route takes and what it leaves to the endpoint. Two tests use the
real pieces: the bundle ``make playground`` builds (fail in CI when it is missing, skip elsewhere), and the
app factory, whose ``/graphql`` must serve the page to browsers and operations to the GraphQL endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from objectql.server.app import create_app
from objectql.server.playground import (
    ASSETS_PATH,
    DEFAULT_DIST_DIR,
    is_playground_request,
    playground_dir,
    playground_routes,
    read_manifest,
)
from objectql.server.scaffold import scaffold
from objectql.server.settings import Settings
from tests.unavailable import unavailable

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what browsers send
JS_NAME = "playground-ABC123.js"
CSS_NAME = "playground-DEF456.css"


def fake_bundle(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / JS_NAME).write_text("console.log('playground');\n", encoding="utf-8")
    (directory / CSS_NAME).write_text("body { margin: 0 }\n", encoding="utf-8")
    (directory / "manifest.json").write_text(json.dumps({"js": JS_NAME, "css": CSS_NAME}), encoding="utf-8")
    return directory


async def graphql_stand_in(request: Request) -> Response:
    """What the GraphQL endpoint would answer: tells the tests the request reached it."""
    return JSONResponse({"endpoint": "graphql", "method": request.method})


def make_app(dist_dir: Path | None) -> Starlette:
    return Starlette(
        routes=[*playground_routes(dist_dir), Route("/graphql", graphql_stand_in, methods=["GET", "POST"])]
    )


@asynccontextmanager
async def client_for(app: Starlette, root_path: str = "") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=10) as client:
        yield client


class Links(HTMLParser):
    """Every URL the page would load: src and href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value is not None]


def links_of(page: str) -> list[str]:
    parser = Links()
    parser.feed(page)
    return parser.urls


# -- which requests get the page ------------------------------------------------------------------


async def test_browser_get_with_text_html_gets_the_page_loading_the_bundle(tmp_path: Path) -> None:
    async with client_for(make_app(fake_bundle(tmp_path / "dist"))) as client:
        response = await client.get("/graphql", headers={"accept": HTML})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f'<script src="/graphql/assets/{JS_NAME}" defer></script>' in page
    assert f'<link rel="stylesheet" href="/graphql/assets/{CSS_NAME}">' in page
    assert 'data-endpoint="/graphql"' in page
    assert response.headers["cache-control"] == "no-store"


async def test_page_references_only_same_origin_assets(tmp_path: Path) -> None:
    async with client_for(make_app(fake_bundle(tmp_path / "dist"))) as client:
        page = (await client.get("/graphql", headers={"accept": HTML})).text
    urls = links_of(page)
    assert sorted(urls) == sorted([f"/graphql/assets/{JS_NAME}", f"/graphql/assets/{CSS_NAME}", "data:,"])
    assert not re.search(r"(?i)https?:|//[a-z]", page.replace("data:,", ""))


async def test_page_policy_lets_it_load_and_connect_to_its_own_origin_only(tmp_path: Path) -> None:
    async with client_for(make_app(fake_bundle(tmp_path / "dist"))) as client:
        response = await client.get("/graphql", headers={"accept": HTML})
    policy = dict(
        part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";") if part.strip()
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws://localhost wss://localhost"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "url", "headers"),
    [
        ("GET", "/graphql?query=%7B__typename%7D", {"accept": HTML}),
        ("GET", "/graphql?query=%7B__typename%7D", {"accept": "application/json"}),
        ("GET", "/graphql", {"accept": "application/json"}),
        ("GET", "/graphql", {"accept": "*/*"}),
        ("GET", "/graphql", {"accept": "application/graphql-response+json, application/json"}),
        ("POST", "/graphql", {"accept": HTML, "content-type": "application/json"}),
    ],
    ids=["query-param-html", "query-param-json", "json", "any", "graphql-response", "post"],
)
async def test_operations_and_non_browser_requests_reach_the_graphql_endpoint(
    tmp_path: Path, method: str, url: str, headers: dict[str, str]
) -> None:
    async with client_for(make_app(fake_bundle(tmp_path / "dist"))) as client:
        body = b'{"query": "{ __typename }"}' if method == "POST" else None
        response = await client.request(method, url, headers=headers, content=body)
    assert response.status_code == 200
    assert response.json() == {"endpoint": "graphql", "method": method}


@pytest.mark.parametrize(
    ("method", "query", "accept", "expected"),
    [
        ("GET", b"", HTML, True),
        ("GET", b"", "TEXT/HTML", True),
        ("HEAD", b"", "text/html", True),
        ("GET", b"operationName=x", "text/html", True),
        ("GET", b"query=%7Bx%7D", "text/html", False),
        ("GET", b"query=", "text/html", False),
        ("GET", b"", "application/json", False),
        ("GET", b"", "*/*", False),
        ("GET", b"", "", False),
        ("POST", b"", "text/html", False),
    ],
)
def test_a_playground_request_is_a_get_accepting_html_without_a_query(
    method: str, query: bytes, accept: str, expected: bool
) -> None:
    headers = [(b"accept", accept.encode())] if accept else []
    scope = {"type": "http", "method": method, "path": "/graphql", "query_string": query, "headers": headers}
    assert is_playground_request(Request(scope)) is expected


# -- the assets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content_type"), [(JS_NAME, "javascript"), (CSS_NAME, "text/css")])
async def test_assets_are_served_with_their_content_type_and_cached_for_good(
    tmp_path: Path, name: str, content_type: str
) -> None:
    dist = fake_bundle(tmp_path / "dist")
    async with client_for(make_app(dist)) as client:
        response = await client.get(f"/graphql/assets/{name}")
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.content == (dist / name).read_bytes()
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/graphql/assets/nope.js", "/graphql/assets/../manifest.json", "/graphql/assets/"])
async def test_unknown_asset_paths_are_not_found(tmp_path: Path, path: str) -> None:
    (tmp_path / "secret.txt").write_text("no", encoding="utf-8")
    async with client_for(make_app(fake_bundle(tmp_path / "dist"))) as client:
        response = await client.get(path.replace("manifest.json", "../secret.txt"))
    assert response.status_code == 404


async def test_under_a_root_path_the_page_points_below_it(tmp_path: Path) -> None:
    app = Starlette(routes=[Mount("/api", app=make_app(fake_bundle(tmp_path / "dist")))])
    async with client_for(app, root_path="") as client:
        response = await client.get("/api/graphql", headers={"accept": HTML})
        asset = await client.get(f"/api/graphql/assets/{JS_NAME}")
    assert f'src="/api/graphql/assets/{JS_NAME}"' in response.text
    assert 'data-endpoint="/api/graphql"' in response.text
    assert asset.status_code == 200


# -- a missing bundle -----------------------------------------------------------------------------


async def test_missing_bundle_gets_a_page_explaining_how_to_build_it(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path / "never-built")) as client:
        page = await client.get("/graphql", headers={"accept": HTML})
        asset = await client.get(f"/graphql/assets/{JS_NAME}")
        operation = await client.get("/graphql?query=%7B__typename%7D")
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/plain")
    assert "make playground" in page.text
    assert "npm ci" in page.text and "OBJECTQL_PLAYGROUND_DIR" in page.text
    assert str(tmp_path) not in page.text  # the server's file system is not shown to visitors
    assert asset.status_code == 404
    assert operation.json()["endpoint"] == "graphql"


@pytest.mark.parametrize(
    "manifest",
    [None, "not json", json.dumps({"js": JS_NAME}), json.dumps({"js": "../x.js", "css": CSS_NAME}), "[]"],
    ids=["absent", "malformed", "no-css", "unsafe-name", "not-an-object"],
)
async def test_incomplete_bundle_counts_as_missing(tmp_path: Path, manifest: str | None) -> None:
    dist = fake_bundle(tmp_path / "dist")
    if manifest is None:
        (dist / "manifest.json").unlink()
    else:
        (dist / "manifest.json").write_text(manifest, encoding="utf-8")
    assert read_manifest(dist) is None
    async with client_for(make_app(dist)) as client:
        page = await client.get("/graphql", headers={"accept": HTML})
    assert page.status_code == 503 and "make playground" in page.text


async def test_bundle_built_while_the_server_runs_is_served_without_a_restart(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    async with client_for(make_app(dist)) as client:
        assert (await client.get(f"/graphql/assets/{JS_NAME}")).status_code == 404
        fake_bundle(dist)
        assert (await client.get("/graphql", headers={"accept": HTML})).status_code == 200
        assert (await client.get(f"/graphql/assets/{JS_NAME}")).status_code == 200


# -- where the bundle is --------------------------------------------------------------------------


def test_default_bundle_directory_is_playground_dist_in_the_source_tree() -> None:
    assert DEFAULT_DIST_DIR == ROOT / "objectql" / "server" / "playground_bundle"
    assert playground_dir(None) == DEFAULT_DIST_DIR
    assert playground_dir("") == DEFAULT_DIST_DIR


def test_playground_dir_setting_points_at_another_bundle(tmp_path: Path) -> None:
    settings = Settings.load({}, {"OBJECTQL_PLAYGROUND_DIR": str(tmp_path / "bundle")}, app_dir=tmp_path)
    assert settings.playground_dir == str(tmp_path / "bundle")
    assert playground_dir(settings.playground_dir) == (tmp_path / "bundle").resolve()


def test_the_built_bundle_is_complete_and_names_no_other_origin() -> None:
    manifest = read_manifest(DEFAULT_DIST_DIR)
    if manifest is None:
        unavailable("The playground bundle", f"no playground bundle in {DEFAULT_DIST_DIR}: run `make playground`")
    css = (DEFAULT_DIST_DIR / manifest["css"]).read_text(encoding="utf-8")
    # Fonts and images are inlined as data: URLs or files next to the CSS, never fetched from elsewhere.
    for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
        assert url.startswith("data:") or "/" not in url, url
    assert "@import" not in css
    js = (DEFAULT_DIST_DIR / manifest["js"]).read_text(encoding="utf-8")
    assert "GraphiQL" in js and "graphql-transport-ws" in js


# -- wired into the app ---------------------------------------------------------------------------


async def test_app_serves_the_playground_to_browsers_and_operations_to_the_graphql_endpoint(
    tmp_path: Path,
) -> None:
    dist = fake_bundle(tmp_path / "dist")
    env = {"OBJECTQL_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}", "OBJECTQL_PLAYGROUND_DIR": str(dist)}
    app = create_app(SHOP, Settings.load({}, env, app_dir=SHOP))
    async with app.router.lifespan_context(app), client_for(app) as client:
        page = await client.get("/graphql", headers={"accept": HTML})
        asset = await client.get(f"{ASSETS_PATH}/{CSS_NAME}")
        operation = await client.get("/graphql?query=%7B__typename%7D", headers={"accept": "application/json"})
    assert page.status_code == 200, "GET /graphql from a browser must serve the playground (see app.py)"
    assert f"/graphql/assets/{JS_NAME}" in page.text
    assert asset.status_code == 200
    assert operation.status_code == 200, "GET /graphql?query= must reach the GraphQL endpoint"
    assert operation.json() == {"data": {"__typename": "Query"}}


class _DataAttributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div" and dict(attrs).get("id") == "graphiql":
            self.found = {k: v or "" for k, v in attrs}


async def opening_example(app: Starlette, client: httpx.AsyncClient) -> str:
    page = await client.get("/graphql", headers={"accept": HTML})
    parser = _DataAttributes()
    parser.feed(page.text)
    example = parser.found["data-example"]
    # The example is a valid document of this app's schema.
    assert validate(app.state.graphql.executor.graphql_schema, parse(example)) == []
    return example


def operations(example: str) -> list[str]:
    return [d.name.value for d in parse(example).definitions if isinstance(d, OperationDefinitionNode) and d.name]


async def run_as(client: httpx.AsyncClient, token: str, example: str, operation: str) -> dict[str, Any]:
    body = {"query": example, "operationName": operation}
    result: dict[str, Any] = (
        await client.post("/graphql", json=body, headers={"authorization": f"Bearer {token}"})
    ).json()
    assert "errors" not in result, result
    return result


async def test_the_playground_opens_on_orders_with_a_mutation_sam_may_run_again_and_again(tmp_path: Path) -> None:
    dist = fake_bundle(tmp_path / "dist")
    env = {
        "OBJECTQL_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "OBJECTQL_PLAYGROUND_DIR": str(dist),
        "OBJECTQL_JWT_SECRET": "playground-test-secret-0123456789abcdef",
    }
    app = create_app(SHOP, Settings.load({}, env, app_dir=SHOP))
    async with app.router.lifespan_context(app), client_for(app) as client:
        example = await opening_example(app, client)
        # The README's story is orders: the app's first object with a select and an amount anyone reading it
        # may read (what the dashboard summarises), not the first object by name (customers).
        assert operations(example) == ["ListOrders", "CreateOrders", "OrdersChanged"]
        assert "# Written for sam (sales):" in example
        sam = app.state.policy.authenticator.mint("sam", ["sales"], 60)  # as examples/shop/dev-users.yml
        created = [(await run_as(client, sam, example, "CreateOrders"))["data"]["createOrders"] for _ in range(3)]
        assert len({order["id"] for order in created}) == 3
        listed = (await run_as(client, sam, example, "ListOrders"))["data"]["ordersList"]
        # sam's row rule (owner = $user.id) lets him create only what he may see: he sees what he created.
        assert {order["id"] for order in created} <= {order["id"] for order in listed}
        admin = app.state.policy.authenticator.mint("root", ["admin"], 60)
        await run_as(client, admin, example, "CreateOrders")


async def test_an_init_app_opens_on_tasks_with_a_mutation_its_member_may_run(tmp_path: Path) -> None:
    app_dir = tmp_path / "myapp"
    scaffold(app_dir)
    env = {
        "OBJECTQL_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "OBJECTQL_PLAYGROUND_DIR": str(fake_bundle(tmp_path / "dist")),
        "OBJECTQL_JWT_SECRET": "playground-test-secret-0123456789abcdef",
    }
    app = create_app(app_dir, Settings.load({}, env, app_dir=app_dir))
    async with app.router.lifespan_context(app), client_for(app) as client:
        example = await opening_example(app, client)
        assert operations(example) == ["ListTasks", "CreateTasks", "TasksChanged"]
        member = app.state.policy.authenticator.mint("sam", ["member"], 60)
        for _ in range(2):
            task = (await run_as(client, member, example, "CreateTasks"))["data"]["createTasks"]
            assert task["id"]
