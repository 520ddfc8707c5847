"""The object-definition model: what a parsed ``<name>.object.yml`` is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class FieldType(StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    EMAIL = "email"
    URL = "url"
    PHONE = "phone"
    NUMBER = "number"
    INTEGER = "integer"
    CURRENCY = "currency"
    PERCENT = "percent"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    SELECT = "select"
    LOOKUP = "lookup"
    MASTER_DETAIL = "master_detail"
    JSON = "json"
    # A value computed from the records pointing at this one (count, sum, min, max or avg); stored, read-only.
    SUMMARY = "summary"
    # The system id field; not declarable.
    ID = "id"


class Kind(StrEnum):
    """How a field behaves in filters, sorting and storage, whatever its declared type."""

    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    JSON = "json"


TEXT_TYPES = frozenset(
    {
        FieldType.TEXT,
        FieldType.TEXTAREA,
        FieldType.EMAIL,
        FieldType.URL,
        FieldType.PHONE,
        FieldType.SELECT,
        FieldType.LOOKUP,
        FieldType.MASTER_DETAIL,
        FieldType.ID,
    }
)
REFERENCE_TYPES = frozenset({FieldType.LOOKUP, FieldType.MASTER_DETAIL})
DECLARABLE_TYPES = tuple(t for t in FieldType if t is not FieldType.ID)

_KIND_BY_TYPE = {
    FieldType.NUMBER: Kind.FLOAT,
    FieldType.PERCENT: Kind.FLOAT,
    FieldType.CURRENCY: Kind.DECIMAL,
    FieldType.INTEGER: Kind.INTEGER,
    FieldType.BOOLEAN: Kind.BOOLEAN,
    FieldType.DATE: Kind.DATE,
    FieldType.DATETIME: Kind.DATETIME,
    FieldType.JSON: Kind.JSON,
}

SYSTEM_FIELD_NAMES = ("id", "created_at", "updated_at", "created_by")


class DeleteBehavior(StrEnum):
    """What deleting a parent does to the records whose reference field points at it."""

    SET_NULL = "set_null"  # the children's field becomes null (a lookup's default)
    RESTRICT = "restrict"  # the delete is refused with CONFLICT while children exist
    CASCADE = "cascade"  # the children are deleted too, in the same transaction (always so for master_detail)


class SummaryType(StrEnum):
    """What a summary field computes over the child records pointing at its record."""

    COUNT = "count"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


@dataclass(frozen=True)
class Summary:
    """A summary field's definition: ``type`` of ``field`` over the records of ``object`` whose reference
    ``reference`` points at the record, among those matching ``filters``. ``reference`` and ``kind`` are
    filled in by the registry, which sees the child object."""

    object: str
    type: SummaryType
    field: str | None = None
    filters: Any = None
    reference: str | None = None
    kind: Kind | None = None


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: FieldType
    label: str | None = None
    description: str | None = None
    required: bool = False
    unique: bool = False
    index: bool = False
    has_default: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    options: tuple[str, ...] = ()
    multiple: bool = False
    reference_to: str | None = None
    # A reference field's (``lookup``, ``master_detail``): what deleting the parent does, and the name of the
    # parent's related list of the records pointing at it (the child object's name when not given).
    delete_behavior: DeleteBehavior | None = None
    related_name: str | None = None
    summary: Summary | None = None
    system: bool = False

    @property
    def kind(self) -> Kind:
        if self.summary is not None:
            if self.summary.kind is not None:
                return self.summary.kind
            return Kind.INTEGER if self.summary.type is SummaryType.COUNT else Kind.FLOAT
        # A multi-valued select holds a list: it behaves like JSON.
        if self.type is FieldType.SELECT and self.multiple:
            return Kind.JSON
        return _KIND_BY_TYPE.get(self.type, Kind.TEXT)

    @property
    def is_text(self) -> bool:
        return self.kind is Kind.TEXT

    @property
    def is_reference(self) -> bool:
        return self.type in REFERENCE_TYPES

    @property
    def is_summary(self) -> bool:
        return self.summary is not None


@dataclass(frozen=True)
class IndexDef:
    name: str
    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class FieldPermission:
    read: tuple[str, ...] | None = None
    update: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RowRule:
    roles: tuple[str, ...]
    filters: Any
    key_path: str


@dataclass(frozen=True)
class Permissions:
    read: tuple[str, ...] | None = None
    create: tuple[str, ...] | None = None
    update: tuple[str, ...] | None = None
    delete: tuple[str, ...] | None = None
    fields: dict[str, FieldPermission] = field(default_factory=dict)
    rows: tuple[RowRule, ...] = ()


def system_fields() -> dict[str, FieldDef]:
    return {
        "id": FieldDef("id", FieldType.ID, label="ID", system=True),
        "created_at": FieldDef("created_at", FieldType.DATETIME, label="Created at", system=True),
        "updated_at": FieldDef("updated_at", FieldType.DATETIME, label="Updated at", system=True),
        "created_by": FieldDef("created_by", FieldType.TEXT, label="Created by", system=True),
    }


@dataclass(frozen=True)
class ObjectDef:
    name: str
    file: str
    label: str
    declared: dict[str, FieldDef]
    indexes: tuple[IndexDef, ...] = ()
    permissions: Permissions | None = None
    description: str | None = None
    fields: dict[str, FieldDef] = field(init=False)

    def __post_init__(self) -> None:
        sys = system_fields()
        merged = {"id": sys["id"], **self.declared}
        merged.update({k: v for k, v in sys.items() if k != "id"})
        object.__setattr__(self, "fields", merged)

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name)


@dataclass(frozen=True)
class Relation:
    """A reverse relation: the records of ``child`` whose reference field ``field`` points at a record of
    ``parent``, listed on the parent as ``name``."""

    parent: str
    name: str
    child: str
    field: str
    delete_behavior: DeleteBehavior
