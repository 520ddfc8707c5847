"""Every INVALID_FILTER case of the DSL, each with the path of the offending slot."""

from __future__ import annotations

from typing import Any

import pytest

from objectql import InvalidFilter
from objectql.engine.filters import parse_filter
from objectql.metadata.loader import _Parser

ITEMS = _Parser("items.object.yml", "items").object_def(
    {
        "fields": {
            "name": {"type": "text"},
            "qty": {"type": "integer"},
            "price": {"type": "number"},
            "amount": {"type": "currency"},
            "active": {"type": "boolean"},
            "day": {"type": "date"},
            "at": {"type": "datetime"},
            "meta": {"type": "json"},
        }
    }
)
OK = ["qty", "=", 1]


def nested(depth: int) -> list[Any]:
    """A filter whose innermost group is at ``depth`` (the top-level list is depth 1)."""
    node: list[Any] = [OK]
    for _ in range(depth - 1):
        node = [node]
    return node


ERRORS: list[tuple[str, Any, str]] = [
    ("unknown field", [["nope", "=", 1]], "[0][0]"),
    ("non-string field", [[None, "=", 1]], "[0]"),
    ("unknown operator", [["qty", "~", 1]], "[0][1]"),
    ("operator aliases are only <> and not in", [["qty", "==", 1]], "[0][1]"),
    ("upper-case connector", [OK, "AND", OK], "[1]"),
    ("unknown connector", [OK, "xor", OK], "[1]"),
    ("connector at the start", ["and", OK], "[0]"),
    ("connector at the end", [OK, "and"], "[1]"),
    ("two connectors in a row", [OK, "and", "or", OK], "[2]"),
    ("criterion too short", [["qty"]], "[0]"),
    ("criterion too long", [["qty", "=", 1, 2]], "[0]"),
    ("number as an item", [42], "[0]"),
    ("empty nested group", [OK, []], "[1]"),
    ("string for an integer", [["qty", "=", "1"]], "[0][2]"),
    ("boolean is not a number", [["qty", "=", True]], "[0][2]"),
    ("fraction for an integer", [["qty", "=", 1.5]], "[0][2]"),
    ("NaN", [["price", "=", float("nan")]], "[0][2]"),
    ("Infinity", [["price", ">", float("inf")]], "[0][2]"),
    ("number for a text field", [["name", "=", 1]], "[0][2]"),
    ("string for a boolean", [["active", "=", "true"]], "[0][2]"),
    ("bad date", [["day", "=", "2024-13-01"]], "[0][2]"),
    ("date-time for a date", [["day", "=", "2024-01-01T00:00:00"]], "[0][2]"),
    ("bad datetime", [["at", ">", "yesterday"]], "[0][2]"),
    ("currency over 4 places", [["amount", "=", 0.00001]], "[0][2]"),
    ("null with an ordering operator", [["qty", ">", None]], "[0][2]"),
    ("null inside in", [["qty", "in", [1, None]]], "[0][2]"),
    ("null as a between bound", [["qty", "between", [None, 2]]], "[0][2]"),
    ("in needs a list", [["qty", "in", 1]], "[0][2]"),
    ("in over 1000 values", [["qty", "in", list(range(1001))]], "[0][2]"),
    ("nin over 1000 values", [["qty", "nin", list(range(1001))]], "[0][2]"),
    ("between needs two values", [["qty", "between", [1]]], "[0][2]"),
    ("pattern over 256 characters", [["name", "contains", "x" * 257]], "[0][2]"),
    ("is_null takes no false", [["qty", "is_null", False]], "[0][2]"),
    ("operator without value", [["qty", ">"]], "[0]"),
    ("pattern on a number", [["qty", "contains", "1"]], "[0][1]"),
    ("ordering on a boolean", [["active", ">", True]], "[0][1]"),
    ("between on a boolean", [["active", "between", [False, True]]], "[0][1]"),
    ("equality on json", [["meta", "=", {"a": 1}]], "[0][1]"),
    ("depth 9", nested(9), "[0]" * 8),
    ("nested path", [OK, "and", [OK, "or", [OK, "and", 42]]], "[2][2][2]"),
    ("nested unknown field", [OK, "and", [OK, "or", [["zzz", "=", 1]]]], "[2][2][0][0]"),
    ("object form unknown field", {"$or": [{"qty": 1}, {"total": {"$gt": 1}}]}, "$or[1].total"),
    ("object form bad value", {"$or": [{"qty": 1}, {"qty": {"$gt": "x"}}]}, "$or[1].qty.$gt"),
    ("object form unknown operator", {"qty": {"$foo": 1}}, "qty.$foo"),
    ("object form unknown logic", {"$xor": [{"qty": 1}]}, "$xor"),
    ("object form empty or", {"$or": []}, "$or"),
    ("object form non-object in and", {"$and": [1]}, "$and[0]"),
    ("object form not needs an object", {"$not": [1]}, "$not"),
    ("object form $null needs a boolean", {"qty": {"$null": 1}}, "qty.$null"),
    ("object form empty operator object", {"qty": {}}, "qty"),
    ("a string is not a filter", "qty = 1", ""),
]


@pytest.mark.parametrize(("name", "flt", "path"), ERRORS, ids=[c[0] for c in ERRORS])
def test_invalid_filter_names_the_offending_path(name: str, flt: Any, path: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(flt, ITEMS)
    assert info.value.code == "INVALID_FILTER"
    assert info.value.path == path
    assert (path or "(root)") in info.value.message
    assert info.value.to_dict()["path"] == path


@pytest.mark.parametrize(
    "flt",
    [
        nested(8),
        [["qty", "in", list(range(1000))]],
        [["qty", "nin", list(range(1000))]],
        [["name", "contains", "x" * 256]],
        [["name", "startswith", "é" * 256]],
    ],
    ids=["depth 8", "in 1000", "nin 1000", "pattern 256", "pattern 256 non-ascii"],
)
def test_limits_themselves_are_accepted(flt: Any) -> None:
    parse_filter(flt, ITEMS)


def test_object_form_depth_limit_names_the_group() -> None:
    flt: dict[str, Any] = {"qty": 1}
    for _ in range(8):
        flt = {"$not": flt}
    with pytest.raises(InvalidFilter) as info:
        parse_filter(flt, ITEMS)
    assert info.value.path == ".".join(["$not"] * 8)
