"""A fresh PostgreSQL database per run (dropped and re-created), and a check that URLs stay on 127.0.0.1."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/objectql_bench"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def require_local(url: str) -> str:
    """``url`` itself, or ``SystemExit`` if it points anywhere but this machine (benchmarks stay local)."""
    host = urlsplit(url).hostname
    if host not in LOCAL_HOSTS:
        raise SystemExit(f"benchmarks only talk to 127.0.0.1, not {host!r} ({url.split('@')[-1]})")
    return url


def _split(url: str) -> tuple[str, str]:
    """(the ``postgres`` maintenance database's URL, the benchmark database's name)."""
    parts = urlsplit(require_local(url))
    name = parts.path.lstrip("/")
    # Only a plain lower-case identifier: the name is written into DROP / CREATE DATABASE as is.
    if not _NAME.fullmatch(name) or name in {"postgres", "template0", "template1"}:
        raise SystemExit(f"expected a benchmark database name like objectql_bench, not {name!r}")
    return urlunsplit(parts._replace(path="/postgres")), name


async def recreate(url: str) -> None:
    """Drop the database ``url`` names (closing its connections) and create it empty."""
    admin, name = _split(url)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop(url: str) -> None:
    """Drop the database ``url`` names, if it exists."""
    admin, name = _split(url)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
