"""GraphQL subscriptions across relations: a related record's change reaches the subscribers whose records
carry its data (``customer_ref``, a related list) as a RELATED change, at the related change's seq."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gql import GraphQLRequest, gql

from tests.graphql.test_client_gql import SUBPROTOCOLS, WAIT, collect, session_of, subscribed, ws_transport
from tests.graphql.test_related_lists import SHOP, seed
from tests.graphql.wsclient import open_ws, registered
from tests.realtime.conftest import SECRET, ServerFactory

ORDERS_CHANGED = gql(
    "subscription { ordersChanged { seq action effect changedFields previous { id } "
    "record { id customer_ref { id name } } } }"
)


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_a_customer_rename_is_a_related_change_of_the_orders_carrying_it(
    live_server: ServerFactory, subprotocol: str
) -> None:
    server = await live_server(SHOP, OBJECTQL_JWT_SECRET=SECRET)
    await seed(server.engine)
    customers = server.engine.object("customers")
    async with session_of(ws_transport(server, subprotocol, server.token("sam", ["sales"]))) as session:
        received = asyncio.create_task(collect(session, GraphQLRequest(ORDERS_CHANGED), 2))
        await subscribed(server, 1, received)
        await customers.update("c3", {"name": "Cy B."})  # an unrelated customer: no order carries Cy
        await customers.update("c1", {"name": "Ada L."})
        seq = await server.engine.current_seq()
        results = await asyncio.wait_for(received, WAIT)

    # Ada's orders sam may see are o1 and o2 (o3 is kim's), each once, in id order, at the rename's seq.
    changes: list[dict[str, Any]] = [r["ordersChanged"] for r in results]
    assert [c["record"]["id"] for c in changes] == ["o1", "o2"]
    for change in changes:
        assert (change["seq"], change["action"], change["effect"]) == (str(seq), "RELATED", "MODIFIED")
        assert change["changedFields"] == ["customer"] and change["previous"] is None
        assert change["record"]["customer_ref"] == {"id": "c1", "name": "Ada L."}


async def test_a_related_list_gains_and_loses_rows_as_related_changes(live_server: ServerFactory) -> None:
    server = await live_server(SHOP, OBJECTQL_JWT_SECRET=SECRET)
    await seed(server.engine)
    sam = await open_ws(server, payload={"authorization": server.token("sam", ["sales"])})
    await sam.start(
        "s",
        "subscription { customersChanged { action changedFields "
        "record { id orders(orderBy: [{field: id}]) { id } } } }",
    )
    await registered(server, 1)
    orders = server.engine.object("orders")
    # o4 moves from Bob (kim's, invisible to sam) to Cy: only Cy's list changes as sam sees it.
    await orders.update("o4", {"customer": "c3"})
    change = (await sam.next("s"))["data"]["customersChanged"]
    assert change == {
        "action": "RELATED",
        "changedFields": ["orders"],
        "record": {"id": "c3", "orders": [{"id": "o4"}]},
    }
    await orders.delete("o1")
    change = (await sam.next("s"))["data"]["customersChanged"]
    assert change["record"] == {"id": "c1", "orders": [{"id": "o2"}]}
    # A subscription without related selections is not in the dependency index: nothing for it.
    await sam.start("p", "subscription { customersChanged { action record { id name } } }")
    await registered(server, 2)
    await orders.update("o2", {"total": 31})
    change = (await sam.next("s"))["data"]["customersChanged"]
    assert change["action"] == "RELATED" and change["record"]["id"] == "c1"
    await server.engine.object("customers").update("c3", {"name": "Cy B."})
    got = [await sam.recv() for _ in range(2)]
    assert sorted(m["id"] for m in got) == ["p", "s"]
    assert {m["payload"]["data"]["customersChanged"]["action"] for m in got} == {"UPDATE"}
    with pytest.raises(TimeoutError):
        await sam.recv(timeout=0.5)
