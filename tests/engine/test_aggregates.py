"""Repository.aggregate on SQLite and PostgreSQL: exact currency, groups in key order, permissions, typed
errors — and a property test against a plain Python computation over the rows ``find`` returns."""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from objectql import Forbidden, InvalidRequest, ObjectQL, User
from objectql.errors import TooManyGroups
from tests.conftest import OWNER_ROWS_HIDDEN_COST, fresh_database_url, write_objects

ORDERS = (
    """
fields:
  status: {type: select, options: [pending, paid, shipped]}
  total:  {type: currency}
  qty:    {type: integer}
  weight: {type: number}
  owner:  {type: text}
  placed: {type: date}
  cost:   {type: currency}
  meta:   {type: json}
"""
    + OWNER_ROWS_HIDDEN_COST
)
SAM = User("sam", ("sales",))
ADMIN = User("root", ("admin",))


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine({"orders": ORDERS})
    orders = engine.object("orders")
    for status, total, qty, owner in [
        ("paid", "0.1", 1, "sam"),
        ("paid", "0.2", 2, "kim"),
        ("pending", "10.0001", 3, "sam"),
        (None, "5", None, "sam"),
        ("shipped", None, 4, "kim"),
    ]:
        await orders.create({"status": status, "total": total and Decimal(total), "qty": qty, "owner": owner})
    return engine


async def test_count_and_exact_sums_per_group_in_key_order(app: ObjectQL) -> None:
    groups = await app.object("orders").aggregate(count=True, sum=["total", "qty"], group_by=["status"])
    assert [g["key"] for g in groups] == [
        {"status": "paid"},
        {"status": "pending"},
        {"status": "shipped"},
        {"status": None},
    ]  # nulls last
    paid = groups[0]
    assert paid["count"] == 2 and paid["sum"] == {"total": Decimal("0.3"), "qty": 3}  # exact: not 0.30000000000000004
    assert groups[2]["sum"] == {"total": None, "qty": 4}


async def test_avg_min_max_and_the_one_group_without_group_by(app: ObjectQL) -> None:
    (whole,) = await app.object("orders").aggregate(
        count=True, avg=["total", "qty"], min=["total"], max=["total", "qty"]
    )
    assert whole["key"] == {} and whole["count"] == 5
    assert whole["avg"]["total"] == Decimal("3.8250")  # (0.1 + 0.2 + 10.0001 + 5) / 4, to 4 places
    assert whole["avg"]["qty"] == pytest.approx(2.5)
    assert whole["min"] == {"total": Decimal("0.1")} and whole["max"] == {"total": Decimal("10.0001"), "qty": 4}
    (none,) = await app.object("orders").aggregate(filters=[["qty", ">", 100]], count=True, sum=["total"])
    assert none == {"key": {}, "count": 0, "sum": {"total": None}}
    assert await app.object("orders").aggregate(filters=[["qty", ">", 100]], count=True, group_by=["status"]) == []


async def test_row_rules_and_field_roles_apply(app: ObjectQL) -> None:
    (mine,) = await app.context(SAM).object("orders").aggregate(count=True, sum=["total"])
    assert mine["count"] == 3 and mine["sum"] == {"total": Decimal("15.1001")}
    with pytest.raises(Forbidden) as info:
        await app.context(SAM).object("orders").aggregate(sum=["cost"])
    assert info.value.details == {"field": "cost", "path": "sum[0]"}
    with pytest.raises(Forbidden):
        await app.context(SAM).object("orders").aggregate(count=True, group_by=["cost"])
    with pytest.raises(Forbidden):  # a filter on a hidden field leaks it too
        await app.context(SAM).object("orders").aggregate(filters=[["cost", ">", 1]], count=True)
    (everything,) = await app.context(ADMIN).object("orders").aggregate(count=True, max=["cost"])
    assert everything["count"] == 5 and everything["max"] == {"cost": None}


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"sum": ["nope"]}, "sum[0]"),
        ({"sum": ["status"]}, "sum[0]"),
        ({"avg": ["owner"]}, "avg[0]"),
        ({"min": ["meta"]}, "min[0]"),
        ({"count": True, "group_by": ["meta"]}, "group_by[0]"),
        ({"sum": "total", "avg": [1]}, "avg"),
        ({}, "aggregate"),
        ({"count": "yes"}, "count"),
    ],
)
async def test_bad_requests_are_typed_errors_with_a_path(app: ObjectQL, kwargs: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        await app.object("orders").aggregate(**kwargs)
    assert info.value.path == path


# -- property: SQL equals a plain computation over the rows find() returns ------------------------------

ITEMS = """
fields:
  grp:    {type: select, options: [a, b, c]}
  flag:   {type: boolean}
  amount: {type: currency}
  qty:    {type: integer}
  ratio:  {type: number}
"""
amounts = st.one_of(st.none(), st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False))
records_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "grp": st.sampled_from([None, "a", "b", "c"]),
            "flag": st.sampled_from([None, True, False]),
            "amount": amounts,
            "qty": st.one_of(st.none(), st.integers(-1000, 1000)),
            # Any finite float: sums that round, cancel out or overflow.
            "ratio": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
        }
    ),
    max_size=25,
)
FIELDS = ("amount", "qty", "ratio")


def expected(records: list[dict[str, Any]], group_by: list[str]) -> list[dict[str, Any]]:
    """The aggregate computed by hand: groups in key order (nulls last), SQL's null rules."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(tuple(record[f] for f in group_by), []).append(record)
    if not group_by:
        groups.setdefault((), [])
    out = []
    for key in sorted(groups, key=lambda k: tuple((v is None, v if v is not None else 0) for v in k)):
        rows = groups[key]
        values = {f: [r[f] for r in rows if r[f] is not None] for f in FIELDS}
        out.append(
            {
                "key": dict(zip(group_by, key, strict=True)),
                "count": len(rows),
                "sum": {f: _sum(f, v) for f, v in values.items()},
                "avg": {f: _avg(f, v) for f, v in values.items()},
                "min": {f: min(v) if v else None for f, v in values.items()},
                "max": {f: max(v) if v else None for f, v in values.items()},
            }
        )
    return out


def _exact(values: list[Any]) -> Fraction:
    """The exact sum of numbers (a float is exactly the binary number it holds)."""
    return sum((Fraction(v) for v in values), Fraction(0))


def _sum(field: str, values: list[Any]) -> Any:
    if not values:
        return None
    if field != "ratio":
        return sum(values)
    try:
        return float(_exact(values))  # rounded once
    except OverflowError:
        return None  # too large for a float: null, never Infinity


def _avg(field: str, values: list[Any]) -> Any:
    if not values:
        return None
    if field == "amount":
        return (sum(values) / len(values)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN).normalize()
    return float(_exact(values) / len(values))


def same(actual: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    if len(actual) != len(wanted):
        return False
    for a, w in zip(actual, wanted, strict=True):
        if a["key"] != w["key"] or a["count"] != w["count"]:
            return False
        for part in ("sum", "avg", "min", "max"):
            for field in FIELDS:
                x, y = a[part][field], w[part][field]
                if x is None or y is None:
                    if x is not y:
                        return False
                elif field == "ratio" or (field == "qty" and part == "avg"):
                    if type(x) is not float or x != y:  # exact, whatever the order of the rows
                        return False
                elif Decimal(x) != Decimal(y):
                    return False
    return True


def test_sql_aggregates_equal_a_plain_computation(database: str, tmp_path: Path) -> None:
    url = fresh_database_url(database, tmp_path, "agg.db")
    with asyncio.Runner() as runner:
        app = ObjectQL(write_objects(tmp_path, {"items": ITEMS}), url)
        runner.run(app.init())
        table = app.tables["items"]

        async def reload(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            async with app.sql_engine.begin() as conn:
                await conn.execute(delete(table))
            for record in records:
                await app.object("items").create(record)
            return await app.object("items").find(limit=1000)

        async def aggregate(group_by: list[str], filters: Any) -> list[dict[str, Any]]:
            return await app.object("items").aggregate(
                filters=filters,
                count=True,
                sum=list(FIELDS),
                avg=list(FIELDS),
                min=list(FIELDS),
                max=list(FIELDS),
                group_by=group_by,
            )

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(
            records=records_strategy,
            group_by=st.sampled_from([[], ["grp"], ["flag"], ["grp", "flag"]]),
            threshold=st.integers(-1000, 1000),
        )
        def agree(records: list[dict[str, Any]], group_by: list[str], threshold: int) -> None:
            stored = runner.run(reload(records))
            filters = [["qty", ">=", threshold], "or", ["qty", "is_null"]]
            visible = [r for r in stored if r["qty"] is None or r["qty"] >= threshold]
            actual = runner.run(aggregate(group_by, filters))
            wanted = expected(visible, group_by)
            assert same(actual, wanted), f"{actual}\n!=\n{wanted}"

        try:
            agree()
        finally:
            runner.run(app.close())


# -- numbers: exact totals, never Infinity, a bound on groups -----------------------------------------


@pytest.mark.parametrize(
    ("weights", "total", "mean"),
    [
        ([0.1, 0.2, 0.3], 0.6, 0.2),  # rounded once: not 0.6000000000000001
        ([1e16, 1.0, -1e16], 1.0, 1 / 3),  # not 0: no rounding until the end, whatever the row order
        ([1e308, 1e308], None, 1e308),  # too large for a float: null, and the average still correct
        ([5e-324, 5e-324], 1e-323, 5e-324),
    ],
)
async def test_float_sums_are_exact_and_finite(
    make_engine: Any, weights: list[float], total: float | None, mean: float
) -> None:
    app: ObjectQL = await make_engine({"orders": ORDERS})
    orders = app.object("orders")
    for weight in weights:
        await orders.create({"weight": weight})
    (whole,) = await orders.aggregate(sum=["weight"], avg=["weight"])
    assert whole["sum"]["weight"] == total and whole["avg"]["weight"] == mean


async def test_integer_sums_past_64_bits_are_exact(make_engine: Any) -> None:
    app: ObjectQL = await make_engine({"orders": ORDERS})
    orders = app.object("orders")
    for _ in range(3):
        await orders.create({"qty": 2**62})
    (whole,) = await orders.aggregate(sum=["qty"], avg=["qty"])
    assert whole["sum"]["qty"] == 3 * 2**62 and whole["avg"]["qty"] == float(2**62)


async def test_more_groups_than_the_bound_is_too_many_groups(make_engine: Any) -> None:
    app: ObjectQL = await make_engine({"orders": ORDERS}, max_groups=3)
    orders = app.object("orders")
    for qty in range(4):
        await orders.create({"qty": qty})
    with pytest.raises(TooManyGroups) as info:
        await orders.aggregate(count=True, group_by=["qty"])
    assert info.value.code == "TOO_MANY_GROUPS" and info.value.details == {"limit": 3}
    assert len(await orders.aggregate(count=True, group_by=["qty"], filters=[["qty", "<", 3]])) == 3
