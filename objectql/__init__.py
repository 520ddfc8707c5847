"""ObjectQL for Python: YAML object definitions in, a data API with realtime out."""

from objectql.engine import ANONYMOUS, ChangeEvent, Context, HookContext, ObjectQL, ObjectRepository, User
from objectql.errors import (
    Conflict,
    DefinitionError,
    Forbidden,
    InternalError,
    InvalidFilter,
    InvalidRequest,
    NotFound,
    ObjectQLError,
    Unauthenticated,
    Unavailable,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "ANONYMOUS",
    "ChangeEvent",
    "Conflict",
    "Context",
    "DefinitionError",
    "Forbidden",
    "HookContext",
    "InternalError",
    "InvalidFilter",
    "InvalidRequest",
    "NotFound",
    "ObjectQL",
    "ObjectQLError",
    "ObjectRepository",
    "Unauthenticated",
    "Unavailable",
    "User",
    "ValidationError",
    "__version__",
]
