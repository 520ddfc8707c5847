"""The shared states of one process's live aggregates or live windows, found by key and fed by the hub.

Subscriptions asking for the same thing (equal view and equal aggregate or window) share one group; the
hub hands every change event to :meth:`LiveGroups.dispatch`, which passes it to the groups of its object.
A group is made and started when its first subscriber comes and closed when its last one goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, Protocol, TypeVar

from objectql.engine.events import ChangeEvent
from objectql.realtime.source import ChangeSource

Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class LiveGroup(Protocol):
    @property
    def key(self) -> Hashable: ...

    @property
    def object(self) -> str: ...

    def start(self) -> None: ...

    def dispatch(self, event: ChangeEvent) -> None: ...

    def close(self) -> None: ...


G = TypeVar("G", bound=LiveGroup)


class LiveGroups(Generic[G]):
    def __init__(self, source: ChangeSource, spawn: Spawn) -> None:
        self.source = source
        self.spawn = spawn
        self._groups: dict[Hashable, G] = {}
        self._by_object: dict[str, set[G]] = {}

    def group_for(self, key: Hashable, make: Callable[[], G]) -> G:
        """The group of ``key``; made by ``make`` and started when there is none yet."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = make()
            self._by_object.setdefault(group.object, set()).add(group)
            group.start()
        return group

    def release(self, group: G) -> None:
        """Close ``group`` (its last subscriber left)."""
        group.close()
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
        siblings = self._by_object.get(group.object)
        if siblings is not None:
            siblings.discard(group)
            if not siblings:
                del self._by_object[group.object]

    def dispatch(self, event: ChangeEvent) -> None:
        for group in list(self._by_object.get(event.object, ())):
            group.dispatch(event)

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def close(self) -> None:
        for group in self._groups.values():
            group.close()
        self._groups.clear()
        self._by_object.clear()
