"""What a window's client does with its messages, and what it should end up holding (shared by the tests)."""

from __future__ import annotations

import json
from typing import Any

from objectql import ObjectQL, User
from objectql.realtime.wire import dumps


class WindowModel:
    """A client's window: the snapshot, then each change applied as SPEC §14 describes."""

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = list(records or [])

    def apply(self, change: dict[str, Any]) -> None:
        effect, record = change["effect"], change["record"]
        at = next((i for i, r in enumerate(self.records) if r["id"] == record["id"]), None)
        if effect == "removed":
            assert at is not None, f"removed a row the window does not hold: {change}"
            assert "index" not in change or change["index"] is None, change
            del self.records[at]
            return
        if effect == "added":
            assert at is None, f"added a row the window holds already: {change}"
        else:
            assert effect == "modified" and at is not None, f"modified a row the window does not hold: {change}"
            del self.records[at]
        index = change["index"]
        assert 0 <= index <= len(self.records), change
        self.records.insert(index, record)


def plain(value: Any) -> Any:
    """``value`` as the realtime wire carries it."""
    return json.loads(dumps(value))


async def expected_window(engine: ObjectQL, user: User | None, object_name: str, **query: Any) -> list[dict[str, Any]]:
    """``find(filters, fields, sort, limit)`` as ``user``, as the wire carries it."""
    return plain(await engine.context(user).object(object_name).find(**query))  # type: ignore[no-any-return]
