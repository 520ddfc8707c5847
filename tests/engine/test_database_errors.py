"""A database that cannot be reached is a typed, stable error, and no error carries SQL or driver text; a write
whose connection is lost before its COMMIT was sent is run again once on a fresh connection."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from objectql import InvalidRequest, ObjectQL, ObjectQLError, Unavailable
from objectql.engine import HookContext
from tests.conftest import own_postgres_database, terminate_backends, write_objects

NOTES = """
fields:
  text: {type: text}
"""
NOTES_BY_TITLE = """
fields:
  title: {type: text, unique: true}
"""


async def test_an_unreachable_postgresql_is_unavailable(tmp_path: Path) -> None:
    app = ObjectQL(write_objects(tmp_path, {"notes": NOTES}), "postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(Unavailable) as info:
        await app.init()
    assert info.value.code == "UNAVAILABLE"
    assert "127.0.0.1" not in info.value.message and "connect" not in info.value.message.lower()


async def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with pytest.raises(Unavailable):
        await ObjectQL(write_objects(tmp_path, {"notes": NOTES}), url).init()


async def test_using_the_engine_before_init_is_a_clear_error(tmp_path: Path) -> None:
    app = ObjectQL(write_objects(tmp_path, {"notes": NOTES}), "sqlite:///unused.db")
    with pytest.raises(InvalidRequest) as info:
        app.object("notes")
    assert "init()" in info.value.message


async def _created_once_each(app: ObjectQL, created: list[dict[str, Any]]) -> None:
    """Every created record is in the table exactly once, with exactly one create event in the outbox."""
    rows = await app.object("notes").find(limit=1000)
    by_title = Counter(row["title"] for row in rows)
    events = Counter(e.id for e in await app.events(limit=10_000) if e.action == "create")
    assert all(count == 1 for count in by_title.values()), by_title  # nothing was written twice
    for record in created:
        assert by_title[record["title"]] == 1
        assert events[record["id"]] == 1


async def test_writes_whose_backends_are_terminated_mid_burst_succeed_once_or_are_unavailable(
    tmp_path: Path,
) -> None:
    async with (
        own_postgres_database("terminated") as url,
        ObjectQL(write_objects(tmp_path, {"notes": NOTES_BY_TITLE}), url) as app,
    ):
        attempts: Counter[str] = Counter()
        terminated: list[int] = []

        async def count_attempts(ctx: HookContext) -> None:
            title = ctx.data["title"]
            attempts[title] += 1
            if title == "w100" and attempts[title] == 1:
                # Every backend goes while this write's transaction and dozens of others are open.
                terminated.append(await terminate_backends(url))

        app.on("before:create", "notes", count_attempts)

        async def write(i: int) -> dict[str, Any] | ObjectQLError:
            try:
                return await app.object("notes").create({"title": f"w{i}"})
            except ObjectQLError as exc:
                return exc

        results = await asyncio.gather(*(write(i) for i in range(200)))
        assert terminated and terminated[0] > 1
        failed = [r for r in results if isinstance(r, ObjectQLError)]
        assert [r.code for r in failed] == ["UNAVAILABLE"] * len(failed)
        retried = next(r for r in results if isinstance(r, dict) and r["title"] == "w100")
        assert attempts["w100"] == 2 and retried["title"] == "w100"
        await _created_once_each(app, [r for r in results if isinstance(r, dict)])


async def test_the_pool_hands_out_no_connection_the_server_closed(tmp_path: Path) -> None:
    async with (
        own_postgres_database("closed_idle") as url,
        ObjectQL(write_objects(tmp_path, {"notes": NOTES_BY_TITLE}), url) as app,
    ):
        attempts: Counter[str] = Counter()

        async def count_attempts(ctx: HookContext) -> None:
            attempts[ctx.data["title"]] += 1

        app.on("before:create", "notes", count_attempts)
        notes = app.object("notes")
        await asyncio.gather(*(notes.create({"title": f"warm{i}"}) for i in range(20)))  # a full pool
        assert await terminate_backends(url) >= 10
        for _ in range(20):
            await asyncio.sleep(0)  # the event loop reads the closed sockets
        created = [await notes.create({"title": f"after{i}"}) for i in range(20)]
        assert {title: n for title, n in attempts.items() if title.startswith("after")} == {
            f"after{i}": 1 for i in range(20)
        }  # no write met a dead connection, so none was run again
        await _created_once_each(app, created)
