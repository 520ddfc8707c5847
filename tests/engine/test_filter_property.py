"""Property: for any records and any filter, SQL (on SQLite and PostgreSQL) and the matcher agree.

Records mix nulls, non-ASCII text, ``%``/``_``, case variants, boundary numbers and datetimes; filters
come in both forms with nested and/or/not and every operator. The set of ids the database returns must
equal the set of stored records the in-memory matcher accepts.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from objectql import ObjectQL
from objectql.engine.filters import compile_matcher, parse_filter
from tests.conftest import fresh_database_url, write_objects

ITEMS = """
fields:
  name:   {type: text}
  qty:    {type: integer}
  price:  {type: number}
  amount: {type: currency}
  active: {type: boolean}
  day:    {type: date}
  at:     {type: datetime}
  status: {type: select, options: [new, open, Open, closed]}
  meta:   {type: json}
"""

# Characters whose comparison or lower-casing differs between naive implementations.
TRICKY = "aAbBzZ%_\\ßsSÉéİiIΣσςǅǆﬃ😀 \u00a0\u0301"
text_values = st.one_of(
    st.sampled_from(["", "a", "A", "ab", "AB", "%", "_", "a%b", "a_b", "straße", "STRASSE", "Σσς", "İi"]),
    st.text(alphabet=TRICKY, max_size=6),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=4),
)
int_values = st.one_of(
    st.sampled_from([0, 1, -1, 2**31, -(2**31), 2**53, 2**63 - 1, -(2**63)]),
    st.integers(-5, 5),
)
float_values = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1, 1e-300, 1e300, 2.0**53, 5e-324, 1.7976931348623157e308]),
    st.floats(-10, 10, allow_nan=False, allow_infinity=False),
    st.integers(-3, 3),
)
decimal_values = st.one_of(
    st.sampled_from([Decimal("0"), Decimal("0.0001"), Decimal("-0.0001"), Decimal("99999999999999.9999")]),
    st.decimals(min_value=-100, max_value=100, places=4, allow_nan=False, allow_infinity=False),
    st.integers(-3, 3),
)
BASE = datetime(2024, 1, 1, tzinfo=UTC)
datetime_values = st.one_of(
    st.sampled_from([BASE, BASE + timedelta(microseconds=1), BASE - timedelta(microseconds=1)]),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)).map(lambda d: d.replace(tzinfo=UTC)),
)
wire_datetimes = st.one_of(
    datetime_values,
    datetime_values.map(lambda d: d.isoformat()),
    datetime_values.map(lambda d: d.replace(tzinfo=None).isoformat()),
    datetime_values.map(lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
)
date_values = st.one_of(
    st.sampled_from([date(2024, 1, 1), date(2024, 1, 2)]), st.dates(date(1970, 1, 1), date(2100, 1, 1))
)

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["r1", "R1", "r", "é", "%"]),
    "name": text_values,
    "qty": int_values,
    "price": float_values,
    "amount": decimal_values,
    "active": st.booleans(),
    "day": st.one_of(date_values, date_values.map(lambda d: d.isoformat())),
    "at": wire_datetimes,
    "status": st.sampled_from(["new", "open", "Open", "closed", "opened", "n"]),
    "created_at": wire_datetimes,
}
ORDERING = [">", ">=", "<", "<="]
OPS: dict[str, list[str]] = {
    "id": ["=", "!=", "in", "nin", "contains", "startswith", *ORDERING],
    "name": [
        "=",
        "!=",
        "<>",
        *ORDERING,
        "in",
        "nin",
        "not in",
        "contains",
        "notcontains",
        "startswith",
        "endswith",
        "between",
        "is_null",
        "is_not_null",
    ],
    "qty": ["=", "!=", *ORDERING, "in", "nin", "between", "is_null", "is_not_null"],
    "price": ["=", "!=", *ORDERING, "in", "nin", "between", "is_null"],
    "amount": ["=", "!=", *ORDERING, "in", "nin", "between", "is_not_null"],
    "active": ["=", "!=", "in", "nin", "is_null", "is_not_null"],
    "day": ["=", "!=", *ORDERING, "between", "in"],
    "at": ["=", "!=", *ORDERING, "between", "nin"],
    "status": ["=", "!=", *ORDERING, "in", "contains", "endswith", "between"],
    "meta": ["is_null", "is_not_null"],
    "created_at": ["<", ">", "is_not_null"],
}
OBJECT_OPS = {
    "=": "$eq",
    "!=": "$ne",
    ">": "$gt",
    ">=": "$gte",
    "<": "$lt",
    "<=": "$lte",
    "in": "$in",
    "nin": "$nin",
    "contains": "$contains",
    "notcontains": "$notcontains",
    "startswith": "$startswith",
    "endswith": "$endswith",
    "between": "$between",
}

records_strategy = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(st.none(), text_values),
            "qty": st.one_of(st.none(), int_values),
            "price": st.one_of(st.none(), float_values),
            "amount": st.one_of(st.none(), decimal_values),
            "active": st.one_of(st.none(), st.booleans()),
            "day": st.one_of(st.none(), date_values),
            "at": st.one_of(st.none(), datetime_values),
            "status": st.one_of(st.none(), st.sampled_from(["new", "open", "Open", "closed"])),
            "meta": st.one_of(st.none(), st.just({"k": [1, "x"]}), st.just([]), st.just(0)),
        },
    ),
    max_size=8,
)


def seen_values(field: str, pools: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """Values taken from the generated records (case-shifted and cut for text), so filters hit."""
    pool = pools.get(field) or []
    base = VALUES.get(field, st.none())
    if not pool:
        return base
    seen = st.sampled_from(pool)
    if isinstance(pool[0], str) and field in ("name", "id", "status"):
        seen = st.one_of(
            seen,
            seen.map(str.upper),
            seen.map(str.swapcase),
            st.tuples(seen, st.integers(0, 3), st.integers(1, 4)).map(lambda t: t[0][t[1] : t[1] + t[2]]),
        )
    return st.one_of(seen, seen, base)


@st.composite
def criteria(draw: st.DrawFn, pools: dict[str, list[Any]]) -> tuple[str, str, Any]:
    field = draw(st.sampled_from(sorted(OPS)))
    op = draw(st.sampled_from(OPS[field]))
    if op in ("is_null", "is_not_null"):
        return field, op, draw(st.sampled_from([True, "<absent>"]))
    values = seen_values(field, pools)
    if op in ("in", "nin", "not in"):
        return field, op, draw(st.lists(values, max_size=4))
    if op == "between":
        return field, op, [draw(values), draw(values)]
    if op in ("=", "!=", "<>") and draw(st.integers(0, 9)) == 0:
        return field, op, None
    return field, op, draw(values)


def as_list_criterion(c: tuple[str, str, Any]) -> list[Any]:
    field, op, value = c
    return [field, op] if value == "<absent>" else [field, op, value]


@st.composite
def list_filters(draw: st.DrawFn, pools: dict[str, list[Any]], depth: int = 1) -> list[Any]:
    n = draw(st.integers(1, 4))
    items: list[Any] = []
    for i in range(n):
        if i:
            connector = draw(st.sampled_from(["and", "or", None]))
            if connector:
                items.append(connector)
        if depth < 4 and draw(st.integers(0, 3)) == 0:
            items.append(draw(list_filters(pools, depth + 1)))
        else:
            items.append(as_list_criterion(draw(criteria(pools))))
    return items


@st.composite
def object_filters(draw: st.DrawFn, pools: dict[str, list[Any]], depth: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "field", "$and", "$or", "$not"] if depth < 4 else ["field"]))
        if kind == "field":
            field, op, value = draw(criteria(pools))
            if op in ("is_null", "is_not_null"):
                out[field] = {"$null": op == "is_null"}
            elif op in ("=",) and draw(st.booleans()):
                out[field] = value
            else:
                out[field] = {OBJECT_OPS.get(op, "$ne" if op == "<>" else "$nin"): value}
        elif kind == "$not":
            out["$not"] = draw(object_filters(pools, depth + 1))
        else:
            out[kind] = draw(st.lists(object_filters(pools, depth + 1), min_size=1, max_size=3))
    return out


def filters_for(records: list[dict[str, Any]]) -> st.SearchStrategy[list[Any]]:
    pools: dict[str, list[Any]] = {}
    for i, record in enumerate(records):
        pools.setdefault("id", []).append(f"r{i}")
        for key, value in record.items():
            if value is not None and key in VALUES:
                pools.setdefault(key, []).append(value)
    return st.lists(st.one_of(list_filters(pools), object_filters(pools)), min_size=1, max_size=6)


def test_sql_and_matcher_agree_on_generated_records_and_filters(database: str, tmp_path: Path) -> None:
    url = fresh_database_url(database, tmp_path, "prop.db")
    with asyncio.Runner() as runner:
        app = ObjectQL(write_objects(tmp_path, {"items": ITEMS}), url)
        runner.run(app.init())
        obj = app.registry.get("items")
        table = app.tables["items"]
        checked = {"filters": 0, "non_empty": 0}

        async def reload(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            async with app.sql_engine.begin() as conn:
                await conn.execute(delete(table))
            repo = app.object("items")
            for i, record in enumerate(records):
                await repo.create({"id": f"r{i}", **record})
            return await repo.find(limit=1000)

        async def check(filters: list[Any], stored: list[dict[str, Any]]) -> None:
            repo = app.object("items")
            for flt in filters:
                from_sql = {r["id"] for r in await repo.find(filters=flt, fields=["id"], limit=1000)}
                matcher = compile_matcher(parse_filter(flt, obj))
                in_memory = {r["id"] for r in stored if matcher(r)}
                assert from_sql == in_memory, f"filter {flt!r}\nrecords {stored!r}"
                checked["filters"] += 1
                checked["non_empty"] += bool(from_sql)

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(records=records_strategy, data=st.data())
        def agree(records: list[dict[str, Any]], data: st.DataObject) -> None:
            stored = runner.run(reload(records))
            filters = data.draw(filters_for(records), label="filters")
            runner.run(check(filters, stored))

        try:
            agree()
        finally:
            runner.run(app.close())
        # The generators must actually exercise matching, not only empty results.
        assert checked["non_empty"] > checked["filters"] / 10
