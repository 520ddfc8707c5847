"""Writes a write causes — a parent's summary recomputed, a master's details deleted with it — reach plain WebSocket
subscribers as ordinary changes with their own seqs, live and on resume alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.realtime.conftest import ServerFactory, connect

OBJECTS = {
    "customers": """
fields:
  name: {type: text}
  order_count: {type: summary, summary_object: orders, summary_type: count}
  order_total: {type: summary, summary_object: orders, summary_type: sum, summary_field: total}
""",
    "orders": """
fields:
  customer: {type: lookup, reference_to: customers, delete_behavior: cascade}
  total: {type: currency}
""",
    "lines": """
fields:
  order: {type: master_detail, reference_to: orders}
  price: {type: currency}
""",
}


def brief(message: dict[str, Any]) -> tuple[Any, ...]:
    return (message["action"], message["effect"], message["record"]["id"])


async def test_summaries_and_cascades_arrive_as_ordinary_changes_live_and_on_resume(
    live_server: ServerFactory,
) -> None:
    server = await live_server(OBJECTS)
    engine = server.engine
    customer = await engine.object("customers").create({"name": "Ada"})
    client = await connect(server)
    await client.subscribe("c", "customers", record_id=customer["id"])
    await client.subscribe("l", "lines")
    start = (await client.subscribe("o", "orders"))["seq"]

    order = await engine.object("orders").create({"customer": customer["id"], "total": Decimal("2.5")})
    placed = await client.expect("change")
    summary = await client.expect("change")
    assert (placed["id"], brief(placed)) == ("o", ("create", "added", order["id"]))
    assert (summary["id"], brief(summary)) == ("c", ("update", "modified", customer["id"]))
    assert summary["record"]["order_count"] == 1 and summary["record"]["order_total"] == 2.5
    assert set(summary["changed"]) == {"order_count", "order_total", "updated_at"}
    assert summary["seq"] == placed["seq"] + 1

    lines = [await engine.object("lines").create({"order": order["id"], "price": Decimal(1)}) for _ in range(2)]
    assert [brief(await client.expect("change")) for _ in lines] == [("create", "added", ln["id"]) for ln in lines]

    # Deleting the customer cascades to its order, and the order's lines go with it: details first.
    await engine.object("customers").delete(customer["id"])
    live = [await client.expect("change") for _ in range(4)]
    expected = [
        *(("l", ("delete", "removed", ln["id"])) for ln in sorted(lines, key=lambda ln: ln["id"])),
        ("o", ("delete", "removed", order["id"])),
        ("c", ("delete", "removed", customer["id"])),
    ]
    assert [(m["id"], brief(m)) for m in live] == expected
    assert [m["seq"] for m in live] == list(range(live[0]["seq"], live[0]["seq"] + 4))

    # A client resuming from before all this is replayed the same changes with the same seqs.
    again = await connect(server)
    await again.send({"type": "subscribe", "id": "o", "object": "orders", "resume_from": start})
    await again.expect("subscribed")
    replayed = [await again.expect("change") for _ in range(2)]
    assert [(brief(m), m["seq"]) for m in replayed] == [
        (("create", "added", order["id"]), placed["seq"]),
        (("delete", "removed", order["id"]), live[2]["seq"]),
    ]
