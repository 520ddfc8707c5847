"""Summary fields over GraphQL: in the object type, filters, orderBy and aggregates like any field of their kind;
absent from the input types (read-only); a deleteX refused by a restricting child answers CONFLICT."""

from __future__ import annotations

from typing import Any

from tests.graphql.wsclient import codes, post
from tests.realtime.conftest import LiveServer, ServerFactory

SHOP = {
    "customers": """
fields:
  name: {type: text}
  order_count: {type: summary, summary_object: orders, summary_type: count}
  order_total: {type: summary, summary_object: orders, summary_type: sum, summary_field: total}
""",
    "orders": """
fields:
  customer: {type: lookup, reference_to: customers, required: true}
  total: {type: currency}
""",
}


async def gql(server: LiveServer, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await post(server, query, variables, None)
    assert response.status_code == 200, response.text
    return response.json()


async def test_summaries_read_filter_sort_and_aggregate_and_are_not_input(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    ada = (await gql(server, 'mutation { createCustomers(input: {name: "Ada"}) { id order_count order_total } }'))[
        "data"
    ]["createCustomers"]
    assert (ada["order_count"], ada["order_total"]) == (0, "0")
    bob = (await gql(server, 'mutation { createCustomers(input: {name: "Bob"}) { id } }'))["data"]["createCustomers"]
    for customer, total in ((ada["id"], "0.1"), (ada["id"], "0.2"), (bob["id"], "5")):
        create = "mutation ($c: ID!, $t: Decimal) { createOrders(input: {customer: $c, total: $t}) { id } }"
        assert "errors" not in await gql(server, create, {"c": customer, "t": total})
    body = await gql(
        server,
        """{
          customersList(where: {order_count: {gte: 1}}, orderBy: [{field: order_total, direction: DESC}]) {
            name order_count order_total }
          customersAggregate { sum { order_total } max { order_count } }
        }""",
    )
    assert body["data"] == {
        "customersList": [
            {"name": "Bob", "order_count": 1, "order_total": "5"},
            {"name": "Ada", "order_count": 2, "order_total": "0.3"},
        ],
        "customersAggregate": [{"sum": {"order_total": "5.3"}, "max": {"order_count": 2}}],
    }
    refused = await gql(server, 'mutation { createCustomers(input: {name: "C", order_count: 3}) { id } }')
    assert codes(refused) == ["GRAPHQL_VALIDATION_FAILED"] and "order_count" in refused["errors"][0]["message"]
    refused = await gql(
        server, "mutation ($id: ID!) { updateCustomers(id: $id, input: {order_total: 1}) { id } }", {"id": ada["id"]}
    )
    assert codes(refused) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_deleting_a_parent_held_by_a_required_lookup_is_a_conflict(live_server: ServerFactory) -> None:
    server = await live_server(SHOP)
    ada = await server.engine.object("customers").create({"name": "Ada"})
    await server.engine.object("orders").create({"customer": ada["id"]})
    body = await gql(server, "mutation ($id: ID!) { deleteCustomers(id: $id) }", {"id": ada["id"]})
    assert codes(body) == ["CONFLICT"]
    assert "orders.customer" in body["errors"][0]["message"]
    assert await server.engine.object("customers").count() == 1
