"""Object definitions: the model, the YAML loader and the registry."""

from objectql.metadata.loader import load_file
from objectql.metadata.model import FieldDef, FieldType, IndexDef, Kind, ObjectDef, Permissions, RowRule
from objectql.metadata.registry import Registry

__all__ = [
    "FieldDef",
    "FieldType",
    "IndexDef",
    "Kind",
    "ObjectDef",
    "Permissions",
    "Registry",
    "RowRule",
    "load_file",
]
