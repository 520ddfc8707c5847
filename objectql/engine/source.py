"""The engine as a source of subscriptions: views, visibility, seqs, events and snapshots.

What the realtime core reads, and nothing more (its side of the contract is
:class:`objectql.realtime.source.ChangeSource`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from objectql.engine.aggregates import AggregateSpec
from objectql.engine.as_of import records_at
from objectql.engine.core import ObjectQL
from objectql.engine.database import translate
from objectql.engine.events import ChangeEvent
from objectql.engine.expand import RecordExpander
from objectql.engine.unit import EventListener
from objectql.engine.user import User
from objectql.engine.views import (
    View,
    aggregate_snapshot,
    build_aggregate_view,
    build_view,
    build_window_view,
    require_visible,
    snapshot,
    window_snapshot,
)
from objectql.engine.windows import WindowSpec
from objectql.errors import ObjectQLError

T = TypeVar("T")


async def _read(read: Awaitable[T]) -> T:
    """A read for the realtime core, its driver errors translated (a database away is UNAVAILABLE)."""
    try:
        return await read
    except ObjectQLError:
        raise
    except Exception as exc:
        raise translate(exc) from exc


class EngineSource:
    def __init__(self, engine: ObjectQL) -> None:
        self.engine = engine

    @property
    def max_groups(self) -> int:
        return self.engine.max_groups

    def view(
        self,
        object_name: str,
        user: User | None,
        *,
        filters: Any = None,
        fields: Any = None,
        record_id: str | None = None,
    ) -> View:
        return build_view(self.engine, object_name, user, filters=filters, fields=fields, record_id=record_id)

    def expander(self, object_name: str, user: User | None, expand: Any) -> RecordExpander:
        return self.engine.context(user).object(object_name).expander(expand)

    def aggregate_view(
        self, object_name: str, user: User | None, *, filters: Any = None, aggregate: Any = None, group_by: Any = None
    ) -> tuple[View, AggregateSpec]:
        return build_aggregate_view(
            self.engine, object_name, user, filters=filters, aggregate=aggregate, group_by=group_by
        )

    async def aggregate_snapshot(self, view: View, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
        return await _read(aggregate_snapshot(self.engine, view, spec))

    def window_view(
        self,
        object_name: str,
        user: User | None,
        *,
        filters: Any = None,
        fields: Any = None,
        sort: Any = None,
        limit: Any = None,
    ) -> tuple[View, WindowSpec]:
        return build_window_view(self.engine, object_name, user, filters=filters, fields=fields, sort=sort, limit=limit)

    async def window_snapshot(self, view: View, spec: WindowSpec, count: int) -> tuple[int, list[dict[str, Any]]]:
        return await _read(window_snapshot(self.engine, view, spec, count))

    async def require_visible(self, view: View) -> None:
        await _read(require_visible(self.engine, view))

    async def current_seq(self) -> int:
        return await self.engine.current_seq()

    async def oldest_seq(self) -> int | None:
        return await self.engine.oldest_seq()

    async def events(self, after: int = 0, object: str | None = None, limit: int = 1000) -> list[ChangeEvent]:
        return await self.engine.events(after=after, object=object, limit=limit)

    async def snapshot(self, view: View) -> tuple[int, list[dict[str, Any]]]:
        return await _read(snapshot(self.engine, view))

    async def records_at(self, object_name: str, field: str, values: Sequence[Any], seq: int) -> list[dict[str, Any]]:
        return await _read(records_at(self.engine, object_name, field, values, seq))

    def add_listener(self, listener: EventListener) -> None:
        self.engine.add_listener(listener)

    def remove_listener(self, listener: EventListener) -> None:
        self.engine.remove_listener(listener)
