"""A real ``objectql serve`` process for property tests, the tokens it accepts and GraphQL input literals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.conftest import write_objects
from tests.scaleout.conftest import Process, free_port

SECRET = "served-property-secret-0123456789abcdef"


def token(sub: str, roles: list[str]) -> str:
    return jwt.encode({"sub": sub, "roles": roles, "exp": int(time.time()) + 3600}, SECRET, "HS256")


def literal(record: dict[str, Any]) -> str:
    """``record`` as a GraphQL input object literal."""
    parts = []
    for key, value in record.items():
        if value is None:
            parts.append(f"{key}: null")
        elif isinstance(value, Decimal):
            parts.append(f'{key}: "{value}"')
        elif isinstance(value, str):
            parts.append(f"{key}: {json.dumps(value)}")
        else:
            parts.append(f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


def start_server(tmp_path: Path, url: str, objects: dict[str, str], **settings: str) -> Process:
    """``objectql serve`` of ``objects`` on ``url`` with a JWT secret, answering /health."""
    app_dir = write_objects(tmp_path / "app", objects)
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "OBJECTQL_JWT_SECRET": SECRET, "OBJECTQL_LOG_LEVEL": "warning", **settings}
    command = [sys.executable, "-m", "objectql.server.cli", "serve", str(app_dir), "--port", str(port), "--db", url]
    with log.open("wb") as out:
        popen = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    process = Process(popen, port, log)
    for _ in range(300):
        assert popen.poll() is None, log.read_text()
        try:
            if httpx.get(f"{process.http}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")


async def write(http: httpx.AsyncClient, ids: list[str], op: tuple[Any, ...], plural: str = "Orders") -> None:
    """One generated operation as a GraphQL mutation: ``("create", values)``, ``("update", n, values)`` or
    ``("delete", n)`` (``n`` picks one of ``ids``, the records created so far and not deleted)."""
    if op[0] == "create":
        query = f"mutation {{ create{plural}(input: {literal(op[1])}) {{ id }} }}"
    elif not ids:
        return
    elif op[0] == "update":
        query = f'mutation {{ update{plural}(id: "{ids[op[1] % len(ids)]}", input: {literal(op[2])}) {{ id }} }}'
    else:
        query = f'mutation {{ delete{plural}(id: "{ids.pop(op[1] % len(ids))}") }}'
    body = (await http.post("/graphql", json={"query": query})).json()
    assert "errors" not in body, body
    if op[0] == "create":
        ids.append(body["data"][f"create{plural}"]["id"])
