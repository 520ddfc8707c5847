"""Permissions at the engine: object CRUD by role, field read/update by role, row rules.

Role lists (docs/permissions.md): ``"anonymous"`` admits anyone, ``"*"`` any authenticated user, any other
entry that role. ``user=None`` is the system and passes everything. An object without a
``permissions`` block (or an action without a list) admits every user allowed in: any authenticated
user, and anonymous users too when the engine runs open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from objectql.engine.filters.ast import (
    FALSE,
    TRUE,
    And,
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
    fields_of,
)
from objectql.engine.filters.parse import Links, bind_user, has_tokens, parse_filter
from objectql.engine.user import User
from objectql.errors import DefinitionError, Forbidden, InvalidFilter, Unauthenticated
from objectql.metadata.model import FieldType, ObjectDef, RowRule

if TYPE_CHECKING:
    from objectql.metadata.registry import Registry

ACTIONS = ("read", "create", "update", "delete")


def role_matches(allowed: Iterable[str], user: User) -> bool:
    allowed = tuple(allowed)
    if "anonymous" in allowed:
        return True
    if user.is_anonymous:
        return False
    return "*" in allowed or any(r in allowed for r in user.roles)


class ObjectPolicy:
    """The compiled permissions of one object."""

    def __init__(
        self, obj: ObjectDef, *, allow_anonymous: bool, sign_in: bool = True, registry: Registry | None = None
    ) -> None:
        self.obj = obj
        self.allow_anonymous = allow_anonymous
        self.sign_in = sign_in
        self.perms = obj.permissions
        self.registry = registry
        # Every object's policy (set by the engine): a master_detail's parent decides whether a detail shows.
        self.peers: Mapping[str, ObjectPolicy] = {}
        self.rules: list[tuple[RowRule, Node]] = []
        # A row rule sees every record: its paths follow references whoever the reader is.
        links = Links(registry) if registry is not None else None
        for rule in self.perms.rows if self.perms else ():
            try:
                node = parse_filter(rule.filters, obj, allow_tokens=True, links=links)
            except InvalidFilter as exc:
                raise DefinitionError(obj.file, f"{rule.key_path}.filters{exc.path}", exc.reason) from None
            self.rules.append((rule, node))
        self._field_roles = dict(self.perms.fields) if self.perms else {}
        # Claims a row rule reads: part of a user's permission scope.
        self.rule_claims = sorted({str(c.value.claim) for _, n in self.rules for c in _token_criteria(n)})
        self.rule_fields = frozenset().union(*(fields_of(n) for _, n in self.rules))

    # -- object level --------------------------------------------------------------------------

    def allows(self, action: str, user: User | None) -> bool:
        if user is None:
            return True
        roles = getattr(self.perms, action, None) if self.perms else None
        if roles is None:
            return self.allow_anonymous or not user.is_anonymous
        return role_matches(roles, user)

    def require(self, action: str, user: User | None) -> None:
        if self.allows(action, user):
            return
        assert user is not None
        if user.is_anonymous and not self.sign_in:
            # A server without a key has no way to sign in: "sign in" would be advice nobody can follow.
            roles = list(getattr(self.perms, action, None) or ())
            needs = "a signed-in user" if "*" in roles else f"the role(s) {', '.join(roles)}"
            raise Forbidden(
                f"this server has no sign-in (no JWT key): to {action} {self.obj.name} takes {needs}",
                details={"object": self.obj.name, "roles": roles},
            )
        if user.is_anonymous:
            raise Unauthenticated(f"sign in to {action} {self.obj.name}")
        raise Forbidden(f"you may not {action} {self.obj.name}", details={"object": self.obj.name})

    # -- field level ---------------------------------------------------------------------------

    def can_read_field(self, field: str, user: User | None) -> bool:
        if user is None:
            return True
        fp = self._field_roles.get(field)
        return fp is None or fp.read is None or role_matches(fp.read, user)

    def can_write_field(self, field: str, user: User | None) -> bool:
        if user is None:
            return True
        fp = self._field_roles.get(field)
        return fp is None or fp.update is None or role_matches(fp.update, user)

    def readable_fields(self, user: User | None) -> tuple[str, ...]:
        return tuple(f for f in self.obj.fields if self.can_read_field(f, user))

    def hides_fields(self) -> bool:
        return any(fp.read is not None for fp in self._field_roles.values())

    # -- row level -----------------------------------------------------------------------------

    def visibility(self, user: User | None, _seen: frozenset[str] = frozenset()) -> Node:
        """The records ``user`` can see: FALSE without the object's read permission, else the row filter."""
        if not self.allows("read", user):
            return FALSE
        return self.row_filter(user, _seen)

    def row_filter(self, user: User | None, _seen: frozenset[str] = frozenset()) -> Node:
        """The rows ``user`` may see, as a bound filter (TRUE when unrestricted): the row rules, and for
        each master_detail field, that its parent is visible to ``user`` (an implicit rule through the
        path, evaluated with the user's permissions — unlike row rules)."""
        if user is None:
            return TRUE
        seen = _seen | {self.obj.name}
        parents: list[Node] = []
        for fdef in self.obj.declared.values():
            peer = self.peers.get(fdef.reference_to or "")
            # A cycle of master_details ends at the object it started from (its own rules apply there).
            if fdef.type is not FieldType.MASTER_DETAIL or peer is None or peer.obj.name in seen:
                continue
            shown = peer.visibility(user, seen)
            if shown != TRUE:
                parents.append(FALSE if shown == FALSE else Via(fdef.name, peer.obj.name, shown, _EXISTS))
        return conjoin(self._rule_filter(user), *parents)

    def _rule_filter(self, user: User) -> Node:
        if not self.rules:
            return TRUE
        covering = [(r, n) for r, n in self.rules if role_matches(r.roles, user)]
        if not covering:
            return TRUE
        own_roles = user.roles or (("anonymous",) if user.is_anonymous else ())
        for role in own_roles:
            if not any(role in r.roles or "*" in r.roles or "anonymous" in r.roles for r, _ in covering):
                return TRUE  # a role without a rule sees every row
        objects = self.registry.get if self.registry is not None else None
        return disjoin(*(bind_user(n, self.obj, user.claim, objects) for _, n in covering))

    def scope(self, user: User | None) -> tuple[Any, ...]:
        """What decides this user's view of the object: equal scopes see equal rows and fields."""
        if user is None:
            return ("system",)
        claims = tuple(_freeze(user.claim(c)) for c in self.rule_claims)
        return (user.is_anonymous, tuple(sorted(user.roles)), claims)


_EXISTS = Criterion("id", Op.IS_NOT_NULL)


def reader_links(registry: Registry, policies: Mapping[str, ObjectPolicy], user: User | None) -> Links:
    """How ``user``'s filters and sorts follow relations: every field along a path must be readable by
    them, and the parents and children they reach are the ones they can see."""
    if user is None:
        return Links(registry)
    return Links(
        registry,
        readable=lambda obj, field: policies[obj].can_read_field(field, user),
        visible=lambda obj: policies[obj].visibility(user),
    )


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _token_criteria(node: Node) -> list[Any]:
    if isinstance(node, Criterion):
        return [node] if isinstance(node.value, UserToken) else []
    if isinstance(node, Not | Via | Related):
        return _token_criteria(node.item)
    if isinstance(node, And | Or):
        return [c for i in node.items for c in _token_criteria(i)]
    return []


__all__ = ["ACTIONS", "ObjectPolicy", "has_tokens", "reader_links", "role_matches"]
