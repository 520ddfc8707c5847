"""``objectql serve`` for real: a subprocess on a free port, seeded, healthy, and stopped cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from objectql import ObjectQL
from objectql.server.auth import Authenticator
from objectql.server.settings import SETTINGS, Settings
from tests.unavailable import unavailable

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
START_DEADLINE = 60.0  # generous: a bound on a hung start, not a performance expectation
STOP_DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, Path]]:
    """A running ``objectql serve examples/shop``; yields (process, base URL, database file, log file)."""
    db = tmp_path / "x.db"
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "objectql.server.cli", "serve", str(SHOP)]
        command += ["--db", f"sqlite:///{db}", "--port", str(port)]
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, f"http://127.0.0.1:{port}", db, log_path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_until_healthy(proc: subprocess.Popen[bytes], base: str, log_path: Path) -> httpx.Response:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            response = httpx.get(f"{base}/health", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server not healthy within {START_DEADLINE}s:\n{log_path.read_text(errors='replace')}")


async def seeded_counts(db: Path) -> tuple[int, int, dict[str, Any] | None]:
    async with ObjectQL(SHOP, f"sqlite:///{db}") as engine:
        customers = await engine.object("customers").count()
        products = await engine.object("products").count()
        return customers, products, await engine.object("orders").find_one("ord_1001")


def test_serve_answers_health_serves_seeded_data_and_stops_cleanly(
    server: tuple[subprocess.Popen[bytes], str, Path, Path],
) -> None:
    proc, base, db, log_path = server
    response = wait_until_healthy(proc, base, log_path)
    assert response.json() == {"status": "ok"}

    customers, products, order = asyncio.run(seeded_counts(db))
    assert (customers, products) == (4, 4)
    assert order is not None and order["customer"] == "cus_ada" and order["owner"] == "sam"

    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status reports it.
    assert proc.wait(timeout=STOP_DEADLINE) in (0, -signal.SIGTERM)
    log = log_path.read_text(errors="replace")
    assert "runs OPEN" in log
    assert "Application shutdown complete" in log


def spawn(
    tmp_path: Path, flags: list[str], environment: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``objectql serve examples/shop`` with ``flags`` on a free port; (process, base URL, log file)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}} | (environment or {})
    command = [sys.executable, "-m", "objectql.server.cli", "serve", str(SHOP), *flags]
    command += ["--db", f"sqlite:///{tmp_path / 'x.db'}", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}", log_path


class Terminal:
    """What a process wrote to its terminal, read as it comes (so the process never blocks on a full buffer)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the process closed its end
                break
            if not chunk:
                break
            self.chunks.append(chunk)
        os.close(self.fd)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace").replace("\r\n", "\n")


def on_a_terminal(
    command: list[str], cwd: Path, env: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[bytes], Terminal]:
    """``command`` with its standard output on a pseudo-terminal (``Terminal.text``), its log on ``log_path``."""
    leader, follower = pty.openpty()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=follower, stderr=log)
    os.close(follower)
    return proc, Terminal(leader)


def printed_tokens(lines: list[str]) -> dict[str, str]:
    """``{sub: token}`` of the token lines ``objectql serve --dev`` prints."""
    return {line.split(":", 1)[0].split()[0]: line.rsplit(" ", 1)[1] for line in lines if "): ey" in line}


def graphql_as(base: str, token: str | None, query: str) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body: dict[str, Any] = httpx.post(f"{base}/graphql", json={"query": query}, headers=headers, timeout=10).json()
    return body


def test_serve_prints_where_everything_is_and_dev_mode_prints_working_tokens_on_a_terminal(tmp_path: Path) -> None:
    shop = shutil.copytree(SHOP, tmp_path / "shop", ignore=shutil.ignore_patterns("*.db*", ".objectql"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    command = [sys.executable, "-m", "objectql.server.cli", "serve", str(shop), "--dev", "--port", str(port)]
    proc, terminal = on_a_terminal(command, tmp_path, env, log_path)
    try:
        wait_until_healthy(proc, base, log_path)
        lines = terminal.text.splitlines()
        realtime = base.replace("http://", "ws://") + "/api/realtime"
        for where in (f"dashboard   {base}/", f"playground  {base}/graphql", realtime):
            assert any(where in line for line in lines), where
        assert any("sign-in     JWT, with the development key kept in" in line for line in lines), lines
        tokens = printed_tokens(lines)
        assert set(tokens) == {"admin", "sam", "kim", "viewer"}  # examples/shop/dev-users.yml
        assert not (shop / ".objectql" / "dev-tokens").exists()  # on a terminal, printed only
        mutation = 'mutation { createOrders(input: {customer: "cus_ada", total: 5, owner: "sam"}) { owner } }'
        assert graphql_as(base, tokens["sam"], mutation) == {"data": {"createOrders": {"owner": "sam"}}}
        assert graphql_as(base, tokens["viewer"], mutation)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert graphql_as(base, None, mutation)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # Tokens go to the terminal only: no log record carries one.
        log = log_path.read_text(errors="replace")
        assert "Application startup complete" in log and not any(token in log for token in tokens.values())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_DEADLINE)


@dataclass
class Served:
    output: str
    base: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=STOP_DEADLINE)


def serve_dev(app_dir: Path, tmp_path: Path, environment: dict[str, str] | None = None) -> Served:
    """``objectql serve APP --dev`` with its output in a file, running once healthy (what it printed by then)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}} | (environment or {})
    command = [sys.executable, "-m", "objectql.server.cli", "serve", str(app_dir), "--dev", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(proc, base, log_path)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return Served(log_path.read_text(errors="replace"), base, proc)


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_init_app_served_with_dev_writes_its_tokens_to_a_private_file_and_keeps_its_key_across_restarts(
    tmp_path: Path,
) -> None:
    app_dir = tmp_path / "myapp"
    subprocess.run([sys.executable, "-m", "objectql.server.cli", "init", str(app_dir)], check=True, capture_output=True)
    served = serve_dev(app_dir, tmp_path)
    try:
        tokens_file = app_dir / ".objectql" / "dev-tokens"
        assert f"Development tokens: written to {tokens_file}" in served.output, served.output
        assert "eyJ" not in served.output  # standard output is a file here: no token in it
        assert private(tokens_file) and private(app_dir / ".objectql" / "dev-key")
        tokens = printed_tokens(tokens_file.read_text().splitlines())
        assert set(tokens) == {"admin", "sam", "kim"}  # the dev-users.yml init wrote
        listed = graphql_as(served.base, tokens["admin"], "{ tasksList { title } }")
        assert len(listed["data"]["tasksList"]) == 3, listed
    finally:
        served.stop()
    restarted = serve_dev(app_dir, tmp_path)
    try:
        # The key was kept: a token pasted before the restart still works after it.
        again = graphql_as(restarted.base, tokens["sam"], "{ projectsList(orderBy: [{field: name}]) { name } }")
        assert again == {"data": {"projectsList": [{"name": "Documentation"}, {"name": "Launch"}]}}
    finally:
        restarted.stop()


def test_dev_with_a_configured_secret_prints_tokens_signed_with_it(tmp_path: Path) -> None:
    shop = shutil.copytree(SHOP, tmp_path / "shop", ignore=shutil.ignore_patterns("*.db*", ".objectql"))
    secret = "a-configured-secret-0123456789abcdef0123"
    served = serve_dev(shop, tmp_path, {"OBJECTQL_JWT_SECRET": secret})
    try:
        assert "sign-in     JWT (HS256)" in served.output and not (shop / ".objectql" / "dev-key").exists()
        tokens = printed_tokens((shop / ".objectql" / "dev-tokens").read_text().splitlines())
        assert set(tokens) == {"admin", "sam", "kim", "viewer"}
        settings = Settings.load({}, {"OBJECTQL_JWT_SECRET": secret})
        assert Authenticator.from_settings(settings).authenticate(tokens["kim"]).user.roles == ("sales",)
        assert graphql_as(served.base, tokens["admin"], "{ customersCount }") == {"data": {"customersCount": 4}}
    finally:
        served.stop()


def test_serve_with_json_logs_writes_one_redacted_json_object_per_log_line(tmp_path: Path) -> None:
    secret = {"OBJECTQL_JWT_SECRET": "json-logs-secret-0123456789abcdef0123"}
    proc, base, log_path = spawn(tmp_path, ["--log-format", "json"], secret)
    try:
        wait_until_healthy(proc, base, log_path)
        secret_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
        httpx.get(f"{base}/api/events/orders", params={"access_token": secret_token}, timeout=5)
        proc.terminate()
        proc.wait(15)
        text = log_path.read_text(errors="replace")
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert records, text
        assert all({"time", "level", "logger", "message"} <= set(r) and r["time"].endswith("Z") for r in records)
        access = [r for r in records if "/api/events/orders" in r["message"]]
        assert access and all("access_token=***" in r["message"] for r in access)
        assert secret_token not in text
        assert any(r["logger"].startswith("objectql") for r in records)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_a_server_on_the_ipv6_loopback_answers_its_own_address_and_refuses_other_hosts(tmp_path: Path) -> None:
    if not ipv6_loopback():
        unavailable("an IPv6 loopback", "this machine has no IPv6 loopback")
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = int(probe.getsockname()[1])
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    command = [sys.executable, "-m", "objectql.server.cli", "serve", str(SHOP), "--host", "::1", "--port", str(port)]
    command += ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://[::1]:{port}"
    try:
        assert wait_until_healthy(proc, base, log_path).json() == {"status": "ok"}
        assert f"dashboard   {base}/" in log_path.read_text()  # a URL one can open: the literal in brackets
        assert httpx.get(f"{base}/graphql", params={"query": "{ productsCount }"}, timeout=5).json() == {
            "data": {"productsCount": 4}
        }
        assert httpx.get(f"{base}/health", headers={"host": f"localhost:{port}"}, timeout=5).status_code == 200
        assert httpx.get(f"{base}/health", headers={"host": f"attacker.example:{port}"}, timeout=5).status_code == 400
        with socket.create_connection(("::1", port), timeout=5) as sock:
            sock.sendall(
                (
                    f"GET /api/realtime HTTP/1.1\r\nHost: [::1]:{port}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            assert sock.recv(64).startswith(b"HTTP/1.1 101")
    finally:
        proc.terminate()
        proc.wait(timeout=STOP_DEADLINE)


def banner_of(tmp_path: Path, flags: list[str], environment: dict[str, str] | None = None) -> str:
    """What ``objectql serve`` prints once it answers /health, then stopped."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}} | (environment or {})
    command = [sys.executable, "-m", "objectql.server.cli", "serve", str(SHOP), *flags, "--port", str(port)]
    command += ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(proc, f"http://127.0.0.1:{port}", log_path)
    finally:
        proc.terminate()
        proc.wait(timeout=STOP_DEADLINE)
    return log_path.read_text(errors="replace")


def test_listening_on_every_interface_warns_once_in_the_banner_how_to_name_the_hosts(tmp_path: Path) -> None:
    text = banner_of(tmp_path, ["--host", "0.0.0.0"])
    warnings = [line for line in text.splitlines() if "every interface" in line]
    assert len(warnings) == 1, text
    assert "any Host" in warnings[0] and "OBJECTQL_ALLOWED_HOSTS" in warnings[0]
    assert text.index(warnings[0]) < text.index("Started server process")
    named = banner_of(tmp_path, ["--host", "0.0.0.0"], {"OBJECTQL_ALLOWED_HOSTS": "shop.example,127.0.0.1"})
    assert "every interface" not in named
    assert "every interface" not in banner_of(tmp_path, [])
