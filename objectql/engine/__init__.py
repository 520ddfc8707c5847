"""The engine: tables, filters, repository, hooks, change events and outbox, permissions."""

from objectql.engine.core import Context, ObjectQL
from objectql.engine.events import ChangeEvent
from objectql.engine.hooks import HookContext
from objectql.engine.repository import ObjectRepository
from objectql.engine.user import ANONYMOUS, User

__all__ = ["ANONYMOUS", "ChangeEvent", "Context", "HookContext", "ObjectQL", "ObjectRepository", "User"]
