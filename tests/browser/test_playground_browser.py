"""The GraphiQL playground in a real headless Chromium, against ``objectql serve``, with the internet cut off.

Playwright for Python drives Debian's ``/usr/bin/chromium`` (never a browser Playwright downloads). Every
request the browser makes that is not to 127.0.0.1 is aborted and recorded, and the tests assert there
were none: the playground works offline. The server runs ``examples/shop`` on a temporary SQLite file
with a JWT secret, so the token typed in the Headers pane is what lets the mutation through (HTTP header)
and what lets the subscription select the orders' ``note`` field (``connection_init`` payload).

Without Chromium these tests fail in CI (``CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, WebSocket, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from objectql.server.auth import Authenticator
from objectql.server.playground import DEFAULT_DIST_DIR, read_manifest
from objectql.server.settings import SETTINGS, Settings
from tests.unavailable import unavailable

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOST = "127.0.0.1"
SECRET = "playground-browser-test-secret-0123456789"
START_DEADLINE = 60.0  # bounds on a hung start or a lost event, not performance expectations
WAIT_MS = 15_000
BUILD_TIMEOUT = 600.0

SUBSCRIPTION = "subscription { ordersChanged { effect record { id status note } } }"
NOTE = "typed in the playground"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        unavailable("Chromium", f"{CHROMIUM} is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The built playground, current with its sources: ``make playground`` (a no-op when nothing changed)."""
    make = shutil.which("make")
    if make is None:
        if read_manifest(DEFAULT_DIST_DIR) is None:
            pytest.fail("the playground is not built and make is missing: run `make playground`")
        return DEFAULT_DIST_DIR
    result = subprocess.run(
        [make, "playground"], cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    if result.returncode != 0 or read_manifest(DEFAULT_DIST_DIR) is None:
        pytest.fail(f"make playground failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return DEFAULT_DIST_DIR


@dataclass
class Server:
    base: str
    token: str
    log: Path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_at(
    tmp_path: Path, environment: dict[str, str], objectql: list[str] | None = None, app: Path = SHOP
) -> Iterator[Server]:
    """``objectql serve`` of ``app`` on a free port and a temporary SQLite file, with ``environment``.

    ``objectql`` is the command to run (by default this checkout's, as ``python -m objectql.server.cli``).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    env.update(environment)
    log_path = tmp_path / "server.log"
    command = [*(objectql or [sys.executable, "-m", "objectql.server.cli"]), "serve", str(app)]
    command += ["--db", f"sqlite:///{tmp_path / 'shop.db'}", "--host", LOCAL_HOST, "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://{LOCAL_HOST}:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not healthy within {START_DEADLINE}s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        settings = Settings.load({}, {"OBJECTQL_JWT_SECRET": SECRET}, app_dir=tmp_path)
        token = Authenticator.from_settings(settings).mint("ada", ["admin"], 3600)
        yield Server(base, token, log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def server(tmp_path: Path, bundle: Path) -> Iterator[Server]:
    """The shop with a JWT secret, so the token typed in the playground is what lets writes through."""
    with server_at(tmp_path, {"OBJECTQL_JWT_SECRET": SECRET}) as running:
        yield running


@pytest.fixture
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Offline:
    """A browser context whose every non-local request is aborted, and what the pages did."""

    context: BrowserContext
    blocked: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)
    frames_sent: list[str] = field(default_factory=list)
    frames_received: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def guard(self, route: Route) -> None:
        url = route.request.url
        self.requested.append(url)
        if urlsplit(url).hostname == LOCAL_HOST:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", self._console)
        page.on("websocket", self._socket)
        return page

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.errors.append(f"console: {message.text}")

    def _socket(self, socket: WebSocket) -> None:
        self.sockets.append(socket)
        socket.on("framesent", lambda payload: self.frames_sent.append(_text(payload)))
        socket.on("framereceived", lambda payload: self.frames_received.append(_text(payload)))

    def messages(self, frames: list[str]) -> list[dict[str, Any]]:
        return [json.loads(frame) for frame in frames]

    def assert_stayed_local(self) -> None:
        assert self.blocked == [], f"the playground tried to reach other hosts: {self.blocked}"
        assert self.requested, "no request went through the guard"
        for socket in self.sockets:
            assert urlsplit(socket.url).hostname == LOCAL_HOST, socket.url
        assert self.errors == []


def _text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode()


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    context = browser.new_context()
    state = Offline(context)
    context.route("**/*", state.guard)
    try:
        yield state
    finally:
        context.close()


# -- driving GraphiQL -----------------------------------------------------------------------------

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = "section.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = ".graphiql-response .CodeMirror"


def open_playground(offline: Offline, base: str) -> Page:
    page = offline.watch(offline.context.new_page())
    response = page.goto(f"{base}/graphql")
    assert response is not None, "GET /graphql got no response"
    assert response.status == 200, (
        f"GET /graphql from a browser answered {response.status}, not the playground: are playground_routes() "
        "mounted in app.py before the GraphQL route, and is the GraphQL endpoint there?"
    )
    page.wait_for_selector(QUERY_EDITOR, timeout=WAIT_MS)
    return page


def type_into(page: Page, selector: str, text: str) -> None:
    """Replace an editor's text the way a person would: click, select all, type (as one input, like a paste,
    so the editor's bracket completion does not add to it)."""
    page.click(selector)
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)
    assert editor_text(page, selector) == text


def editor_text(page: Page, selector: str) -> str:
    text: str = page.eval_on_selector(selector, "element => element.CodeMirror.getValue()")
    return text


def run(page: Page) -> None:
    # GraphiQL re-reads the document's operations 100 ms after the last edit; until then a document that
    # replaced one with several operations (the opening example) still offers a menu instead of running.
    page.wait_for_timeout(300)
    page.click(".graphiql-execute-button")


def wait_for_result(page: Page, pattern: str) -> str:
    """The result pane's text once it matches ``pattern``."""
    page.wait_for_function(
        "([selector, pattern]) => new RegExp(pattern).test(document.querySelector(selector).CodeMirror.getValue())",
        arg=[RESULT, pattern],
        timeout=WAIT_MS,
    )
    return editor_text(page, RESULT)


def use_token(page: Page, token: str) -> None:
    type_into(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}))


def create_order(page: Page, note: str) -> str:
    """Commit ``createOrders`` from the playground; returns the new order's id."""
    mutation = f'mutation {{ createOrders(input: {{customer: "cus_ada", total: 12.5, note: "{note}"}}) {{ id note }} }}'
    type_into(page, QUERY_EDITOR, mutation)
    previous = editor_text(page, RESULT)
    run(page)
    page.wait_for_function(
        "([selector, previous]) => document.querySelector(selector).CodeMirror.getValue() !== previous",
        arg=[RESULT, previous],
        timeout=WAIT_MS,
    )
    result = json.loads(editor_text(page, RESULT))
    assert "errors" not in result, result
    order: dict[str, Any] = result["data"]["createOrders"]
    assert order["note"] == note
    return str(order["id"])


# -- the tests ------------------------------------------------------------------------------------


def test_playground_loads_its_schema_with_no_request_leaving_the_machine(server: Server, offline: Offline) -> None:
    page = open_playground(offline, server.base)
    # The schema came over POST /graphql (introspection): the docs explorer lists the root types.
    page.click('button[aria-label="Show Documentation Explorer"]')
    page.wait_for_selector(".graphiql-doc-explorer-root-type >> text=Subscription", timeout=WAIT_MS)
    offline.assert_stayed_local()


def test_subscription_typed_in_the_playground_receives_a_mutation_committed_from_it(
    server: Server, offline: Offline
) -> None:
    subscriber = open_playground(offline, server.base)
    use_token(subscriber, server.token)
    type_into(subscriber, QUERY_EDITOR, SUBSCRIPTION)
    run(subscriber)
    deadline = time.monotonic() + WAIT_MS / 1000
    while not any(m.get("type") == "subscribe" for m in offline.messages(offline.frames_sent)):
        assert time.monotonic() < deadline, f"no subscribe frame was sent: {offline.frames_sent}"
        subscriber.wait_for_timeout(50)

    # The Headers pane went out as the connection_init payload, and the server acknowledged it.
    init = offline.messages(offline.frames_sent)[0]
    assert init == {"type": "connection_init", "payload": {"Authorization": f"Bearer {server.token}"}}
    assert any(m["type"] == "connection_ack" for m in offline.messages(offline.frames_received))
    [socket] = offline.sockets
    assert socket.url == f"ws://{LOCAL_HOST}:{urlsplit(server.base).port}/graphql"

    writer = open_playground(offline, server.base)
    use_token(writer, server.token)
    # A subscription is live once the server has processed its subscribe frame; one created in the
    # moment between is not replayed, so commit again until an event arrives (bounded).
    created: list[str] = []
    for attempt in range(5):
        created.append(create_order(writer, f"{NOTE} {attempt}"))
        try:
            text = wait_for_result(subscriber, re.escape(created[-1]))
            break
        except PlaywrightTimeout:
            if attempt == 4:
                raise
    event = json.loads(text)
    assert "errors" not in event, event
    change = event["data"]["ordersChanged"]
    assert change["effect"] == "ADDED"
    assert change["record"]["id"] in created
    assert change["record"]["status"] == "pending"
    # note is readable by admin only here: its value proves the subscription ran as the token's user.
    assert change["record"]["note"].startswith(NOTE)
    offline.assert_stayed_local()
    # GraphiQL's history is kept in localStorage; the token typed in the Headers pane is not.
    writer.wait_for_timeout(1000)  # GraphiQL stores its tab state 500 ms after a change
    stored: str = writer.evaluate("() => JSON.stringify(localStorage)")
    assert "createOrders" in stored and server.token not in stored
