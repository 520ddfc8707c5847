"""Live windows: the first ``limit`` rows of ``find(filters, sort, limit)``, pushed as they change.

Subscriptions with the same view (object, filter with the user's bound row rules, projected fields) and the
same sort and limit share one :class:`WindowGroup`: one state, updated once per change event, and one
serialised change per message, framed per subscriber.

The state starts from the database (the first ``2 × limit`` rows in window order, and the seq they are
consistent with) and is kept from the change events after that seq. It holds every matching row up to a
bound — the last row read, or all of them when fewer came back — so a row that leaves the window is
replaced from the rows held beyond it, as they were at that event. Only when fewer than ``limit`` rows are
left within the bound does the group read the database again; it then sends what turns the window its
subscribers hold into the window read, all at the read's seq, and skips the events that read covered.

A connection's windows hold at most ``rows_per_connection`` rows together (the sum of their limits; the server
holds up to twice that, the rows beyond each window): a subscription past that is refused with
``TOO_MANY_ROWS``.

Messages are relative to the window: ``added`` (a row entered, at ``index``), ``modified`` (a row in the
window changed, now at ``index``), ``removed`` (a row left: deleted, filtered out or pushed out). A change's
``index`` is the row's position once that message is applied. The messages of one seq form one step:
applied in order to the snapshot, after the last one of each seq the window equals ``find(filters, sort,
limit)`` as of that seq, for the subscriber's permissions.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from objectql.engine.events import ChangeEvent
from objectql.engine.views import View
from objectql.engine.windows import RowKey, WindowSpec, row_key
from objectql.errors import ObjectQLError, TooManyRows
from objectql.realtime.changes import ADDED, MODIFIED, REMOVED
from objectql.realtime.connection import Connection, Message
from objectql.realtime.hub import Hub
from objectql.realtime.live import Ending, Frame
from objectql.realtime.read_state import ReadState
from objectql.realtime.source import ChangeSource
from objectql.realtime.wire import dumps

log = logging.getLogger("objectql.realtime")

# The first messages of a subscriber (an ack, the snapshot) from the window's seq and records.
Opened = Callable[[int, list[dict[str, Any]]], list[Message]]


@dataclass(frozen=True)
class WindowChange:
    seq: int
    effect: str
    index: int | None  # None when removed
    record: dict[str, Any]  # the view's fields; only ``id`` when removed

    def body(self, object_name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "object": object_name, "effect": self.effect}
        if self.index is not None:
            out["index"] = self.index
        out["record"] = self.record
        return out


class WindowRenderer(Protocol):
    """Executes a window subscription's document for changes (a step's, or the rows a subscriber starts
    with), once for all subscribers sharing ``key``: a rendered result per change."""

    @property
    def key(self) -> Hashable: ...

    async def __call__(self, changes: list[WindowChange]) -> list[str]: ...


@dataclass(eq=False)
class RenderedRows:
    """A window's rows rendered for one renderer key at one seq: the first messages of every subscriber
    with that key joining while the window stays as it is (``payloads`` is None until rendered)."""

    seq: int
    subscribers: list[WindowSubscription]
    payloads: list[tuple[bytes, int]] | None = None


@dataclass(eq=False)
class WindowSubscription:
    """One subscriber. Without ``render`` each change goes out as its shared JSON, framed; with it, as what
    ``render`` makes of it — and the snapshot as an ``added`` change per row, in window order. ``end`` ends
    the subscription with an error (its transport's way)."""

    conn: Connection
    frame: Frame
    end: Ending
    opened: Opened | None = None
    render: WindowRenderer | None = None
    group: WindowGroup | None = None
    # Set once the subscriber's first messages (its ack and snapshot) are queued, or once the read they wait
    # for failed (they follow when a retry succeeds): what a connection waits for before its next request.
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    # The budget its window's rows count against, and how many (0 once released).
    budget: WindowBudget | None = None
    rows: int = 0

    def drop(self) -> None:
        """Leave its group and give its rows back to its connection's budget (idempotent)."""
        if self.budget is not None:
            self.budget.refund(self)
        group, self.group = self.group, None
        if group is not None:
            group.leave(self)

    @property
    def started(self) -> bool:
        """Its first messages are queued: it is one of its group's subscribers, not still joining."""
        return self.group is not None and self in self.group.subscribers


def diff(old: list[dict[str, Any]], new: list[dict[str, Any]], seq: int) -> list[tuple[str, int | None, str]]:
    """Changes turning the window ``old`` into ``new``: ``(effect, index, id)`` in the order to apply them.

    Rows that left are removed first. Rows held by both unchanged keep their places (they are in the same
    relative order in both, having the same sort values); every other row of ``new`` is put, in window
    order, right after the row that precedes it in ``new`` — its index is its position once put there.
    """
    wanted = {r["id"] for r in new}
    changes: list[tuple[str, int | None, str]] = []
    held: dict[str, dict[str, Any]] = {}
    current: list[str] = []
    for row in old:
        if row["id"] in wanted:
            held[row["id"]] = row
            current.append(row["id"])
        else:
            changes.append((REMOVED, None, row["id"]))
    for i, row in enumerate(new):
        rid = row["id"]
        before = held.get(rid)
        if before is not None and before == row:
            continue
        if before is not None:
            current.remove(rid)
        at = 0 if i == 0 else current.index(new[i - 1]["id"]) + 1
        current.insert(at, rid)
        changes.append((MODIFIED if before is not None else ADDED, at, rid))
    return changes


class WindowGroup(ReadState):
    what = "window"

    def __init__(self, hub: Hub, source: ChangeSource, view: View, spec: WindowSpec) -> None:
        super().__init__(hub, source, view)
        self.spec = spec
        self.key = group_key(view, spec)
        # Rows held: the window and as many again beyond it.
        self.capacity = 2 * spec.limit
        self._fields = tuple(dict.fromkeys((*view.fields, *spec.fields)))
        self.subscribers: set[WindowSubscription] = set()
        self._joining: list[WindowSubscription] = []
        self._keys: list[RowKey] = []
        self._rows: list[dict[str, Any]] = []
        self._held: dict[str, RowKey] = {}
        # Every matching row whose key is at most this is held (None: every matching row is).
        self._bound: RowKey | None = None
        # The window the subscribers hold, while a read that will replace it is under way.
        self._client: list[dict[str, Any]] | None = None
        self._rendering: asyncio.Task[None] | None = None  # rendered messages go out in order
        self._rendered_rows: dict[Hashable, RenderedRows] = {}

    # -- state ---------------------------------------------------------------------------------

    async def fetch(self) -> tuple[int, list[dict[str, Any]]]:
        return await self.source.window_snapshot(self.view, self.spec, self.capacity)

    def loaded(self, seq: int, rows: list[dict[str, Any]]) -> None:
        keys = self.spec.keys
        self._rows = [{f: row.get(f) for f in self._fields} for row in rows]
        self._keys = [row_key(keys, row) for row in self._rows]
        self._held = {row["id"]: key for row, key in zip(self._rows, self._keys, strict=True)}
        self._bound = self._keys[-1] if len(rows) >= self.capacity else None
        client, self._client = self._client, None
        if client is not None:
            self._publish(self._changes(diff(client, self.window(), seq), seq))

    def settled(self) -> None:
        joining, self._joining = self._joining, []
        for sub in joining:
            if sub.group is self:
                self._open(sub)

    def window(self) -> list[dict[str, Any]]:
        return self._rows[: self.spec.limit]

    def reread(self) -> None:
        # What turns the window the subscribers hold into the one read goes out at the read's seq.
        if self._client is None:
            self._client = self.window()
        self.read()

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        return {f: row.get(f) for f in self.view.fields}

    def apply(self, event: ChangeEvent) -> None:
        limit = self.spec.limit
        held = self._held.get(event.id)
        record = event.record
        after = record if record is not None and self.view.match(record) else None
        new_key = row_key(self.spec.keys, after) if after is not None else None
        fits = new_key is not None and (self._bound is None or new_key <= self._bound)
        if held is None and not fits:
            return  # beyond what is held, before and after
        if self._bound is not None and len(self._keys) - (held is not None) + fits < limit:
            # Too few rows left within the bound to fill the window: read it again (this event is in it).
            self._client = self.window()
            self.read()
            return
        old_at = None
        if held is not None:
            old_at = bisect_left(self._keys, held)
            del self._keys[old_at], self._rows[old_at], self._held[event.id]
        new_at = None
        if fits:
            assert after is not None and new_key is not None
            new_at = bisect_left(self._keys, new_key)
            self._keys.insert(new_at, new_key)
            self._rows.insert(new_at, {f: after.get(f) for f in self._fields})
            self._held[event.id] = new_key
        was_in = old_at is not None and old_at < limit
        is_in = new_at is not None and new_at < limit
        seq = event.seq
        changes: list[WindowChange] = []
        if was_in and not is_in:
            changes.append(WindowChange(seq, REMOVED, None, {"id": event.id}))
            if len(self._rows) >= limit:  # the first row beyond the window comes in
                changes.append(WindowChange(seq, ADDED, limit - 1, self._record(self._rows[limit - 1])))
        elif is_in:
            assert new_at is not None
            if not was_in and len(self._rows) > limit:  # the window's last row is pushed out
                changes.append(WindowChange(seq, REMOVED, None, {"id": self._rows[limit]["id"]}))
            effect = MODIFIED if was_in else ADDED
            changes.append(WindowChange(seq, effect, new_at, self._record(self._rows[new_at])))
        if len(self._keys) > self.capacity:  # hold no more than the capacity: the bound comes closer
            self._keys.pop()
            del self._held[self._rows.pop()["id"]]
            self._bound = self._keys[-1]
        if changes:
            self._publish(changes)

    def _changes(self, steps: list[tuple[str, int | None, str]], seq: int) -> list[WindowChange]:
        rows = {row["id"]: row for row in self.window()}
        return [
            WindowChange(seq, effect, at, {"id": rid} if effect == REMOVED else self._record(rows[rid]))
            for effect, at, rid in steps
        ]

    # -- messages ------------------------------------------------------------------------------

    def _publish(self, changes: list[WindowChange]) -> None:
        self._rendered_rows.clear()  # the window changed
        rendered: dict[Any, list[WindowSubscription]] = {}
        plain = [sub for sub in self.subscribers if sub.render is None]
        for sub in self.subscribers:
            if sub.render is not None:
                rendered.setdefault(sub.render.key, []).append(sub)
        if plain:
            # A step's messages (a row pushed out, the row that pushed it) reach each subscriber in one write;
            # subscribers framed alike share the messages.
            fragments = [(dumps(change.body(self.view.object))[1:].encode("utf-8"), change.seq) for change in changes]
            self._push(plain, fragments)
        if rendered:
            self._render_later(changes, rendered)

    def _render_later(
        self,
        changes: list[WindowChange],
        targets: dict[Any, list[WindowSubscription]],
        rows: RenderedRows | None = None,
    ) -> None:
        previous = self._rendering
        self._rendering = self.hub.spawn(self._render(previous, changes, targets, rows))

    async def _render(
        self,
        previous: asyncio.Task[None] | None,
        changes: list[WindowChange],
        targets: dict[Any, list[WindowSubscription]],
        rows: RenderedRows | None,
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        for key, subs in targets.items():
            render = subs[0].render
            assert render is not None
            try:
                rendered = await render(changes)
                payloads = [
                    (payload.encode("utf-8"), change.seq) for payload, change in zip(rendered, changes, strict=True)
                ]
            except Exception:
                log.exception("rendering a live window change failed")
                if rows is not None and self._rendered_rows.get(key) is rows:
                    del self._rendered_rows[key]  # the next subscriber's rows are rendered again
                continue
            if rows is not None:
                rows.payloads = payloads
            self._push([sub for sub in subs if sub.group is self], payloads)

    @staticmethod
    def _push(subscribers: list[WindowSubscription], payloads: list[tuple[bytes, int]]) -> None:
        """Each payload framed for each subscriber, in one write each; one message list per distinct frame."""
        shared: dict[Frame, list[bytes]] = {}
        for sub in subscribers:
            messages = shared.get(sub.frame)
            if messages is None:
                messages = shared[sub.frame] = [sub.frame(seq, payload) for payload, seq in payloads]
            sub.conn.push_all(messages)

    def join(self, sub: WindowSubscription) -> None:
        sub.group = self
        if self._ready:
            self._open(sub)
        else:
            self._joining.append(sub)
            if self.failing:
                sub.ready.set()

    def failed(self) -> None:
        for sub in self._joining:
            sub.ready.set()

    def _open(self, sub: WindowSubscription) -> None:
        """A subscriber's first messages: the window as it is now, then every change after it."""
        records = [self._record(row) for row in self.window()]
        if sub.opened is not None:
            for message in sub.opened(self.label, records):
                sub.conn.push(message)
        if sub.render is not None and records:
            self._send_rows(sub, sub.render.key, records)
        self.subscribers.add(sub)
        sub.ready.set()

    def _send_rows(self, sub: WindowSubscription, key: Hashable, records: list[dict[str, Any]]) -> None:
        """The window's rows as ``added`` changes, rendered once for every subscriber with ``key`` that joins
        while the window stays as it is: sent at once when rendered already, else when they are."""
        seq = self.label
        shared = self._rendered_rows.get(key)
        if shared is None or shared.seq != seq:
            shared = self._rendered_rows[key] = RenderedRows(seq, [sub])
            changes = [WindowChange(seq, ADDED, i, record) for i, record in enumerate(records)]
            self._render_later(changes, {key: shared.subscribers}, shared)
        elif shared.payloads is None:
            shared.subscribers.append(sub)  # the render under way sends them to it too
        else:
            self._push([sub], shared.payloads)

    def leave(self, sub: WindowSubscription) -> None:
        self.subscribers.discard(sub)
        if sub in self._joining:
            self._joining.remove(sub)
        if not self.subscribers and not self._joining:
            self.hub.release(self)

    @property
    def size(self) -> int:
        return len(self.subscribers) + len(self._joining)

    def end(self, error: ObjectQLError) -> None:
        """The window cannot be kept for what it asks: end every subscription with ``error``."""
        for sub in [*self.subscribers, *self._joining]:
            sub.drop()
            sub.ready.set()  # a connection waiting for its snapshot goes on
            sub.end(error)
        self.hub.release(self)

    def close(self) -> None:
        super().close()
        if self._rendering is not None:
            self._rendering.cancel()


class WindowBudget:
    """The rows each connection's windows hold together, against one bound (the sum of their limits)."""

    def __init__(self, rows_per_connection: int) -> None:
        self.rows_per_connection = rows_per_connection
        self._rows: dict[Connection, int] = {}

    def admit(self, conn: Connection, spec: WindowSpec) -> int:
        """The rows a window of ``spec`` counts; raises :class:`TooManyRows` when ``conn``'s windows would
        then hold more than the budget."""
        rows = spec.limit
        held = self._rows.get(conn, 0)
        if held + rows > self.rows_per_connection:
            raise TooManyRows(
                f"the live windows of this connection would hold {held + rows} rows (the sum of their limits), "
                f"more than {self.rows_per_connection}",
                details={"limit": self.rows_per_connection, "held": held},
            )
        return rows

    def charge(self, sub: WindowSubscription, spec: WindowSpec) -> None:
        rows = self.admit(sub.conn, spec)
        self._rows[sub.conn] = self._rows.get(sub.conn, 0) + rows
        sub.budget, sub.rows = self, rows

    def refund(self, sub: WindowSubscription) -> None:
        if sub.rows:
            left = self._rows.get(sub.conn, 0) - sub.rows
            if left > 0:
                self._rows[sub.conn] = left
            else:
                self._rows.pop(sub.conn, None)
        sub.budget, sub.rows = None, 0

    def held(self, conn: Connection) -> int:
        """The rows ``conn``'s windows count against the budget."""
        return self._rows.get(conn, 0)


def group_key(view: View, spec: WindowSpec) -> Hashable:
    return ("window", view.key, spec.key)


def join(hub: Hub, source: ChangeSource, view: View, spec: WindowSpec, sub: WindowSubscription) -> None:
    """Add ``sub`` (its rows charged to its connection's budget) to the window of ``view`` and ``spec`` (read when
    it is new): its first messages go out at once, or when the window's rows are read."""
    group, new = hub.group_for(group_key(view, spec), lambda: WindowGroup(hub, source, view, spec))
    if new:
        group.start()
    group.join(sub)


__all__ = [
    "WindowBudget",
    "WindowChange",
    "WindowGroup",
    "WindowRenderer",
    "WindowSubscription",
    "diff",
    "join",
]
