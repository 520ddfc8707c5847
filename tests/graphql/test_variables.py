"""A variable whose value does not fit its declared type is the client's mistake: BAD_USER_INPUT naming the
variable and the path inside it, before anything runs, for queries, mutations and subscriptions on every
transport — never INTERNAL_ERROR, never an ERROR line in the server's log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.graphql.wsclient import TRANSPORTS, codes, result
from tests.realtime.conftest import ServerFactory

ORDERS = """
fields:
  status: {type: select, options: [pending, paid]}
  total:  {type: currency}
  qty:    {type: integer}
"""
QUERY = """query ($o: [OrdersOrderBy!], $n: Int, $w: OrdersFilter) {
  ordersList(orderBy: $o, limit: $n, where: $w) { id }
}"""
SUBSCRIPTION = """subscription ($o: [OrdersOrderBy!], $n: Int!, $w: OrdersFilter) {
  ordersWindow(orderBy: $o, limit: $n, where: $w) { seq record { id } }
}"""
CHANGED = "subscription ($w: OrdersFilter) { ordersChanged(where: $w) { seq } }"
MUTATION = "mutation ($i: OrdersInput!) { createOrders(input: $i) { id } }"
FILTERS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    # (variables, what the message names)
    ({"o": [{"field": "nosuch"}]}, ("$o", "[0].field", "nosuch")),
    ({"o": {"field": "total", "direction": "SIDEWAYS"}}, ("$o", ".direction", "SIDEWAYS")),
    ({"n": "abc"}, ("$n", "abc")),
    ({"n": 1.5}, ("$n",)),
    ({"w": {"qty": {"gt": "x"}}}, ("$w", ".qty.gt")),
    ({"w": {"total": {"in": ["1", "abc"]}}}, ("$w", ".total.in[1]")),
    ({"w": {"OR": [{"qty": {"eq": True}}]}}, ("$w", ".OR[0].qty.eq")),
    ({"w": [1]}, ("$w", "object")),
    ({"w": {"nosuch": {"eq": 1}}}, ("$w", "nosuch")),
]
CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    *[(QUERY, variables, named) for variables, named in FILTERS],
    *[(SUBSCRIPTION, {"n": 3, **variables}, named) for variables, named in FILTERS],
    (SUBSCRIPTION, {}, ("$n", "Int!", "provided")),
    (CHANGED, {"w": {"status": {"eq": 5}}}, ("$w", ".status.eq")),
    (MUTATION, {"i": {"qty": "abc"}}, ("$i", ".qty")),
    (MUTATION, {"i": {"total": "abc"}}, ("$i", ".total", "not a decimal number")),
    (MUTATION, {"i": [{"qty": 1}]}, ("$i", "object")),
    (MUTATION, {"i": {"qty": 1, "nosuch": 2}}, ("$i", "nosuch")),
    (MUTATION, {}, ("$i", "OrdersInput!", "provided")),
]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_variable_values_are_bad_user_input_naming_the_variable(
    live_server: ServerFactory, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = await live_server({"orders": ORDERS})
    caplog.set_level(logging.INFO)
    for query, variables, named in CASES:
        body = await result(server, transport, query, variables)
        assert codes(body) == ["BAD_USER_INPUT"], (query, variables, body)
        assert body.get("data") is None
        message = body["errors"][0]["message"]
        for part in named:
            assert part in message, (variables, message)
    assert await server.engine.object("orders").count() == 0  # no bad mutation wrote anything
    assert server.realtime.require_hub().subscription_count == 0  # no bad subscription was registered
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # The same documents with values that fit run.
    good = {"o": [{"field": "total", "direction": "DESC"}], "n": 2, "w": {"qty": {"gt": 1}}}
    assert await result(server, transport, QUERY, good) == {"data": {"ordersList": []}}
    created = await result(server, transport, MUTATION, {"i": {"qty": 3, "total": "1.50"}})
    assert "errors" not in created and created["data"]["createOrders"]["id"]
