"""Paths (``customer.region``) and related lists (``orders any``) in filters and sorts, one-shot reads."""

from __future__ import annotations

from typing import Any

import pytest

from objectql import InvalidFilter, InvalidRequest, ObjectQL

ACCOUNTS = """
fields:
  name: {type: text}
  tier: {type: select, options: [gold, silver]}
"""
CUSTOMERS = """
fields:
  name:     {type: text}
  region:   {type: text}
  score:    {type: integer}
  account:  {type: lookup, reference_to: accounts}
  referrer: {type: lookup, reference_to: customers, related_name: referrals}
  notes:    {type: json}
"""
ORDERS = """
fields:
  customer: {type: lookup, reference_to: customers}
  total:    {type: number}
"""
OBJECTS = {"accounts": ACCOUNTS, "customers": CUSTOMERS, "orders": ORDERS}


async def ids(app: ObjectQL, object_name: str, filters: Any, **kw: Any) -> list[str]:
    return [r["id"] for r in await app.object(object_name).find(filters=filters, fields=["id"], **kw)]


@pytest.fixture
async def app(make_engine: Any) -> ObjectQL:
    engine: ObjectQL = await make_engine(OBJECTS)
    await engine.object("accounts").create({"id": "a1", "name": "Big", "tier": "gold"})
    await engine.object("accounts").create({"id": "a2", "name": "Small", "tier": "silver"})
    customers = engine.object("customers")
    await customers.create({"id": "c1", "name": "Ada", "region": "EU", "score": 3, "account": "a1"})
    await customers.create({"id": "c2", "name": "Bob", "region": "US", "score": 1, "account": "a2", "referrer": "c1"})
    await customers.create({"id": "c3", "name": "Cy", "region": None, "referrer": "c2"})
    await customers.create({"id": "c4", "name": "Dee", "region": "EU", "referrer": "c3"})
    orders = engine.object("orders")
    await orders.create({"id": "o1", "customer": "c1", "total": 150})
    await orders.create({"id": "o2", "customer": "c1", "total": 20})
    await orders.create({"id": "o3", "customer": "c2", "total": 500})
    await orders.create({"id": "o4", "customer": "c3", "total": 5})
    await orders.create({"id": "o5", "customer": None, "total": 1})
    # A reference to a parent that does not exist (written past the engine, as another program might).
    async with engine.sql_engine.begin() as conn:
        await conn.execute(
            engine.tables["orders"].insert().values(id="o6", customer="ghost", _lc_customer="ghost", total=7)
        )
    return engine


async def test_a_path_filters_on_the_parents_field_in_both_forms(app: ObjectQL) -> None:
    assert await ids(app, "orders", [["customer.region", "=", "EU"]]) == ["o1", "o2"]
    assert await ids(app, "orders", {"customer.region": "EU"}) == ["o1", "o2"]
    assert await ids(app, "orders", {"customer.region": {"$in": ["US", "EU"]}, "total": {"$gt": 100}}) == ["o1", "o3"]
    assert await ids(app, "orders", ["customer.name", "startswith", "b"]) == ["o3"]


async def test_a_path_follows_up_to_three_references(app: ObjectQL) -> None:
    assert await ids(app, "orders", [["customer.account.tier", "=", "silver"]]) == ["o3"]
    # o4's customer c3 was referred by c2, referred by c1, whose account is gold.
    assert await ids(app, "orders", [["customer.referrer.referrer.name", "=", "Ada"]]) == ["o4"]
    assert await ids(app, "customers", [["referrer.referrer.referrer.name", "=", "Ada"]]) == ["c4"]


async def test_a_path_through_a_null_or_missing_parent_is_null(app: ObjectQL) -> None:
    # o5 has no customer, o6 a customer that does not exist, o4's customer has no region.
    assert await ids(app, "orders", [["customer.region", "is_null"]]) == ["o4", "o5", "o6"]
    assert await ids(app, "orders", [["customer.region", "!=", "EU"]]) == ["o3"]
    assert await ids(app, "orders", {"$not": {"customer.region": "EU"}}) == ["o3"]
    assert await ids(app, "orders", [["customer.region", "nin", []]]) == ["o1", "o2", "o3", "o4", "o5", "o6"]
    assert await ids(app, "orders", [["customer.id", "is_not_null"]]) == ["o1", "o2", "o3", "o4"]


async def test_any_and_none_quantify_over_a_related_list(app: ObjectQL) -> None:
    assert await ids(app, "customers", [["orders", "any", [["total", ">", 100]]]]) == ["c1", "c2"]
    assert await ids(app, "customers", [["orders", "none", [["total", ">", 100]]]]) == ["c3", "c4"]
    # A customer with no orders: any is false, none is true.
    assert await ids(app, "customers", ["orders", "any"]) == ["c1", "c2", "c3"]
    assert await ids(app, "customers", ["orders", "none"]) == ["c4"]
    assert await ids(app, "customers", {"orders": {"$any": {"total": {"$lt": 10}}}}) == ["c3"]
    assert await ids(app, "customers", {"orders": {"$none": {}}, "region": "EU"}) == ["c4"]
    # A criterion inside that is unknown for a child does not count as a match.
    assert await ids(app, "customers", [["referrals", "any", [["region", "!=", "US"]]]]) == ["c3"]


async def test_related_lists_and_paths_nest(app: ObjectQL) -> None:
    assert await ids(app, "accounts", [["customers", "any", [["orders", "any", [["total", "=", 500]]]]]]) == ["a2"]
    assert await ids(app, "orders", [["customer.referrals", "any", [["region", "=", "US"]]]]) == ["o1", "o2"]
    assert await ids(app, "customers", [["orders", "any", [["customer.account.tier", "=", "gold"]]]]) == ["c1"]


async def test_sorting_on_a_path_puts_nulls_last_and_breaks_ties_by_id(app: ObjectQL) -> None:
    asc = await ids(app, "orders", None, sort=[["customer.name", "asc"]])
    assert asc == ["o1", "o2", "o3", "o4", "o5", "o6"]
    desc = await ids(app, "orders", None, sort=[{"field": "customer.name", "order": "desc"}])
    assert desc == ["o4", "o3", "o1", "o2", "o5", "o6"]
    by_tier = await ids(app, "orders", None, sort=[["customer.account.tier", "desc"], ["total", "desc"]])
    assert by_tier == ["o3", "o1", "o2", "o6", "o4", "o5"]


async def test_count_and_aggregate_take_paths(app: ObjectQL) -> None:
    assert await app.object("orders").count([["customer.region", "=", "EU"]]) == 2
    groups = await app.object("orders").aggregate({"customer.account.tier": "gold"}, sum=["total"])
    assert groups == [{"key": {}, "sum": {"total": 170}}]


@pytest.mark.parametrize(
    ("filters", "path", "words"),
    [
        ([["customer.nope", "=", 1]], "[0][0]", "unknown field 'nope' on customers"),
        ([["nope.region", "=", 1]], "[0][0]", "unknown field 'nope' on orders"),
        ([["total.region", "=", 1]], "[0][0]", "through lookup and master_detail fields only"),
        ([["customer.referrer.referrer.referrer.name", "=", "x"]], "[0][0]", "at most 3 references"),
        ([["customer.region", ">", 5]], "[0][2]", "region"),
        ([["customer.score", "contains", "1"]], "[0][1]", "does not apply to integer field 'score'"),
        ([["customer.notes", "=", 1]], "[0][1]", "json"),
        ({"customer.region": {"$gt": None}}, "customer.region.$gt", "null"),
        ([["customer.orders", "=", 1]], "[0][0]", "unknown field 'orders' on customers"),
        ([["customer", "any", []]], "[0][1]", "any / none apply to related lists"),
        ([["orders", "any", [["total", ">", "x"]]]], "[0][0]", "unknown related list 'orders' on orders"),
    ],
)
async def test_bad_paths_are_invalid_filter_at_the_slot(app: ObjectQL, filters: Any, path: str, words: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        await app.object("orders").find(filters=filters)
    assert caught.value.path == path
    assert words in caught.value.message


async def test_a_related_lists_filter_is_checked_against_the_child_object(app: ObjectQL) -> None:
    with pytest.raises(InvalidFilter) as caught:
        await app.object("customers").find(filters=[["region", "=", "EU"], ["orders", "any", [["totl", ">", 1]]]])
    assert caught.value.path == "[1][2][0][0]"
    with pytest.raises(InvalidFilter) as caught:
        await app.object("customers").find(filters={"orders": {"$any": {"total": {"$gt": "x"}}}})
    assert caught.value.path == "orders.$any.total.$gt"


def nested(depth: int, criterion: Any) -> Any:
    """A list-form filter holding ``criterion`` in a group at ``depth``."""
    node = criterion
    for _ in range(depth):
        node = [node]
    return node


async def test_a_related_lists_filter_is_one_group_deeper_than_its_criterion(app: ObjectQL) -> None:
    customers = app.object("customers")
    # The criterion at depth 7, its filter at depth 8: accepted.
    assert await ids(app, "customers", nested(7, ["orders", "any", [["total", "=", 500]]])) == ["c2"]
    with pytest.raises(InvalidFilter) as caught:
        await customers.find(filters=nested(8, ["orders", "any", [["total", "=", 500]]]))
    assert caught.value.path == "[0][0][0][0][0][0][0][0][2]"
    assert "deeper than 8" in caught.value.message


async def test_a_bad_sort_path_is_invalid_request(app: ObjectQL) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await app.object("orders").find(sort=[["total", "asc"], ["customer.nope", "asc"]])
    assert caught.value.path == "sort[1]"
    with pytest.raises(InvalidRequest) as caught:
        await app.object("orders").find(sort=[["customer.notes", "asc"]])
    assert caught.value.path == "sort[0]"
