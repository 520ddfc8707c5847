"""The words of the one live model: what a client asks for, how its messages are framed, what a group is.

A **request** is what a client asked for, on any transport: the rows of a view (:class:`RowsRequest`), the
first ``limit`` rows in a sort order (:class:`WindowRequest`), or an aggregate of the rows
(:class:`AggregateRequest`). Each opens the same way (:mod:`objectql.realtime.opening`) and joins a
**group**: the shared state of every subscription asking the same thing with the same permission scope,
kept from the change events once for all of them. A group is a :class:`LiveGroup`; the hub indexes every
group, whatever its kind, by the values its view pins, so an event only visits the groups it can affect.

A group renders once; a **frame** wraps that shared text (UTF-8 bytes) as one subscriber's message: the
plain protocol's ``{"type":"change","id":…,`` prefix, an SSE event with its ``id:``, a GraphQL ``next``.
Subscribers framed alike share one message object.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from objectql.engine.events import ChangeEvent
from objectql.engine.user import User
from objectql.engine.views import View
from objectql.errors import ObjectQLError
from objectql.realtime.connection import Message

if TYPE_CHECKING:
    from objectql.realtime.aggregates import BucketsRenderer
    from objectql.realtime.changes import Renderer
    from objectql.realtime.windows import WindowRenderer


class Frame(Protocol):
    """How a transport wraps a group's rendered text (UTF-8) for one subscriber, given the seq it is
    consistent with. Frames are hashable and equal when they frame alike: members with equal frames share
    one message."""

    def __call__(self, seq: int, fragment: bytes) -> bytes: ...


# Ends one subscription with an error, the transport's way (an error message, the end of a stream).
Ending = Callable[[ObjectQLError], None]


@dataclass(frozen=True)
class RowsRequest:
    """Every change to the rows of a view (optionally one record), with a snapshot or a replay first.
    ``renderer`` renders a GraphQL operation's messages (None: the change object of the plain protocols);
    ``expand`` nests related records into the plain protocols' records (the snapshot's and each change's)."""

    object: str
    user: User | None
    filters: Any = None
    fields: Any = None
    record_id: str | None = None
    snapshot: bool = False
    resume_from: int | None = None
    renderer: Renderer | None = None
    expand: Any = None


@dataclass(frozen=True)
class WindowRequest:
    """The first ``limit`` rows of a view in ``sort`` order, as they change."""

    object: str
    user: User | None
    filters: Any = None
    fields: Any = None
    sort: Any = None
    limit: Any = None
    renderer: WindowRenderer | None = None


@dataclass(frozen=True)
class AggregateRequest:
    """Count, sum, avg, min and max of a view's rows (per ``group_by`` key), as they change."""

    object: str
    user: User | None
    filters: Any = None
    aggregate: Any = None
    group_by: Any = None
    renderer: BucketsRenderer | None = None


LiveRequest = RowsRequest | WindowRequest | AggregateRequest


class Framing(Protocol):
    """One transport's wire format for a subscription, for every kind of request."""

    @property
    def change(self) -> Frame:
        """Frames a change (of the rows, or of a window)."""

    @property
    def aggregate(self) -> Frame:
        """Frames an aggregate's groups."""

    def opened(self, seq: int, records: list[dict[str, Any]] | None, *, ack: bool = True) -> list[Message]:
        """What precedes everything else: the ack (unless ``ack`` is False: a subscription opened again for
        new permissions), and the snapshot when there is one (a window always has one)."""

    def reset(self, seq: int) -> ResetReply: ...


@dataclass(frozen=True)
class ResetReply:
    """What a transport sends when the resume point is out of reach, and whether the subscription goes on."""

    messages: tuple[str, ...]
    # True: it continues live from the current seq (the client refetches); False: it ends here.
    live: bool


class LiveGroup(Protocol):
    """The shared state of equal subscriptions, of any kind, as the hub holds it."""

    @property
    def key(self) -> Hashable:
        """Equal keys ask the same thing with the same permission scope and the same rendering."""

    @property
    def view(self) -> View: ...

    @property
    def pinned(self) -> tuple[str, tuple[Any, ...]] | None:
        """The field and values a row must have to concern the group (its view's equality), if any."""

    @property
    def size(self) -> int:
        """Its subscriptions (a metric)."""

    def dispatch(self, event: ChangeEvent) -> None:
        """Take an event the group may be affected by; never waits."""

    def related(self, event: ChangeEvent) -> None:
        """Take an event of an object the group depends on (the hub's dependency index); never waits."""

    def close(self) -> None:
        """Its last subscription left: stop every task it runs."""


def share_frames(seq: int, data: bytes, frames: list[Frame]) -> list[bytes]:
    """``data`` framed for each of ``frames``, one message object per distinct frame."""
    messages: dict[Frame, bytes] = {}
    out = []
    for frame in frames:
        message = messages.get(frame)
        if message is None:
            message = messages[frame] = frame(seq, data)
        out.append(message)
    return out


__all__ = [
    "AggregateRequest",
    "Ending",
    "Frame",
    "Framing",
    "LiveGroup",
    "LiveRequest",
    "ResetReply",
    "RowsRequest",
    "WindowRequest",
    "share_frames",
]
