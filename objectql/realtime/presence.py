"""Presence: who is in a channel, one meta per connection, grouped by user — one view across processes.

The member key is the authenticated user id (``anonymous:<conn>`` for anonymous users), so a client
cannot claim another identity; several tabs of one user are several metas under one key. A joiner gets
``presence_state`` (including itself) once its join is recorded; everyone else gets ``presence_diff``.
An update is one diff with the old entry in ``leaves`` and the new one in ``joins``.

Across processes, every local join, update and leave is announced on the broker; each process keeps the
entries of the others and sends its own clients the diffs. Processes announce a heartbeat; one that stays
silent past the timeout (crashed) loses its members, announced as leaves. After a broker gap a process
asks the others to re-announce and drops the remote entries nobody confirmed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from objectql.engine.user import User
from objectql.metadata.channels import CHANNEL_RE
from objectql.realtime.connection import Connection
from objectql.realtime.wire import dumps

MAX_META_BYTES = 1024


class PresenceError(ValueError):
    """A bad channel or meta (sent to the client as INVALID_REQUEST)."""


@dataclass
class Entry:
    conn_id: str
    key: str
    meta: dict[str, Any]
    joined_at: str
    node: str
    conn: Connection | None = None  # local entries only
    confirmed: float = 0.0

    def wire(self) -> dict[str, Any]:
        return {"conn": self.conn_id, "meta": self.meta, "joined_at": self.joined_at}


def check_channel(channel: Any) -> str:
    if not isinstance(channel, str) or not CHANNEL_RE.fullmatch(channel):  # fullmatch: no trailing newline
        raise PresenceError("channel must match ^[A-Za-z0-9:_.-]{1,128}$")
    return channel


def check_meta(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise PresenceError("meta must be an object")
    if len(dumps(meta).encode("utf-8")) > MAX_META_BYTES:
        raise PresenceError(f"meta must be at most {MAX_META_BYTES} bytes as JSON")
    return meta


# Member key -> that member's entries, as the wire shows them.
Members = dict[str, list[dict[str, Any]]]


def _grouped(entries: list[Entry]) -> Members:
    out: Members = {}
    for entry in entries:
        out.setdefault(entry.key, []).append(entry.wire())
    return out


Announce = Callable[[dict[str, Any]], None]


class ChannelAccess(Protocol):
    """Who may join which channel (the engine's :class:`objectql.engine.channels.ChannelGate`)."""

    async def check_join(self, user: User, channel: str) -> None:
        """Raise the engine's Forbidden unless ``user`` may join ``channel``."""


class PresenceWire(Protocol):
    """How the transport that offers presence writes its two messages."""

    def state(self, channel: str, members: Members) -> str: ...

    def diff(self, channel: str, joins: Members, leaves: Members) -> str: ...


class Presence:
    def __init__(self, wire: PresenceWire, node: str = "local", announce: Announce | None = None) -> None:
        self.wire = wire
        self.node = node
        self._announce = announce or (lambda message: None)
        self._channels: dict[str, dict[str, Entry]] = {}
        self._nodes_seen: dict[str, float] = {}
        self._sync_started: float | None = None

    # -- local connections ---------------------------------------------------------------------

    def join(self, conn: Connection, key: str, channel: str, meta: dict[str, Any]) -> None:
        members = self._channels.setdefault(channel, {})
        old = members.get(conn.id)
        if old is not None:
            self._replace(channel, old, meta)
            return
        entry = Entry(conn.id, key, meta, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), self.node, conn)
        members[conn.id] = entry
        conn.push(self.wire.state(channel, _grouped(list(members.values()))))
        self._broadcast(channel, joins=[entry], leaves=[], skip=conn.id)
        self._announce_entry("join", channel, entry)

    def update(self, conn: Connection, channel: str, meta: dict[str, Any]) -> bool:
        """False when ``conn`` has not joined ``channel``."""
        old = self._channels.get(channel, {}).get(conn.id)
        if old is None:
            return False
        self._replace(channel, old, meta)
        return True

    def leave(self, conn: Connection, channel: str) -> bool:
        entry = self._remove(channel, conn.id)
        if entry is None:
            return False
        self._announce_entry("leave", channel, entry)
        return True

    def drop(self, conn: Connection) -> None:
        """Leave every channel ``conn`` is in (on disconnect)."""
        for channel in [c for c, members in self._channels.items() if conn.id in members]:
            self.leave(conn, channel)

    def members(self, channel: str) -> Members:
        return _grouped(list(self._channels.get(channel, {}).values()))

    @property
    def entry_count(self) -> int:
        return sum(len(m) for m in self._channels.values())

    @property
    def local_count(self) -> int:
        return sum(1 for m in self._channels.values() for e in m.values() if e.conn is not None)

    # -- other processes -----------------------------------------------------------------------

    def heartbeat(self) -> dict[str, Any]:
        return {"op": "hb", "n": self.node}

    def receive(self, data: str) -> None:
        """Apply an announcement from the broker (our own are ignored)."""
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("n") == self.node or not isinstance(message.get("n"), str):
            return
        node = message["n"]
        self._nodes_seen[node] = time.monotonic()
        op = message.get("op")
        if op == "sync":
            self.announce_all()
        elif op in ("join", "leave") and isinstance(message.get("ch"), str) and isinstance(message.get("c"), str):
            if op == "leave":
                self._remove(message["ch"], message["c"])
                return
            entry = Entry(
                message["c"], str(message.get("k")), dict(message.get("m") or {}), str(message.get("t")), node
            )
            entry.confirmed = time.monotonic()
            self._upsert_remote(message["ch"], entry)

    def announce_all(self) -> None:
        for channel, members in self._channels.items():
            for entry in members.values():
                if entry.conn is not None:
                    self._announce_entry("join", channel, entry)

    def request_sync(self) -> None:
        """After a broker gap: ask the others to re-announce; unconfirmed remote entries go later."""
        self._sync_started = time.monotonic()
        self._announce({"op": "sync", "n": self.node})
        self.announce_all()

    def expire(self, timeout: float, sync_grace: float) -> None:
        """Drop members of silent processes, and remote entries not re-announced after a sync."""
        now = time.monotonic()
        silent = {node for node, seen in self._nodes_seen.items() if now - seen > timeout}
        stale_before = None
        if self._sync_started is not None and now - self._sync_started > sync_grace:
            stale_before, self._sync_started = self._sync_started, None
        for channel, members in list(self._channels.items()):
            for conn_id, entry in list(members.items()):
                if entry.conn is not None:
                    continue
                if entry.node in silent or (stale_before is not None and entry.confirmed < stale_before):
                    self._remove(channel, conn_id)
        for node in silent:
            del self._nodes_seen[node]

    # -- internals -----------------------------------------------------------------------------

    def _announce_entry(self, op: str, channel: str, entry: Entry) -> None:
        message: dict[str, Any] = {"op": op, "n": self.node, "ch": channel, "c": entry.conn_id}
        if op == "join":
            message.update(k=entry.key, m=entry.meta, t=entry.joined_at)
        self._announce(message)

    def _upsert_remote(self, channel: str, entry: Entry) -> None:
        members = self._channels.setdefault(channel, {})
        old = members.get(entry.conn_id)
        members[entry.conn_id] = entry
        if old is not None and old.meta == entry.meta and old.key == entry.key:
            return  # a re-announcement: nothing changed
        self._broadcast(channel, joins=[entry], leaves=[old] if old is not None else [], skip=None)

    def _remove(self, channel: str, conn_id: str) -> Entry | None:
        members = self._channels.get(channel)
        entry = members.pop(conn_id, None) if members is not None else None
        if entry is None:
            return None
        if not members:
            del self._channels[channel]
        self._broadcast(channel, joins=[], leaves=[entry], skip=conn_id)
        return entry

    def _replace(self, channel: str, old: Entry, meta: dict[str, Any]) -> None:
        new = Entry(old.conn_id, old.key, meta, old.joined_at, old.node, old.conn)
        self._channels[channel][old.conn_id] = new
        self._broadcast(channel, joins=[new], leaves=[old], skip=old.conn_id)
        self._announce_entry("join", channel, new)

    def _broadcast(self, channel: str, *, joins: list[Entry], leaves: list[Entry], skip: str | None) -> None:
        members = self._channels.get(channel)
        if not members:
            return
        message = self.wire.diff(channel, _grouped(joins), _grouped(leaves))
        # A push may close its connection (a slow consumer), whose leave changes this channel's members
        # while we go through them: go through a copy, so every member still present gets the diff.
        for entry in list(members.values()):
            if entry.conn is not None and entry.conn_id != skip:
                entry.conn.push(message)
