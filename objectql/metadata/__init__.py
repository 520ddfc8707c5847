"""Object definitions: the model, the YAML loader and the registry."""

from objectql.metadata.loader import load_file
from objectql.metadata.model import (
    DeleteBehavior,
    FieldDef,
    FieldType,
    IndexDef,
    Kind,
    ObjectDef,
    Permissions,
    Relation,
    RowRule,
    Summary,
    SummaryType,
)
from objectql.metadata.registry import Registry

__all__ = [
    "DeleteBehavior",
    "FieldDef",
    "FieldType",
    "IndexDef",
    "Kind",
    "ObjectDef",
    "Permissions",
    "Registry",
    "Relation",
    "RowRule",
    "Summary",
    "SummaryType",
    "load_file",
]
