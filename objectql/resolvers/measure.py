"""How big a GraphQL operation is, measured before it runs: depth, aliases, introspection depth and cost.

The measure takes time linear in the document. Each fragment is measured once — after the fragments it
spreads, found by walking the spreads with an explicit stack — and its measure is added at every spread.
So a fragment spread twice in a fragment spread twice, thirty levels down, costs thirty measures rather
than 2³⁰, and its aliases and cost still count once per spread, as the answer would repeat them. A fragment
that spreads itself (validation refuses those first) is :class:`FragmentCycle`, never followed.

Cost bounds what an answer may hold: every field selected counts 1, and what a list field selects counts
once per item. A list's size is the ``limit`` or ``first`` argument of the field that pages it — the list
itself (``ordersList(limit:)``) or the field above it (``ordersConnection(first:) { edges }``) — or that
argument's default when it is not given; a list nothing pages (``ordersAggregate``'s groups) counts its
maximum. Nested lists multiply. Introspection (``__schema``, ``__type``) counts each field once: its lists
are the schema's own, and it has bounds of its own (its depth; validation refuses type lists nested three
deep).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    VariableNode,
    get_named_type,
    is_introspection_type,
)

from objectql.engine.query import DEFAULT_LIMIT, MAX_LIMIT

INTROSPECTION_ROOTS = ("__schema", "__type")
PAGE_ARGUMENTS = ("limit", "first")
# The size of a list nothing pages: the largest page (and the most groups an aggregate answers).
UNPAGED = MAX_LIMIT


class FragmentCycle(Exception):
    """A fragment spreads itself, directly or through others."""

    def __init__(self, name: str) -> None:
        super().__init__(f"fragment {name!r} spreads itself")
        self.name = name


@dataclass
class Measure:
    """What one selection adds up to, relative to where it is selected."""

    depth: int = 0
    aliases: int = 0
    introspection_depth: int = 0  # how deep inside __schema / __type
    cost: int = 0
    # The cost of one item of the lists here that the field above pages (``edges`` under ``first:``).
    paged: int = 0

    def add(self, other: Measure) -> None:
        """``other`` selected beside this (a fragment's selection, a field)."""
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases
        self.introspection_depth = max(self.introspection_depth, other.introspection_depth)
        self.cost += other.cost
        self.paged += other.paged


@dataclass(frozen=True)
class OperationMeasure:
    depth: int
    aliases: int
    introspection_depth: int
    cost: int
    # Selections looked at while measuring: the work the measure took, at most twice the document's selections.
    visits: int


def measure(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> OperationMeasure:
    """Measure ``operation`` with its fragments inlined; ``variables`` are the coerced variable values (for
    ``limit`` and ``first`` given as variables). Raises :class:`FragmentCycle`."""
    measurer = _Measurer(schema, fragments, variables)
    for name in measurer.fragment_order(operation.selection_set):
        fragment = fragments[name]
        on_type = schema.get_type(fragment.type_condition.name.value)
        measurer.measured[name] = measurer.selection(fragment.selection_set, on_type)
    root = measurer.selection(operation.selection_set, _root_type(schema, operation.operation))
    return OperationMeasure(
        depth=root.depth,
        aliases=root.aliases,
        introspection_depth=root.introspection_depth,
        cost=root.cost + root.paged * UNPAGED,
        visits=measurer.visits,
    )


class _Measurer:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.measured: dict[str, Measure] = {}
        self.visits = 0

    def fragment_order(self, selection: SelectionSetNode) -> list[str]:
        """The fragments ``selection`` reaches, each after the ones it spreads (an iterative depth-first
        walk: a long chain of fragments does not deepen the interpreter's stack)."""
        order: list[str] = []
        done: set[str] = set()
        stack: list[tuple[str | None, Iterator[str]]] = [(None, self._spreads(selection))]
        on_stack: set[str] = set()
        while stack:
            name, spreads = stack[-1]
            child = next(spreads, None)
            if child is None:
                stack.pop()
                if name is not None:
                    on_stack.discard(name)
                    done.add(name)
                    order.append(name)
            elif child in on_stack:
                raise FragmentCycle(child)
            elif child not in done and child in self.fragments:
                on_stack.add(child)
                stack.append((child, self._spreads(self.fragments[child].selection_set)))
        return order

    def _spreads(self, selection: SelectionSetNode) -> Iterator[str]:
        """The fragments a selection spreads, at any depth (each name once)."""
        names: dict[str, None] = {}
        pending = [selection]
        while pending:
            for node in pending.pop().selections:
                self.visits += 1
                if isinstance(node, FragmentSpreadNode):
                    names[node.name.value] = None
                elif isinstance(node, FieldNode | InlineFragmentNode) and node.selection_set is not None:
                    pending.append(node.selection_set)
        return iter(names)

    def selection(self, selection: SelectionSetNode, parent: Any) -> Measure:
        out = Measure()
        for node in selection.selections:
            self.visits += 1
            if isinstance(node, FieldNode):
                out.add(self.field(node, parent))
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                inner = parent if condition is None else self.schema.get_type(condition.name.value)
                out.add(self.selection(node.selection_set, inner))
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.measured.get(node.name.value)
                if fragment is not None:
                    out.add(fragment)
        return out

    def field(self, node: FieldNode, parent: Any) -> Measure:
        name = node.name.value
        definition = _field_definition(self.schema, parent, name)
        field_type = definition.type if definition is not None else None
        inner = Measure()
        if node.selection_set is not None:
            inner = self.selection(node.selection_set, get_named_type(field_type) if field_type else None)
        out = Measure(aliases=inner.aliases + (node.alias is not None))
        if name in INTROSPECTION_ROOTS or (parent is not None and is_introspection_type(parent)):
            # Measured apart: an introspection's depth does not count towards the query's.
            out.introspection_depth = inner.introspection_depth + 1
            out.cost = 1 + inner.cost + inner.paged
            return out
        out.depth = 1 + inner.depth
        out.introspection_depth = inner.introspection_depth
        if node.selection_set is None:
            out.cost = 1  # a leaf: one value, or one list of values
            return out
        page = self._page(node, definition)
        lists = _list_levels(field_type)
        if not lists:
            out.cost = 1 + inner.cost + inner.paged * (UNPAGED if page is None else page)
            return out
        item = (inner.cost + inner.paged * UNPAGED) * UNPAGED ** (lists - 1)
        if page is None:
            out.cost, out.paged = 1, item  # paged by the field above, or its maximum
        else:
            out.cost = 1 + item * page
        return out

    def _page(self, node: FieldNode, definition: GraphQLField | None) -> int | None:
        """The page size a field asks for (``limit`` / ``first``), its default when not given; None when the
        field takes neither."""
        if definition is None:
            return None
        for name in PAGE_ARGUMENTS:
            if name not in definition.args:
                continue
            given = next((a.value for a in node.arguments or () if a.name.value == name), None)
            value: Any = None
            if isinstance(given, IntValueNode):
                value = int(given.value)
            elif isinstance(given, VariableNode):
                value = self.variables.get(given.name.value)
            if isinstance(value, bool) or not isinstance(value, int):
                return DEFAULT_LIMIT
            # Beyond the maximum is the resolver's to refuse, naming the argument.
            return min(max(value, 0), MAX_LIMIT)
        return None


def _root_type(schema: GraphQLSchema, operation: OperationType) -> GraphQLNamedType | None:
    if operation is OperationType.QUERY:
        return schema.query_type
    if operation is OperationType.MUTATION:
        return schema.mutation_type
    return schema.subscription_type


def _field_definition(schema: GraphQLSchema, parent: Any, name: str) -> GraphQLField | None:
    if name == "__typename":
        return TypeNameMetaFieldDef
    if parent is not None and parent is schema.query_type:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
    fields = getattr(parent, "fields", None)
    definition = fields.get(name) if isinstance(fields, Mapping) else None
    return definition if isinstance(definition, GraphQLField) else None


def _list_levels(field_type: Any) -> int:
    """How many lists a type nests (``[[Orders!]!]`` is two)."""
    levels = 0
    while isinstance(field_type, GraphQLNonNull | GraphQLList):
        levels += isinstance(field_type, GraphQLList)
        field_type = field_type.of_type
    return levels


__all__ = ["INTROSPECTION_ROOTS", "FragmentCycle", "Measure", "OperationMeasure", "measure"]
