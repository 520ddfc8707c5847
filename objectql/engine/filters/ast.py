"""The one filter AST both input forms compile to, and both back ends (SQL, in-memory) read."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeAlias


class Op(StrEnum):
    EQ = "="
    NE = "!="
    GT = ">"
    GTE = ">="
    LT = "<"
    LTE = "<="
    IN = "in"
    NIN = "nin"
    CONTAINS = "contains"
    NOTCONTAINS = "notcontains"
    STARTSWITH = "startswith"
    ENDSWITH = "endswith"
    BETWEEN = "between"
    IS_NULL = "is_null"
    IS_NOT_NULL = "is_not_null"


ORDERING_OPS = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN})
PATTERN_OPS = frozenset({Op.CONTAINS, Op.NOTCONTAINS, Op.STARTSWITH, Op.ENDSWITH})
LIST_OPS = frozenset({Op.IN, Op.NIN})
NULL_OPS = frozenset({Op.IS_NULL, Op.IS_NOT_NULL})
# The comparison operators as Python operators: the SQL compiler applies them to columns, the
# matcher to values, which keeps the two reading one table.
COMPARISONS: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
}


@dataclass(frozen=True)
class UserToken:
    """``$user.id`` / ``$user.<claim>`` in a row rule, resolved per user by :func:`bind_user`."""

    claim: str

    def __str__(self) -> str:
        return f"$user.{self.claim}"


@dataclass(frozen=True)
class Criterion:
    field: str
    op: Op
    # Typed: a scalar, a tuple (in/nin), a (low, high) pair (between), None (null ops),
    # or a UserToken in an unbound row rule.
    value: Any = None


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Via:
    """One hop of a path (``customer.region``): follow the reference ``field`` to a ``target`` record and
    evaluate ``item`` on it. When there is no such record — a null reference, a missing parent, or one
    outside ``visible`` (the target records the reader can see; TRUE when the filter is a row rule or the system's) —
    ``item`` sees every field as null, so ``=`` is unknown and ``is_null`` true."""

    field: str
    target: str
    visible: Node
    item: Node


@dataclass(frozen=True)
class Related:
    """``[name, "any" | "none", item]`` over a related list: the ``child`` records whose reference
    ``field`` holds this record's id and which are within ``visible``. ``any`` is true when at least one of
    them makes ``item`` true, ``none`` when none does; never unknown."""

    name: str
    child: str
    field: str
    visible: Node
    item: Node
    none: bool = False


Node: TypeAlias = Criterion | And | Or | Not | Const | Via | Related

TRUE = Const(True)
FALSE = Const(False)


def conjoin(*nodes: Node | None) -> Node:
    """AND of the given nodes, dropping ``None`` and TRUE."""
    items = tuple(n for n in nodes if n is not None and n != TRUE)
    if not items:
        return TRUE
    if FALSE in items:
        return FALSE
    return items[0] if len(items) == 1 else And(items)


def disjoin(*nodes: Node) -> Node:
    items = tuple(n for n in nodes if n != FALSE)
    if not items:
        return FALSE
    if TRUE in items:
        return TRUE
    return items[0] if len(items) == 1 else Or(items)


def fields_of(node: Node) -> set[str]:
    """The fields of this record a filter reads (a path reads its first reference, a related list ``id``)."""
    if isinstance(node, Criterion):
        return {node.field}
    if isinstance(node, Via):
        return {node.field}
    if isinstance(node, Related):
        return {"id"}
    if isinstance(node, Not):
        return fields_of(node.item)
    if isinstance(node, And | Or):
        return set().union(*(fields_of(i) for i in node.items))
    return set()


def has_relations(node: Node) -> bool:
    """Whether a filter reaches other records (a path or a related list)."""
    if isinstance(node, Via | Related):
        return True
    if isinstance(node, Not):
        return has_relations(node.item)
    if isinstance(node, And | Or):
        return any(has_relations(i) for i in node.items)
    return False
