"""The live dashboard in headless Chromium: its summary card shows the shop's orders counted and totalled per
status — a live aggregate over SSE — and follows a write made elsewhere without a reload."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Browser

from tests.browser.test_playground_browser import SECRET, browser, chromium, server_at

__all__ = ["browser", "chromium"]  # fixtures used below
WAIT_MS = 15_000


def summary_rows(page: object) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#summary tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    return rows


def test_the_summary_follows_writes_live(tmp_path: Path, browser: Browser) -> None:
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET, "OBJECTQL_AGGREGATE_INTERVAL": "50"}) as server:
        page = browser.new_page()
        try:
            page.goto(f"{server.base}/#token={server.token}")
            page.wait_for_selector("#summary tbody tr", timeout=WAIT_MS)
            before = {row[0]: row for row in summary_rows(page)}
            assert set(before) >= {"pending"} and page.text_content("#summary thead") == "statuscounttotal total"
            pending = int(before["pending"][1])

            mutation = 'mutation { createOrders(input: {customer: "cus_ada", total: "5", status: "pending"}) { id } }'
            headers = {"authorization": f"Bearer {server.token}"}
            created = httpx.post(f"{server.base}/graphql", json={"query": mutation}, headers=headers, timeout=10)
            assert "errors" not in created.json(), created.text
            page.wait_for_function(
                "n => [...document.querySelectorAll('#summary tbody tr')]"
                ".some(r => r.cells[0].textContent === 'pending' && Number(r.cells[1].textContent) === n)",
                arg=pending + 1,
                timeout=WAIT_MS,
            )
        finally:
            page.close()


def top_rows(page: object) -> list[tuple[str, str, float]]:
    rows: list[list[str]] = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#top tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    return [(customer, status, float(total)) for customer, status, total in rows]


def graphql(server: object, query: str) -> dict[str, object]:
    headers = {"authorization": f"Bearer {server.token}"}  # type: ignore[attr-defined]
    answer = httpx.post(f"{server.base}/graphql", json={"query": query}, headers=headers, timeout=10)  # type: ignore[attr-defined]
    body: dict[str, object] = answer.json()
    assert "errors" not in body, answer.text
    data = body["data"]
    assert isinstance(data, dict)
    return data


def largest_orders(server: object) -> list[tuple[str, str, float]]:
    """The five largest orders as a query reads them now: what the live window must show."""
    data = graphql(
        server, "{ ordersList(orderBy: [{field: total, direction: DESC}], limit: 5) { customer status total } }"
    )
    rows = data["ordersList"]
    assert isinstance(rows, list)
    return [(row["customer"], row["status"], float(row["total"])) for row in rows]


def same_window(shown: list[tuple[str, str, float]], read: list[tuple[str, str, float]]) -> bool:
    # Equal totals may stand in either order; the totals' order and the rows themselves must agree.
    return [row[2] for row in shown] == [row[2] for row in read] and sorted(shown) == sorted(read)


def wait_for_window(page: object, server: object, shown_total: float | None = None) -> None:
    """Wait until the card shows what ``ordersList`` reads (with ``shown_total`` among its totals, if given)."""
    for _ in range(WAIT_MS // 100):
        shown = top_rows(page)
        if same_window(shown, largest_orders(server)) and (
            shown_total is None or shown_total in [row[2] for row in shown]
        ):
            return
        page.wait_for_timeout(100)  # type: ignore[attr-defined]
    raise AssertionError(f"the top card shows {top_rows(page)}, the query reads {largest_orders(server)}")


def test_the_top_orders_follow_writes_live(tmp_path: Path, browser: Browser) -> None:
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET}) as server:
        page = browser.new_page()
        try:
            page.goto(f"{server.base}/#token={server.token}")
            page.wait_for_selector("#top tbody tr", timeout=WAIT_MS)
            assert page.text_content("#top-heading").startswith("Top 5 by total")  # type: ignore[union-attr]
            assert page.text_content("#top thead") == "CustomerStatusTotal"
            wait_for_window(page, server)
            smallest_shown = top_rows(page)[-1]

            # A new largest order enters at the top and pushes the smallest one out.
            created = graphql(
                server,
                'mutation { createOrders(input: {customer: "cus_ada", total: "500", status: "pending"}) { id } }',
            )
            order = created["createOrders"]
            assert isinstance(order, dict)
            wait_for_window(page, server, shown_total=500.0)
            assert top_rows(page)[0] == ("cus_ada", "pending", 500.0) and smallest_shown not in top_rows(page)

            # Deleted again, it leaves the window and the row beyond it comes back in.
            graphql(server, f'mutation {{ deleteOrders(id: "{order["id"]}") }}')
            wait_for_window(page, server)
            assert smallest_shown in top_rows(page) and 500.0 not in [row[2] for row in top_rows(page)]
        finally:
            page.close()
