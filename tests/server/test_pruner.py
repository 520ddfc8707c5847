"""The outbox pruner: deletes events past retention, keeps the newest, and is owned (stop awaits it)."""

from __future__ import annotations

from pathlib import Path

from objectql import ObjectQL
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
