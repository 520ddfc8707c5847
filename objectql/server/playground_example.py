"""The document the playground opens on: a query, a mutation and a subscription of the app's first object.

Built from the definitions, so a newcomer's first click runs something of their own app: the list query
selects fields anyone allowed to read the object may read, the mutation fills the required fields with
values of the right type, and the subscription shows changes arriving.
"""

from __future__ import annotations

import json

from objectql.metadata.model import FieldDef, FieldType, ObjectDef
from objectql.metadata.registry import Registry
from objectql.resolvers.names import camel, pascal

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


def example_document(registry: Registry) -> str:
    """The playground's opening document for ``registry`` (a generic one when it has no object)."""
    obj = next(iter(registry), None)
    if obj is None:
        return GENERIC
    shown = _readable_fields(obj)
    selection = " ".join(["id", *shown])
    inputs, missing = _sample_input(obj)
    lines = [HEADER.format(name=obj.name)]
    lines += [
        f"query List{pascal(obj.name)} {{",
        f"  {camel(obj.name)}List(limit: 10) {{ {selection} }}",
        "}",
        "",
    ]
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


def _readable_fields(obj: ObjectDef) -> list[str]:
    restricted = set(obj.permissions.fields) if obj.permissions is not None else set()
    names = [n for n, f in obj.declared.items() if n not in restricted and f.type is not FieldType.JSON]
    return names[:MAX_FIELDS]


def _sample_input(obj: ObjectDef) -> tuple[str, list[str]]:
    """``name: value`` pairs for the required fields, and the required lookups left for the user."""
    pairs: list[str] = []
    missing: list[str] = []
    for name, fdef in obj.declared.items():
        if not fdef.required:
            continue
        value = _sample(fdef)
        if value is None:
            missing.append(name)
            value = "an id"
        pairs.append(f"{name}: {json.dumps(value)}")
    return ", ".join(pairs), missing


def _sample(fdef: FieldDef) -> object | None:
    if fdef.type is FieldType.SELECT:
        return fdef.options[0] if fdef.options and not fdef.multiple else None
    if fdef.pattern is not None and fdef.type is FieldType.TEXT:
        return "EXAMPLE-1"  # a code-like value; the field's pattern decides, and its error says how
    return _SAMPLES.get(fdef.type)
