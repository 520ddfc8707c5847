"""What the server's own pages open on: the app's featured object and the fields they show of it.

The dashboard at ``/`` and the playground at ``/graphql`` open on the same object, chosen from the
definitions alone: the first object, in name order, with a ``select`` field and a number field that every
reader of the object may read — the shape whose changes are worth watching, since the dashboard counts and
totals it per select value and ranks it by that number. An app without such an object opens on its first
object. In the shop that is ``orders`` (``customers`` has neither; ``orders`` has ``status`` and ``total``);
in the app ``objectql init`` writes, ``tasks``.
"""

from __future__ import annotations

from collections.abc import Callable

from objectql.metadata.model import FieldDef, FieldType, Kind, ObjectDef
from objectql.metadata.registry import Registry


def open_fields(obj: ObjectDef) -> dict[str, FieldDef]:
    """The single-valued fields every reader of ``obj`` may read: those without a field read rule."""
    restricted = {n for n, p in (obj.permissions.fields if obj.permissions else {}).items() if p.read}
    return {n: f for n, f in obj.declared.items() if n not in restricted and not f.multiple}


def first_field(fields: dict[str, FieldDef], wanted: Callable[[FieldDef], bool], skip: set[str | None]) -> str | None:
    return next((n for n, f in fields.items() if n not in skip and wanted(f)), None)


def is_group(field: FieldDef) -> bool:
    return field.type is FieldType.SELECT


def is_amount(field: FieldDef) -> bool:
    return field.kind in (Kind.DECIMAL, Kind.FLOAT)


def is_label(field: FieldDef) -> bool:
    return field.type in (FieldType.TEXT, FieldType.LOOKUP)


def featured_object(registry: Registry) -> ObjectDef | None:
    """The object the server's pages open on (see the module's docstring); None for an app without objects."""
    objects = sorted(registry, key=lambda obj: obj.name)
    for obj in objects:
        fields = open_fields(obj)
        if first_field(fields, is_group, set()) and first_field(fields, is_amount, set()):
            return obj
    return objects[0] if objects else None


__all__ = ["featured_object", "first_field", "is_amount", "is_group", "is_label", "open_fields"]
