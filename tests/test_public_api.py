"""The public exports of ``objectql`` are deliberate: adding or removing one updates this test."""

from __future__ import annotations

import objectql
from objectql import errors


def test_public_exports_are_locked() -> None:
    assert sorted(objectql.__all__) == sorted(
        [
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
    )
    for name in objectql.__all__:
        assert hasattr(objectql, name)


def test_every_error_has_a_distinct_stable_code() -> None:
    classes = [getattr(errors, n) for n in errors.__all__ if n != "ObjectQLError"]
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    assert all(issubclass(c, objectql.ObjectQLError) for c in classes)
    assert {"INVALID_FILTER", "VALIDATION_ERROR", "FORBIDDEN", "NOT_FOUND", "CONFLICT"} <= set(codes)


def test_anonymous_has_the_single_role_anonymous() -> None:
    assert objectql.ANONYMOUS.roles == ("anonymous",) and objectql.ANONYMOUS.id is None
    assert objectql.User("sam", ["a", "b"]).roles == ("a", "b")
