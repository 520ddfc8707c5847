"""Shared fixtures: every engine test runs against real SQLite and real PostgreSQL.

PostgreSQL comes from ``OBJECTQL_TEST_POSTGRES_URL`` (default: the local server, database
``objectql_test``, created when missing with an ICU ``en-US`` default collation). When it does not
answer, tests that need it fail in CI (``CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from objectql import ObjectQL
from tests.unavailable import unavailable

POSTGRES_URL = os.environ.get(
    "OBJECTQL_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/objectql_test"
)
DATABASES = ("sqlite", "postgresql")

_pg_state: dict[str, str | None] = {}


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _prepare_postgres() -> str | None:
    """Create the test database when missing; returns a reason when PostgreSQL is unusable."""
    import asyncpg

    dsn = _dsn(POSTGRES_URL)
    base, _, dbname = dsn.rpartition("/")
    try:
        conn = await asyncpg.connect(f"{base}/postgres", timeout=5)
    except Exception as exc:  # any failure to connect means "not available"
        return f"PostgreSQL not answering at {base}: {type(exc).__name__}"
    try:
        provider = await conn.fetchval("SELECT datlocprovider FROM pg_database WHERE datname = $1", dbname)
        if provider != "i":
            # A linguistic (ICU) default collation, where "a" < "B": code-point semantics must not
            # depend on the database's collation, and this makes the tests prove it.
            await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            await conn.execute(
                f"CREATE DATABASE \"{dbname}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
    finally:
        await conn.close()
    return None


async def reset_postgres() -> None:
    import asyncpg

    conn = await asyncpg.connect(_dsn(POSTGRES_URL), timeout=5)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def _run_apart(factory: Callable[[], Awaitable[str | None]]) -> str | None:
    """Run a probe on its own loop in a thread: callers may already be inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()  # type: ignore[arg-type]


def require_postgres() -> None:
    if "reason" not in _pg_state:
        _pg_state["reason"] = _run_apart(_prepare_postgres)
    reason = _pg_state["reason"]
    if reason is not None:
        unavailable("PostgreSQL", reason)


@asynccontextmanager
async def own_postgres_database(suffix: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database that only this test uses (so it may terminate every backend on it), dropped
    afterwards; yields its URL. Fails in CI and skips elsewhere when PostgreSQL does not answer."""
    import asyncpg

    require_postgres()
    base, _, dbname = _dsn(POSTGRES_URL).rpartition("/")
    name = f"{dbname}_{suffix}"
    admin = await asyncpg.connect(f"{base}/postgres", timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{POSTGRES_URL.rpartition('/')[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def terminate_backends(url: str) -> int:
    """Terminate every server process connected to ``url``'s database (as an administrator would); returns how
    many were terminated, once the server has let them go."""
    import asyncpg

    base, _, name = _dsn(url).rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres", timeout=5)
    try:
        terminated = await admin.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    return int(terminated)


REDIS_URL = os.environ.get("OBJECTQL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_redis_state: dict[str, str | None] = {}


async def _probe_redis() -> str | None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:  # any failure means "not available"
        return f"Redis not answering at {REDIS_URL}: {type(exc).__name__}"
    finally:
        await client.aclose()  # type: ignore[no-untyped-call]
    return None


def require_redis() -> None:
    """Fail in CI, skip elsewhere, when Redis does not answer."""
    if "reason" not in _redis_state:
        _redis_state["reason"] = _run_apart(_probe_redis)
    reason = _redis_state["reason"]
    if reason is not None:
        unavailable("Redis", reason)


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    """The name of the database under test: each engine test runs once per database."""
    if request.param == "postgresql":
        require_postgres()
    return str(request.param)


@pytest.fixture
async def database_url(database: str, tmp_path: Path) -> str:
    if database == "postgresql":
        await reset_postgres()
        return POSTGRES_URL
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


# The permissions most tests use: `cost` readable by admins only, sales users see their own rows.
OWNER_ROWS_HIDDEN_COST = """permissions:
  fields:
    cost: {read: [admin]}
  rows:
    - roles: [sales]
      filters: [["owner", "=", "$user.id"]]
"""


def fresh_database_url(database: str, tmp_path: Path, name: str) -> str:
    """An empty database of kind ``database`` for a test that runs its own event loop (property tests)."""
    if database == "postgresql":
        asyncio.run(reset_postgres())
        return POSTGRES_URL
    return f"sqlite+aiosqlite:///{tmp_path / name}"


def write_objects(directory: Path, objects: dict[str, str]) -> Path:
    """Write ``{name: yaml}`` as ``directory/objects/<name>.object.yml``; returns ``directory``."""
    objects_dir = directory / "objects"
    objects_dir.mkdir(parents=True, exist_ok=True)
    for name, body in objects.items():
        (objects_dir / f"{name}.object.yml").write_text(textwrap.dedent(body), encoding="utf-8")
    return directory


EngineFactory = Callable[..., Awaitable[ObjectQL]]


@pytest.fixture
async def make_engine(database_url: str, tmp_path: Path) -> AsyncIterator[EngineFactory]:
    """``await make_engine({name: yaml}, **options)``: an initialised engine, closed after the test."""
    opened: list[ObjectQL] = []

    async def factory(objects: dict[str, str], **options: object) -> ObjectQL:
        app_dir = write_objects(tmp_path / f"app{len(opened)}", objects)
        app = ObjectQL(app_dir, database_url, **options)  # type: ignore[arg-type]
        await app.init()
        opened.append(app)
        return app

    yield factory
    for app in opened:
        await app.close()
