"""GraphQL errors: ``extensions.code`` from the ObjectQL error, nothing internal ever exposed."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from objectql.errors import ObjectQLError, ValidationError

log = logging.getLogger("objectql.graphql")

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


def error_extensions(exc: ObjectQLError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": exc.code}
    path = getattr(exc, "path", None)
    if path is not None:
        extensions["path"] = path
    if isinstance(exc, ValidationError):
        extensions["fields"] = {e["field"]: e["message"] for e in exc.errors}
    elif exc.details:
        extensions["details"] = exc.details
    return extensions


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The wire form of one error: message, locations, path and extensions (with a code)."""
    original = error.original_error
    out: dict[str, Any] = {}
    if isinstance(original, ObjectQLError):
        out["message"] = original.message
        extensions = error_extensions(original)
    elif original is not None:
        log.error("resolver failed", exc_info=original)
        out["message"] = "internal error"
        extensions = {"code": "INTERNAL_ERROR"}
    else:
        out["message"] = error.message
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", GRAPHQL_VALIDATION_FAILED)
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    out["extensions"] = extensions
    return out


def request_error(code: str, message: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}
