"""The repository of one object under one user: find, find_one, count, create, update, delete.

Permissions are enforced here, so every transport inherits them: the object's CRUD roles, field read
and update roles, and row rules (added to every read and checked on every write's result).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Table,
    Update,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from objectql.engine.aggregates import aggregate_rows, parse_aggregate
from objectql.engine.events import PendingEvent
from objectql.engine.filters.ast import FALSE, TRUE, Criterion, Node, Op, conjoin, has_relations
from objectql.engine.filters.matcher import compile_matcher
from objectql.engine.filters.parse import FieldGuard, Links, forbid_unreadable, parse_filter
from objectql.engine.filters.sql import compile_sql
from objectql.engine.hooks import HookContext
from objectql.engine.ids import is_id, new_id, no_such_id
from objectql.engine.permissions import reader_links
from objectql.engine.query import order_by, parse_fields, parse_paging, parse_sort
from objectql.engine.tables import lower_column_name
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

Record = dict[str, Any]


# The bound parameter naming the row an update or delete is about; no field name starts with an underscore.
ROW_ID = "_objectql_row_id"


@dataclass(frozen=True)
class _WriteStatements:
    """One table's write statements, built once: the values come as parameters, so SQLAlchemy computes
    each statement's cache key once instead of for every write."""

    insert: Insert
    update: Update
    delete: Delete


@functools.cache
def _writes(table: Table) -> _WriteStatements:
    by_id = table.c.id == bindparam(ROW_ID)
    return _WriteStatements(insert(table), update(table).where(by_id), delete(table).where(by_id))


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
    ) -> list[Record]:
        """Records matching ``filters`` (either DSL form), projected, sorted and paged."""
        self.policy.require("read", self.user)
        query = {"filters": filters, "fields": fields, "sort": sort, "skip": skip, "limit": limit}
        hctx = self._hook_context("find", query=query)
        await self.engine.hooks.run("before:find", hctx)
        hctx.result = await self._select(hctx.query or {})
        await self.engine.hooks.run("after:find", hctx)
        return hctx.result  # type: ignore[no-any-return]

    async def find_one(self, id: str, fields: Any = None) -> Record | None:
        """The record with ``id``, or None when it is missing or invisible to the user."""
        if not _may_exist(id):
            return None
        rows = await self.find(filters=[["id", "=", id]], fields=fields, limit=1)
        return rows[0] if rows else None

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

    async def _select(self, query: dict[str, Any]) -> list[Record]:
        guard = self._guard()
        where = self._where(query.get("filters"), guard)
        fields = parse_fields(query.get("fields"), self.obj, guard)
        keys = parse_sort(query.get("sort"), self.obj, guard, links=self._links())
        skip, limit = parse_paging(query.get("skip"), query.get("limit"))
        if where == FALSE:
            return []
        columns = fields if fields is not None else self.policy.readable_fields(self.user)
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
            await unit.conn.execute(_writes(self.table).insert, self._row(record))
            await self._require_visible(unit, record)
            hctx.result = self._readable(record)
            hctx.api = self.ctx.engine.context(self.user)
            unit.record(self._event("create", record["id"], record, None, None), "after:create", hctx)
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
            await unit.conn.execute(_writes(self.table).update, {**values, ROW_ID: id})
            await self._require_visible(unit, record)
            hctx.result = self._readable(record)
            hctx.api = self.ctx.engine.context(self.user)
            unit.record(self._event("update", id, record, current, changed), "after:update", hctx)
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
            await unit.conn.execute(_writes(self.table).delete, {ROW_ID: id})
            hctx.api = self.ctx.engine.context(self.user)
            unit.record(self._event("delete", id, None, current, None), "after:delete", hctx)

        await self.scope.run(body, write=True)

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
        row = dict(record)
        for fdef in self.obj.fields.values():
            if fdef.is_text:
                value = record.get(fdef.name)
                row[lower_column_name(fdef.name)] = value.lower() if isinstance(value, str) else None
        return row

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
        return PendingEvent(
            object=self.obj.name,
            action=action,
            id=id,
            record=record,
            previous=previous,
            changed=changed,
            user_id=self.user.id if self.user else None,
            ts=datetime.now(UTC),
        )


async def _scalar(unit: Unit, stmt: Any) -> Any:
    return (await unit.conn.execute(stmt)).scalar_one()


async def _rows(unit: Unit, stmt: Any) -> list[Record]:
    return [dict(row) for row in (await unit.conn.execute(stmt)).mappings().all()]


def _may_exist(id: Any) -> bool:
    """Whether a record could have ``id``: one outside the id alphabet is simply not found."""
    if not isinstance(id, str):
        raise InvalidRequest("id", "a string")
    return is_id(id)
