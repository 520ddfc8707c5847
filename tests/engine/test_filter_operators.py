"""Every filter operator, table-driven, through SQL on both databases and through the in-memory matcher."""

from __future__ import annotations

from typing import Any

import pytest

from objectql import ObjectQL
from objectql.engine.filters import compile_matcher, parse_filter

ITEMS = """
fields:
  name:   {type: text}
  qty:    {type: integer}
  price:  {type: number}
  amount: {type: currency}
  active: {type: boolean}
  day:    {type: date}
  at:     {type: datetime}
  status: {type: select, options: [new, open, closed]}
  tags:   {type: select, multiple: true, options: [a, b]}
  meta:   {type: json}
"""

RECORDS: list[dict[str, Any]] = [
    {
        "id": "r1",
        "name": "Apple",
        "qty": 1,
        "price": 1.5,
        "amount": 10.25,
        "active": True,
        "day": "2024-01-01",
        "at": "2024-01-01T10:00:00Z",
        "status": "new",
        "tags": ["a"],
        "meta": {"a": 1},
    },
    {
        "id": "r2",
        "name": "banana",
        "qty": 2,
        "price": 2.5,
        "amount": 20,
        "active": False,
        "day": "2024-02-01",
        "at": "2024-02-01T00:00:00+02:00",
        "status": "open",
    },
    {
        "id": "r3",
        "name": "Straße",
        "qty": 3,
        "price": -1,
        "amount": 0,
        "active": True,
        "day": "2024-03-01",
        "at": "2024-03-01T00:00:00",
        "status": "closed",
    },
    {"id": "r4", "name": "100%_off"},
    {"id": "r5", "qty": 5, "price": 0.0, "amount": 99.9999, "active": False, "status": "open"},
    {
        "id": "r6",
        "name": "ÉCOLE",
        "qty": 6,
        "price": 1e10,
        "amount": -3.5,
        "day": "2023-12-31",
        "at": "2023-12-31T23:59:59.999999Z",
    },
]
ALL = {"r1", "r2", "r3", "r4", "r5", "r6"}

CASES: list[tuple[str, Any, set[str]]] = [
    ("eq text is case-sensitive", [["name", "=", "Apple"]], {"r1"}),
    ("eq text other case matches nothing", [["name", "=", "apple"]], set()),
    ("ne excludes nulls", [["name", "!=", "Apple"]], {"r2", "r3", "r4", "r6"}),
    ("<> is !=", [["name", "<>", "Apple"]], {"r2", "r3", "r4", "r6"}),
    ("gt text by code point", [["name", ">", "Z"]], {"r2", "r6"}),
    ("lt text by code point", [["name", "<", "B"]], {"r1", "r4"}),
    ("gte integer", [["qty", ">=", 3]], {"r3", "r5", "r6"}),
    ("lte integer", [["qty", "<=", 2]], {"r1", "r2"}),
    ("in", [["qty", "in", [1, 3]]], {"r1", "r3"}),
    ("nin excludes nulls", [["qty", "nin", [1, 3]]], {"r2", "r5", "r6"}),
    ("not in is nin", [["qty", "not in", [1, 3]]], {"r2", "r5", "r6"}),
    ("in empty matches nothing", [["qty", "in", []]], set()),
    ("nin empty matches everything", [["qty", "nin", []]], ALL),
    ("contains is case-insensitive", [["name", "contains", "AN"]], {"r2"}),
    ("contains percent is literal", [["name", "contains", "%"]], {"r4"}),
    ("contains underscore is literal", [["name", "contains", "_"]], {"r4"}),
    ("contains does not case-fold sharp s", [["name", "contains", "ss"]], set()),
    ("contains sharp s", [["name", "contains", "ßE"]], {"r3"}),
    ("contains lowers non-ascii", [["name", "contains", "é"]], {"r6"}),
    ("notcontains excludes nulls", [["name", "notcontains", "a"]], {"r4", "r6"}),
    ("startswith", [["name", "startswith", "APP"]], {"r1"}),
    ("startswith percent literal", [["name", "startswith", "100%"]], {"r4"}),
    ("startswith wildcard chars do not match", [["name", "startswith", "1_0"]], set()),
    ("endswith", [["name", "endswith", "OFF"]], {"r4"}),
    ("endswith non-ascii", [["name", "endswith", "ole"]], {"r6"}),
    ("between inclusive", [["price", "between", [0, 2]]], {"r1", "r5"}),
    ("between low above high matches nothing", [["price", "between", [2, 0]]], set()),
    ("currency gt", [["amount", ">", 20]], {"r5"}),
    ("currency eq", [["amount", "=", 20]], {"r2"}),
    ("currency negative", [["amount", "<", 0]], {"r6"}),
    ("boolean eq", [["active", "=", True]], {"r1", "r3"}),
    ("boolean ne excludes nulls", [["active", "!=", True]], {"r2", "r5"}),
    ("boolean in", [["active", "in", [False]]], {"r2", "r5"}),
    ("date gt", [["day", ">", "2024-01-15"]], {"r2", "r3"}),
    ("datetime compares instants", [["at", "<", "2024-02-01T00:00:00Z"]], {"r1", "r2", "r6"}),
    ("naive datetime means UTC", [["at", "=", "2024-03-01T00:00:00"]], {"r3"}),
    ("datetime microseconds", [["at", ">=", "2023-12-31T23:59:59.999999Z"]], {"r1", "r2", "r3", "r6"}),
    ("select compares as text", [["status", ">", "new"]], {"r2", "r5"}),
    ("json is_null", [["meta", "is_null"]], ALL - {"r1"}),
    ("json is_not_null", [["meta", "is_not_null"]], {"r1"}),
    ("multi select is_not_null", [["tags", "is_not_null", True]], {"r1"}),
    ("eq null is is_null", [["name", "=", None]], {"r5"}),
    ("ne null is is_not_null", [["name", "!=", None]], ALL - {"r5"}),
    ("is_null with true", [["name", "is_null", True]], {"r5"}),
    ("id pattern is case-insensitive", [["id", "startswith", "R"]], ALL),
    (
        "and binds tighter than or",
        [["qty", "=", 1], "or", ["qty", "=", 2], "and", ["name", "=", "x"]],
        {"r1"},
    ),
    (
        "adjacent criteria are and-ed",
        [["qty", "=", 1], "or", ["qty", "=", 2], ["name", "=", "banana"]],
        {"r1", "r2"},
    ),
    (
        "nested group",
        [["qty", ">", 0], "and", [["name", "=", "Apple"], "or", ["name", "=", "banana"]]],
        {"r1", "r2"},
    ),
    ("bare criterion", ["qty", "=", 1], {"r1"}),
    ("empty filter matches everything", [], ALL),
    ("object form operators", {"qty": {"$gt": 1, "$lt": 5}}, {"r2", "r3"}),
    ("object form or", {"$or": [{"qty": 1}, {"name": "banana"}]}, {"r1", "r2"}),
    ("object form and", {"$and": [{"qty": {"$gte": 2}}, {"qty": {"$lte": 3}}]}, {"r2", "r3"}),
    ("object form not excludes nulls", {"$not": {"qty": {"$gt": 2}}}, {"r1", "r2"}),
    ("object form not of pattern", {"$not": {"name": {"$contains": "a"}}}, {"r4", "r6"}),
    ("object form null", {"name": None}, {"r5"}),
    ("object form $null false", {"name": {"$null": False}}, ALL - {"r5"}),
    ("object form in", {"status": {"$in": ["new", "closed"]}}, {"r1", "r3"}),
    ("object form nin", {"status": {"$nin": ["new"]}}, {"r2", "r3", "r5"}),
    ("object form between", {"qty": {"$between": [2, 5]}}, {"r2", "r3", "r5"}),
    ("object form startswith", {"name": {"$startswith": "str"}}, {"r3"}),
    ("object form endswith", {"name": {"$endswith": "NA"}}, {"r2"}),
    ("object form notcontains", {"name": {"$notcontains": "e"}}, {"r2", "r4"}),
    ("object form ne", {"qty": {"$ne": 1}}, {"r2", "r3", "r5", "r6"}),
    ("object form eq", {"qty": {"$eq": 6}}, {"r6"}),
]


@pytest.fixture
async def items(make_engine: Any) -> ObjectQL:
    app: ObjectQL = await make_engine({"items": ITEMS})
    for record in RECORDS:
        await app.object("items").create(record)
    return app


async def test_every_operator_gives_the_same_ids_in_sql_and_in_memory(items: ObjectQL) -> None:
    repo = items.object("items")
    stored = await repo.find(limit=1000)
    obj = items.registry.get("items")
    failures = []
    for name, flt, expected in CASES:
        from_sql = {r["id"] for r in await repo.find(filters=flt, fields=["id"], limit=1000)}
        matcher = compile_matcher(parse_filter(flt, obj))
        in_memory = {r["id"] for r in stored if matcher(r)}
        count = await repo.count(filters=flt)
        if not (from_sql == in_memory == expected and count == len(expected)):
            failures.append(f"{name}: sql={sorted(from_sql)} memory={sorted(in_memory)} expected={sorted(expected)}")
    assert not failures, "\n".join(failures)
