"""The document the playground opens on: a query, a mutation and a subscription of the app's featured object.

Built from the definitions, the development users and the data, so a newcomer's first click runs something of
their own app, as one of the users ``objectql serve --dev`` prints a token for:

- the object is the one the dashboard opens on too (:func:`objectql.server.showcase.featured_object`);
- the query selects fields anyone allowed to read the object may read;
- the mutation is written for one development user — the first who may create the object and whom its row
  rules restrict (in the shop: ``sam``, not ``admin``), else the first who may create it — and said so in
  a comment. It sets what that user's row rules pin (``owner: "sam"`` for ``owner = $user.id``), a required
  lookup to a record that user may read, other required fields (and the amount the dashboard totals) to
  values of their type, and no ``id``, so it runs again and again (a required ``unique`` field is the
  exception, and the comment says so);
- the subscription shows changes arriving.
"""

from __future__ import annotations

import json
from typing import Any

from objectql.engine.core import ObjectQL
from objectql.engine.filters.ast import And, Criterion, Node, Op, Or
from objectql.engine.permissions import ObjectPolicy
from objectql.engine.user import User
from objectql.errors import ObjectQLError
from objectql.metadata.model import FieldDef, FieldType, ObjectDef
from objectql.resolvers.names import camel, pascal
from objectql.server.development import DevUser
from objectql.server.showcase import featured_object, first_field, is_amount, open_fields

MAX_FIELDS = 5

HEADER = """\
# ObjectQL GraphQL playground: a query, a mutation and a subscription of `{name}`.
# Run one with the ▶ button (it asks which). To act as a user, put a token in the Headers pane below:
#   {{"Authorization": "Bearer <token>"}}
# `objectql serve --dev` (and `make serve`) prints tokens; `objectql token --sub ID --roles a,b` mints one.
# Start the subscription, then run the mutation here or anywhere else: its change arrives on the right.
"""

GENERIC = """\
# ObjectQL GraphQL playground. To act as a user, put {"Authorization": "Bearer <token>"} in the
# Headers pane below. The Docs pane (top left) lists every query, mutation and subscription.

query {
  __typename
}
"""

_SAMPLES: dict[FieldType, object] = {
    FieldType.TEXT: "Example",
    FieldType.TEXTAREA: "Example",
    FieldType.PHONE: "+1 555 0100",
    FieldType.EMAIL: "someone@example.com",
    FieldType.URL: "https://example.com",
    FieldType.NUMBER: 1,
    FieldType.CURRENCY: 1,
    FieldType.PERCENT: 1,
    FieldType.INTEGER: 1,
    FieldType.BOOLEAN: True,
    FieldType.DATE: "2026-01-01",
    FieldType.DATETIME: "2026-01-01T00:00:00Z",
}


async def example_document(engine: ObjectQL, users: list[DevUser]) -> str:
    """The playground's opening document for the app ``engine`` serves (a generic one without objects)."""
    obj = featured_object(engine.registry)
    if obj is None:
        return GENERIC
    policy = engine.policies[obj.name]
    author = _author(policy, users)
    user = User(author.sub, author.roles) if author is not None else None
    shown = _readable_fields(obj)
    selection = " ".join(["id", *shown])
    inputs, missing, unique = await _sample_input(engine, policy, user)
    lines = [HEADER.format(name=obj.name)]
    lines += [
        f"query List{pascal(obj.name)} {{",
        f"  {camel(obj.name)}List(limit: 10) {{ {selection} }}",
        "}",
        "",
    ]
    if author is not None:
        roles = ", ".join(author.roles) or "no roles"
        lines.append(f"# Written for {author.sub} ({roles}): with {author.sub}'s token it runs as is, again and again.")
    if unique:
        lines.append(f"# {', '.join(unique)} must be unique: change it before running this again.")
    if missing:
        lines.append(f"# Set {', '.join(missing)} to the id of an existing record before running this.")
    lines += [
        f"mutation Create{pascal(obj.name)} {{",
        f"  create{pascal(obj.name)}(input: {{{inputs}}}) {{ {selection} }}",
        "}",
        "",
        f"subscription {pascal(obj.name)}Changed {{",
        f"  {camel(obj.name)}Changed {{ seq action effect record {{ {selection} }} }}",
        "}",
        "",
    ]
    return "\n".join(lines)


def _author(policy: ObjectPolicy, users: list[DevUser]) -> DevUser | None:
    """The user the mutation is written for: the first creator whom row rules restrict, else the first creator."""
    creators = [u for u in users if policy.allows("create", User(u.sub, u.roles))]
    restricted = [u for u in creators if _pinned(policy.row_filter(User(u.sub, u.roles)))]
    return next(iter(restricted or creators), None)


def _pinned(rows: Node) -> dict[str, Any]:
    """The field values a bound row filter pins (``field = value``), from its first alternative."""
    if isinstance(rows, Or):
        rows = rows.items[0]
    criteria = rows.items if isinstance(rows, And) else (rows,)
    return {
        c.field: c.value
        for c in criteria
        if isinstance(c, Criterion) and c.op is Op.EQ and isinstance(c.value, str | int | float | bool)
    }


def _readable_fields(obj: ObjectDef) -> list[str]:
    restricted = set(obj.permissions.fields) if obj.permissions is not None else set()
    names = [n for n, f in obj.declared.items() if n not in restricted and f.type is not FieldType.JSON]
    return names[:MAX_FIELDS]


async def _sample_input(engine: ObjectQL, policy: ObjectPolicy, user: User | None) -> tuple[str, list[str], list[str]]:
    """``name: value`` pairs for the pinned and the required fields; the lookups left for the user to set; the
    unique fields a second run must change."""
    pinned = _pinned(policy.row_filter(user)) if user is not None else {}
    # The amount the dashboard totals, so that a run shows there too.
    amount = first_field(open_fields(policy.obj), is_amount, set())
    pairs: list[str] = []
    missing: list[str] = []
    unique: list[str] = []
    for name, fdef in policy.obj.declared.items():
        value: object | None
        if name in pinned:
            value = pinned[name]
        elif not fdef.required and (name != amount or not policy.can_write_field(name, user)):
            continue
        elif fdef.reference_to:
            value = await _readable_id(engine, fdef.reference_to, user)
        else:
            value = _sample(fdef)
        if value is None:
            missing.append(name)
            value = "an id"
        if fdef.unique and name not in pinned:
            unique.append(name)
        pairs.append(f"{name}: {json.dumps(value)}")
    return ", ".join(pairs), missing, unique


async def _readable_id(engine: ObjectQL, target: str, user: User | None) -> str | None:
    """The id of the oldest ``target`` record ``user`` may read, if any."""
    try:
        rows = await engine.context(user).object(target).find(limit=1, sort=[["created_at", "asc"]], fields=["id"])
    except ObjectQLError:
        return None
    return str(rows[0]["id"]) if rows else None


def _sample(fdef: FieldDef) -> object | None:
    if fdef.type is FieldType.SELECT:
        return fdef.options[0] if fdef.options and not fdef.multiple else None
    if fdef.pattern is not None and fdef.type is FieldType.TEXT:
        return "EXAMPLE-1"  # a code-like value; the field's pattern decides, and its error says how
    return _SAMPLES.get(fdef.type)
