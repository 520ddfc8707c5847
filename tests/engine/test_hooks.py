"""Hooks: order, mutation, rejection, off, wildcard, the context, and after-hooks only after commit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from objectql import Forbidden, HookContext, ObjectQL, User, ValidationError

ORDERS = """
fields:
  status: {type: select, options: [pending, paid], default: pending}
  total:  {type: number}
"""
NOTES = """
fields:
  text: {type: text}
"""


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine({"orders": ORDERS, "notes": NOTES})
    return engine


async def test_hooks_run_in_registration_order_including_wildcards(app: ObjectQL) -> None:
    calls: list[str] = []
    app.on("before:create", "orders", lambda ctx: calls.append("first"))
    app.on("before:create", "*", lambda ctx: calls.append("wildcard"))

    async def third(ctx: HookContext) -> None:
        calls.append("async third")

    app.on("before:create", "orders", third)
    app.on("before:create", "notes", lambda ctx: calls.append("other object"))
    await app.object("orders").create({})
    assert calls == ["first", "wildcard", "async third"]


async def test_before_create_can_mutate_the_data_that_is_stored(app: ObjectQL) -> None:
    def add_total(ctx: HookContext) -> None:
        assert ctx.data is not None
        ctx.data["total"] = 42

    app.on("before:create", "orders", add_total)
    created = await app.object("orders").create({})
    assert created["total"] == 42
    assert (await app.object("orders").find_one(created["id"]) or {})["total"] == 42


async def test_before_update_rejection_writes_nothing(app: ObjectQL) -> None:
    created = await app.object("orders").create({"total": 1})
    seq = await app.current_seq()

    def reject(ctx: HookContext) -> None:
        raise Forbidden("orders are frozen")

    app.on("before:update", "orders", reject)
    with pytest.raises(Forbidden):
        await app.object("orders").update(created["id"], {"total": 2})
    assert (await app.object("orders").find_one(created["id"]) or {})["total"] == 1
    assert await app.current_seq() == seq


async def test_before_create_rejection_leaves_no_row_and_no_event(app: ObjectQL) -> None:
    app.on("before:create", "*", lambda ctx: (_ for _ in ()).throw(ValidationError([])))
    with pytest.raises(ValidationError):
        await app.object("orders").create({"total": 1})
    assert await app.object("orders").count() == 0
    assert await app.current_seq() == 0


async def test_before_find_can_narrow_the_query_and_after_find_can_replace_the_result(app: ObjectQL) -> None:
    await app.object("orders").create({"total": 1})
    await app.object("orders").create({"total": 5})

    def only_big(ctx: HookContext) -> None:
        assert ctx.query is not None
        ctx.query["filters"] = [["total", ">", 2]]

    app.on("before:find", "orders", only_big)
    assert [r["total"] for r in await app.object("orders").find()] == [5]

    def redact(ctx: HookContext) -> None:
        ctx.result = [{"id": r["id"]} for r in ctx.result]

    app.on("after:find", "orders", redact)
    rows = await app.object("orders").find()
    assert rows == [{"id": rows[0]["id"]}]


async def test_before_count_sees_and_changes_the_filters(app: ObjectQL) -> None:
    await app.object("orders").create({"total": 1})
    await app.object("orders").create({"total": 5})
    app.on("before:count", "orders", lambda ctx: ctx.query.update(filters=[["total", "=", 5]]))  # type: ignore[union-attr]
    app.on("after:count", "orders", lambda ctx: setattr(ctx, "result", ctx.result * 10))
    assert await app.object("orders").count() == 10


async def test_off_removes_a_hook_from_every_object_or_from_one(app: ObjectQL) -> None:
    calls: list[str] = []

    def hook(ctx: HookContext) -> None:
        calls.append(ctx.object)

    app.on("after:create", "orders", hook)
    app.on("after:create", "notes", hook)
    app.off("after:create", "orders", hook)
    await app.object("orders").create({})
    await app.object("notes").create({})
    assert calls == ["notes"]
    app.on("after:create", "*", hook)
    app.off("after:create", hook)
    await app.object("orders").create({})
    await app.object("notes").create({})
    assert calls == ["notes"]


async def test_unknown_hook_event_is_refused(app: ObjectQL) -> None:
    with pytest.raises(ValueError):
        app.on("during:create", "orders", lambda ctx: None)


async def test_hook_context_carries_action_user_previous_state_api_and_seq(app: ObjectQL) -> None:
    seen: dict[str, Any] = {}

    def before(ctx: HookContext) -> None:
        ctx.state["marker"] = "from before"
        seen["before"] = (ctx.action, ctx.object, ctx.id, dict(ctx.data or {}), ctx.previous["total"])  # type: ignore[index]

    async def after(ctx: HookContext) -> None:
        seen["after"] = (ctx.state["marker"], ctx.result["total"], ctx.seq, ctx.user)
        seen["api"] = await ctx.api.object("orders").count()

    user = User("sam", ("admin",))
    created = await app.context(user).object("orders").create({"total": 1})
    app.on("before:update", "orders", before)
    app.on("after:update", "orders", after)
    await app.context(user).object("orders").update(created["id"], {"total": 2})
    assert seen["before"] == ("update", "orders", created["id"], {"total": 2}, 1)
    assert seen["after"] == ("from before", 2, await app.current_seq(), user)
    assert seen["api"] == 1


async def test_after_create_runs_after_commit_and_sees_the_committed_row(app: ObjectQL) -> None:
    seen: list[Any] = []

    async def after(ctx: HookContext) -> None:
        # A fresh connection: only committed data is visible to it.
        async with app.sql_engine.connect() as conn:
            from sqlalchemy import select

            table = app.tables["orders"]
            seen.append((await conn.execute(select(table.c.id).where(table.c.id == ctx.id))).scalar())

    app.on("after:create", "orders", after)
    created = await app.object("orders").create({})
    assert seen == [created["id"]]


async def test_after_hooks_never_see_a_rolled_back_transaction(app: ObjectQL) -> None:
    after_calls: list[str] = []
    app.on("after:create", "*", lambda ctx: after_calls.append(ctx.id or ""))
    with pytest.raises(RuntimeError):
        async with app.transaction() as tx:
            await tx.object("orders").create({"total": 1})
            await tx.object("notes").create({"text": "x"})
            assert after_calls == []  # held until the commit
            raise RuntimeError("boom")
    assert after_calls == []
    assert await app.object("orders").count() == 0
    assert await app.object("notes").count() == 0
    assert await app.events(after=0) == []


async def test_transaction_releases_after_hooks_in_order_on_commit(app: ObjectQL) -> None:
    after_calls: list[tuple[str, int | None]] = []
    app.on("after:create", "*", lambda ctx: after_calls.append((ctx.object, ctx.seq)))
    async with app.transaction() as tx:
        await tx.object("orders").create({"total": 1})
        await tx.object("notes").create({"text": "x"})
        assert after_calls == []
    assert after_calls == [("orders", 1), ("notes", 2)]


async def test_before_hook_api_joins_the_running_transaction(app: ObjectQL) -> None:
    async def audit(ctx: HookContext) -> None:
        await ctx.api.object("notes").create({"text": f"order {ctx.data}"})

    app.on("before:create", "orders", audit)
    with pytest.raises(RuntimeError):
        async with app.transaction() as tx:
            await tx.object("orders").create({"total": 3})
            raise RuntimeError("undo")
    assert await app.object("notes").count() == 0
    await app.object("orders").create({"total": 4})
    assert await app.object("notes").count() == 1


async def test_an_exception_in_an_after_hook_is_logged_not_raised(
    app: ObjectQL, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctx: HookContext) -> None:
        raise RuntimeError("after hook broke")

    app.on("after:create", "orders", broken)
    with caplog.at_level(logging.ERROR, logger="objectql.hooks"):
        created = await app.object("orders").create({"total": 1})
    assert created["total"] == 1
    assert any("after:create" in r.getMessage() for r in caplog.records)
