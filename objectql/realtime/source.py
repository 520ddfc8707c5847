"""The narrow waist between the realtime core and the engine: what subscriptions need to read.

The core never sees the whole engine. It compiles a subscription into a :class:`View` (which checks the
user's permissions), confirms a followed record is visible, reads the current and oldest seq, the
committed events after a seq, and a view's records together with the seq they are consistent with; and
it listens to this process's commits. :class:`objectql.engine.source.EngineSource` is the engine's
implementation; tests can hand the core anything of this shape.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from objectql.engine.aggregates import AggregateSpec
from objectql.engine.events import ChangeEvent
from objectql.engine.expand import Expansion
from objectql.engine.user import User
from objectql.engine.views import View
from objectql.engine.windows import WindowSpec

CommitListener = Callable[[list[ChangeEvent]], None]


class Expander(Protocol):
    """A checked ``expand`` of one object for one user: nests parents and related lists into records."""

    @property
    def key(self) -> Hashable:
        """Equal keys expand alike (the same entries, the same permissions on every object)."""

    @property
    def needs(self) -> tuple[str, ...]:
        """The reference fields a record must hold to be expanded."""

    @property
    def keys(self) -> tuple[str, ...]:
        """Where the expanded data goes in a record (``customer_ref``, ``orders``)."""

    async def __call__(self, records: list[dict[str, Any]]) -> None:
        """Read and nest the expanded data into ``records``, in place, as the user may see it now."""

    @property
    def expansions(self) -> tuple[Expansion, ...]:
        """The checked entries: what the nested data is made of."""


class ChangeSource(Protocol):
    @property
    def max_groups(self) -> int:
        """The most groups one aggregate may have (more is ``TOO_MANY_GROUPS``), read or kept."""

    def view(
        self,
        object_name: str,
        user: User | None,
        *,
        filters: Any = None,
        fields: Any = None,
        record_id: str | None = None,
    ) -> View:
        """Check a subscription as ``user`` and compile it; raises the engine's errors."""

    def expander(self, object_name: str, user: User | None, expand: Any) -> Expander:
        """Check an ``expand`` of ``object_name`` as ``user``; raises the engine's errors."""

    def aggregate_view(
        self, object_name: str, user: User | None, *, filters: Any = None, aggregate: Any = None, group_by: Any = None
    ) -> tuple[View, AggregateSpec]:
        """Check a live aggregate as ``user`` and compile it; raises the engine's errors."""

    async def aggregate_snapshot(self, view: View, spec: AggregateSpec) -> tuple[int, list[dict[str, Any]]]:
        """The aggregate of the view's rows and the seq it is consistent with."""

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
        """Check a live window (sort + limit) as ``user`` and compile it; raises the engine's errors."""

    async def window_snapshot(self, view: View, spec: WindowSpec, count: int) -> tuple[int, list[dict[str, Any]]]:
        """The first ``count`` rows of the view in the window's order and the seq they are consistent with."""

    async def require_visible(self, view: View) -> None:
        """NotFound unless the view's record (when it follows one) exists and is visible."""

    async def current_seq(self) -> int:
        """The highest committed seq (0 when nothing was committed)."""

    async def oldest_seq(self) -> int | None:
        """The oldest seq still retained (None when nothing is)."""

    async def events(self, after: int = 0, object: str | None = None, limit: int = 1000) -> list[ChangeEvent]:
        """Committed events with ``seq > after`` in seq order, optionally of one object."""

    async def snapshot(self, view: View) -> tuple[int, list[dict[str, Any]]]:
        """The view's records (id order, bounded) and the seq they are consistent with."""

    async def records_at(self, object_name: str, field: str, values: Sequence[Any], seq: int) -> list[dict[str, Any]]:
        """The records of ``object_name`` (every field) whose ``field`` holds one of ``values``, as of ``seq``."""

    def add_listener(self, listener: CommitListener) -> None:
        """Call ``listener`` with every batch of this process's committed events, after the commit."""

    def remove_listener(self, listener: CommitListener) -> None: ...
