"""``/health/ready`` on a real ``objectql serve``: 503 with the reason when its database could not take a write
— the SQLite file deleted or replaced, the file write-locked by another process, a read-only PostgreSQL — and
writes to a deleted SQLite file fail ``UNAVAILABLE`` instead of vanishing."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import own_postgres_database, terminate_backends
from tests.realtime.served import start_server, token
from tests.scaleout.conftest import Process

NOTES = "fields:\n  title: {type: text}\n"
HEADERS = {"Authorization": f"Bearer {token('writer', ['admin'])}"}


@pytest.fixture
def served_file(tmp_path: Path) -> Iterator[tuple[Process, Path]]:
    """A server on a SQLite file, with one note written; the file's path."""
    path = tmp_path / "app.db"
    server = start_server(tmp_path, f"sqlite:///{path}", {"notes": NOTES}, OBJECTQL_READY_TIMEOUT="200")
    try:
        assert "errors" not in create(server, "before")
        yield server, path
    finally:
        server.kill()
    assert "Traceback" not in server.log.read_text()


def create(server: Process, title: str) -> dict[str, Any]:
    query = f'mutation {{ createNotes(input: {{title: "{title}"}}) {{ id }} }}'
    body: dict[str, Any] = httpx.post(f"{server.http}/graphql", json={"query": query}, headers=HEADERS).json()
    return body


def ready(server: Process) -> httpx.Response:
    return httpx.get(f"{server.http}/health/ready", timeout=10)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def titles(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT title FROM notes ORDER BY title")]


def test_a_deleted_sqlite_file_makes_ready_503_and_writes_unavailable(served_file: tuple[Process, Path]) -> None:
    server, path = served_file
    assert ready(server).json() == {"status": "ok"}
    os.unlink(path)
    response = ready(server)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "the database file is gone"}
    assert codes(create(server, "after")) == ["UNAVAILABLE"]
    assert ready(server).status_code == 503


def test_a_replaced_sqlite_file_makes_ready_503_and_writes_unavailable(served_file: tuple[Process, Path]) -> None:
    server, path = served_file
    shutil.copy(path, path.with_suffix(".copy"))
    os.replace(path.with_suffix(".copy"), path)  # the same name, another file
    response = ready(server)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "the database file was replaced"}
    assert codes(create(server, "after")) == ["UNAVAILABLE"]
    assert titles(path) == ["before"]


def test_a_sqlite_file_write_locked_by_another_process_makes_ready_503_until_released(
    served_file: tuple[Process, Path],
) -> None:
    server, path = served_file
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        response = ready(server)
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "reason": "the database is locked by another writer"}
        other.execute("ROLLBACK")
        assert ready(server).json() == {"status": "ok"}
    finally:
        other.close()
    assert "errors" not in create(server, "after")
    assert titles(path) == ["after", "before"]


async def test_a_read_only_postgresql_makes_ready_503_until_it_takes_writes_again(tmp_path: Path) -> None:
    async with own_postgres_database("read_only") as url:
        server = start_server(tmp_path, url, {"notes": NOTES})
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        name = dsn.rpartition("/")[2]
        try:
            assert ready(server).json() == {"status": "ok"}
            admin = await asyncpg.connect(dsn.rpartition("/")[0] + "/postgres")
            try:
                await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
                await terminate_backends(url)  # new sessions start read-only
                response = ready(server)
                assert response.status_code == 503
                assert response.json() == {"status": "unavailable", "reason": "the database is read-only"}
                await admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
                await terminate_backends(url)
                assert ready(server).json() == {"status": "ok"}
            finally:
                await admin.close()
        finally:
            server.kill()
