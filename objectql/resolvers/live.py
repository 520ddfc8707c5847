"""GraphQL subscriptions on the realtime hub: a plan per subscription, one execution per event per group.

A subscription document becomes a :class:`SubscriptionPlan`: a subscription request for the realtime core
(object, filter, the fields its selection needs, record id, resume point) and a :class:`GraphQLRenderer`
keyed by the document, its variables and the user's permission scope. The hub groups equal (view,
renderer) pairs, so identical subscriptions execute once per event and every subscriber receives the same
serialised result.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from enum import Enum
from typing import Any

from graphql import FieldNode, SelectionSetNode
from graphql.execution.values import get_argument_values

from objectql.engine.aggregates import parse_aggregate
from objectql.engine.events import ChangeEvent
from objectql.engine.filters.parse import AllOf
from objectql.engine.user import User
from objectql.engine.views import View
from objectql.engine.windows import parse_window
from objectql.errors import Forbidden, InvalidRequest
from objectql.realtime.changes import ADDED, REMOVED, effect_of
from objectql.realtime.live import AggregateRequest, RowsRequest, WindowRequest
from objectql.realtime.operations import LiveOperation
from objectql.realtime.related import RELATED, Carries
from objectql.realtime.windows import WindowChange
from objectql.realtime.wire import dumps
from objectql.resolvers.context import GraphQLContext, Row
from objectql.resolvers.enums import ChangeAction, ChangeEffect
from objectql.resolvers.executor import GraphQLExecutor, Prepared
from objectql.resolvers.names import camel
from objectql.resolvers.queries import AGGREGATE_PARTS, aggregate_row, renamed
from objectql.resolvers.selection import root_field, selected_fields
from objectql.resolvers.where import where_to_filter

KINDS = ("created", "updated", "deleted", "changed", "aggregate", "window")


def root_fields(executor: GraphQLExecutor) -> dict[str, tuple[str, str]]:
    """``ordersChanged`` → ("orders", "changed") for every object."""
    out: dict[str, tuple[str, str]] = {}
    for obj in executor.engine.registry:
        for kind in KINDS:
            out[f"{camel(obj.name)}{kind.capitalize()}"] = (obj.name, kind)
    return out


def permission_scope(executor: GraphQLExecutor, user: User | None) -> Hashable:
    """What decides a user's view of every object (lookups may reach any of them)."""
    if user is None:
        return ("system",)
    claims = sorted({c for p in executor.engine.policies.values() for c in p.rule_claims})
    return (user.is_anonymous, tuple(sorted(user.roles)), tuple(repr(user.claim(c)) for c in claims))


class AggregateRenderer:
    def __init__(self, executor: GraphQLExecutor, prepared: Prepared, user: User | None, scope: Hashable) -> None:
        self.executor = executor
        self.prepared = prepared
        self.user = user
        self.key = ("graphql-aggregate", prepared.cache_key, scope)

    async def __call__(self, buckets: list[dict[str, Any]]) -> str:
        rows = [aggregate_row(bucket) for bucket in buckets]
        result = await self.executor.run(self.prepared, GraphQLContext(self.executor.engine, self.user), rows)
        return dumps(result)


def plan_aggregate(
    executor: GraphQLExecutor, prepared: Prepared, user: User | None, object_name: str, field: FieldNode, args: Any
) -> LiveOperation:
    asked: dict[str, Any] = {"count": True}
    if field.selection_set is not None:
        for sub in selected_fields(field.selection_set, prepared.fragments):
            if sub.name.value in AGGREGATE_PARTS and sub.selection_set is not None:
                names = [f.name.value for f in selected_fields(sub.selection_set, prepared.fragments)]
                asked.setdefault(sub.name.value, []).extend(n for n in names if n != "__typename")
    group_by = [g.value if isinstance(g, Enum) else g for g in args.get("groupBy") or []]
    # Checked here, so errors name what the document wrote (groupBy[0], ordersAggregate.sum.cost).
    policy = executor.engine.policies[object_name]
    policy.require("read", user)
    try:
        obj = executor.engine.registry.get(object_name)
        parse_aggregate(obj, lambda f: policy.can_read_field(f, user), **asked, group_by=group_by)
    except (InvalidRequest, Forbidden) as exc:
        raise renamed(exc, root=field.name.value) from None
    filters = AllOf(where_to_filter(args.get("where")), args.get("filters"), labels=("where", None))
    renderer = AggregateRenderer(executor, prepared, user, permission_scope(executor, user))
    request = AggregateRequest(
        object_name, user, filters=filters, aggregate=asked, group_by=group_by, renderer=renderer
    )
    return LiveOperation(request)


class WindowChangeRenderer:
    """Executes a ``<x>Window`` document for changes of its window: the changes of one step, or the rows a
    subscriber starts with, in one execution."""

    def __init__(
        self, executor: GraphQLExecutor, prepared: Prepared, fields: list[str], user: User | None, scope: Hashable
    ) -> None:
        self.executor = executor
        self.prepared = prepared
        self.fields = fields
        self.user = user
        self.key = ("graphql-window", prepared.cache_key, scope)

    async def __call__(self, changes: list[WindowChange]) -> list[str]:
        roots = [
            Row(
                seq=str(change.seq),
                effect=ChangeEffect(change.effect),
                index=change.index,
                record=Row({**dict.fromkeys(self.fields), **change.record}),
            )
            for change in changes
        ]
        context = GraphQLContext(self.executor.engine, self.user)
        return [dumps(result) for result in await self.executor.run_each(self.prepared, context, roots)]


def plan_window(
    executor: GraphQLExecutor, prepared: Prepared, user: User | None, object_name: str, field: FieldNode, args: Any
) -> LiveOperation:
    """A ``<x>Window`` subscription: the fields its ``record`` selects (all readable, lookups too), its sort
    and limit (checked here, so errors name ``orderBy`` and ``limit``). ``after`` is accepted and changes
    nothing: a window always starts from its snapshot."""
    executor.engine.policies[object_name].require("read", user)
    obj = executor.engine.registry.get(object_name)
    selected: set[str] = set()
    name = field.name.value
    if field.selection_set is not None:
        for sub in selected_fields(field.selection_set, prepared.fragments):
            if sub.name.value == "record" and sub.selection_set is not None:
                selected |= _names(sub.selection_set, prepared.fragments)
                _require_readable(executor, object_name, sub.selection_set, prepared.fragments, user, f"{name}.record")
    fields = sorted({n for n in selected if n in obj.fields} | {"id"})
    policy = executor.engine.policies[object_name]
    try:
        sort = [_sort_key(item, f"orderBy[{i}]") for i, item in enumerate(args.get("orderBy") or [])]
        parse_window(obj, lambda f: policy.can_read_field(f, user), sort=sort, limit=args.get("limit"))
    except (InvalidRequest, Forbidden) as exc:
        raise renamed(exc) from None
    filters = AllOf(where_to_filter(args.get("where")), args.get("filters"), labels=("where", None))
    renderer = WindowChangeRenderer(executor, prepared, fields, user, permission_scope(executor, user))
    limit = args.get("limit")
    return LiveOperation(
        WindowRequest(object_name, user, filters=filters, fields=fields, sort=sort, limit=limit, renderer=renderer)
    )


def _sort_key(item: Mapping[str, Any], path: str) -> list[str]:
    """One ``orderBy`` entry as coerced arguments hold it: ``{field, direction}``, or ``{customer_ref: {…}}``
    for the path ``customer.<field>`` (a field or one reference at each level; the innermost direction)."""
    names: list[str] = []
    direction: Any = None
    while True:
        direction = item.get("direction") or direction
        field = item.get("field")
        refs = [(k, v) for k, v in item.items() if k.endswith("_ref") and v is not None]
        if (field is None) == (not refs) or len(refs) > 1:
            raise InvalidRequest(path, "name either a field or one <reference>_ref at each level")
        if field is not None:
            names.append(field.value if isinstance(field, Enum) else field)
            return [".".join(names), _direction(direction)]
        ref, item = refs[0]
        names.append(ref.removesuffix("_ref"))


def _direction(value: Any) -> str:
    if value is None:
        return "asc"
    return str(value.value if isinstance(value, Enum) else value)


def plan(executor: GraphQLExecutor, prepared: Prepared, user: User | None) -> LiveOperation:
    """Check a subscription document and plan it for the hub; raises ObjectQL errors.

    Permissions on the object and its fields are checked when the realtime core compiles the request.
    """
    field = root_field(prepared.operation.selection_set, prepared.fragments)
    name = field.name.value
    object_name, kind = root_fields(executor)[name]
    field_def = executor.graphql_schema.subscription_type.fields[name]  # type: ignore[union-attr]
    args = get_argument_values(field_def, field, prepared.coerced)
    if kind == "aggregate":
        return plan_aggregate(executor, prepared, user, object_name, field, args)
    if kind == "window":
        return plan_window(executor, prepared, user, object_name, field, args)
    selection = field.selection_set
    # Definition field name -> where the document selects it (for an error's path).
    # The record selections of the document, with where they are (for an error's path).
    records: list[tuple[SelectionSetNode, str]] = []
    if kind == "changed":
        if selection is not None:
            for sub in selected_fields(selection, prepared.fragments):
                if sub.name.value in ("record", "previous") and sub.selection_set is not None:
                    records.append((sub.selection_set, f"{name}.{sub.name.value}"))
    elif kind != "deleted" and selection is not None:
        records.append((selection, name))
    obj = executor.engine.registry.get(object_name)
    executor.engine.policies[object_name].require("read", user)
    selected: set[str] = set()
    for record_selection, at in records:
        selected |= _names(record_selection, prepared.fragments)
        # Refused before anything is registered, and named the way the document names it — lookups too.
        _require_readable(executor, object_name, record_selection, prepared.fragments, user, at)
    projection = sorted({n for n in selected if n in obj.fields} | {"id"})
    filters = AllOf(where_to_filter(args.get("where")), args.get("filters"), labels=("where", None))
    record_id = args.get("id") if kind == "changed" else None
    after = _seq(args.get("after")) if kind == "changed" else None
    renderer = GraphQLRenderer(executor, prepared, kind, selected, user, permission_scope(executor, user))
    if kind == "changed":
        renderer.carries = tuple(
            dict.fromkeys(
                carried
                for record_selection, _ in records
                for carried in _carries(executor, object_name, record_selection, prepared.fragments)
            )
        )
    return LiveOperation(
        RowsRequest(
            object_name,
            user,
            filters=filters,
            fields=projection,
            record_id=record_id,
            resume_from=after,
            renderer=renderer,
        )
    )


class GraphQLRenderer:
    """Executes the subscription document once for an event; the result JSON is shared by the group."""

    def __init__(
        self,
        executor: GraphQLExecutor,
        prepared: Prepared,
        kind: str,
        selected: set[str],
        user: User | None,
        scope: Hashable,
    ) -> None:
        self.executor = executor
        self.prepared = prepared
        self.kind = kind
        self.selected = selected
        self.user = user
        self.key = ("graphql", prepared.cache_key, scope)
        # The related data its records carry (a ``changed`` subscription's ``_ref`` and related list selections).
        self.carries: tuple[Carries, ...] = ()

    def root(self, view: View, event: ChangeEvent) -> Any:
        """The value the root field resolves to for ``event``, or None when this subscription skips it."""
        effect, before = effect_of(view, event)
        if self.kind == "changed":
            if effect is None:
                return None
            # A removed record identifies the row and nothing else: its other fields are null, not hidden
            # (the before-state, as the user last saw it, is ``previous``).
            record = _removed(event.id, view) if effect == REMOVED else _project(event.record, view)
            change = Row(
                seq=str(event.seq),
                action=ChangeAction(event.action),
                effect=ChangeEffect(effect),
                record=record,
                previous=_project(event.previous, view) if before and event.action != RELATED else None,
                changedFields=[f for f in event.changed or () if event.action == RELATED or f in self.selected]
                if event.action in ("update", RELATED)
                else None,
            )
            return change
        if self.kind == "created":
            return _project(event.record, view) if event.action == "create" and effect == ADDED else None
        if self.kind == "updated":
            visible = effect is not None and effect != REMOVED
            return _project(event.record, view) if event.action == "update" and visible else None
        return event.id if event.action == "delete" and before else None

    def __call__(self, view: View, event: ChangeEvent) -> Any:
        value = self.root(view, event)
        if value is None:
            return None
        return self._execute(value)

    async def _execute(self, value: Any) -> str:
        # A subscription root field resolves to the root value itself: the event's payload.
        result = await self.executor.run(self.prepared, GraphQLContext(self.executor.engine, self.user), value)
        return dumps(result)


def _removed(record_id: str, view: View) -> Row:
    return Row({**dict.fromkeys(view.fields), "id": record_id})


def _project(record: Mapping[str, Any] | None, view: View) -> Row | None:
    if record is None:
        return None
    return Row({f: record.get(f) for f in view.fields})


def _seq(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isdigit():
        raise InvalidRequest("after", "a seq as a decimal string")
    return int(value)


def _require_readable(
    executor: GraphQLExecutor,
    object_name: str,
    selection: SelectionSetNode,
    fragments: Mapping[str, Any],
    user: User | None,
    path: str,
) -> None:
    """Forbidden unless ``user`` may read every field the selection names, through ``_ref`` lookups and
    related lists too."""
    obj = executor.engine.registry.get(object_name)
    lists = executor.engine.registry.related_lists(object_name)
    policy = executor.engine.policies[object_name]
    policy.require("read", user)
    for n in sorted(_names(selection, fragments)):
        if n in obj.fields and not policy.can_read_field(n, user):
            raise Forbidden(f"field {n!r} is not readable", details={"field": n, "path": f"{path}.{n}"})
    for f in selected_fields(selection, fragments):
        name = f.name.value
        fdef = obj.fields.get(name[: -len("_ref")]) if name.endswith("_ref") else None
        if fdef is not None and fdef.reference_to and f.selection_set is not None:
            _require_readable(executor, fdef.reference_to, f.selection_set, fragments, user, f"{path}.{name}")
        relation = lists.get(name)
        if relation is not None and f.selection_set is not None:
            _require_readable(executor, relation.child, f.selection_set, fragments, user, f"{path}.{name}")


def _carries(
    executor: GraphQLExecutor, object_name: str, selection: SelectionSetNode, fragments: Mapping[str, Any]
) -> list[Carries]:
    """The related data a record selection carries: each ``<field>_ref`` and each related list, at the first
    level."""
    obj = executor.engine.registry.get(object_name)
    lists = executor.engine.registry.related_lists(object_name)
    out: list[Carries] = []
    for f in selected_fields(selection, fragments):
        name = f.name.value
        fdef = obj.fields.get(name[: -len("_ref")]) if name.endswith("_ref") else None
        if fdef is not None and fdef.reference_to and f.selection_set is not None:
            out.append(Carries(fdef.reference_to, fdef.name, False, fdef.name))
        relation = lists.get(name)
        if relation is not None and f.selection_set is not None:
            out.append(Carries(relation.child, relation.field, True, name))
    return out


def _names(selection: SelectionSetNode, fragments: Mapping[str, Any]) -> set[str]:
    """Definition field names a selection needs (``customer_ref`` needs ``customer``)."""
    names = set()
    for f in selected_fields(selection, fragments):
        name = f.name.value
        names.add(name[: -len("_ref")] if name.endswith("_ref") else name)
    return names
