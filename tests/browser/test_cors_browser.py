"""CORS as a browser enforces it: a page on a second origin queries /graphql (a preflighted POST with a
token) and reads an SSE stream when that origin is allowed, and is kept from both when it is not.

Headless Debian Chromium (never a downloaded browser) loads the page from a small static server on another
port; ``objectql serve`` lists only that origin in ``OBJECTQL_ALLOWED_ORIGINS``.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.browser.test_playground_browser import SECRET, Server, browser, chromium, free_port, server_at

PAGE = """<!doctype html><meta charset="utf-8"><title>front</title>
<script>
window.run = async (api, token) => {
  const out = {};
  try {
    const response = await fetch(api + "/graphql", {
      method: "POST",
      headers: {"content-type": "application/json", "authorization": "Bearer " + token},
      body: JSON.stringify({query: "{ productsCount }"}),
    });
    out.graphql = await response.json();
  } catch (error) { out.graphql = "refused: " + error.name; }
  try {
    out.health = (await (await fetch(api + "/health/ready")).json()).status;
  } catch (error) { out.health = "refused: " + error.name; }
  out.sse = await new Promise((resolve) => {
    const source = new EventSource(api + "/api/events/products?access_token=" + token);
    const timer = setTimeout(() => { source.close(); resolve("timeout"); }, 8000);
    source.onopen = () => { clearTimeout(timer); source.close(); resolve("open"); };
    source.onerror = () => { clearTimeout(timer); source.close(); resolve("refused"); };
  });
  return out;
};
</script>"""

__all__ = ["browser", "chromium"]  # fixtures, imported for their use below


class Front:
    """A static server on its own port: the front-end's origin."""

    def __init__(self, directory: Path) -> None:
        (directory / "index.html").write_text(PAGE, encoding="utf-8")
        handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(directory))  # noqa: E731
        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fronts(tmp_path: Path) -> Iterator[tuple[Front, Front]]:
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    pair = (Front(allowed), Front(other))
    yield pair
    for front in pair:
        front.close()


def run_from(browser: Browser, front: Front, api: Server) -> Any:
    page = browser.new_page()
    try:
        page.goto(f"{front.origin}/index.html")
        return page.evaluate("([api, token]) => window.run(api, token)", [api.base, api.token])
    finally:
        page.close()


def test_an_allowed_origin_queries_and_streams_and_another_is_kept_out(
    tmp_path: Path, browser: Browser, fronts: tuple[Front, Front]
) -> None:
    allowed, other = fronts
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET, "OBJECTQL_ALLOWED_ORIGINS": allowed.origin}) as api:
        granted = run_from(browser, allowed, api)
        assert granted["graphql"] == {"data": {"productsCount": 4}}, granted
        assert granted["health"] == "ok" and granted["sse"] == "open", granted
        kept_out = run_from(browser, other, api)
        assert kept_out == {"graphql": "refused: TypeError", "health": "refused: TypeError", "sse": "refused"}
