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
