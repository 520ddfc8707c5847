"""The benchmarks' baseline: a minimal ``websockets`` server, "the practical limit for Python".

It speaks the same auth / subscribe messages as ``/api/realtime`` (tokens are accepted unchecked: every
client is anonymous; checking one costs a connection, not a message) and keeps an equality index
``(object, field, value) -> {subscription id: sockets}``.
A write arrives as ``{"type":"bench_write","object":...,"record":{...}}`` on any connection; the record
gets an id, timestamps and a seq like the real server's, and each subscription id the index selects gets
ONE pre-serialised message, broadcast to all its sockets with ``websockets.broadcast`` (no per-socket
queue, no awaiting). Filters are lists of ``[field, "=", value]``; the first criterion is indexed and the
others are checked per write. Nothing is stored.

    python -m bench.servers.baseline --port P [--compression]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import signal
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

from bench.common.system import HOST, raise_nofile

AUTH_OK = '{"type":"auth_ok","user":{"id":null,"roles":["anonymous"]},"expires_at":null}'
Criteria = list[tuple[str, Any]]


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Index:
    """``(object, field) -> value -> subscription id -> {socket: further criteria}``."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, str], dict[Any, dict[str, dict[ServerConnection, Criteria]]]] = {}

    def add(self, obj: str, criteria: Criteria, sub_id: str, ws: ServerConnection) -> None:
        (field, value), rest = criteria[0], criteria[1:]
        bucket = self.slots.setdefault((obj, field), {}).setdefault(value, {})
        bucket.setdefault(sub_id, {})[ws] = rest

    def remove(self, obj: str, criteria: Criteria, sub_id: str, ws: ServerConnection) -> None:
        field, value = criteria[0]
        values = self.slots.get((obj, field), {})
        subs = values.get(value, {})
        sockets = subs.get(sub_id, {})
        sockets.pop(ws, None)
        if not sockets:
            subs.pop(sub_id, None)
        if not subs:
            values.pop(value, None)

    def select(self, obj: str, record: dict[str, Any]) -> dict[str, list[ServerConnection]]:
        """Subscription id -> the sockets whose subscription matches ``record``."""
        out: dict[str, list[ServerConnection]] = {}
        for name, value in record.items():
            values = self.slots.get((obj, name))
            if not values:
                continue
            try:
                subs = values.get(value)
            except TypeError:
                continue
            if not subs:
                continue
            for sub_id, sockets in subs.items():
                chosen = [ws for ws, rest in sockets.items() if all(record.get(f) == v for f, v in rest)]
                if chosen:
                    out.setdefault(sub_id, []).extend(chosen)
        return out


class Baseline:
    def __init__(self) -> None:
        self.index = Index()
        self.seq = 0
        self.ids = itertools.count(1)

    async def handler(self, ws: ServerConnection) -> None:
        subs: dict[str, tuple[str, Criteria]] = {}
        try:
            async for raw in ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "auth":
                    await ws.send(AUTH_OK)
                elif kind == "subscribe":
                    await self.subscribe(ws, msg, subs)
                elif kind == "unsubscribe":
                    entry = subs.pop(msg["id"], None)
                    if entry is not None:
                        self.index.remove(entry[0], entry[1], msg["id"], ws)
                    await ws.send(dumps({"type": "unsubscribed", "id": msg["id"]}))
                elif kind == "bench_write":
                    self.write(msg["object"], msg["record"])
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
        finally:
            for sub_id, (obj, criteria) in subs.items():
                self.index.remove(obj, criteria, sub_id, ws)

    async def subscribe(self, ws: ServerConnection, msg: dict[str, Any], subs: dict[str, tuple[str, Criteria]]) -> None:
        sub_id, obj, filters = msg["id"], msg["object"], msg.get("filters") or []
        criteria: Criteria = [(f, v) for f, op, v in filters if op == "="]
        if not criteria or len(criteria) != len(filters):
            error = {"type": "error", "id": sub_id, "code": "INVALID_FILTER", "message": "equality filters only"}
            await ws.send(dumps(error))
            return
        subs[sub_id] = (obj, criteria)
        self.index.add(obj, criteria, sub_id, ws)
        await ws.send(dumps({"type": "subscribed", "id": sub_id, "seq": self.seq}))

    def write(self, obj: str, data: dict[str, Any]) -> None:
        self.seq += 1
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        # An id as long as the real server's, so both send messages of the same size.
        record = {"id": f"{next(self.ids):010d}{secrets.token_hex(8)}", **data}
        record.update(created_at=now, updated_at=now, created_by=None)
        body = {"seq": self.seq, "object": obj, "action": "create", "effect": "added", "record": record}
        fragment = dumps(body)[1:]
        for sub_id, sockets in self.index.select(obj, record).items():
            broadcast(sockets, '{"type":"change","id":' + dumps(sub_id) + "," + fragment)


def health(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == "/health":
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def run(port: int, compression: bool) -> None:
    baseline = Baseline()
    # The same limits as the server under test: 64 KiB messages, ping every 20 s, 20 s to answer; and,
    # like it by default, no compression unless asked (then websockets' own permessage-deflate defaults).
    server: Server = await serve(
        baseline.handler,
        HOST,
        port,
        process_request=health,
        max_size=65_536,
        ping_interval=20,
        ping_timeout=20,
        backlog=2048,
        compression="deflate" if compression else None,
    )
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop
        server.close()
        await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers.baseline")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--compression", action="store_true", help="accept permessage-deflate")
    args = parser.parse_args()
    raise_nofile()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        asyncio.run(run(args.port, args.compression))
    else:
        # The server under test runs on uvloop (uvicorn's default when installed); so does the baseline.
        uvloop.run(run(args.port, args.compression))


if __name__ == "__main__":
    main()
