"""Record validation against an object definition: one ValidationError listing every failing field.

Checks that need no database (type, required, min/max, length, pattern, select option, email/url
format) live here; unique and lookup-target checks are queries, run by the repository.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from objectql.engine.ids import ID_RULE, is_id
from objectql.engine.values import check_value
from objectql.metadata.model import FieldDef, FieldType, Kind, ObjectDef

READ_ONLY = ("created_at", "updated_at", "created_by")
# The bound of a text-like field without max_length, and of a JSON value's serialised text: every value is
# pushed to each subscriber that can see it, so none is unbounded.
DEFAULT_MAX_TEXT_LENGTH = 64 * 1024
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

FieldErrors = dict[str, tuple[str, str]]  # field -> (code, message)


def error_list(errors: FieldErrors) -> list[dict[str, str]]:
    return [{"field": f, "code": code, "message": msg} for f, (code, msg) in errors.items()]


def check_keys(obj: ObjectDef, data: dict[str, Any], errors: FieldErrors, *, creating: bool) -> None:
    for key in data:
        if not isinstance(key, str) or key not in obj.fields:
            errors[str(key)] = ("unknown", f"{obj.name} has no field {key!r}")
        elif key in READ_ONLY:
            errors[key] = ("read_only", "is set by the system")
        elif (summary := obj.fields[key].summary) is not None:
            errors[key] = ("read_only", f"is a summary of {summary.object}, computed by the system")
        elif key == "id" and creating and not is_id(data[key]):
            errors["id"] = ("format", f"must be {ID_RULE}")


def normalise_field(
    fdef: FieldDef, value: Any, max_text_length: int = DEFAULT_MAX_TEXT_LENGTH
) -> tuple[Any, tuple[str, str] | None]:
    """The stored form of ``value`` and the first problem with it, if any (required aside).

    ``max_text_length`` bounds text without a declared ``max_length``, and JSON values by their compact
    serialised text; both in characters.
    """
    if value is None:
        return None, None
    if fdef.type is FieldType.SELECT:
        return _select(fdef, value)
    try:
        value = check_value(fdef.kind, value)
    except ValueError as exc:
        return value, ("type", str(exc))
    if fdef.kind is Kind.JSON:
        try:
            serialised = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError):
            return value, ("type", "must be JSON (objects, arrays, strings, finite numbers, booleans, null)")
        if len(serialised) > max_text_length:
            return value, ("max_length", f"must be at most {max_text_length} characters of JSON")
    if fdef.kind in (Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL):
        if fdef.min is not None and value < fdef.min:
            return value, ("min", f"must be at least {fdef.min}")
        if fdef.max is not None and value > fdef.max:
            return value, ("max", f"must be at most {fdef.max}")
    if fdef.kind is Kind.TEXT:
        problem = _text(fdef, value, max_text_length)
        if problem:
            return value, problem
    return value, None


def _text(fdef: FieldDef, value: str, max_text_length: int) -> tuple[str, str] | None:
    if fdef.min_length is not None and len(value) < fdef.min_length:
        return ("min_length", f"must be at least {fdef.min_length} characters")
    max_length = fdef.max_length if fdef.max_length is not None else max_text_length
    if len(value) > max_length:
        return ("max_length", f"must be at most {max_length} characters")
    if fdef.pattern is not None and not re.search(fdef.pattern, value):
        return ("pattern", f"must match {fdef.pattern}")
    if fdef.type is FieldType.EMAIL and not _EMAIL_RE.match(value):
        return ("format", "must be an email address")
    if fdef.type is FieldType.URL:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return ("format", "must be an http(s) URL")
    return None


def _select(fdef: FieldDef, value: Any) -> tuple[Any, tuple[str, str] | None]:
    options = ", ".join(fdef.options)
    if fdef.multiple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return value, ("type", "must be a list of options")
        bad = [v for v in value if v not in fdef.options]
        if bad:
            return value, ("option", f"{bad[0]!r} is not one of {options}")
        return list(dict.fromkeys(value)), None
    if not isinstance(value, str):
        return value, ("type", "expected a string")
    if value not in fdef.options:
        return value, ("option", f"{value!r} is not one of {options}")
    return value, None


def is_blank(fdef: FieldDef, value: Any) -> bool:
    return value is None or (fdef.kind is Kind.TEXT and value == "") or (fdef.multiple and value == [])
