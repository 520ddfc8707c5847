"""Both filter input forms → one AST, checked against an object definition.

The list form (``[["status", "=", "paid"], "or", [...]]``) and the object form
(``{"status": "paid", "$or": [...]}``) are validated slot by slot: every error is ``INVALID_FILTER`` with
the path of the offending slot as given (``[2][0]``, ``$or[1].total.$gt``). Field names and operators are
checked against the definition here, so nothing unchecked reaches SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from objectql.engine.filters.ast import (
    FALSE,
    LIST_OPS,
    NULL_OPS,
    ORDERING_OPS,
    PATTERN_OPS,
    TRUE,
    And,
    Const,
    Criterion,
    Node,
    Not,
    Op,
    Or,
    UserToken,
    conjoin,
    disjoin,
)
from objectql.engine.values import check_value
from objectql.errors import Forbidden, InvalidFilter
from objectql.metadata.model import FieldDef, Kind, ObjectDef

MAX_DEPTH = 8
MAX_LIST = 1000
# Over a whole filter: bounds that keep its SQL within what both databases take (expression depth, bind
# parameters) and its matcher cheap.
MAX_CRITERIA = 256
MAX_VALUES = 10_000
MAX_PATTERN = 256

OPERATORS: dict[str, Op] = {op.value: op for op in Op}
OPERATORS["<>"] = Op.NE
OPERATORS["not in"] = Op.NIN

OBJECT_OPERATORS: dict[str, Op] = {
    "$eq": Op.EQ,
    "$ne": Op.NE,
    "$gt": Op.GT,
    "$gte": Op.GTE,
    "$lt": Op.LT,
    "$lte": Op.LTE,
    "$in": Op.IN,
    "$nin": Op.NIN,
    "$contains": Op.CONTAINS,
    "$notcontains": Op.NOTCONTAINS,
    "$startswith": Op.STARTSWITH,
    "$endswith": Op.ENDSWITH,
    "$between": Op.BETWEEN,
}

_ALL_OPS = frozenset(Op)
_COMPARABLE = frozenset({Op.EQ, Op.NE, Op.IN, Op.NIN, *ORDERING_OPS, *NULL_OPS})
# Which operators apply to which field kind (docs/filters.md); anything else is INVALID_FILTER.
APPLICABLE: dict[Kind, frozenset[Op]] = {
    Kind.TEXT: _ALL_OPS,
    Kind.INTEGER: _COMPARABLE,
    Kind.FLOAT: _COMPARABLE,
    Kind.DECIMAL: _COMPARABLE,
    Kind.DATE: _COMPARABLE,
    Kind.DATETIME: _COMPARABLE,
    Kind.BOOLEAN: frozenset({Op.EQ, Op.NE, Op.IN, Op.NIN, *NULL_OPS}),
    Kind.JSON: NULL_OPS,
}

_TOKEN_RE = re.compile(r"^\$user\.([A-Za-z_][A-Za-z0-9_]*)$")

FieldGuard = Callable[[str, str], None]
"""Called with (field, path) for every field a filter names; raises Forbidden to refuse it."""


class AllOf:
    """Several filters that must all hold, each checked on its own (GraphQL's ``where`` and ``filters``).

    A part may also be an already checked AST node (built by the caller, e.g. a keyset cursor). Errors in a
    part named with a label carry it as a path prefix (``where.total.$gt``).
    """

    def __init__(self, *parts: Any, labels: tuple[str | None, ...] = ()) -> None:
        self.parts = parts
        self.labels = labels or (None,) * len(parts)


def parse_filter(
    raw: Any,
    obj: ObjectDef,
    *,
    guard: FieldGuard | None = None,
    allow_tokens: bool = False,
) -> Node:
    """Compile a filter in either form to the AST; ``None`` and ``[]`` / ``{}`` match everything."""
    if isinstance(raw, AllOf):
        return conjoin(*(_labelled(part, label, obj, guard) for part, label in zip(raw.parts, raw.labels, strict=True)))
    if isinstance(raw, Criterion | And | Or | Not | Const):
        return raw
    parser = _Parser(obj, guard, allow_tokens)
    if raw is None:
        return TRUE
    if isinstance(raw, dict):
        return parser.object_form(raw, "", 1)
    if isinstance(raw, list | tuple):
        if raw and isinstance(raw[0], str) and raw[0] not in ("and", "or"):
            # A single criterion given bare: ["status", "=", "paid"].
            return parser.criterion(list(raw), "")
        return parser.group(list(raw), "", 1)
    raise InvalidFilter("", "a filter is a list of criteria or an object")


def _labelled(part: Any, label: str | None, obj: ObjectDef, guard: FieldGuard | None) -> Node:
    try:
        return parse_filter(part, obj, guard=guard)
    except InvalidFilter as exc:
        if label is None:
            raise
        path = f"{label}.{exc.path}" if exc.path and not exc.path.startswith("[") else f"{label}{exc.path}"
        raise InvalidFilter(path, exc.reason, details=exc.details) from None


class _Parser:
    def __init__(self, obj: ObjectDef, guard: FieldGuard | None, allow_tokens: bool) -> None:
        self.obj = obj
        self.guard = guard
        self.allow_tokens = allow_tokens
        self.criteria = 0
        self.values = 0

    def count_criterion(self, path: str) -> None:
        self.criteria += 1
        if self.criteria > MAX_CRITERIA:
            raise InvalidFilter(path, f"a filter holds at most {MAX_CRITERIA} criteria")

    # -- list form ------------------------------------------------------------------------------

    def group(self, items: list[Any], path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise InvalidFilter(path, f"nesting deeper than {MAX_DEPTH} levels")
        if not items:
            if depth == 1:
                return TRUE
            raise InvalidFilter(path, "an empty group")
        alternatives: list[list[Node]] = [[]]
        expect_operand = True
        for i, item in enumerate(items):
            at = f"{path}[{i}]"
            if isinstance(item, str):
                if item not in ("and", "or"):
                    raise InvalidFilter(at, f"{item!r} is not a connector (use lower-case 'and' or 'or')")
                if expect_operand:
                    raise InvalidFilter(at, f"a connector {item!r} must stand between two criteria")
                if item == "or":
                    alternatives.append([])
                expect_operand = True
                continue
            if not isinstance(item, list | tuple):
                raise InvalidFilter(at, "a criterion [field, operator, value], a group or a connector")
            item = list(item)
            if item and isinstance(item[0], str):
                node = self.criterion(item, at)
            elif item and isinstance(item[0], list | tuple):
                node = self.group(item, at, depth + 1)
            else:
                raise InvalidFilter(at, "a criterion [field, operator, value] or a non-empty group")
            alternatives[-1].append(node)
            expect_operand = False
        if expect_operand:
            raise InvalidFilter(f"{path}[{len(items) - 1}]", "a filter may not end with a connector")
        return disjoin(*(conjoin(*conj) for conj in alternatives))

    def criterion(self, item: list[Any], path: str) -> Node:
        if len(item) not in (2, 3):
            raise InvalidFilter(path, "a criterion is [field, operator] or [field, operator, value]")
        self.count_criterion(path)
        fdef = self.field(item[0], f"{path}[0]")
        op_raw = item[1]
        if not isinstance(op_raw, str) or op_raw not in OPERATORS:
            raise InvalidFilter(f"{path}[1]", f"unknown operator {op_raw!r}", details={"operator": op_raw})
        op = OPERATORS[op_raw]
        if len(item) == 2:
            if op not in NULL_OPS:
                raise InvalidFilter(path, f"operator {op_raw!r} needs a value")
            return self.build(fdef, op, True, f"{path}[1]", f"{path}[2]")
        return self.build(fdef, op, item[2], f"{path}[1]", f"{path}[2]")

    # -- object form ----------------------------------------------------------------------------

    def object_form(self, raw: dict[str, Any], path: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise InvalidFilter(path, f"nesting deeper than {MAX_DEPTH} levels")
        parts: list[Node] = []
        for key, value in raw.items():
            at = f"{path}.{key}" if path else str(key)
            if key in ("$and", "$or"):
                if not isinstance(value, list) or not value:
                    raise InvalidFilter(at, f"{key} takes a non-empty list of filter objects")
                subs: list[Node] = []
                for i, sub in enumerate(value):
                    if not isinstance(sub, dict):
                        raise InvalidFilter(f"{at}[{i}]", "a filter object")
                    subs.append(self.object_form(sub, f"{at}[{i}]", depth + 1))
                parts.append(conjoin(*subs) if key == "$and" else disjoin(*subs))
            elif key == "$not":
                if not isinstance(value, dict):
                    raise InvalidFilter(at, "$not takes a filter object")
                parts.append(Not(self.object_form(value, at, depth + 1)))
            elif isinstance(key, str) and key.startswith("$"):
                raise InvalidFilter(at, f"unknown logical operator {key!r} (use $and, $or, $not)")
            else:
                parts.append(self.field_condition(key, value, at))
        return conjoin(*parts)

    def field_condition(self, key: Any, value: Any, path: str) -> Node:
        self.count_criterion(path)
        fdef = self.field(key, path)
        if not isinstance(value, dict):
            return self.build(fdef, Op.EQ, value, path, path)
        if not value:
            raise InvalidFilter(path, "an operator object needs at least one operator")
        parts: list[Node] = []
        for op_key, operand in value.items():
            at = f"{path}.{op_key}"
            if op_key == "$null":
                if not isinstance(operand, bool):
                    raise InvalidFilter(at, "$null takes true or false")
                op = Op.IS_NULL if operand else Op.IS_NOT_NULL
                parts.append(self.build(fdef, op, True, at, at))
                continue
            if op_key not in OBJECT_OPERATORS:
                raise InvalidFilter(at, f"unknown operator {op_key!r}", details={"operator": op_key})
            parts.append(self.build(fdef, OBJECT_OPERATORS[op_key], operand, at, at))
        return conjoin(*parts)

    # -- shared ---------------------------------------------------------------------------------

    def field(self, name: Any, path: str) -> FieldDef:
        fdef = self.obj.field(name) if isinstance(name, str) else None
        if fdef is None:
            raise InvalidFilter(path, f"unknown field {name!r} on {self.obj.name}", details={"field": name})
        if self.guard is not None:
            self.guard(fdef.name, path)
        return fdef

    def build(self, fdef: FieldDef, op: Op, value: Any, op_path: str, value_path: str) -> Node:
        if value is None and op in (Op.EQ, Op.NE):
            op, value = (Op.IS_NULL if op is Op.EQ else Op.IS_NOT_NULL), True
        if op not in APPLICABLE[fdef.kind]:
            raise InvalidFilter(
                op_path,
                f"operator {op.value!r} does not apply to {fdef.type.value} field {fdef.name!r}",
                details={"operator": op.value, "field": fdef.name},
            )
        if op in NULL_OPS:
            if value is not True:
                raise InvalidFilter(value_path, f"{op.value} takes no value (or true)")
            return Criterion(fdef.name, op)
        if op in LIST_OPS and isinstance(value, list | tuple):
            self.values += len(value)
            if self.values > MAX_VALUES:
                raise InvalidFilter(value_path, f"a filter's lists hold at most {MAX_VALUES} values in all")
        if self.allow_tokens and isinstance(value, str) and _TOKEN_RE.match(value):
            return Criterion(fdef.name, op, UserToken(_TOKEN_RE.match(value).group(1)))  # type: ignore[union-attr]
        return typed_criterion(fdef, op, value, value_path)


def typed_criterion(fdef: FieldDef, op: Op, value: Any, path: str) -> Node:
    """A criterion whose value has been checked against the field's type; raises InvalidFilter."""

    def scalar(v: Any) -> Any:
        if v is None:
            raise InvalidFilter(path, f"null is only allowed with = and != (for {op.value!r})")
        try:
            return check_value(fdef.kind, v)
        except ValueError as exc:
            raise InvalidFilter(path, f"{fdef.name}: {exc}") from None

    if op in LIST_OPS:
        if not isinstance(value, list | tuple):
            raise InvalidFilter(path, f"{op.value} takes a list of values")
        if len(value) > MAX_LIST:
            raise InvalidFilter(path, f"{op.value} takes at most {MAX_LIST} values")
        if not value:
            return FALSE if op is Op.IN else TRUE
        return Criterion(fdef.name, op, tuple(dict.fromkeys(scalar(v) for v in value)))
    if op is Op.BETWEEN:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise InvalidFilter(path, "between takes exactly [low, high]")
        return Criterion(fdef.name, op, (scalar(value[0]), scalar(value[1])))
    if op in PATTERN_OPS:
        text = scalar(value)
        if len(text) > MAX_PATTERN:
            raise InvalidFilter(path, f"pattern values are at most {MAX_PATTERN} characters")
        return Criterion(fdef.name, op, text)
    return Criterion(fdef.name, op, scalar(value))


def forbid_unreadable(readable: Callable[[str], bool]) -> FieldGuard:
    def guard(field: str, path: str) -> None:
        if not readable(field):
            raise Forbidden(f"field {field!r} is not readable", details={"field": field, "path": path})

    return guard


def bind_user(node: Node, obj: ObjectDef, resolve: Callable[[str], Any]) -> Node:
    """Substitute ``$user.*`` tokens; a token that resolves to nothing usable matches nothing."""
    if isinstance(node, Criterion):
        if not isinstance(node.value, UserToken):
            return node
        value = resolve(node.value.claim)
        if value is None:
            return FALSE
        fdef = obj.fields[node.field]
        try:
            return typed_criterion(fdef, node.op, value, "")
        except InvalidFilter:
            return FALSE
    if isinstance(node, Not):
        return Not(bind_user(node.item, obj, resolve))
    if isinstance(node, And):
        return conjoin(*(bind_user(i, obj, resolve) for i in node.items))
    if isinstance(node, Or):
        return disjoin(*(bind_user(i, obj, resolve) for i in node.items))
    return node


def has_tokens(node: Node) -> bool:
    if isinstance(node, Criterion):
        return isinstance(node.value, UserToken)
    if isinstance(node, Not):
        return has_tokens(node.item)
    if isinstance(node, And | Or):
        return any(has_tokens(i) for i in node.items)
    return False
