"""The one exception hierarchy of ObjectQL.

Everything the engine raises on purpose is an :class:`ObjectQLError` with a stable ``code``::

    ObjectQLError
    ├── InvalidFilter        INVALID_FILTER      a filter that does not compile (``.path``)
    ├── InvalidRequest       INVALID_REQUEST     bad sort / paging / call shape (``.path``)
    ├── ValidationError      VALIDATION_ERROR    a record that fails its definition (``.errors``)
    ├── Forbidden            FORBIDDEN           the user may not do this (``details["field"]``)
    ├── Unauthenticated      UNAUTHENTICATED     credentials are required or invalid
    ├── NotFound             NOT_FOUND           unknown object, missing or invisible record
    ├── Conflict             CONFLICT            a duplicate id
    ├── DefinitionError      DEFINITION_ERROR    a broken object definition
    ├── TooManySubscriptions TOO_MANY_SUBSCRIPTIONS  a connection's subscription limit
    ├── TooManyGroups        TOO_MANY_GROUPS     an aggregate with more groups than allowed
    ├── TooManyRows          TOO_MANY_ROWS       live windows holding more rows than a connection may
    ├── RateLimited          RATE_LIMITED        too many requests of one kind
    ├── PayloadTooLarge      PAYLOAD_TOO_LARGE   a request body over the server's bound
    ├── Unavailable          UNAVAILABLE         the database cannot be reached
    └── InternalError        INTERNAL_ERROR      anything unexpected, with no internals exposed

Driver and database errors are translated where they enter (``engine.database``); their text never
reaches a client. :meth:`ObjectQLError.to_dict` is the wire shape every transport sends.
"""

from __future__ import annotations

from typing import Any


class ObjectQLError(Exception):
    code = "ERROR"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The ``{code, message, path?, details?}`` object sent by every transport."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        path = getattr(self, "path", None)
        if path is not None:
            out["path"] = path
        if self.details:
            out["details"] = self.details
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidFilter(ObjectQLError):
    code = "INVALID_FILTER"

    def __init__(self, path: str, reason: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"invalid filter at {path or '(root)'}: {reason}", details=details)
        self.path = path
        self.reason = reason


class InvalidRequest(ObjectQLError):
    code = "INVALID_REQUEST"

    def __init__(self, path: str | None, reason: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"invalid {path}: {reason}" if path else reason, details=details)
        self.path = path
        self.reason = reason


class ValidationError(ObjectQLError):
    code = "VALIDATION_ERROR"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"validation failed: {summary}", details={"errors": errors})
        self.errors = errors


class Forbidden(ObjectQLError):
    code = "FORBIDDEN"


class Unauthenticated(ObjectQLError):
    code = "UNAUTHENTICATED"


class NotFound(ObjectQLError):
    code = "NOT_FOUND"


class Conflict(ObjectQLError):
    code = "CONFLICT"


class DefinitionError(ObjectQLError):
    code = "DEFINITION_ERROR"

    def __init__(self, file: str, key_path: str, expected: str) -> None:
        location = f"{file}: {key_path}" if key_path else file
        super().__init__(f"{location}: {expected}", details={"file": file, "key_path": key_path})
        self.file = file
        self.key_path = key_path
        self.expected = expected


class TooManySubscriptions(ObjectQLError):
    code = "TOO_MANY_SUBSCRIPTIONS"


class TooManyGroups(ObjectQLError):
    code = "TOO_MANY_GROUPS"


class TooManyRows(ObjectQLError):
    code = "TOO_MANY_ROWS"


class RateLimited(ObjectQLError):
    code = "RATE_LIMITED"


class PayloadTooLarge(ObjectQLError):
    code = "PAYLOAD_TOO_LARGE"


class Unavailable(ObjectQLError):
    code = "UNAVAILABLE"


class InternalError(ObjectQLError):
    code = "INTERNAL_ERROR"


__all__ = [
    "Conflict",
    "DefinitionError",
    "Forbidden",
    "InternalError",
    "InvalidFilter",
    "InvalidRequest",
    "NotFound",
    "ObjectQLError",
    "PayloadTooLarge",
    "RateLimited",
    "TooManyGroups",
    "TooManyRows",
    "TooManySubscriptions",
    "Unauthenticated",
    "Unavailable",
    "ValidationError",
]
