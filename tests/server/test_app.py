"""The app factory: lifespan (engine, seed, open-server warning) and ``GET /health``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from objectql import ObjectQL
from objectql.server.app import create_app
from objectql.server.settings import Settings
from tests.conftest import write_objects

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
SECRET = "a-secret-that-must-never-be-logged"


def settings_for(tmp_path: Path, **env: str) -> Settings:
    environ = {"OBJECTQL_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", **env}
    return Settings.load({}, environ)


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@asynccontextmanager
async def running(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app between its start-up and shutdown, with a client talking to it in-process."""
    async with app.router.lifespan_context(app), client_for(app) as client:
        yield client


async def test_health_is_ok_once_started_and_the_engine_is_on_app_state(tmp_path: Path) -> None:
    app = create_app(SHOP, settings_for(tmp_path))
    async with running(app) as client:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert isinstance(app.state.engine, ObjectQL)


async def test_health_is_unavailable_before_start_up(tmp_path: Path) -> None:
    app = create_app(SHOP, settings_for(tmp_path))
    async with client_for(app) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "the server is starting"}


async def test_start_up_loads_the_seed_data(tmp_path: Path) -> None:
    app = create_app(SHOP, settings_for(tmp_path))
    async with running(app):
        engine: ObjectQL = app.state.engine
        ada = await engine.object("customers").find_one("cus_ada")
        assert ada is not None and ada["owner"] == "sam"
        assert await engine.object("orders").count() == 5


async def test_shutdown_closes_the_engine_and_health_turns_unavailable(tmp_path: Path) -> None:
    app = create_app(SHOP, settings_for(tmp_path))
    async with running(app):
        engine: ObjectQL = app.state.engine
    assert app.state.engine is None
    async with client_for(app) as client:
        assert (await client.get("/health")).status_code == 503
    with pytest.raises(Exception, match="not initialised"):
        _ = engine.sql_engine


async def test_without_a_jwt_key_the_server_warns_that_it_runs_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="objectql")
    app = create_app(SHOP, settings_for(tmp_path))
    async with running(app):
        assert app.state.engine.allow_anonymous is True
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "OPEN" in r.getMessage()]
    assert len(warnings) == 1


async def test_with_a_jwt_key_the_server_is_closed_and_never_logs_the_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = create_app(SHOP, settings_for(tmp_path, OBJECTQL_JWT_SECRET=SECRET))
    async with running(app):
        assert app.state.engine.allow_anonymous is False
    assert not any("OPEN" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text


async def test_a_broken_seed_record_fails_start_up(tmp_path: Path) -> None:
    app_dir = write_objects(tmp_path / "app", {"notes": "fields:\n  title: {type: text, required: true}\n"})
    (app_dir / "seed.yml").write_text("notes:\n  - {id: n1}\n", encoding="utf-8")
    app = create_app(app_dir, settings_for(tmp_path))
    with pytest.raises(Exception, match=r"notes\[0\]"):
        async with running(app):
            pass
