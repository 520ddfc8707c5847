"""Filter AST → an in-memory predicate over record dicts, agreeing with the SQL compiler.

Evaluation is three-valued (True / False / None for unknown): a comparison with a null field is
unknown, ``not`` of unknown is unknown, and a record matches only when the whole filter is True.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from objectql.engine.filters.ast import COMPARISONS, And, Const, Criterion, Node, Not, Op, Or

FieldValues = Mapping[str, Any]
Tri = bool | None
Evaluator = Callable[[FieldValues], Tri]


def compile_matcher(node: Node) -> Callable[[FieldValues], bool]:
    """A predicate that is True exactly when the record is in the filter's result set."""
    evaluate = _compile(node)
    return lambda record: evaluate(record) is True


def evaluate(node: Node, record: FieldValues) -> Tri:
    return _compile(node)(record)


def _compile(node: Node) -> Evaluator:
    if isinstance(node, Criterion):
        return _criterion(node)
    if isinstance(node, Const):
        value = node.value
        return lambda _r: value
    if isinstance(node, Not):
        inner = _compile(node.item)

        def negate(r: FieldValues) -> Tri:
            v = inner(r)
            return None if v is None else not v

        return negate
    parts = [_compile(i) for i in node.items]
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
