"""The live dashboard at ``/`` and its read endpoint ``/api/dashboard/{object}``, on the shop example.

The shop's orders are readable by anyone, hide ``note`` from all but admin and sales, and show sales users
only their own rows; customers are readable by admin and sales only.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from objectql import ObjectQL
from objectql.metadata.loader import load_file
from objectql.metadata.registry import Registry
from objectql.server.app import create_app
from objectql.server.dashboard import _script_json, choose_object, top_of
from objectql.server.settings import Settings
from tests.conftest import write_objects

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
SECRET = "dashboard-test-secret-0123456789abcdef"


@asynccontextmanager
async def running(app_dir: Path, database_url: str, **env: str) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    """The app between start-up and shutdown, with an in-process client."""
    settings = Settings.load({}, {"OBJECTQL_DATABASE_URL": database_url, **env}, app_dir=app_dir)
    app = create_app(app_dir, settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=10) as client,
    ):
        yield app, client


def token(app: Starlette, sub: str, roles: list[str]) -> dict[str, str]:
    minted = app.state.policy.authenticator.mint(sub, roles, 3600)
    return {"Authorization": f"Bearer {minted}"}


def config_of(page: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="objectql-config">(.*?)</script>', page, re.S)
    assert match is not None
    config: dict[str, object] = json.loads(match.group(1))
    return config


# -- the page -------------------------------------------------------------------------------------


NAMES_EXPAND = {"customer": {"fields": ["name"]}, "product": {"fields": ["name"]}}


async def test_root_serves_the_dashboard_with_eventsource_code_and_api_pointers(database_url: str) -> None:
    async with running(SHOP, database_url) as (_, client):
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "new EventSource(" in page
    for event in ('"change"', '"reset"', '"error"'):
        assert f"addEventListener({event}" in page
    for pointer in ("/graphql", "/api/realtime", "/api/events/", "/health"):
        assert pointer in page
    config = config_of(page)
    summary = config.pop("aggregate")
    top = config.pop("top")
    names = config.pop("names")
    assert config == {
        "object": "orders",
        "label": "Order",
        "objects": ["customers", "lines", "orders", "products"],
        "events": "/api/events/orders",
        # The same stream with each lookup's name nested, so a renamed customer arrives as a related change.
        "named_events": "/api/events/orders?" + urlencode({"expand": json.dumps(NAMES_EXPAND, separators=(",", ":"))}),
        "read": "/api/dashboard/orders",
        "graphql": "/graphql",
        "limit": 100,
    }
    # Lookups show their record's name, read through <field>_ref by the page as its reader.
    assert names == {
        "fields": {"customer": "name", "product": "name"},
        "list": "ordersList",
        "query": "query DashboardNames($ids: [String!]) { ordersList(where: {id: {in: $ids}}, limit: 100) "
        "{ id customer_ref { id name } product_ref { id name } } }",
        "batch": 100,
        "expand": NAMES_EXPAND,
    }
    # The live summary: orders counted and totalled per status, a live aggregate over SSE.
    assert summary == {
        "group_by": "status",
        "sum": "total",
        "group_label": "Status",
        "sum_label": "Total",
        "events": "/api/events/orders?aggregate=%7B%22count%22%3Atrue%2C%22sum%22%3A%5B%22total%22%5D%7D"
        "&group_by=status",
    }
    assert 'addEventListener("aggregate"' in page
    # The top orders: a live window over SSE, the five largest totals with their customer and status.
    assert top == {
        "sort": "total",
        "limit": 5,
        "fields": [
            {"name": "customer", "label": "Customer", "type": "lookup"},
            {"name": "status", "label": "Status", "type": "select"},
            {"name": "total", "label": "Total", "type": "currency"},
        ],
        "events": "/api/events/orders?sort=total%3Adesc&limit=5&fields=customer%2Cstatus%2Ctotal",
    }
    assert 'addEventListener("snapshot"' in page


async def test_the_page_loads_no_external_assets(database_url: str) -> None:
    async with running(SHOP, database_url) as (_, client):
        page = (await client.get("/")).text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", page)
    assert '<link rel="stylesheet"' not in page


async def test_the_page_renders_server_data_as_text_only(database_url: str) -> None:
    async with running(SHOP, database_url) as (_, client):
        page = (await client.get("/")).text
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in page, sink
    assert ".textContent =" in page


async def test_only_the_pages_own_inline_script_and_style_may_run(database_url: str) -> None:
    async with running(SHOP, database_url) as (_, client):
        first = await client.get("/")
        second = await client.get("/")
    policy = first.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce is not None
    assert f"style-src 'nonce-{nonce.group(1)}'" in policy and "connect-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert first.text.count(f'nonce="{nonce.group(1)}"') == 2  # the one <script> and the one <style>
    assert nonce.group(1) not in second.headers["content-security-policy"]  # a fresh nonce per response


async def test_object_query_parameter_picks_the_object_and_an_unknown_one_is_404(database_url: str) -> None:
    async with running(SHOP, database_url) as (_, client):
        products = await client.get("/", params={"object": "products"})
        unknown = await client.get("/", params={"object": "nope"})
    assert config_of(products.text)["events"] == "/api/events/products"
    assert unknown.status_code == 404


async def test_without_an_orders_object_the_page_shows_the_first_object(database_url: str, tmp_path: Path) -> None:
    app_dir = write_objects(tmp_path / "app", {"tickets": "fields:\n  title: {type: text}\n"})
    async with running(app_dir, database_url) as (_, client):
        page = (await client.get("/")).text
    assert config_of(page)["object"] == "tickets"


def test_the_top_rows_need_an_amount_every_reader_may_read(tmp_path: Path) -> None:
    fields = "fields:\n  title: {type: text}\n  hours: {type: number}\n"
    directory = write_objects(
        tmp_path,
        {
            "plain": fields,
            "guarded": fields + "permissions:\n  fields:\n    hours: {read: [admin]}\n",
            "without": "fields:\n  title: {type: text}\n",
        },
    )
    plain, guarded, without = (
        load_file(directory / "objects" / f"{n}.object.yml") for n in ("plain", "guarded", "without")
    )
    top = top_of(plain)
    assert top is not None and top["sort"] == "hours"
    assert [f["name"] for f in top["fields"]] == ["title", "hours"]
    assert top["events"] == "/api/events/plain?sort=hours%3Adesc&limit=5&fields=title%2Chours"
    assert top_of(guarded) is None and top_of(without) is None


def test_object_choice_prefers_the_request_then_the_featured_object(tmp_path: Path) -> None:
    shop = Registry.from_directory(SHOP)
    assert choose_object(shop, None) == "orders"  # customers has no select and no amount
    assert choose_object(shop, "customers") == "customers"
    assert choose_object(shop, "missing") is None
    assert choose_object(Registry(), None) is None
    plain = write_objects(tmp_path, {"b": "fields:\n  x: {type: text}\n", "a": "fields:\n  y: {type: number}\n"})
    assert choose_object(Registry.from_directory(plain), None) == "a"  # no such shape: the first by name


def test_config_json_cannot_close_its_script_element() -> None:
    text = _script_json({"x": "</script><!-- & -->"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><!-- & -->"}


# -- the read endpoint ----------------------------------------------------------------------------


async def test_read_endpoint_returns_newest_orders_first_with_the_seq_read_before_them(database_url: str) -> None:
    async with running(SHOP, database_url) as (app, client):
        engine: ObjectQL = app.state.engine
        await engine.object("orders").create({"id": "ord_new", "customer": "cus_ada", "total": 1})
        response = await client.get("/api/dashboard/orders")
        seq = await engine.current_seq()
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "orders" and body["seq"] == seq
    records = body["records"]
    assert len(records) == 6 and records[0]["id"] == "ord_new"
    created = [r["created_at"] for r in records]
    assert created == sorted(created, reverse=True)
    assert records[0]["created_at"].endswith("Z")


async def test_read_endpoint_never_returns_a_hidden_field(database_url: str) -> None:
    async with running(SHOP, database_url) as (_, client):
        body = (await client.get("/api/dashboard/orders")).json()
    names = [f["name"] for f in body["fields"]]
    assert "note" not in names and names[0] == "id" and "placed_at" in names
    assert {"name": "placed_at", "label": "Placed at", "type": "datetime"} in body["fields"]
    assert all("note" not in record for record in body["records"])
    assert len(body["records"]) == 5


async def test_read_endpoint_applies_the_bearer_users_row_rules_and_field_permissions(database_url: str) -> None:
    async with running(SHOP, database_url, OBJECTQL_JWT_SECRET=SECRET) as (app, client):
        sam = (await client.get("/api/dashboard/orders", headers=token(app, "sam", ["sales"]))).json()
        admin = (await client.get("/api/dashboard/orders", headers=token(app, "root", ["admin"]))).json()
        clerk = (await client.get("/api/dashboard/orders", headers=token(app, "bob", ["clerk"]))).json()
    assert {r["owner"] for r in sam["records"]} == {"sam"} and len(sam["records"]) == 3
    assert "note" in sam["records"][0] and "note" in [f["name"] for f in sam["fields"]]
    assert len(admin["records"]) == 5
    assert len(clerk["records"]) == 5 and all("note" not in r for r in clerk["records"])


async def test_read_endpoint_nests_the_names_its_reader_may_read(database_url: str) -> None:
    async with running(SHOP, database_url, OBJECTQL_JWT_SECRET=SECRET) as (app, client):
        sam = (await client.get("/api/dashboard/orders", headers=token(app, "sam", ["sales"]))).json()
        clerk = (await client.get("/api/dashboard/orders", headers=token(app, "bob", ["clerk"]))).json()
        engine = app.state.engine
        customers = {c["id"]: c["name"] for c in await engine.object("customers").find()}
    # sales read customers: each order carries its customer's name (what a rename's related change updates)
    assert sam["records"] and all(r["customer_ref"]["name"] == customers[r["customer"]] for r in sam["records"])
    # a clerk may not read customers: no customer nested, products (readable by all) still are
    assert all("customer_ref" not in r and r["product_ref"] is not None for r in clerk["records"] if r["product"])


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/api/dashboard/customers", {}, 401, "UNAUTHENTICATED"),
        ("/api/dashboard/orders", {"Authorization": "Bearer not-a-jwt"}, 401, "UNAUTHENTICATED"),
        ("/api/dashboard/customers", "clerk", 403, "FORBIDDEN"),
        ("/api/dashboard/nope", "clerk", 404, "NOT_FOUND"),
    ],
)
async def test_read_endpoint_refusals_on_a_server_with_a_key(
    database_url: str, path: str, headers: dict[str, str] | str, status: int, code: str
) -> None:
    async with running(SHOP, database_url, OBJECTQL_JWT_SECRET=SECRET) as (app, client):
        sent = token(app, "bob", ["clerk"]) if headers == "clerk" else headers
        assert isinstance(sent, dict)
        response = await client.get(path, headers=sent)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
