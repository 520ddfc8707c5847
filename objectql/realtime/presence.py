"""Presence: who is in a channel, one meta per connection, grouped by user.

The member key is the authenticated user id (``anonymous:<conn>`` for anonymous users), so a client
cannot claim another identity; several tabs of one user are several metas under one key. A joiner gets
``presence_state`` (including itself) once its join is recorded; everyone else gets ``presence_diff``.
An update is one diff with the old entry in ``leaves`` and the new one in ``joins``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from objectql.realtime.connection import Connection
from objectql.realtime.wire import dumps

CHANNEL_RE = re.compile(r"^[A-Za-z0-9:_.-]{1,128}$")
MAX_META_BYTES = 1024


class PresenceError(ValueError):
    """A bad channel or meta (sent to the client as INVALID_REQUEST)."""


@dataclass
class Entry:
    conn: Connection
    key: str
    meta: dict[str, Any]
    joined_at: str

    def wire(self) -> dict[str, Any]:
        return {"conn": self.conn.id, "meta": self.meta, "joined_at": self.joined_at}


def check_channel(channel: Any) -> str:
    if not isinstance(channel, str) or not CHANNEL_RE.match(channel):
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


def _grouped(entries: list[Entry]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        out.setdefault(entry.key, []).append(entry.wire())
    return out


class Presence:
    def __init__(self) -> None:
        self._channels: dict[str, dict[str, Entry]] = {}

    def join(self, conn: Connection, key: str, channel: str, meta: dict[str, Any]) -> None:
        members = self._channels.setdefault(channel, {})
        old = members.get(conn.id)
        if old is not None:
            self._replace(channel, old, meta)
            return
        entry = Entry(conn, key, meta, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        members[conn.id] = entry
        conn.push(dumps({"type": "presence_state", "channel": channel, "members": _grouped(list(members.values()))}))
        self._broadcast(channel, joins=[entry], leaves=[], skip=conn)

    def update(self, conn: Connection, channel: str, meta: dict[str, Any]) -> bool:
        """False when ``conn`` has not joined ``channel``."""
        old = self._channels.get(channel, {}).get(conn.id)
        if old is None:
            return False
        self._replace(channel, old, meta)
        return True

    def leave(self, conn: Connection, channel: str) -> bool:
        members = self._channels.get(channel)
        entry = members.pop(conn.id, None) if members is not None else None
        if entry is None:
            return False
        if not members:
            del self._channels[channel]
        self._broadcast(channel, joins=[], leaves=[entry], skip=conn)
        return True

    def drop(self, conn: Connection) -> None:
        """Leave every channel ``conn`` is in (on disconnect)."""
        for channel in [c for c, members in self._channels.items() if conn.id in members]:
            self.leave(conn, channel)

    def members(self, channel: str) -> dict[str, list[dict[str, Any]]]:
        return _grouped(list(self._channels.get(channel, {}).values()))

    @property
    def entry_count(self) -> int:
        return sum(len(m) for m in self._channels.values())

    def _replace(self, channel: str, old: Entry, meta: dict[str, Any]) -> None:
        new = Entry(old.conn, old.key, meta, old.joined_at)
        self._channels[channel][old.conn.id] = new
        self._broadcast(channel, joins=[new], leaves=[old], skip=old.conn)

    def _broadcast(self, channel: str, *, joins: list[Entry], leaves: list[Entry], skip: Connection) -> None:
        members = self._channels.get(channel)
        if not members:
            return
        message = dumps(
            {
                "type": "presence_diff",
                "channel": channel,
                "joins": _grouped(joins),
                "leaves": _grouped(leaves),
            }
        )
        for entry in members.values():
            if entry.conn is not skip:
                entry.conn.push(message)
