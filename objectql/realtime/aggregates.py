"""Live aggregates: count, sum, avg, min and max of a subscription's rows, pushed as they change.

Subscriptions with the same view (object, filter and the user's bound row rules) and the same aggregate share
one :class:`AggregateGroup`: one state, updated once per change event, and one serialised payload per message,
framed per subscriber. The state starts from the engine's aggregate at a seq (one read transaction) and is
then kept from the change events after that seq: a row entering the view adds to its group, a row leaving
subtracts, an update does both — counts, sums and the non-null counts behind averages exactly (currency sums
are decimals). A minimum or maximum only moves by itself when a row brings a new extreme; when the row holding
it leaves, the group reads the aggregate again (events arriving meanwhile wait and are applied after it).

Messages are coalesced: after a change, the next message goes out once ``interval`` has passed since the
previous one, with the state as of the latest event — so a burst of writes costs few messages and the last
one always arrives. A message whose groups equal the last one sent is not sent. Each message carries the seq
it is consistent with: it equals the engine's ``aggregate()`` over the subscriber's visible rows as of that seq.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from objectql.engine.aggregates import AggregateSpec, group_sort_key, mean
from objectql.engine.events import ChangeEvent
from objectql.engine.values import tidy_decimal
from objectql.engine.views import View
from objectql.realtime.connection import Connection
from objectql.realtime.live_groups import Frame, LiveGroups, ReadState, Spawn
from objectql.realtime.operations import GroupsRenderer
from objectql.realtime.source import ChangeSource
from objectql.realtime.wire import dumps

log = logging.getLogger("objectql.realtime")


@dataclass
class _Tally:
    """One group's running values."""

    count: int = 0
    sums: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    mins: dict[str, Any] = field(default_factory=dict)
    maxs: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class AggregateSubscription:
    """One subscriber; ``frame`` wraps the shared payload as its message. Without ``render`` the payload is
    the ``"seq":…,"groups":[…]`` fragment; with it, what ``render`` makes of the groups (a GraphQL result,
    rendered once per message for all the subscribers sharing its key)."""

    conn: Connection
    frame: Frame
    render: GroupsRenderer | None = None
    group: AggregateGroup | None = None


def _internal(spec: AggregateSpec) -> AggregateSpec:
    """What the state needs from the database: sums and non-null counts for sums and averages alike."""
    totals = tuple(dict.fromkeys((*spec.sum, *spec.avg)))
    return AggregateSpec(
        count=True, sum=totals, counts=totals, min=spec.min, max=spec.max, group_by=spec.group_by, exact=spec.exact
    )


class AggregateGroup(ReadState):
    what = "aggregate"

    def __init__(self, live: LiveAggregates, view: View, spec: AggregateSpec) -> None:
        super().__init__(live.spawn)
        self.live = live
        self.view = view
        self.spec = spec
        self.key = (view.key, spec.key)
        self.object = view.object
        self.subscribers: set[AggregateSubscription] = set()
        self._tallies: dict[tuple[Any, ...], _Tally] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._last_sent: str | None = None
        self._last_flush = 0.0
        self._rendering: asyncio.Task[None] | None = None  # rendered messages go out in order

    # -- state ---------------------------------------------------------------------------------

    async def fetch(self) -> tuple[int, list[dict[str, Any]]]:
        return await self.live.source.aggregate_snapshot(self.view, _internal(self.spec))

    def loaded(self, seq: int, groups: list[dict[str, Any]]) -> None:
        self._tallies = {self._key_of(g["key"]): self._tally_of(g) for g in groups}

    def settled(self) -> None:
        self._flush_soon(at_once=self._last_sent is None)

    def _key_of(self, key: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(key[f] for f in self.spec.group_by)

    def _tally_of(self, group: dict[str, Any]) -> _Tally:
        tally = self._empty()
        tally.count = group["count"]
        for f, value in group.get("sum", {}).items():
            if value is not None:
                tally.sums[f] = value
        tally.counts.update(group.get("counts", {}))
        tally.mins.update(group.get("min", {}))
        tally.maxs.update(group.get("max", {}))
        return tally

    def apply(self, event: ChangeEvent) -> None:
        match = self.view.match
        before = event.previous if event.previous is not None and match(event.previous) else None
        after = event.record if event.record is not None and match(event.record) else None
        if before is None and after is None:
            return
        if before is not None and not self._remove(before):
            self.read()  # an extreme left: read the aggregate again (this event is in what it reads)
            return
        if after is not None:
            self._add(after)
        self._flush_soon()

    def _remove(self, row: dict[str, Any]) -> bool:
        """Take ``row`` out; False when it held a minimum or maximum (the state must be read again)."""
        key = tuple(row.get(f) for f in self.spec.group_by)
        tally = self._tallies.get(key)
        if tally is None:
            return False  # not in the state as it should be: read it again
        tally.count -= 1
        if tally.count == 0:
            if self.spec.group_by:
                del self._tallies[key]
            else:
                self._tallies[key] = self._empty()
            return True
        for f in tally.sums:
            value = row.get(f)
            if value is not None:
                tally.sums[f] -= value
                tally.counts[f] -= 1
        for extremes in (tally.mins, tally.maxs):
            for f, held in extremes.items():
                value = row.get(f)
                if value is not None and value == held:
                    return False  # the next extreme is not known here
        return True

    def _empty(self) -> _Tally:
        totals = (*self.spec.sum, *self.spec.avg)
        zero: dict[str, Any] = {f: Decimal(0) if f in self.spec.exact else 0 for f in totals}
        return _Tally(0, zero, dict.fromkeys(zero, 0), dict.fromkeys(self.spec.min), dict.fromkeys(self.spec.max))

    def _add(self, row: dict[str, Any]) -> None:
        key = tuple(row.get(f) for f in self.spec.group_by)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = self._empty()
        tally.count += 1
        for f in tally.sums:
            value = row.get(f)
            if value is not None:
                tally.sums[f] += value
                tally.counts[f] += 1
        for f, held in tally.mins.items():
            value = row.get(f)
            if value is not None and (held is None or value < held):
                tally.mins[f] = value
        for f, held in tally.maxs.items():
            value = row.get(f)
            if value is not None and (held is None or value > held):
                tally.maxs[f] = value

    # -- messages ------------------------------------------------------------------------------

    def groups(self) -> list[dict[str, Any]]:
        """The state as the engine's ``aggregate()`` gives it."""
        spec = self.spec
        out = []
        for key, tally in self._tallies.items():
            group: dict[str, Any] = {"key": dict(zip(spec.group_by, key, strict=True))}
            if spec.count:
                group["count"] = tally.count
            if spec.sum:
                group["sum"] = {f: _total(tally, f, f in spec.exact) for f in spec.sum}
            if spec.avg:
                group["avg"] = {f: mean(tally.sums[f], tally.counts[f], f in spec.exact) for f in spec.avg}
            if spec.min:
                group["min"] = dict(tally.mins)
            if spec.max:
                group["max"] = dict(tally.maxs)
            out.append(group)
        if not spec.group_by and not out:
            out.append({"key": {}, "count": 0} if spec.count else {"key": {}})
        return sorted(out, key=lambda g: group_sort_key(spec, g))

    def _flush_soon(self, *, at_once: bool = False) -> None:
        if self._timer is not None:
            return
        delay = 0.0 if at_once else max(0.0, self._last_flush + self.live.interval - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if not self._ready:
            return  # the state is being read again: the read flushes when done
        state = self.groups()
        groups = dumps(wire_groups(state))
        if groups == self._last_sent:
            return
        self._last_sent = groups
        self._last_flush = time.monotonic()
        self._send(self.subscribers, state)

    def _send(self, subscribers: set[AggregateSubscription], state: list[dict[str, Any]] | None = None) -> None:
        fragment = '"seq":' + str(self.seq) + ',"groups":' + (self._last_sent or "[]")
        rendered: dict[Any, list[AggregateSubscription]] = {}
        for sub in list(subscribers):
            if sub.render is None:
                sub.conn.push(sub.frame(fragment, self.seq))
            else:
                rendered.setdefault(sub.render.key, []).append(sub)
        if rendered:
            previous = self._rendering
            groups = state if state is not None else self.groups()
            self._rendering = self.live.spawn(self._render(previous, groups, self.seq, rendered))

    async def _render(
        self,
        previous: asyncio.Task[None] | None,
        groups: list[dict[str, Any]],
        seq: int,
        rendered: dict[Any, list[AggregateSubscription]],
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        for subs in rendered.values():
            render = subs[0].render
            assert render is not None
            try:
                payload = await render(groups)
            except Exception:
                log.exception("rendering a live aggregate failed")
                continue
            for sub in subs:
                if sub.group is self:
                    sub.conn.push(sub.frame(payload, seq))

    def welcome(self, sub: AggregateSubscription) -> None:
        """A new subscriber of a group already sending: the current state, at once."""
        if self._ready and self._last_sent is not None:
            self._send({sub})

    def close(self) -> None:
        super().close()
        if self._rendering is not None:
            self._rendering.cancel()
        if self._timer is not None:
            self._timer.cancel()


def _total(tally: _Tally, field: str, exact: bool) -> Any:
    if not tally.counts.get(field):
        return None
    return tidy_decimal(tally.sums[field]) if exact else tally.sums[field]


def wire_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decimals as strings (exact on the wire), everything else as JSON has it."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(tidy_decimal(value))
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return [convert(g) for g in groups]


class LiveAggregates(LiveGroups[AggregateGroup]):
    """The live aggregate groups of one process; the hub hands it every change event."""

    def __init__(self, source: ChangeSource, spawn: Spawn, interval: float) -> None:
        super().__init__(source, spawn)
        self.interval = interval

    def add(self, view: View, spec: AggregateSpec, sub: AggregateSubscription) -> None:
        group = self.group_for((view.key, spec.key), lambda: AggregateGroup(self, view, spec))
        group.subscribers.add(sub)
        sub.group = group
        group.welcome(sub)

    def remove(self, sub: AggregateSubscription) -> None:
        group, sub.group = sub.group, None
        if group is None:
            return
        group.subscribers.discard(sub)
        if not group.subscribers:
            self.release(group)


__all__ = ["AggregateGroup", "AggregateSubscription", "LiveAggregates", "wire_groups"]
