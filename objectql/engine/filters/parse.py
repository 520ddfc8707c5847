"""Both filter input forms → one AST, checked against an object definition.

The list form (``[["status", "=", "paid"], "or", [...]]``) and the object form
(``{"status": "paid", "$or": [...]}``) are validated slot by slot: every error is ``INVALID_FILTER`` with
the path of the offending slot as given (``[2][0]``, ``$or[1].total.$gt``). Field names and operators are
checked against the definition here, so nothing unchecked reaches SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
    Related,
    UserToken,
    Via,
    conjoin,
    disjoin,
)
from objectql.engine.values import check_value
from objectql.errors import Forbidden, InvalidFilter
from objectql.metadata.model import FieldDef, Kind, ObjectDef

if TYPE_CHECKING:
    from objectql.metadata.registry import Registry

MAX_DEPTH = 8
MAX_LIST = 1000
# Over a whole filter: bounds that keep its SQL within what both databases take (expression depth, bind
# parameters) and its matcher cheap.
MAX_CRITERIA = 256
MAX_VALUES = 10_000
MAX_PATTERN = 256
# References a path may follow: customer.account.owner.name is three hops.
MAX_HOPS = 3
QUANTIFIERS = {"any": False, "none": True}
OBJECT_QUANTIFIERS = {"$any": False, "$none": True}

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


def _everything(_object: str) -> Node:
    return TRUE


@dataclass(frozen=True)
class Links:
    """What a filter needs to follow paths (``customer.region``) and related lists (``orders any``).

    ``readable(object, field)`` says whether the filter's reader may name a field of another object along
    a path (None: every field — row rules and the system); ``visible(object)`` is the bound filter of the
    records of ``object`` the reader can see (FALSE without read permission): a parent outside it makes a
    path null, a child outside it is not counted by ``any`` / ``none``.
    """

    registry: Registry
    readable: Callable[[str, str], bool] | None = None
    visible: Callable[[str], Node] = field(default=_everything)


@dataclass
class _Budget:
    """Limits over a whole filter, related-list filters included."""

    criteria: int = 0
    values: int = 0


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
    links: Links | None = None,
) -> Node:
    """Compile a filter in either form to the AST; ``None`` and ``[]`` / ``{}`` match everything.

    Without ``links`` a filter names this object's own fields only; with them, paths and related lists too.
    """
    if isinstance(raw, AllOf):
        return conjoin(
            *(_labelled(part, label, obj, guard, links) for part, label in zip(raw.parts, raw.labels, strict=True))
        )
    if isinstance(raw, Criterion | And | Or | Not | Const | Via | Related):
        return raw
    return _Parser(obj, guard, allow_tokens, links, _Budget()).top(raw, "", 1)


def _labelled(part: Any, label: str | None, obj: ObjectDef, guard: FieldGuard | None, links: Links | None) -> Node:
    try:
        return parse_filter(part, obj, guard=guard, links=links)
    except InvalidFilter as exc:
        if label is None:
            raise
        path = f"{label}.{exc.path}" if exc.path and not exc.path.startswith("[") else f"{label}{exc.path}"
        raise InvalidFilter(path, exc.reason, details=exc.details) from None


class _Parser:
    def __init__(
        self, obj: ObjectDef, guard: FieldGuard | None, allow_tokens: bool, links: Links | None, budget: _Budget
    ) -> None:
        self.obj = obj
        self.guard = guard
        self.allow_tokens = allow_tokens
        self.links = links
        self.budget = budget

    def top(self, raw: Any, path: str, depth: int) -> Node:
        """A whole filter (or a related list's) in either form, its top level at ``depth``."""
        if raw is None:
            return TRUE
        if isinstance(raw, dict):
            return self.object_form(raw, path, depth)
        if isinstance(raw, list | tuple):
            if raw and isinstance(raw[0], str) and raw[0] not in ("and", "or"):
                # A single criterion given bare: ["status", "=", "paid"].
                return self.criterion(list(raw), path, depth)
            return self.group(list(raw), path, depth)
        raise InvalidFilter(path, "a filter is a list of criteria or an object")

    def count_criterion(self, path: str) -> None:
        self.budget.criteria += 1
        if self.budget.criteria > MAX_CRITERIA:
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
                node = self.criterion(item, at, depth)
            elif item and isinstance(item[0], list | tuple):
                node = self.group(item, at, depth + 1)
            else:
                raise InvalidFilter(at, "a criterion [field, operator, value] or a non-empty group")
            alternatives[-1].append(node)
            expect_operand = False
        if expect_operand:
            raise InvalidFilter(f"{path}[{len(items) - 1}]", "a filter may not end with a connector")
        return disjoin(*(conjoin(*conj) for conj in alternatives))

    def criterion(self, item: list[Any], path: str, depth: int) -> Node:
        if len(item) not in (2, 3):
            raise InvalidFilter(path, "a criterion is [field, operator] or [field, operator, value]")
        self.count_criterion(path)
        op_raw = item[1]
        if isinstance(op_raw, str) and op_raw in QUANTIFIERS:
            # [related list, any|none, filter on its records]; without a filter: any record at all.
            inner = item[2] if len(item) == 3 else None
            return self.related(item[0], f"{path}[0]", f"{path}[1]", QUANTIFIERS[op_raw], inner, f"{path}[2]", depth)
        target, fdef, wrap = self.field(item[0], f"{path}[0]")
        if not isinstance(op_raw, str) or op_raw not in OPERATORS:
            raise InvalidFilter(f"{path}[1]", f"unknown operator {op_raw!r}", details={"operator": op_raw})
        op = OPERATORS[op_raw]
        if len(item) == 2:
            if op not in NULL_OPS:
                raise InvalidFilter(path, f"operator {op_raw!r} needs a value")
            return wrap(target.build(fdef, op, True, f"{path}[1]", f"{path}[2]"))
        return wrap(target.build(fdef, op, item[2], f"{path}[1]", f"{path}[2]"))

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
                parts.append(self.field_condition(key, value, at, depth))
        return conjoin(*parts)

    def field_condition(self, key: Any, value: Any, path: str, depth: int) -> Node:
        self.count_criterion(path)
        if isinstance(value, dict) and value and all(k in OBJECT_QUANTIFIERS for k in value):
            return conjoin(
                *(
                    self.related(key, path, f"{path}.{q}", OBJECT_QUANTIFIERS[q], inner, f"{path}.{q}", depth)
                    for q, inner in value.items()
                )
            )
        target, fdef, wrap = self.field(key, path)
        if not isinstance(value, dict):
            return wrap(target.build(fdef, Op.EQ, value, path, path))
        if not value:
            raise InvalidFilter(path, "an operator object needs at least one operator")
        parts: list[Node] = []
        for op_key, operand in value.items():
            at = f"{path}.{op_key}"
            if op_key == "$null":
                if not isinstance(operand, bool):
                    raise InvalidFilter(at, "$null takes true or false")
                op = Op.IS_NULL if operand else Op.IS_NOT_NULL
                parts.append(wrap(target.build(fdef, op, True, at, at)))
                continue
            if op_key in OBJECT_QUANTIFIERS:
                raise InvalidFilter(at, f"{op_key} applies to a related list and stands alone")
            if op_key not in OBJECT_OPERATORS:
                raise InvalidFilter(at, f"unknown operator {op_key!r}", details={"operator": op_key})
            parts.append(wrap(target.build(fdef, OBJECT_OPERATORS[op_key], operand, at, at)))
        return conjoin(*parts)

    # -- paths and related lists ----------------------------------------------------------------

    def field(self, name: Any, path: str) -> tuple[_Parser, FieldDef, Callable[[Node], Node]]:
        """The field a name denotes — this object's, or the last of a path — the parser of the object it
        belongs to, and what wraps a criterion on it into the path's hops."""
        if isinstance(name, str) and "." in name and self.links is not None:
            target, hops = self.walk(name, name.split(".")[:-1], path)
            last = name.rsplit(".", 1)[1]
            fdef = target.obj.field(last)
            if fdef is None:
                raise InvalidFilter(
                    path, f"unknown field {last!r} on {target.obj.name} (in {name!r})", details={"field": name}
                )
            self.check_readable(target.obj, last, name, path)
            return target, fdef, hops
        fdef = self.obj.field(name) if isinstance(name, str) else None
        if fdef is None:
            raise InvalidFilter(path, f"unknown field {name!r} on {self.obj.name}", details={"field": name})
        if self.guard is not None:
            self.guard(fdef.name, path)
        return self, fdef, _unchanged

    def walk(self, name: str, references: list[str], path: str) -> tuple[_Parser, Callable[[Node], Node]]:
        """Follow ``references`` from this object: the parser of the object reached, and the hops' wrapper."""
        target, hops = self.hops(name, references, path)

        def wrap(node: Node) -> Node:
            if isinstance(node, Const):
                return node  # in [] / nin [] hold whatever the path reaches
            for ref, target_name, visible in reversed(hops):
                node = Via(ref, target_name, visible, node)
            return node

        return target, wrap

    def hops(self, name: str, references: list[str], path: str) -> tuple[_Parser, list[tuple[str, str, Node]]]:
        assert self.links is not None
        if len(references) > MAX_HOPS:
            raise InvalidFilter(
                path, f"a path follows at most {MAX_HOPS} references ({name!r})", details={"field": name}
            )
        obj = self.obj
        hops: list[tuple[str, str, Node]] = []
        for ref in references:
            fdef = obj.field(ref)
            if fdef is None:
                raise InvalidFilter(path, f"unknown field {ref!r} on {obj.name} (in {name!r})", details={"field": name})
            if not fdef.reference_to:
                raise InvalidFilter(
                    path,
                    f"{ref!r} on {obj.name} is a {fdef.type.value} field: a path goes through lookup and "
                    f"master_detail fields only (in {name!r})",
                    details={"field": name},
                )
            self.check_readable(obj, ref, name, path)
            hops.append((ref, fdef.reference_to, self.links.visible(fdef.reference_to)))
            obj = self.links.registry.get(fdef.reference_to)
        return self.on(obj), hops

    def on(self, obj: ObjectDef) -> _Parser:
        """A parser of filters on another object, sharing this filter's limits and reader."""
        if obj is self.obj:
            return self
        assert self.links is not None
        readable = self.links.readable
        guard: FieldGuard | None = None
        if readable is not None:

            def guard(field: str, path: str) -> None:
                if not readable(obj.name, field):
                    raise Forbidden(
                        f"field {field!r} of {obj.name} is not readable", details={"field": field, "path": path}
                    )

        return _Parser(obj, guard, self.allow_tokens, self.links, self.budget)

    def check_readable(self, obj: ObjectDef, field: str, name: str, path: str) -> None:
        assert self.links is not None
        readable = self.links.readable
        if obj is self.obj and self.guard is not None and readable is None:
            self.guard(field, path)
        elif readable is not None and not readable(obj.name, field):
            raise Forbidden(
                f"field {field!r} of {obj.name} is not readable (in {name!r})", details={"field": name, "path": path}
            )

    def related(self, name: Any, path: str, op_path: str, none: bool, inner: Any, inner_path: str, depth: int) -> Node:
        """``any`` / ``none`` over a related list (possibly at the end of a path); its filter is a nested
        group: one level deeper than the criterion's."""
        if self.links is None:
            raise InvalidFilter(op_path, "any / none apply to related lists, which this filter cannot name")
        if not isinstance(name, str):
            raise InvalidFilter(path, f"unknown related list {name!r} on {self.obj.name}", details={"field": name})
        *references, last = name.split(".")
        owner, wrap = self.walk(name, references, path) if references else (self, _unchanged)
        relation = self.links.registry.related_lists(owner.obj.name).get(last)
        if relation is None:
            if owner.obj.field(last) is not None:
                raise InvalidFilter(
                    op_path,
                    f"any / none apply to related lists; {last!r} is a field of {owner.obj.name}",
                    details={"field": name},
                )
            raise InvalidFilter(path, f"unknown related list {last!r} on {owner.obj.name}", details={"field": name})
        child = self.links.registry.get(relation.child)
        # Linking children to their parent reads the child's reference field: it must be readable.
        self.check_readable(child, relation.field, name, path)
        if depth + 1 > MAX_DEPTH:
            raise InvalidFilter(inner_path, f"nesting deeper than {MAX_DEPTH} levels")
        item = owner.on(child).top(inner, inner_path, depth + 1)
        visible = self.links.visible(child.name)
        return wrap(Related(last, child.name, relation.field, visible, item, none))

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
            self.budget.values += len(value)
            if self.budget.values > MAX_VALUES:
                raise InvalidFilter(value_path, f"a filter's lists hold at most {MAX_VALUES} values in all")
        if self.allow_tokens and isinstance(value, str) and _TOKEN_RE.match(value):
            return Criterion(fdef.name, op, UserToken(_TOKEN_RE.match(value).group(1)))  # type: ignore[union-attr]
        return typed_criterion(fdef, op, value, value_path)


def _unchanged(node: Node) -> Node:
    return node


def follow_path(
    name: str, obj: ObjectDef, links: Links, guard: FieldGuard | None, path: str
) -> tuple[list[tuple[str, str, Node]], FieldDef]:
    """The hops of a dotted path (``customer.name``) from ``obj`` and the field it ends on, checked as a
    filter's path is (InvalidFilter, or Forbidden for an unreadable field along it)."""
    parser = _Parser(obj, guard, False, links, _Budget())
    target, hops = parser.hops(name, name.split(".")[:-1], path)
    last = name.rsplit(".", 1)[1]
    fdef = target.obj.field(last)
    if fdef is None:
        raise InvalidFilter(path, f"unknown field {last!r} on {target.obj.name} (in {name!r})", details={"field": name})
    parser.check_readable(target.obj, last, name, path)
    return hops, fdef


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


def bind_user(
    node: Node, obj: ObjectDef, resolve: Callable[[str], Any], objects: Callable[[str], ObjectDef] | None = None
) -> Node:
    """Substitute ``$user.*`` tokens; a token that resolves to nothing usable matches nothing.

    ``objects`` gives the definitions a path or related list reaches (tokens there are typed by them).
    """
    if isinstance(node, Via | Related) and objects is not None:
        target = node.target if isinstance(node, Via) else node.child
        item = bind_user(node.item, objects(target), resolve, objects)
        if isinstance(node, Via):
            return item if isinstance(item, Const) else Via(node.field, node.target, node.visible, item)
        return Related(node.name, node.child, node.field, node.visible, item, node.none)
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
        return Not(bind_user(node.item, obj, resolve, objects))
    if isinstance(node, And):
        return conjoin(*(bind_user(i, obj, resolve, objects) for i in node.items))
    if isinstance(node, Or):
        return disjoin(*(bind_user(i, obj, resolve, objects) for i in node.items))
    return node


def has_tokens(node: Node) -> bool:
    if isinstance(node, Criterion):
        return isinstance(node.value, UserToken)
    if isinstance(node, Not | Via | Related):
        return has_tokens(node.item)
    if isinstance(node, And | Or):
        return any(has_tokens(i) for i in node.items)
    return False
