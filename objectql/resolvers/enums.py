"""The GraphQL enums shared by the schema and the resolvers."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(name="OrderDirection")
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.enum(name="ChangeAction")
class ChangeAction(Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RELATED = "related"


@strawberry.enum(name="ChangeEffect")
class ChangeEffect(Enum):
    ADDED = "added"
    MODIFIED = "modified"
    REMOVED = "removed"
