"""The outbox pruner: deletes events past retention, keeps the newest, and is owned (stop awaits it)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from objectql import ObjectQL, Unavailable
from objectql.server.pruner import MAX_INTERVAL, OutboxPruner, prune_interval
from tests.conftest import write_objects


async def test_run_once_deletes_events_older_than_retention_but_keeps_the_newest(
    tmp_path: Path, database_url: str
) -> None:
    app_dir = write_objects(tmp_path / "app", {"notes": "fields:\n  title: {type: text}\n"})
    async with ObjectQL(app_dir, database_url, outbox_retention=0) as app:
        for title in ("a", "b", "c"):
            await app.object("notes").create({"title": title})
        assert await OutboxPruner(app).run_once() == 2
        assert [e.seq for e in await app.events()] == [3]
        assert await app.current_seq() == 3


async def test_stop_cancels_and_awaits_the_task(tmp_path: Path) -> None:
    app_dir = write_objects(tmp_path / "app", {"notes": "fields:\n  title: {type: text}\n"})
    async with ObjectQL(app_dir, f"sqlite:///{tmp_path / 'x.db'}") as app:
        pruner = OutboxPruner(app, interval=3600)
        pruner.start()
        task = pruner._task
        assert task is not None
        await pruner.stop()
        assert task.done()
        await pruner.stop()  # idempotent


def test_interval_is_a_tenth_of_retention_capped_at_an_hour() -> None:
    assert prune_interval(600) == 60
    assert prune_interval(86400) == MAX_INTERVAL
    assert prune_interval(1) == 1


async def test_pruning_under_sustained_sqlite_writes_takes_the_writer_path_and_logs_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="objectql")
    app_dir = write_objects(tmp_path / "app", {"notes": "fields:\n  title: {type: text}\n"})
    async with ObjectQL(app_dir, f"sqlite:///{tmp_path / 'load.db'}", outbox_retention=0.2) as app:
        notes = app.object("notes")
        pruner = OutboxPruner(app, interval=0.01, batch=20)
        written = 0

        async def writer() -> None:
            # Writes until the pruner has deleted a few hundred events behind them (or the test times out).
            nonlocal written
            while (await app.oldest_seq() or 0) < 300:
                await notes.create({"title": "x"})
                written += 1

        pruner.start()
        try:
            await asyncio.wait_for(asyncio.gather(*(writer() for _ in range(8))), 120)
        finally:
            await pruner.stop()
        assert await notes.count() == written  # every write succeeded and is there
        await asyncio.sleep(0.25)  # every event is now older than the retention
        await pruner.run_once()
        assert [e.seq for e in await app.events()] == [await app.current_seq()]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_pruning_deletes_in_batches_each_in_its_own_transaction(tmp_path: Path, database_url: str) -> None:
    app_dir = write_objects(tmp_path / "app", {"notes": "fields:\n  title: {type: text}\n"})
    async with ObjectQL(app_dir, database_url, outbox_retention=0) as app:
        for i in range(11):
            await app.object("notes").create({"title": str(i)})
        steps: list[str] = []

        def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("DELETE"):
                steps.append(f"delete {cursor.rowcount}")

        def committed(conn: Any) -> None:
            steps.append("commit")

        sync_engine = app.sql_engine.sync_engine
        sqlalchemy.event.listen(sync_engine, "after_cursor_execute", executed)
        sqlalchemy.event.listen(sync_engine, "commit", committed)
        assert await app.prune_events(batch=4) == 10
        sqlalchemy.event.remove(sync_engine, "after_cursor_execute", executed)
        sqlalchemy.event.remove(sync_engine, "commit", committed)
        assert steps == ["delete 4", "commit", "delete 4", "commit", "delete 2", "commit"]
        assert [e.seq for e in await app.events()] == [11]


async def test_a_failing_prune_warns_once_per_outage_and_says_when_it_works_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG, logger="objectql.server")
    app_dir = write_objects(tmp_path / "app", {"notes": "fields:\n  title: {type: text}\n"})
    async with ObjectQL(app_dir, f"sqlite:///{tmp_path / 'x.db'}") as app:
        pruner = OutboxPruner(app, interval=3600)
        working = app.prune_events

        async def refused(retention: float | None = None, *, batch: int = 0) -> int:
            raise Unavailable("the database is unavailable; try again")

        def reports() -> list[tuple[int, str]]:
            return [(r.levelno, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]

        monkeypatch.setattr(app, "prune_events", refused)
        for _ in range(3):
            await pruner.tick()
        assert [level for level, _ in reports()] == [logging.WARNING]
        assert "pruning failed" in reports()[0][1]
        monkeypatch.setattr(app, "prune_events", working)
        await pruner.tick()
        await pruner.tick()
        assert [level for level, _ in reports()] == [logging.WARNING, logging.INFO]
        assert "again" in reports()[1][1]
        monkeypatch.setattr(app, "prune_events", refused)
        await pruner.tick()
        assert [level for level, _ in reports()] == [logging.WARNING, logging.INFO, logging.WARNING]
