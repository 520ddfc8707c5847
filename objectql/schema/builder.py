"""The GraphQL schema, built at runtime from the registry (names and types: docs/graphql.md).

Per object ``orders``: ``Orders`` (object type), ``OrdersInput`` / ``OrdersUpdateInput``, ``OrdersFilter``,
``OrdersOrderBy``, ``OrdersConnection`` / ``OrdersEdge``, ``OrdersChange``; queries ``orders``,
``ordersList``, ``ordersCount``, ``ordersConnection``; mutations ``createOrders``, ``updateOrders``,
``deleteOrders``; subscriptions ``ordersCreated``, ``ordersUpdated``, ``ordersDeleted``, ``ordersChanged``.
Strawberry types are made with ``type()`` because their fields come from YAML, not from code.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import AsyncGenerator, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig

from objectql.metadata.model import FieldDef, FieldType, Kind, ObjectDef
from objectql.metadata.registry import Registry
from objectql.resolvers import mutations, queries, refs, related, subscriptions
from objectql.resolvers.context import Row
from objectql.resolvers.enums import ChangeAction, ChangeEffect, OrderDirection
from objectql.resolvers.names import camel, pascal, python_name
from objectql.schema.scalars import SCALAR_MAP

UNSET: Any = strawberry.UNSET
ORDERED_KINDS = (Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL, Kind.DATE, Kind.DATETIME)


@strawberry.type(name="PageInfo")
class PageInfo:
    hasNextPage: bool
    hasPreviousPage: bool
    startCursor: str | None
    endCursor: str | None


def make_input(name: str, fields: dict[str, Any], description: str | None = None) -> type:
    """A strawberry input type whose fields default to UNSET (so "absent" and "null" differ)."""
    namespace: dict[str, Any] = {"__annotations__": {}}
    for gql_name, annotation in fields.items():
        attr = python_name(gql_name)
        namespace["__annotations__"][attr] = annotation
        namespace[attr] = strawberry.field(name=gql_name, default=UNSET)
    return strawberry.input(type(name, (), namespace), name=name, description=description)


def make_resolver(
    fn: Callable[..., Any], params: list[tuple[str, Any, Any]], returns: Any, *, parent: bool = False
) -> Callable[..., Any]:
    """Give ``fn`` the signature strawberry reads its arguments from: ``(info, *, name: type = default)``,
    with ``root`` (the record the field is on) first when ``parent``."""
    parameters = [inspect.Parameter("info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info)]
    if parent:
        root = inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Parent[Row])
        parameters.insert(0, root)
    for name, annotation, default in params:
        parameters.append(
            inspect.Parameter(python_name(name), inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        )
    fn.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returns}
    return fn


class _Filters:
    """The shared typed filter inputs."""

    def __init__(self) -> None:
        self.string = make_input(
            "StringFilter",
            {
                **{op: str | None for op in ("eq", "ne", "contains", "notcontains", "startsWith", "endsWith")},
                "in": list[str] | None,
                "nin": list[str] | None,
                "isNull": bool | None,
            },
        )
        self.by_scalar: dict[str, type] = {}
        filters = (("IntFilter", int), ("FloatFilter", float), ("DecimalFilter", Decimal), ("DateTimeFilter", datetime))
        for name, scalar in filters:
            fields: dict[str, Any] = {op: scalar | None for op in ("eq", "ne", "gt", "gte", "lt", "lte")}
            fields.update({op: list[scalar] | None for op in ("in", "nin", "between")})
            fields["isNull"] = bool | None
            self.by_scalar[name] = make_input(name, fields)
        self.boolean = make_input(
            "BooleanFilter",
            {"eq": bool | None, "ne": bool | None, "isNull": bool | None},
        )

    def for_field(self, fdef: FieldDef) -> type | None:
        kind = fdef.kind
        if kind is Kind.TEXT:
            return self.string
        if kind is Kind.INTEGER:
            return self.by_scalar["IntFilter"]
        if kind is Kind.FLOAT:
            return self.by_scalar["FloatFilter"]
        if kind is Kind.DECIMAL:
            return self.by_scalar["DecimalFilter"]
        if kind in (Kind.DATE, Kind.DATETIME):
            return self.by_scalar["DateTimeFilter"]
        if kind is Kind.BOOLEAN:
            return self.boolean
        return None


def scalar_of(fdef: FieldDef) -> Any:
    if fdef.type is FieldType.ID or fdef.type in (FieldType.LOOKUP, FieldType.MASTER_DETAIL):
        return strawberry.ID
    if fdef.type is FieldType.SELECT and fdef.multiple:
        return list[str]
    return {
        Kind.TEXT: str,
        Kind.INTEGER: int,
        Kind.FLOAT: float,
        Kind.DECIMAL: Decimal,
        Kind.BOOLEAN: bool,
        Kind.DATE: date,
        Kind.DATETIME: datetime,
        Kind.JSON: JSON,
    }[fdef.kind]


class SchemaBuilder:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.filters = _Filters()
        self.object_types: dict[str, type] = {}
        self.filter_types: dict[str, type] = {}
        self.order_types: dict[str, type] = {}
        self._sort_fields: dict[str, type] = {}
        self._related_filters: dict[str, type] = {}
        self._aggregate_groups: dict[str, type] = {}

    def build(self) -> strawberry.Schema:
        objects = list(self.registry)
        for obj in objects:
            self.object_types[obj.name] = self._object_type(obj)
        for obj in objects:
            # Created empty first: a filter or order names the filters and orders of related objects.
            self.filter_types[obj.name] = type(f"{pascal(obj.name)}Filter", (), {"__annotations__": {}})
            self.order_types[obj.name] = type(f"{pascal(obj.name)}OrderBy", (), {"__annotations__": {}})
        for obj in objects:
            self._finish_object_type(obj)
            self._filter_type(obj)
            self._order_type(obj)
        query: dict[str, Any] = {}
        mutation: dict[str, Any] = {}
        subscription: dict[str, Any] = {}
        for obj in objects:
            self._query_fields(obj, query)
            self._mutation_fields(obj, mutation)
            self._subscription_fields(obj, subscription)
        if not objects:
            query["_empty"] = strawberry.field(resolver=lambda: None, name="_empty", graphql_type=bool | None)
        Query = strawberry.type(type("Query", (), query), name="Query")
        Mutation = strawberry.type(type("Mutation", (), mutation), name="Mutation") if mutation else None
        Subscription = (
            strawberry.type(type("Subscription", (), subscription), name="Subscription") if subscription else None
        )
        return strawberry.Schema(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            config=StrawberryConfig(auto_camel_case=False, scalar_map=SCALAR_MAP),
        )

    # -- types ---------------------------------------------------------------------------------

    def _object_type(self, obj: ObjectDef) -> type:
        # Created empty first so lookups can reference any object type, then filled in.
        return type(pascal(obj.name), (), {"__annotations__": {}})

    def _finish_object_type(self, obj: ObjectDef) -> None:
        cls = self.object_types[obj.name]
        policy_hidden = {n for n, fp in (obj.permissions.fields if obj.permissions else {}).items() if fp.read}
        for name, fdef in obj.fields.items():
            annotation = strawberry.ID if name == "id" else scalar_of(fdef) | None
            attr = python_name(name)
            cls.__annotations__[attr] = annotation
            if name in policy_hidden or attr != name:
                setattr(cls, attr, strawberry.field(name=name, resolver=queries.field_resolver(name, annotation)))
            else:
                setattr(cls, attr, strawberry.field(name=name))
            if fdef.reference_to:
                target = self.object_types[fdef.reference_to]
                ref = f"{name}_ref"
                cls.__annotations__.pop(ref, None)
                setattr(
                    cls, ref, strawberry.field(name=ref, resolver=refs.ref_resolver(name, fdef.reference_to, target))
                )
        self._related_fields(obj, cls)
        description = obj.description or obj.label
        self.object_types[obj.name] = strawberry.type(cls, name=pascal(obj.name), description=description)

    def _related_fields(self, obj: ObjectDef, cls: type) -> None:
        """``<list>(where, filters, orderBy, limit, offset)`` and ``<list>Count(where, filters)`` for each
        related list of ``obj`` (a count whose name a field of ``obj`` already has is left out)."""
        for name, relation in self.registry.related_lists(obj.name).items():
            child = self.object_types[relation.child]
            common = self._common_args(self.registry.get(relation.child))
            order = self.order_types[relation.child]
            args = [
                *common,
                ("orderBy", list[order] | None, UNSET),
                ("limit", int | None, UNSET),
                ("offset", int | None, UNSET),
            ]
            setattr(
                cls,
                python_name(name),
                strawberry.field(
                    name=name,
                    description=f"The {relation.child} whose {relation.field} is this record "
                    "(limit, offset and orderBy apply to each record's list).",
                    resolver=make_resolver(related.list_resolver(relation), args, list[child], parent=True),
                ),
            )
            count = f"{name}Count"
            if count in obj.fields:
                continue
            setattr(
                cls,
                python_name(count),
                strawberry.field(
                    name=count,
                    description=f"How many {relation.child} have this record as their {relation.field}.",
                    resolver=make_resolver(related.count_resolver(relation), common, int, parent=True),
                ),
            )

    def _aggregate_group_type(self, obj: ObjectDef) -> type:
        """``<X>AggregateGroup``: its key (the groupBy fields), count, and sum / avg / min / max of the
        fields each takes (numbers; numbers and dates for min / max). Currency stays an exact Decimal."""
        base = pascal(obj.name)
        single = {n: f for n, f in obj.fields.items() if not f.multiple}

        def record_type(name: str, fields: dict[str, Any], description: str) -> type | None:
            if not fields:
                return None  # GraphQL has no empty object types
            namespace: dict[str, Any] = {"__annotations__": {}}
            for field_name, annotation in fields.items():
                attr = python_name(field_name)
                namespace["__annotations__"][attr] = annotation | None
                namespace[attr] = strawberry.field(name=field_name, default=None)
            return strawberry.type(type(name, (), namespace), name=name, description=description)

        def number(fdef: FieldDef) -> Any:
            return Decimal if fdef.kind is Kind.DECIMAL else float

        key = record_type(
            f"{base}AggregateKey",
            {n: scalar_of(f) for n, f in single.items() if f.kind is not Kind.JSON},
            "The groupBy fields' values of a group (null for the fields not grouped by).",
        )
        numbers = record_type(
            f"{base}AggregateNumbers",
            {n: number(f) for n, f in single.items() if f.kind in (Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL)},
            "Sums or averages of the numeric fields.",
        )
        extremes = record_type(
            f"{base}AggregateExtremes",
            {n: scalar_of(f) for n, f in single.items() if f.kind in ORDERED_KINDS},
            "Least or greatest values of the numeric and date fields.",
        )
        annotations: dict[str, Any] = {"key": key, "count": int}
        if numbers is not None:
            annotations.update(sum=numbers | None, avg=numbers | None)
        if extremes is not None:
            annotations.update(min=extremes | None, max=extremes | None)
        namespace = {"__annotations__": annotations, **{name: strawberry.field(name=name) for name in annotations}}
        return strawberry.type(
            type(f"{base}AggregateGroup", (), namespace),
            name=f"{base}AggregateGroup",
            description=f"One group of a {obj.name} aggregate.",
        )

    def _sort_field_enum(self, obj: ObjectDef) -> type:
        """``<X>SortField``: the fields ``orderBy`` can name (every field but json ones, and none whose
        name GraphQL reserves for values)."""
        names = [n for n, f in obj.fields.items() if f.kind is not Kind.JSON and n not in ("true", "false", "null")]
        members = enum.Enum(f"{pascal(obj.name)}SortField", {name: name for name in names})  # type: ignore[misc]
        description = f"A field of {obj.name} to sort or group on."
        self._sort_fields[obj.name] = strawberry.enum(
            members, name=f"{pascal(obj.name)}SortField", description=description
        )
        return self._sort_fields[obj.name]

    def _filter_type(self, obj: ObjectDef) -> type:
        """``<X>Filter``: AND / OR / NOT, a typed filter per field, ``<field>_ref: <Parent>Filter`` per
        reference (a path), and ``<related list>: <Child>RelatedFilter`` (``any`` / ``none``)."""
        name = f"{pascal(obj.name)}Filter"
        cls = self.filter_types[obj.name]
        fields: dict[str, Any] = {
            "AND": list[cls] | None,
            "OR": list[cls] | None,
            "NOT": cls | None,
        }
        relations: dict[str, tuple[str, str]] = {}
        for fname, fdef in obj.fields.items():
            ftype = self.filters.for_field(fdef)
            if ftype is not None:
                fields[fname] = ftype | None
        for fname, fdef in obj.fields.items():
            ref = f"{fname}_ref"
            if fdef.reference_to and ref not in fields:
                fields[ref] = self.filter_types[fdef.reference_to] | None
                relations[ref] = ("path", fname)
        for list_name, relation in self.registry.related_lists(obj.name).items():
            if list_name not in fields:
                fields[list_name] = self._related_filter(relation.child) | None
                relations[list_name] = ("related", list_name)
        for gql_name, annotation in fields.items():
            attr = python_name(gql_name)
            cls.__annotations__[attr] = annotation
            setattr(cls, attr, strawberry.field(name=gql_name, default=UNSET))
        # Read by where_to_filter: which inputs follow a relation, and how.
        cls.__objectql_relations__ = relations  # type: ignore[attr-defined]
        return strawberry.input(cls, name=name)

    def _related_filter(self, child: str) -> type:
        """``<Child>RelatedFilter``: ``any`` / ``none`` of a related list's records matching a filter."""
        name = f"{pascal(child)}RelatedFilter"
        if name not in self._related_filters:
            target = self.filter_types[child]
            self._related_filters[name] = make_input(
                name,
                {"any": target | None, "none": target | None},
                description=f"Whether any (or no) related {child} record matches the filter.",
            )
        return self._related_filters[name]

    def _order_type(self, obj: ObjectDef) -> type:
        """``<X>OrderBy``: a field, or ``<field>_ref`` naming a field of the referenced record (a path)."""
        name = f"{pascal(obj.name)}OrderBy"
        cls = self.order_types[obj.name]
        fields: dict[str, Any] = {"field": self._sort_field_enum(obj) | None, "direction": OrderDirection | None}
        for fname, fdef in obj.fields.items():
            ref = f"{fname}_ref"
            if fdef.reference_to and ref not in fields:
                fields[ref] = self.order_types[fdef.reference_to] | None
        for gql_name, annotation in fields.items():
            attr = python_name(gql_name)
            cls.__annotations__[attr] = annotation
            setattr(cls, attr, strawberry.field(name=gql_name, default=UNSET))
        return strawberry.input(cls, name=name)

    def _input_types(self, obj: ObjectDef) -> tuple[type, type]:
        create: dict[str, Any] = {"id": strawberry.ID | None}
        update: dict[str, Any] = {}
        for name, fdef in obj.declared.items():
            if fdef.summary is not None:
                continue  # computed: read-only
            scalar = scalar_of(fdef)
            create[name] = scalar if fdef.required else scalar | None
            update[name] = scalar | None
        base = pascal(obj.name)
        return make_input(f"{base}Input", create), make_input(f"{base}UpdateInput", update)

    # -- root fields ---------------------------------------------------------------------------

    def _common_args(self, obj: ObjectDef) -> list[tuple[str, Any, Any]]:
        return [
            ("where", self.filter_types[obj.name] | None, UNSET),
            ("filters", JSON | None, UNSET),
        ]

    def _query_fields(self, obj: ObjectDef, out: dict[str, Any]) -> None:
        node = self.object_types[obj.name]
        order = self.order_types[obj.name]
        base, plural = pascal(obj.name), camel(obj.name)
        common = self._common_args(obj)
        order_arg = ("orderBy", list[order] | None, UNSET)
        edge = strawberry.type(
            type(f"{base}Edge", (), {"__annotations__": {"node": node, "cursor": str}}), name=f"{base}Edge"
        )
        connection = strawberry.type(
            type(
                f"{base}Connection",
                (),
                {"__annotations__": {"edges": list[edge], "pageInfo": PageInfo, "totalCount": int}},
            ),
            name=f"{base}Connection",
        )
        out[plural] = strawberry.field(
            name=plural,
            resolver=make_resolver(
                queries.get_one(obj.name), [("id", strawberry.ID, inspect.Parameter.empty)], node | None
            ),
        )
        out[f"{plural}List"] = strawberry.field(
            name=f"{plural}List",
            resolver=make_resolver(
                queries.find_list(obj.name),
                [*common, order_arg, ("limit", int | None, UNSET), ("offset", int | None, UNSET)],
                list[node],
            ),
        )
        out[f"{plural}Count"] = strawberry.field(
            name=f"{plural}Count", resolver=make_resolver(queries.count(obj.name), common, int)
        )
        group = self._aggregate_groups[obj.name] = self._aggregate_group_type(obj)
        group_field: Any = self._sort_fields[obj.name]
        out[f"{plural}Aggregate"] = strawberry.field(
            name=f"{plural}Aggregate",
            description=f"Count, sum, avg, min and max of the {obj.name} the user may see, per groupBy key; "
            "the fields selected under sum / avg / min / max are the ones computed.",
            resolver=make_resolver(
                queries.aggregate(obj.name),
                [*common, ("groupBy", list[group_field] | None, UNSET)],
                list[group],
            ),
        )
        out[f"{plural}Connection"] = strawberry.field(
            name=f"{plural}Connection",
            resolver=make_resolver(
                queries.connection(obj.name, edge, connection, PageInfo),
                [*common, order_arg, ("first", int | None, UNSET), ("after", str | None, UNSET)],
                connection,
            ),
        )

    def _mutation_fields(self, obj: ObjectDef, out: dict[str, Any]) -> None:
        node = self.object_types[obj.name]
        create_input, update_input = self._input_types(obj)
        base = pascal(obj.name)
        required = inspect.Parameter.empty
        out[f"create{base}"] = strawberry.field(
            name=f"create{base}",
            resolver=make_resolver(mutations.create(obj.name), [("input", create_input, required)], node),
        )
        out[f"update{base}"] = strawberry.field(
            name=f"update{base}",
            resolver=make_resolver(
                mutations.update(obj.name), [("id", strawberry.ID, required), ("input", update_input, required)], node
            ),
        )
        out[f"delete{base}"] = strawberry.field(
            name=f"delete{base}",
            resolver=make_resolver(mutations.delete(obj.name), [("id", strawberry.ID, required)], bool),
        )

    def _subscription_fields(self, obj: ObjectDef, out: dict[str, Any]) -> None:
        node = self.object_types[obj.name]
        base, plural = pascal(obj.name), camel(obj.name)
        change = strawberry.type(
            type(
                f"{base}Change",
                (),
                {
                    "__annotations__": {
                        "seq": str,
                        "action": ChangeAction,
                        "effect": ChangeEffect,
                        "record": node | None,
                        "previous": node | None,
                        "changedFields": list[str] | None,
                    }
                },
            ),
            name=f"{base}Change",
        )
        common = self._common_args(obj)
        kinds: list[tuple[str, Any, list[tuple[str, Any, Any]]]] = [
            ("Created", node, common),
            ("Updated", node, common),
            ("Deleted", strawberry.ID, common),
            ("Changed", change, [*common, ("id", strawberry.ID | None, UNSET), ("after", str | None, UNSET)]),
        ]
        group: Any = self._aggregate_groups[obj.name]
        group_field: Any = self._sort_fields[obj.name]
        kinds.append(("Aggregate", list[group], [*common, ("groupBy", list[group_field] | None, UNSET)]))
        window_change = strawberry.type(
            type(
                f"{base}WindowChange",
                (),
                {
                    "__annotations__": {
                        "seq": str,
                        "effect": ChangeEffect,
                        "index": int | None,
                        "record": node,
                    }
                },
            ),
            name=f"{base}WindowChange",
            description=f"A change of a live window of {obj.name}: the row's position once applied (none when "
            "removed); a removed record is its id. The window's rows arrive first, as added changes in order.",
        )
        order: Any = self.order_types[obj.name]
        window_args = [
            *common,
            ("orderBy", list[order] | None, UNSET),
            ("limit", int, inspect.Parameter.empty),
            ("after", str | None, UNSET),
        ]
        kinds.append(("Window", window_change, window_args))
        for suffix, returns, args in kinds:
            name = f"{plural}{suffix}"
            resolver = make_resolver(
                subscriptions.source(obj.name, suffix.lower()), args, AsyncGenerator[returns, None]
            )
            out[name] = strawberry.subscription(resolver=resolver, name=name)


def build_schema(registry: Registry) -> strawberry.Schema:
    return SchemaBuilder(registry).build()
