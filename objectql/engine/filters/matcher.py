"""Filter AST → an in-memory predicate over record dicts, agreeing with the SQL compiler.

Evaluation is three-valued (True / False / None for unknown): a comparison with a null field is
unknown, ``not`` of unknown is unknown, and a record matches only when the whole filter is True.

A filter through relations (paths, ``any`` / ``none``) reads other records through a :class:`Graph`: the
matcher asks it for a parent by id and for the children of a record, and applies each hop's ``visible`` filter itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from objectql.engine.filters.ast import COMPARISONS, And, Const, Criterion, Node, Not, Op, Or, Related, Via

FieldValues = Mapping[str, Any]
Tri = bool | None
Evaluator = Callable[[FieldValues], Tri]
# What a path reaches when there is no (visible) parent: every field null.
_NOTHING: FieldValues = {}


class Graph(Protocol):
    """The related records a filter through relations reads (every field of each, unprojected)."""

    def record(self, object: str, id: Any) -> FieldValues | None:
        """The ``object`` record with ``id``, or None when there is none."""

    def children(self, object: str, field: str, id: Any) -> Iterable[FieldValues]:
        """The ``object`` records whose reference ``field`` holds ``id``."""


def compile_matcher(node: Node, graph: Graph | None = None) -> Callable[[FieldValues], bool]:
    """A predicate that is True exactly when the record is in the filter's result set.

    A filter through relations needs the ``graph`` its records belong to (ValueError without one).
    """
    evaluate = _compile(node, graph)
    return lambda record: evaluate(record) is True


def evaluate(node: Node, record: FieldValues, graph: Graph | None = None) -> Tri:
    return _compile(node, graph)(record)


def _compile(node: Node, graph: Graph | None) -> Evaluator:
    if isinstance(node, Criterion):
        return _criterion(node)
    if isinstance(node, Const):
        value = node.value
        return lambda _r: value
    if isinstance(node, Via | Related):
        if graph is None:
            raise ValueError("a filter through relations is matched against a graph of records")
        return _via(node, graph) if isinstance(node, Via) else _related(node, graph)
    if isinstance(node, Not):
        inner = _compile(node.item, graph)

        def negate(r: FieldValues) -> Tri:
            v = inner(r)
            return None if v is None else not v

        return negate
    parts = [_compile(i, graph) for i in node.items]
    if isinstance(node, And):

        def conjunction(r: FieldValues) -> Tri:
            unknown = False
            for part in parts:
                v = part(r)
                if v is False:
                    return False
                unknown = unknown or v is None
            return None if unknown else True

        return conjunction
    assert isinstance(node, Or)

    def disjunction(r: FieldValues) -> Tri:
        unknown = False
        for part in parts:
            v = part(r)
            if v is True:
                return True
            unknown = unknown or v is None
        return None if unknown else False

    return disjunction


def _via(node: Via, graph: Graph) -> Evaluator:
    inner, visible = _compile(node.item, graph), _compile(node.visible, graph)
    field, target = node.field, node.target

    def follow(r: FieldValues) -> Tri:
        ref = r.get(field)
        parent = graph.record(target, ref) if ref is not None else None
        if parent is None or visible(parent) is not True:
            parent = _NOTHING
        return inner(parent)

    return follow


def _related(node: Related, graph: Graph) -> Evaluator:
    inner, visible = _compile(node.item, graph), _compile(node.visible, graph)
    child, field, none = node.child, node.field, node.none

    def quantify(r: FieldValues) -> Tri:
        parent_id = r.get("id")
        children = graph.children(child, field, parent_id) if parent_id is not None else ()
        found = any(visible(c) is True and inner(c) is True for c in children)
        return not found if none else found

    return quantify


def _criterion(c: Criterion) -> Evaluator:
    field, op, value = c.field, c.op, c.value
    if op is Op.IS_NULL:
        return lambda r: r.get(field) is None
    if op is Op.IS_NOT_NULL:
        return lambda r: r.get(field) is not None
    test: Callable[[Any], bool]
    if op in COMPARISONS:
        compare = COMPARISONS[op]

        def test(v: Any) -> bool:
            return bool(compare(v, value))

    elif op is Op.IN:
        members = set(value)

        def test(v: Any) -> bool:
            return v in members

    elif op is Op.NIN:
        members = set(value)

        def test(v: Any) -> bool:
            return v not in members

    elif op is Op.BETWEEN:
        low, high = value

        def test(v: Any) -> bool:
            return bool(low <= v <= high)

    else:
        needle = value.lower()
        if op is Op.CONTAINS:

            def test(v: Any) -> bool:
                return needle in v.lower()

        elif op is Op.NOTCONTAINS:

            def test(v: Any) -> bool:
                return needle not in v.lower()

        elif op is Op.STARTSWITH:

            def test(v: Any) -> bool:
                return bool(v.lower().startswith(needle))

        else:

            def test(v: Any) -> bool:
                return bool(v.lower().endswith(needle))

    def evaluate_criterion(r: FieldValues) -> Tri:
        v = r.get(field)
        return None if v is None else test(v)

    return evaluate_criterion
