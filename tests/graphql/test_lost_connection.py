"""GraphQL mutations on a real ``objectql serve`` whose PostgreSQL backends are terminated mid-burst: each
succeeds once or fails ``UNAVAILABLE``, never ``INTERNAL_ERROR``, and the server logs no traceback."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.conftest import own_postgres_database, terminate_backends
from tests.realtime.served import start_server, token

NOTES = "fields:\n  title: {type: text, unique: true}\n"


async def test_mutations_whose_backends_are_terminated_mid_burst_succeed_once_or_are_unavailable(
    tmp_path: Path,
) -> None:
    async with own_postgres_database("graphql_terminated") as url:
        server = start_server(tmp_path, url, {"notes": NOTES})
        try:
            headers = {"Authorization": f"Bearer {token('writer', ['admin'])}"}
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=server.http, headers=headers, limits=limits, timeout=60) as http:
                answered = 0
                milestones = {n: asyncio.Event() for n in (50, 100, 150)}

                async def create(i: int) -> dict[str, Any]:
                    nonlocal answered
                    query = f'mutation {{ createNotes(input: {{title: "m{i}"}}) {{ id title }} }}'
                    body: dict[str, Any] = (await http.post("/graphql", json={"query": query})).json()
                    answered += 1
                    if answered in milestones:
                        milestones[answered].set()
                    return body

                async def terminate_mid_burst() -> list[int]:
                    terminated = []
                    for reached in milestones.values():
                        await reached.wait()
                        terminated.append(await terminate_backends(url))
                    return terminated

                terminated, *bodies = await asyncio.gather(terminate_mid_burst(), *(create(i) for i in range(200)))
            assert all(terminated), terminated
            codes = Counter(e["extensions"]["code"] for body in bodies for e in body.get("errors", []))
            assert set(codes) <= {"UNAVAILABLE"}, codes
            created = [body["data"]["createNotes"] for body in bodies if "errors" not in body]
            await _in_the_table_once_each(url, created)
        finally:
            server.kill()
        log = server.log.read_text()
        assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


async def _in_the_table_once_each(url: str, created: list[dict[str, Any]]) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = Counter(r["title"] for r in await conn.fetch("SELECT title FROM notes"))
        events = Counter(
            r["record_id"] for r in await conn.fetch("SELECT record_id FROM _objectql_events WHERE action = 'create'")
        )
    finally:
        await conn.close()
    assert all(count == 1 for count in rows.values()), rows
    for record in created:
        assert rows[record["title"]] == 1 and events[record["id"]] == 1
