"""The live dashboard in headless Chromium: its summary card shows the shop's orders counted and totalled per
status — a live aggregate over SSE — and follows a write made elsewhere without a reload."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser

from objectql.server.auth import Authenticator
from objectql.server.settings import Settings
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
            assert set(before) >= {"pending"} and page.text_content("#summary thead") == "StatusCountTotal"
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
    """The five largest orders as a query reads them now: what the live window must show (customers by name)."""
    data = graphql(
        server,
        "{ ordersList(orderBy: [{field: total, direction: DESC}], limit: 5) { customer_ref { name } status total } }",
    )
    rows = data["ordersList"]
    assert isinstance(rows, list)
    return [(row["customer_ref"]["name"], row["status"], float(row["total"])) for row in rows]


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
            assert top_rows(page)[0] == ("Ada Lovelace", "pending", 500.0) and smallest_shown not in top_rows(page)

            # Deleted again, it leaves the window and the row beyond it comes back in.
            graphql(server, f'mutation {{ deleteOrders(id: "{order["id"]}") }}')
            wait_for_window(page, server)
            assert smallest_shown in top_rows(page) and 500.0 not in [row[2] for row in top_rows(page)]
        finally:
            page.close()


# -- what the page shows, on a phone and on a desk ----------------------------------------------------

LAYOUT = """() => {
  const width = document.documentElement.clientWidth;
  const header = document.querySelector("header");
  const out = {page: document.documentElement.scrollWidth - width, header: header.scrollWidth - header.clientWidth,
               escaping: [...header.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > width + 1)
                 .map(e => e.id || e.tagName), hidden: [], truncated: []};
  for (const table of document.querySelectorAll("table")) {
    const box = table.parentElement, card = box.closest(".card");
    if (card.hidden || !table.tHead.rows.length) continue;
    if (box.getBoundingClientRect().right > card.getBoundingClientRect().right + 1) out.hidden.push(table.id + ": box");
    for (const th of table.tHead.rows[0].cells) {
      // Scrolled to it, the column shows whole inside its card.
      box.scrollLeft = th.offsetLeft + th.offsetWidth - box.clientWidth;
      const cell = th.getBoundingClientRect(), seen = box.getBoundingClientRect();
      if (cell.right > seen.right + 1 || (cell.width <= seen.width && cell.left < seen.left - 1)) {
        out.hidden.push(`${table.id}: ${th.textContent}`);
      }
    }
    box.scrollLeft = 0;
    const cells = [...table.querySelectorAll("th"), ...(card.closest("aside") ? table.querySelectorAll("td") : [])];
    const cut = cells.filter(c => c.scrollWidth > c.clientWidth + 1);
    out.truncated.push(...cut.map(c => `${table.id}: ${c.textContent}`));
  }
  return out;
}"""


def test_the_dashboard_fits_a_phone(tmp_path: Path, browser: Browser) -> None:
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET}) as server:
        page = browser.new_page(viewport={"width": 375, "height": 800})
        try:
            page.goto(f"{server.base}/#token={server.token}")
            page.wait_for_selector("#summary tbody tr", timeout=WAIT_MS)
            page.wait_for_selector("#top tbody tr td:not(.empty)", timeout=WAIT_MS)
            page.wait_for_selector("#records tbody tr td:not(.empty)", timeout=WAIT_MS)
            layout = page.evaluate(LAYOUT)
            assert layout["page"] <= 0 and layout["header"] <= 0 and layout["escaping"] == [], layout
            assert layout["hidden"] == [] and layout["truncated"] == [], layout
        finally:
            page.close()


LOCAL_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def column(page: object, table: str, label: str) -> list[str]:
    values: list[str] = page.evaluate(  # type: ignore[attr-defined]
        """([table, label]) => {
          const index = [...document.querySelectorAll(`#${table} thead th`)].findIndex(th => th.textContent === label);
          return [...document.querySelectorAll(`#${table} tbody tr`)].map(r => r.cells[index].textContent);
        }""",
        [table, label],
    )
    return values


def test_lookups_show_the_names_the_reader_may_read_and_times_show_to_the_second_locally(
    tmp_path: Path, browser: Browser
) -> None:
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET}) as server:
        context = browser.new_context(timezone_id="Asia/Kolkata")  # UTC+05:30 all year
        page = context.new_page()
        try:
            sam = Authenticator.from_settings(Settings.load({}, {"OBJECTQL_JWT_SECRET": SECRET})).mint(
                "sam", ["sales"], 600
            )
            page.goto(f"{server.base}/#token={sam}")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#records tbody td')].some(c => c.textContent === 'Ada Lovelace')",
                timeout=WAIT_MS,
            )
            assert sorted(set(column(page, "records", "Customer"))) == ["Ada Lovelace", "Grace Hopper"]
            assert "Go board (19x19)" in column(page, "records", "Product")
            placed = dict(zip(column(page, "records", "ID"), column(page, "records", "Placed at"), strict=True))
            assert placed["ord_1001"] == "2030-01-05 15:00:00"  # 09:30Z in Kolkata, to the second
            assert all(LOCAL_SECOND.match(value) for value in column(page, "records", "Created at"))
            page.wait_for_selector("#top tbody tr td:not(.empty)", timeout=WAIT_MS)
            assert set(column(page, "top", "Customer")) <= {"Ada Lovelace", "Grace Hopper"}

            # Anonymous readers may read orders and products, not customers: those stay ids. (One tab at a time:
            # a tab holds three streams, and a browser opens six connections per host.)
            page.close()
            anonymous = context.new_page()
            anonymous.goto(f"{server.base}/")
            anonymous.wait_for_function(
                "() => [...document.querySelectorAll('#records tbody td')].some(td => td.textContent.startsWith('Go'))",
                timeout=WAIT_MS,
            )
            assert set(column(anonymous, "records", "Customer")) <= {"cus_ada", "cus_grace", "cus_alan", "cus_edsger"}
        finally:
            context.close()


def test_a_renamed_customer_shows_its_new_name_live_in_both_tables(tmp_path: Path, browser: Browser) -> None:
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET}) as server:
        page = browser.new_page()
        try:
            page.goto(f"{server.base}/#token={server.token}")
            page.wait_for_selector("#top tbody tr td:not(.empty)", timeout=WAIT_MS)
            page.wait_for_function(
                "() => [...document.querySelectorAll('#records tbody td')].some(c => c.textContent === 'Ada Lovelace')",
                timeout=WAIT_MS,
            )
            graphql(server, 'mutation { updateCustomers(id: "cus_ada", input: {name: "Ada King"}) { id } }')
            # No order was written: the name arrives as a related change of each of Ada's orders.
            page.wait_for_function(
                "() => ['records', 'top'].every(t => [...document.querySelectorAll(`#${t} tbody td`)]"
                ".some(c => c.textContent === 'Ada King'))"
                " && ![...document.querySelectorAll('td')].some(c => c.textContent === 'Ada Lovelace')",
                timeout=WAIT_MS,
            )
            ada_orders = graphql(server, '{ ordersCount(where: {customer: {eq: "cus_ada"}}) }')["ordersCount"]
            assert column(page, "records", "Customer").count("Ada King") == ada_orders
        finally:
            page.close()


def test_a_stream_the_server_does_not_have_says_not_found(tmp_path: Path, browser: Browser) -> None:
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET}) as server:
        page = browser.new_page()
        missing = json.dumps({"error": {"code": "NOT_FOUND", "message": "Not Found"}})
        page.route(
            "**/api/events/**", lambda route: route.fulfill(status=404, body=missing, content_type="application/json")
        )
        try:
            page.goto(f"{server.base}/#token={server.token}")
            page.wait_for_selector("#message:not([hidden])", timeout=WAIT_MS)
            message = page.text_content("#message") or ""
            assert "404" in message and "not found" in message.lower() and "refused" not in message, message
            assert page.text_content("#status") == "not found"
            summary = page.text_content("#summary-message") or ""
            assert "404" in summary and "refused" not in summary, summary
        finally:
            page.close()
