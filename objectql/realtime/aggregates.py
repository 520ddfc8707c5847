"""Live aggregates: count, sum, avg, min and max of a subscription's rows, pushed as they change.

Subscriptions with the same view (object, filter and the user's bound row rules) and the same aggregate share
one :class:`AggregateGroup`: one state, updated once per change event, and one serialised payload per message,
framed per subscriber. The state is one :class:`Bucket` per ``group_by`` key (what ``aggregate()`` and the wire
call a group). It starts from the engine's aggregate at a seq (one read transaction) and is then kept from the
change events after that seq: a row entering the view adds to its bucket, a row leaving subtracts, an update
does both — counts, sums and the non-null counts behind averages exactly (currency sums are decimals, other
sums exact totals: :mod:`objectql.engine.totals`). A minimum or maximum only moves by itself when a row brings a
new extreme; when the row holding it leaves, the group reads the aggregate again (events arriving meanwhile
wait and are applied after it).

Messages are coalesced: after a change, the next message goes out once ``interval`` has passed since the
previous one, with the state as of the latest event — so a burst of writes costs few messages and the last
one always arrives. A message whose buckets equal the last one sent is not sent. Each message carries the seq
it is consistent with: it equals the engine's ``aggregate()`` over the subscriber's visible rows as of that seq.
A subscriber joining gets the state as it is at once (not the last message, which may be older). Each bucket
keeps its own serialised text, so a message costs the serialisation of the buckets that changed only.

An aggregate has at most the source's ``max_groups`` buckets: one that has more when read, or grows past that
later, ends each of its subscriptions with ``TOO_MANY_GROUPS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from objectql.engine import totals
from objectql.engine.aggregates import AggregateSpec, mean, too_many_groups, user_total
from objectql.engine.events import ChangeEvent
from objectql.engine.values import tidy_decimal
from objectql.engine.views import View
from objectql.errors import ObjectQLError
from objectql.realtime.connection import Connection
from objectql.realtime.hub import Hub
from objectql.realtime.live import Ending, Frame, share_frames
from objectql.realtime.read_state import ReadState
from objectql.realtime.source import ChangeSource
from objectql.realtime.wire import dumps

log = logging.getLogger("objectql.realtime")

Key = tuple[Any, ...]


class BucketsRenderer(Protocol):
    """Executes a live aggregate's document for its buckets: once per message for every subscriber sharing
    ``key``."""

    @property
    def key(self) -> Hashable: ...

    async def __call__(self, buckets: list[dict[str, Any]]) -> str: ...


@dataclass
class Bucket:
    """The running values of one ``group_by`` key (a "group" of ``aggregate()``'s result and of the wire), and
    its serialised text while they are unchanged."""

    count: int = 0
    sums: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    mins: dict[str, Any] = field(default_factory=dict)
    maxs: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


@dataclass(eq=False)
class AggregateSubscription:
    """One subscriber; ``frame`` wraps the shared payload as its message. Without ``render`` the payload is
    the ``"seq":…,"groups":[…]`` fragment; with it, what ``render`` makes of the buckets (a GraphQL result,
    rendered once per message for all the subscribers sharing its key). ``end`` ends the subscription
    with an error (its transport's way: an error message, the end of a stream)."""

    conn: Connection
    frame: Frame
    end: Ending
    render: BucketsRenderer | None = None
    group: AggregateGroup | None = None
    # The buckets' text this subscriber was last sent (identity: the group shares one string per state).
    sent: str | None = None

    def drop(self) -> None:
        """Leave its group (idempotent)."""
        group, self.group = self.group, None
        if group is not None:
            group.leave(self)


def _internal(spec: AggregateSpec) -> AggregateSpec:
    """What the state needs from the database: exact sums and non-null counts for sums and averages alike."""
    totals_of = tuple(dict.fromkeys((*spec.sum, *spec.avg)))
    return AggregateSpec(
        count=True,
        sum=totals_of,
        counts=totals_of,
        min=spec.min,
        max=spec.max,
        group_by=spec.group_by,
        exact=spec.exact,
        floats=spec.floats,
        raw=True,
    )


class AggregateGroup(ReadState):
    what = "aggregate"

    def __init__(self, hub: Hub, source: ChangeSource, view: View, spec: AggregateSpec, interval: float) -> None:
        super().__init__(hub, source, view)
        self.spec = spec
        self.interval = interval
        self.key = group_key(view, spec)
        self.subscribers: set[AggregateSubscription] = set()
        self._buckets: dict[Key, Bucket] = {}
        self._order: list[Key] | None = []  # the buckets' keys in key order; None when to be sorted again
        # The buckets' texts in key order, each bucket's place in it, and the buckets changed since they were
        # written there (all of them are written again when a bucket comes or goes).
        self._parts: list[str] = []
        self._places: dict[Key, int] = {}
        self._dirty: set[Key] = set()
        self._reindex = True
        self._timer: asyncio.TimerHandle | None = None
        self._last_sent: str | None = None
        # The buckets' text as they are now, until they change (one string object per state).
        self._current: str | None = None
        # The texts joiners were sent since the last flush: a state equal to one of them is that object.
        self._given: dict[str, str] = {}
        self._last_flush = 0.0
        self._rendering: asyncio.Task[None] | None = None  # rendered messages go out in order

    # -- state ---------------------------------------------------------------------------------

    async def fetch(self) -> tuple[int, list[dict[str, Any]]]:
        return await self.source.aggregate_snapshot(self.view, _internal(self.spec))

    def loaded(self, seq: int, groups: list[dict[str, Any]]) -> None:
        self._buckets = {self._key_of(g["key"]): self._bucket_of(g) for g in groups}
        self._reorder()
        self._current = None

    def settled(self) -> None:
        self._flush_soon(at_once=self._last_sent is None)

    def _key_of(self, key: dict[str, Any]) -> Key:
        return tuple(key[f] for f in self.spec.group_by)

    def _bucket_of(self, group: dict[str, Any]) -> Bucket:
        bucket = self._empty()
        bucket.count = group["count"]
        for f, value in group.get("sum", {}).items():
            if value is not None:
                bucket.sums[f] = value
        bucket.counts.update(group.get("counts", {}))
        bucket.mins.update(group.get("min", {}))
        bucket.maxs.update(group.get("max", {}))
        return bucket

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
            if len(self._buckets) > self.source.max_groups:
                self.end(too_many_groups(self.source.max_groups))
                return
        self._flush_soon()

    def _remove(self, row: dict[str, Any]) -> bool:
        """Take ``row`` out; False when it held a minimum or maximum (the state must be read again)."""
        key = tuple(row.get(f) for f in self.spec.group_by)
        bucket = self._buckets.get(key)
        if bucket is None:
            return False  # not in the state as it should be: read it again
        bucket.count -= 1
        bucket.text = self._current = None
        self._dirty.add(key)
        if bucket.count == 0:
            if self.spec.group_by:
                del self._buckets[key]
                self._reorder()
            else:
                self._buckets[key] = self._empty()
            return True
        for f in bucket.sums:
            value = row.get(f)
            if value is not None:
                bucket.sums[f] -= self._term(f, value)
                bucket.counts[f] -= 1
        for extremes in (bucket.mins, bucket.maxs):
            for f, held in extremes.items():
                value = row.get(f)
                if value is not None and value == held:
                    return False  # the next extreme is not known here
        return True

    def _empty(self) -> Bucket:
        spec = self.spec
        totals_of = (*spec.sum, *spec.avg)
        zero: dict[str, Any] = {f: Decimal(0) if f in spec.exact else 0 for f in totals_of}
        return Bucket(0, zero, dict.fromkeys(zero, 0), dict.fromkeys(spec.min), dict.fromkeys(spec.max))

    def _term(self, field: str, value: Any) -> Any:
        """``value`` as its exact share of a total: currency as it is, other numbers as :mod:`totals` counts."""
        if field in self.spec.exact:
            return value
        return totals.term(value, is_float=field in self.spec.floats)

    def _add(self, row: dict[str, Any]) -> None:
        key = tuple(row.get(f) for f in self.spec.group_by)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = self._empty()
            self._reorder()
        bucket.count += 1
        bucket.text = self._current = None
        self._dirty.add(key)
        for f in bucket.sums:
            value = row.get(f)
            if value is not None:
                bucket.sums[f] += self._term(f, value)
                bucket.counts[f] += 1
        for f, held in bucket.mins.items():
            value = row.get(f)
            if value is not None and (held is None or value < held):
                bucket.mins[f] = value
        for f, held in bucket.maxs.items():
            value = row.get(f)
            if value is not None and (held is None or value > held):
                bucket.maxs[f] = value

    # -- messages ------------------------------------------------------------------------------

    def _wire(self, key: Key, bucket: Bucket) -> dict[str, Any]:
        """One bucket as the engine's ``aggregate()`` gives it (a group of its result)."""
        spec = self.spec
        group: dict[str, Any] = {"key": dict(zip(spec.group_by, key, strict=True))}
        if spec.count:
            group["count"] = bucket.count
        if spec.sum:
            group["sum"] = {f: _total(spec, bucket, f) for f in spec.sum}
        if spec.avg:
            group["avg"] = {
                f: mean(bucket.sums[f], bucket.counts[f], f in spec.exact, f in spec.floats) for f in spec.avg
            }
        if spec.min:
            group["min"] = dict(bucket.mins)
        if spec.max:
            group["max"] = dict(bucket.maxs)
        return group

    def _reorder(self) -> None:
        """A bucket came or went: the order and the texts' places are made again."""
        self._order = None
        self._reindex = True

    def _keys(self) -> list[Key]:
        if self._order is None:
            self._order = sorted(self._buckets, key=key_order)
        return self._order

    def buckets(self) -> list[dict[str, Any]]:
        """The state as the engine's ``aggregate()`` gives it (without ``group_by``: one bucket, always)."""
        return [self._wire(key, self._buckets[key]) for key in self._keys()]

    def _text(self) -> str:
        """The buckets as wire JSON: only buckets changed since they were last serialised are serialised."""
        if self._current is not None:
            return self._current
        if self._reindex:
            keys = self._keys()
            self._places = {key: place for place, key in enumerate(keys)}
            self._parts = [self._serialised(key) for key in keys]
            self._reindex = False
        else:
            for key in self._dirty:
                self._parts[self._places[key]] = self._serialised(key)
        self._dirty.clear()
        text = "[" + ",".join(self._parts) + "]"
        # One string object per state: subscribers are compared by identity with what they were sent.
        self._current = self._last_sent if text == self._last_sent and self._last_sent is not None else text
        if self._given:
            self._current = self._given.get(self._current, self._current)
        return self._current

    def _serialised(self, key: Key) -> str:
        bucket = self._buckets[key]
        if bucket.text is None:
            bucket.text = dumps(wire_group(self._wire(key, bucket)))
        return bucket.text

    def _flush_soon(self, *, at_once: bool = False) -> None:
        if self._timer is not None:
            return
        delay = 0.0 if at_once else max(0.0, self._last_flush + self.interval - time.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if not self._ready:
            return  # the state is being read again: the read flushes when done
        text = self._text()
        if text is not self._last_sent:
            self._last_sent = text
            self._last_flush = time.monotonic()
        self._given.clear()
        # Everyone not sent this state yet: all of them after a change, else those who joined meanwhile.
        self._send([sub for sub in self.subscribers if sub.sent is not text], text)

    def _send(self, subscribers: list[AggregateSubscription], text: str) -> None:
        if not subscribers:
            return
        seq = self.label
        plain: list[AggregateSubscription] = []
        rendered: dict[Any, list[AggregateSubscription]] = {}
        for sub in subscribers:
            sub.sent = text
            if sub.render is None:
                plain.append(sub)
            else:
                rendered.setdefault(sub.render.key, []).append(sub)
        if plain:
            fragment = ('"seq":' + str(seq) + ',"groups":' + text).encode("utf-8")
            for sub, message in zip(plain, share_frames(seq, fragment, [sub.frame for sub in plain]), strict=True):
                sub.conn.push(message)
        if rendered:
            previous = self._rendering
            self._rendering = self.hub.spawn(self._render(previous, self.buckets(), seq, rendered))

    async def _render(
        self,
        previous: asyncio.Task[None] | None,
        buckets: list[dict[str, Any]],
        seq: int,
        rendered: dict[Any, list[AggregateSubscription]],
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        for subs in rendered.values():
            render = subs[0].render
            assert render is not None
            try:
                payload = (await render(buckets)).encode("utf-8")
            except Exception:
                log.exception("rendering a live aggregate failed")
                continue
            members = [sub for sub in subs if sub.group is self]
            for sub, message in zip(members, share_frames(seq, payload, [sub.frame for sub in members]), strict=True):
                sub.conn.push(message)

    def welcome(self, sub: AggregateSubscription) -> None:
        """A new subscriber: the state as it is now, at once — or, while it is being read, when it is read."""
        if self._ready:
            text = self._given.setdefault(self._text(), self._text())
            self._send([sub], text)

    @property
    def size(self) -> int:
        return len(self.subscribers)

    def join(self, sub: AggregateSubscription) -> None:
        self.subscribers.add(sub)
        sub.group = self
        self.welcome(sub)

    def leave(self, sub: AggregateSubscription) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers:
            self.hub.release(self)

    def end(self, error: ObjectQLError) -> None:
        """The aggregate cannot be kept (too many buckets): end every subscription with ``error``."""
        for sub in list(self.subscribers):
            sub.drop()
            sub.end(error)
        self.hub.release(self)

    def close(self) -> None:
        super().close()
        if self._rendering is not None:
            self._rendering.cancel()
        if self._timer is not None:
            self._timer.cancel()


def _total(spec: AggregateSpec, bucket: Bucket, field: str) -> Any:
    if not bucket.counts.get(field):
        return None
    if field in spec.exact:
        return tidy_decimal(bucket.sums[field])
    return user_total(spec, field, bucket.sums[field])


def key_order(key: Key) -> tuple[Any, ...]:
    """Buckets in key order, nulls last (as ``aggregate()`` orders its groups)."""
    return tuple((value is None, value if value is not None else 0) for value in key)


def _convert(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(tidy_decimal(value))
    if isinstance(value, dict):
        return {k: _convert(v) for k, v in value.items()}
    return value


def wire_group(group: dict[str, Any]) -> dict[str, Any]:
    """Decimals as strings (exact on the wire), everything else as JSON has it."""
    converted: dict[str, Any] = _convert(group)
    return converted


def wire_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The engine's ``aggregate()`` as the wire has it."""
    return [wire_group(g) for g in groups]


def group_key(view: View, spec: AggregateSpec) -> Hashable:
    return ("aggregate", view.key, spec.key)


def join(
    hub: Hub, source: ChangeSource, view: View, spec: AggregateSpec, sub: AggregateSubscription, interval: float
) -> None:
    """Add ``sub`` to the aggregate of ``view`` and ``spec`` (read when it is new): its first message goes out at
    once, or once the state is read."""
    group, new = hub.group_for(group_key(view, spec), lambda: AggregateGroup(hub, source, view, spec, interval))
    if new:
        group.start()
    group.join(sub)


__all__ = ["AggregateGroup", "AggregateSubscription", "Bucket", "BucketsRenderer", "join", "wire_group", "wire_groups"]
