"""``<x>Aggregate``: count, exact currency sums, avg, min and max per groupBy key, over the rows the user may
see; the selection decides what is computed; hidden fields refused."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import OWNER_ROWS_HIDDEN_COST
from tests.graphql.wsclient import codes, post
from tests.realtime.conftest import SECRET, ServerFactory

ORDERS = (
    """
fields:
  status: {type: select, options: [pending, paid]}
  total:  {type: currency}
  qty:    {type: integer}
  owner:  {type: text}
  placed: {type: date}
  cost:   {type: currency}
"""
    + OWNER_ROWS_HIDDEN_COST
)
QUERY = """query ($by: [OrdersSortField!]) {
  ordersAggregate(groupBy: $by) { key { status } count sum { total qty } ...Rest }
}
fragment Rest on OrdersAggregateGroup { avg { total } min { total placed } max { qty } }"""


async def test_groups_with_exact_sums_for_each_user_over_their_rows(live_server: ServerFactory) -> None:
    server = await live_server({"orders": ORDERS}, OBJECTQL_JWT_SECRET=SECRET)
    orders = server.engine.object("orders")
    for status, total, qty, owner, placed in [
        ("paid", "0.1", 1, "sam", "2026-01-02"),
        ("paid", "0.2", 5, "kim", "2026-01-01"),
        ("pending", "3", 2, "sam", None),
    ]:
        await orders.create({"status": status, "total": Decimal(total), "qty": qty, "owner": owner, "placed": placed})
    admin, sam = server.token("root", ["admin"]), server.token("sam", ["sales"])

    body = (await post(server, QUERY, {"by": ["status"]}, token=admin)).json()
    assert "errors" not in body, body
    paid, pending = body["data"]["ordersAggregate"]
    assert paid == {
        "key": {"status": "paid"},
        "count": 2,
        "sum": {"total": "0.3", "qty": 6.0},
        "avg": {"total": "0.15"},
        "min": {"total": "0.1", "placed": "2026-01-01"},
        "max": {"qty": 5},
    }
    assert pending["key"] == {"status": "pending"} and pending["sum"]["total"] == "3"

    mine = (await post(server, QUERY, {"by": None}, token=sam)).json()["data"]["ordersAggregate"]
    assert [(g["key"], g["count"], g["sum"]["total"]) for g in mine] == [({"status": None}, 2, "3.1")]

    hidden = (await post(server, "{ ordersAggregate { count sum { cost } } }", token=sam)).json()
    assert codes(hidden) == ["FORBIDDEN"] and hidden["errors"][0]["extensions"]["details"]["field"] == "cost"
    filtered = await post(server, '{ ordersAggregate(where: {status: {eq: "paid"}}) { count } }', token=admin)
    assert filtered.json() == {"data": {"ordersAggregate": [{"count": 2}]}}


async def test_a_float_sum_too_large_for_a_float_is_null_not_an_error(live_server: ServerFactory) -> None:
    weights = "fields:\n  weight: {type: number}\n  size: {type: text}\n"
    server = await live_server({"parcels": weights})
    parcels = server.engine.object("parcels")
    for weight, size in [(1e308, "big"), (1e308, "big"), (0.1, "small"), (0.2, "small"), (0.3, "small")]:
        await parcels.create({"weight": weight, "size": size})
    query = "{ parcelsAggregate(groupBy: [size]) { key { size } sum { weight } avg { weight } } }"
    body = (await post(server, query)).json()
    assert "errors" not in body, body
    assert body["data"]["parcelsAggregate"] == [
        {"key": {"size": "big"}, "sum": {"weight": None}, "avg": {"weight": 1e308}},
        {"key": {"size": "small"}, "sum": {"weight": 0.6}, "avg": {"weight": 0.2}},
    ]
