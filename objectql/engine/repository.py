"""The repository of one object under one user: find, find_one, count, create, update, delete.

Permissions are enforced here, so every transport inherits them: the object's CRUD roles, field read
and update roles, and row rules (added to every read and checked on every write's result).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, func, or_, select

from objectql.engine.aggregates import aggregate_rows, parse_aggregate
from objectql.engine.dependents import plan_delete
from objectql.engine.derived import Derived
from objectql.engine.events import PendingEvent
from objectql.engine.expand import RecordExpander, check_expand, expand_records, needs
from objectql.engine.filters.ast import FALSE, TRUE, Criterion, Node, Op, conjoin, has_relations
from objectql.engine.filters.matcher import compile_matcher
from objectql.engine.filters.parse import AllOf, FieldGuard, Links, forbid_unreadable, parse_filter
from objectql.engine.filters.sql import compile_sql
from objectql.engine.hooks import HookContext
from objectql.engine.ids import is_id, new_id, no_such_id
from objectql.engine.permissions import reader_links
from objectql.engine.query import order_by, parse_fields, parse_page, parse_paging, parse_sort
from objectql.engine.related import children_statement, chunks, counts_statement
from objectql.engine.statements import ROW_ID, Record, stored_row, writes
from objectql.engine.summaries import initial_values
from objectql.engine.unit import Scope, SharedScope, Unit
from objectql.engine.validation import (
    FieldErrors,
    check_keys,
    error_list,
    is_blank,
    normalise_field,
)
from objectql.errors import Forbidden, InvalidRequest, NotFound, ValidationError
from objectql.metadata.model import ObjectDef

if TYPE_CHECKING:
    from objectql.engine.core import Context, ObjectQL
    from objectql.engine.permissions import ObjectPolicy
    from objectql.engine.user import User


class ObjectRepository:
    def __init__(self, engine: ObjectQL, obj: ObjectDef, user: User | None, scope: Scope, ctx: Context) -> None:
        self.engine = engine
        self.obj = obj
        self.user = user
        self.scope = scope
        self.ctx = ctx
        self.table: Table = engine.tables[obj.name]
        self.policy: ObjectPolicy = engine.policies[obj.name]

    @property
    def name(self) -> str:
        return self.obj.name

    def __repr__(self) -> str:
        return f"<ObjectRepository {self.obj.name} user={self.user.id if self.user else 'system'}>"

    # -- reads ---------------------------------------------------------------------------------

    async def find(
        self,
        filters: Any = None,
        fields: Any = None,
        sort: Any = None,
        skip: Any = 0,
        limit: Any = None,
        expand: Any = None,
    ) -> list[Record]:
        """Records matching ``filters`` (either DSL form), projected, sorted and paged; ``expand`` nests their
        parents and related lists (:mod:`objectql.engine.expand`)."""
        self.policy.require("read", self.user)
        expansions = check_expand(expand, self.obj, self._repository)
        query = {"filters": filters, "fields": fields, "sort": sort, "skip": skip, "limit": limit}
        hctx = self._hook_context("find", query=query)
        await self.engine.hooks.run("before:find", hctx)
        query = hctx.query or {}
        wanted = needs(expansions)
        rows = await self._select(query, wanted)
        if expansions:
            await expand_records(rows, expansions, self._repository)
            asked = query.get("fields")
            if asked is not None:
                for record in rows:
                    for name in wanted:
                        if name not in asked:
                            record.pop(name, None)
        hctx.result = rows
        await self.engine.hooks.run("after:find", hctx)
        return hctx.result  # type: ignore[no-any-return]

    async def find_one(self, id: str, fields: Any = None, expand: Any = None) -> Record | None:
        """The record with ``id``, or None when it is missing or invisible to the user."""
        if not _may_exist(id):
            return None
        rows = await self.find(filters=[["id", "=", id]], fields=fields, limit=1, expand=expand)
        return rows[0] if rows else None

    def expander(self, expand: Any) -> RecordExpander:
        """``expand`` checked for this object and user, to apply to records read elsewhere (a subscription's
        snapshot and changes); raises what :meth:`find` raises for a bad ``expand``."""
        expansions = check_expand(expand, self.obj, self._repository)
        scope = tuple(policy.scope(self.user) for policy in self.engine.policies.values())
        return RecordExpander(expansions, self._repository, (json.dumps(expand, sort_keys=True, default=repr), scope))

    def _repository(self, name: str) -> ObjectRepository:
        """The repository of ``name`` under the same user, in the same scope."""
        if name == self.obj.name:
            return self
        return ObjectRepository(self.engine, self.engine.registry.get(name), self.user, self.scope, self.ctx)

    async def count(self, filters: Any = None) -> int:
        self.policy.require("read", self.user)
        hctx = self._hook_context("count", query={"filters": filters})
        await self.engine.hooks.run("before:count", hctx)
        where = self._where((hctx.query or {}).get("filters"), self._guard())
        if where == FALSE:
            total = 0
        else:
            stmt = select(func.count()).select_from(self.table).where(self._sql(where))
            total = int(await self.scope.run(lambda unit: _scalar(unit, stmt), write=False))
        hctx.result = total
        await self.engine.hooks.run("after:count", hctx)
        return hctx.result  # type: ignore[no-any-return]

    async def aggregate(
        self,
        filters: Any = None,
        *,
        count: bool = False,
        sum: Any = None,
        avg: Any = None,
        min: Any = None,
        max: Any = None,
        group_by: Any = None,
    ) -> list[dict[str, Any]]:
        """Count, sum, avg, min and max of the visible rows matching ``filters``, per ``group_by`` key
        (:mod:`objectql.engine.aggregates` describes the result)."""
        self.policy.require("read", self.user)
        spec = parse_aggregate(
            self.obj,
            lambda field: self.policy.can_read_field(field, self.user),
            count=count,
            sum=sum,
            avg=avg,
            min=min,
            max=max,
            group_by=group_by,
        )
        where = self._where(filters, self._guard())
        return await self.scope.run(
            lambda unit: aggregate_rows(
                unit.conn, self.table, self.obj, self.engine.dialect, where, spec, self.engine.max_groups
            ),
            write=False,
        )

    async def find_related(
        self,
        field: str,
        values: Sequence[Any],
        filters: Any = None,
        fields: Any = None,
        sort: Any = None,
        skip: Any = 0,
        limit: Any = None,
        *,
        path: str = "",
    ) -> list[Record]:
        """The records whose reference field ``field`` holds one of ``values`` (parent ids), filtered, with
        ``sort``, ``skip`` and ``limit`` applied to each parent's records apart (``limit`` None: every one).

        One statement however many parents (per :data:`~objectql.engine.related.CHUNK`); the result is
        grouped by ``field``, each group in ``sort`` order. Hooks see one find, whose query is the arguments
        (``values`` not among them) and whose result is every record read. ``field`` is always in the
        records, and must be readable. ``path`` prefixes the paths of errors (``expand.orders.``).
        """
        self.policy.require("read", self.user)
        self._require_readable(field, path)
        query = {"filters": filters, "fields": fields, "sort": sort, "skip": skip, "limit": limit}
        hctx = self._hook_context("find", query=query)
        await self.engine.hooks.run("before:find", hctx)
        query = hctx.query or {}
        guard = self._guard()
        raw = query.get("filters")
        where = self._where(AllOf(raw, labels=(f"{path}filters",)) if path else raw, guard)
        projection = parse_fields(query.get("fields"), self.obj, guard, name=f"{path}fields")
        keys = parse_sort(query.get("sort"), self.obj, guard, name=f"{path}sort")
        first, most = parse_page(query.get("skip"), query.get("limit"), path)
        columns = tuple(projection) if projection is not None else self.policy.readable_fields(self.user)
        if field not in columns:
            columns = (*columns, field)
        wanted = list(dict.fromkeys(v for v in values if v is not None))
        rows: list[Record] = []
        if wanted and where != FALSE:
            condition = self._sql(where)
            for part in chunks(wanted):
                stmt = children_statement(
                    self.table, columns, condition, field, part, keys, first, most, self.engine.dialect
                )
                rows.extend(await self.scope.run(functools.partial(_rows_of, stmt), write=False))
        hctx.result = rows
        await self.engine.hooks.run("after:find", hctx)
        return hctx.result  # type: ignore[no-any-return]

    async def count_related(
        self, field: str, values: Sequence[Any], filters: Any = None, *, path: str = ""
    ) -> dict[Any, int]:
        """How many visible records matching ``filters`` each of ``values`` has in its reference field
        ``field``: ``{value: count}``, 0 included. One statement however many values (per chunk); hooks see one
        count, whose result is that mapping."""
        self.policy.require("read", self.user)
        self._require_readable(field, path)
        hctx = self._hook_context("count", query={"filters": filters})
        await self.engine.hooks.run("before:count", hctx)
        raw = (hctx.query or {}).get("filters")
        where = self._where(AllOf(raw, labels=(f"{path}filters",)) if path else raw, self._guard())
        wanted = list(dict.fromkeys(v for v in values if v is not None))
        counts: dict[Any, int] = dict.fromkeys(wanted, 0)
        if wanted and where != FALSE:
            condition = self._sql(where)
            for part in chunks(wanted):
                stmt = counts_statement(self.table, condition, field, part)
                for value, n in await self.scope.run(functools.partial(_pairs_of, stmt), write=False):
                    counts[value] = int(n)
        hctx.result = counts
        await self.engine.hooks.run("after:count", hctx)
        return hctx.result  # type: ignore[no-any-return]

    def _require_readable(self, field: str, path: str) -> None:
        """Reading by a reference field tells its value: it must be one the user may read."""
        if field != "id" and not self.policy.can_read_field(field, self.user):
            raise Forbidden(
                f"field {field!r} of {self.obj.name} is not readable",
                details={"field": field, "object": self.obj.name, "path": path.rstrip(".") or field},
            )

    async def _select(self, query: dict[str, Any], needs: Sequence[str] = ()) -> list[Record]:
        guard = self._guard()
        where = self._where(query.get("filters"), guard)
        fields = parse_fields(query.get("fields"), self.obj, guard)
        keys = parse_sort(query.get("sort"), self.obj, guard, links=self._links())
        skip, limit = parse_paging(query.get("skip"), query.get("limit"))
        if where == FALSE:
            return []
        columns = fields if fields is not None else self.policy.readable_fields(self.user)
        columns = (*columns, *(f for f in needs if f not in columns))
        stmt = (
            select(*(self.table.c[f] for f in columns))
            .where(self._sql(where))
            .order_by(*order_by(keys, self.table, self.engine.dialect))
            .offset(skip)
            .limit(limit)
        )
        return await self.scope.run(lambda unit: _rows(unit, stmt), write=False)

    # -- writes --------------------------------------------------------------------------------

    async def create(self, data: Record) -> Record:
        """Validate and store a new record; returns it as the user may read it."""
        if not isinstance(data, dict):
            raise InvalidRequest("data", "an object of field values")
        self.policy.require("create", self.user)

        async def body(unit: Unit) -> Record:
            hctx = self._hook_context("create", data=dict(data), unit=unit)
            await self.engine.hooks.run("before:create", hctx)
            record = await self._prepare_create(unit, hctx.data or {})
            hctx.id = record["id"]
            await unit.conn.execute(writes(self.table).insert, self._row(record))
            await self._require_visible(unit, record)
            hctx.result = self._readable(record)
            hctx.api = self.ctx.engine.context(self.user)
            unit.record(self._event("create", record["id"], record, None, None), "after:create", hctx)
            await self._settle(unit, None, record)
            return hctx.result  # type: ignore[no-any-return]

        return await self.scope.run(body, write=True)

    async def update(self, id: str, data: Record) -> Record:
        """Apply a patch; a missing or invisible id is NotFound."""
        self._require_possible(id)
        if not isinstance(data, dict):
            raise InvalidRequest("data", "an object of field values")
        self.policy.require("update", self.user)

        async def body(unit: Unit) -> Record:
            current = await self._load_for_write(unit, id)
            hctx = self._hook_context("update", id=id, data=dict(data), previous=current, unit=unit)
            await self.engine.hooks.run("before:update", hctx)
            record, changed = await self._prepare_update(unit, current, hctx.data or {})
            values = {k: v for k, v in self._row(record).items() if k != "id"}
            await unit.conn.execute(writes(self.table).update, {**values, ROW_ID: id})
            await self._require_visible(unit, record)
            hctx.result = self._readable(record)
            hctx.api = self.ctx.engine.context(self.user)
            unit.record(self._event("update", id, record, current, changed), "after:update", hctx)
            await self._settle(unit, current, record)
            return hctx.result  # type: ignore[no-any-return]

        return await self.scope.run(body, write=True)

    async def delete(self, id: str) -> None:
        """Delete a record; a missing or invisible id is NotFound."""
        self._require_possible(id)
        self.policy.require("delete", self.user)

        async def body(unit: Unit) -> None:
            current = await self._load_for_write(unit, id)
            hctx = self._hook_context("delete", id=id, previous=current, unit=unit)
            await self.engine.hooks.run("before:delete", hctx)
            derived = Derived(self.engine, unit, self.user, self.ctx)
            if self.engine.registry.children(self.obj.name):
                plan = await plan_delete(unit.conn, self.engine.registry, self.engine.tables, self.obj, current)
                await derived.apply_delete(plan)
            await unit.conn.execute(writes(self.table).delete, {ROW_ID: id})
            hctx.api = self.ctx.engine.context(self.user)
            unit.record(self._event("delete", id, None, current, None), "after:delete", hctx)
            derived.changed(self.obj.name, current, None)
            await derived.settle()

        await self.scope.run(body, write=True)

    async def _settle(self, unit: Unit, before: Record | None, after: Record | None) -> None:
        """Bring the summaries this write changes up to date, in its transaction."""
        if self.engine.summaries.get(self.obj.name):
            derived = Derived(self.engine, unit, self.user, self.ctx)
            derived.changed(self.obj.name, before, after)
            await derived.settle()

    def _require_possible(self, id: Any) -> None:
        if not _may_exist(id):
            raise no_such_id(self.obj.name)

    async def _load_for_write(self, unit: Unit, id: str) -> Record:
        where = conjoin(self.policy.row_filter(self.user))
        stmt = select(*self._data_columns()).where(self.table.c.id == id, self._sql(where))
        if self.engine.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await unit.conn.execute(stmt)).mappings().first() if where != FALSE else None
        if row is None:
            raise NotFound(f"{self.obj.name} {id!r} not found", details={"object": self.obj.name, "id": id})
        return dict(row)

    async def _prepare_create(self, unit: Unit, data: Record) -> Record:
        errors: FieldErrors = {}
        check_keys(self.obj, data, errors, creating=True)
        self._require_writable(data)
        record: Record = {"id": data.get("id") if "id" not in errors and data.get("id") else new_id()}
        for name, fdef in self.obj.declared.items():
            if fdef.summary is not None:
                continue
            if name in data:
                raw = data[name]
            else:
                raw = copy.deepcopy(fdef.default) if fdef.has_default else None
            value, problem = normalise_field(fdef, raw, self.engine.max_text_length)
            if problem:
                errors[name] = problem
            elif fdef.required and is_blank(fdef, value):
                errors[name] = ("required", "is required")
            record[name] = value
        record.update(initial_values(self.obj))
        now = datetime.now(UTC)
        record.update(created_at=now, updated_at=now, created_by=self.user.id if self.user else None)
        if errors:
            raise ValidationError(error_list(errors))
        await self._check_database_rules(unit, record, set(self.obj.declared), exclude_id=None)
        return record

    async def _prepare_update(self, unit: Unit, current: Record, data: Record) -> tuple[Record, tuple[str, ...]]:
        errors: FieldErrors = {}
        patch = dict(data)
        if "id" in patch and patch["id"] == current["id"]:
            del patch["id"]
        check_keys(self.obj, patch, errors, creating=False)
        if "id" in patch:
            errors["id"] = ("read_only", "the id of a record cannot change")
        self._require_writable(patch)
        record = dict(current)
        for name, raw in patch.items():
            fdef = self.obj.declared.get(name)
            if fdef is None or name in errors:
                continue
            value, problem = normalise_field(fdef, raw, self.engine.max_text_length)
            if problem:
                errors[name] = problem
            elif fdef.required and is_blank(fdef, value):
                errors[name] = ("required", "is required")
            record[name] = value
        if errors:
            raise ValidationError(error_list(errors))
        record["updated_at"] = datetime.now(UTC)
        await self._check_database_rules(unit, record, set(patch), exclude_id=current["id"])
        changed = tuple(f for f in self.obj.fields if record.get(f) != current.get(f))
        return record, changed

    async def _check_database_rules(
        self, unit: Unit, record: Record, touched: set[str], exclude_id: str | None
    ) -> None:
        """Unique values and lookup targets: one query per unique set and per referenced object."""
        errors: FieldErrors = {}
        unique = [
            f for f in self.obj.declared.values() if f.unique and f.name in touched and record[f.name] is not None
        ]
        if unique:
            conds = [self.table.c[f.name] == record[f.name] for f in unique]
            stmt = select(*(self.table.c[f.name] for f in unique)).where(or_(*conds))
            if exclude_id is not None:
                stmt = stmt.where(self.table.c.id != exclude_id)
            for row in (await unit.conn.execute(stmt)).mappings():
                for f in unique:
                    if row[f.name] == record[f.name]:
                        errors[f.name] = ("unique", "must be unique")
        targets: dict[str, list[str]] = {}
        for f in self.obj.declared.values():
            if f.reference_to and f.name in touched and record[f.name] is not None:
                targets.setdefault(f.reference_to, []).append(f.name)
        for target, names in targets.items():
            found = await self._readable_targets(unit, target, {record[n] for n in names})
            for n in names:
                if record[n] not in found:
                    errors[n] = ("lookup", f"no {target} record with id {record[n]!r}")
        if errors:
            raise ValidationError(error_list(errors))

    async def _readable_targets(self, unit: Unit, target: str, wanted: set[Any]) -> set[Any]:
        """The ids among ``wanted`` of ``target`` records this user may read.

        A lookup may point only at a record its writer can see: a missing record and an invisible one are
        refused alike, so a write can neither probe which ids exist nor link to rows hidden from its writer.
        """
        policy = self.engine.policies[target]
        if not policy.allows("read", self.user):
            return set()
        table = self.engine.tables[target]
        where = policy.row_filter(self.user)
        if where == FALSE:
            return set()
        stmt = select(table.c.id).where(table.c.id.in_(wanted))
        if where != TRUE:
            stmt = stmt.where(compile_sql(where, table, self.engine.dialect))
        if self.engine.dialect == "postgresql":
            # Held to the commit: a concurrent delete of the parent (FOR UPDATE) waits for this write, or
            # this write waits for it and finds the parent gone; never a child left pointing at nothing.
            stmt = stmt.with_for_update(read=True, key_share=True)
        return set((await unit.conn.execute(stmt)).scalars())

    # -- helpers -------------------------------------------------------------------------------

    def _hook_context(self, action: str, *, unit: Unit | None = None, **kwargs: Any) -> HookContext:
        api = self.ctx if unit is None else self.ctx.bound(SharedScope(unit))
        return HookContext(action=action, object=self.obj.name, user=self.user, api=api, **kwargs)

    def _guard(self) -> FieldGuard | None:
        if self.user is None or not self.policy.hides_fields():
            return None
        return forbid_unreadable(lambda f: self.policy.can_read_field(f, self.user))

    def _links(self) -> Links:
        return reader_links(self.engine.registry, self.engine.policies, self.user)

    def _where(self, filters: Any, guard: FieldGuard | None) -> Node:
        node = parse_filter(filters, self.obj, guard=guard, links=self._links())
        return conjoin(node, self.policy.row_filter(self.user))

    def _sql(self, node: Node) -> ColumnElement[bool]:
        return compile_sql(node, self.table, self.engine.dialect)

    def _data_columns(self) -> list[Any]:
        return [self.table.c[f] for f in self.obj.fields]

    def _row(self, record: Record) -> Record:
        return stored_row(self.obj, record)

    def _readable(self, record: Record) -> Record:
        return {f: record.get(f) for f in self.policy.readable_fields(self.user)}

    def _require_writable(self, data: Record) -> None:
        for key in data:
            if key in self.obj.declared and not self.policy.can_write_field(key, self.user):
                raise Forbidden(f"you may not set field {key!r}", details={"field": key})

    async def _require_visible(self, unit: Unit, record: Record) -> None:
        rule = self.policy.row_filter(self.user)
        if rule == TRUE:
            return
        if has_relations(rule):
            # A rule through a path reads other records: ask the database, inside this write's transaction.
            where = conjoin(Criterion("id", Op.EQ, record["id"]), rule)
            stmt = select(self.table.c.id).where(self._sql(where))
            visible = where != FALSE and (await unit.conn.execute(stmt)).first() is not None
        else:
            visible = compile_matcher(rule)(record)
        if not visible:
            raise Forbidden("the record would not be visible to you", details={"object": self.obj.name})

    def _event(
        self,
        action: str,
        id: str,
        record: Record | None,
        previous: Record | None,
        changed: tuple[str, ...] | None,
    ) -> PendingEvent:
        return PendingEvent.now(self.obj.name, action, id, record, previous, changed, self.user)


async def _scalar(unit: Unit, stmt: Any) -> Any:
    return (await unit.conn.execute(stmt)).scalar_one()


async def _rows(unit: Unit, stmt: Any) -> list[Record]:
    return [dict(row) for row in (await unit.conn.execute(stmt)).mappings().all()]


async def _rows_of(stmt: Any, unit: Unit) -> list[Record]:
    return await _rows(unit, stmt)


async def _pairs_of(stmt: Any, unit: Unit) -> list[tuple[Any, Any]]:
    return [(row[0], row[1]) for row in (await unit.conn.execute(stmt)).all()]


def _may_exist(id: Any) -> bool:
    """Whether a record could have ``id``: one outside the id alphabet is simply not found."""
    if not isinstance(id, str):
        raise InvalidRequest("id", "a string")
    return is_id(id)
