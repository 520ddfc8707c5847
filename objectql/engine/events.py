"""Change events and the outbox they are written to.

Every committed create/update/delete appends one row to ``_objectql_events`` in the same transaction as
the change. Seqs are taken from a one-row counter at commit time (``UPDATE … RETURNING``): the row lock
serialises committing writers, so seq order is commit order and a reader that has seen seq N has seen
every event below N. A rolled-back transaction leaves no event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from objectql.engine.user import User
from objectql.metadata.model import Kind, ObjectDef

ACTIONS = ("create", "update", "delete")


@dataclass(frozen=True)
class ChangeEvent:
    """One committed change. Records hold every field (the system's view), in Python types."""

    seq: int
    object: str
    action: str
    id: str
    record: dict[str, Any] | None
    previous: dict[str, Any] | None
    changed: tuple[str, ...] | None
    user_id: str | None
    ts: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "object": self.object,
            "action": self.action,
            "id": self.id,
            "record": self.record,
            "previous": self.previous,
            "changed": list(self.changed) if self.changed is not None else None,
            "user_id": self.user_id,
            "ts": self.ts,
        }


@dataclass
class PendingEvent:
    object: str
    action: str
    id: str
    record: dict[str, Any] | None
    previous: dict[str, Any] | None
    changed: tuple[str, ...] | None
    user_id: str | None
    ts: datetime

    @classmethod
    def now(
        cls,
        object: str,
        action: str,
        id: str,
        record: dict[str, Any] | None,
        previous: dict[str, Any] | None,
        changed: tuple[str, ...] | None,
        user: User | None,
    ) -> PendingEvent:
        """The event of a write made now by ``user`` (None: the system)."""
        return cls(object, action, id, record, previous, changed, user.id if user else None, datetime.now(UTC))

    def committed(self, seq: int) -> ChangeEvent:
        return ChangeEvent(
            seq,
            self.object,
            self.action,
            self.id,
            self.record,
            self.previous,
            self.changed,
            self.user_id,
            self.ts,
        )


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in an event")


def _decode_record(obj: ObjectDef | None, data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None or obj is None:
        return data
    out: dict[str, Any] = {}
    for name, value in data.items():
        fdef = obj.fields.get(name)
        if value is not None and fdef is not None:
            if fdef.kind is Kind.DATETIME:
                value = datetime.fromisoformat(value)
            elif fdef.kind is Kind.DATE:
                value = date.fromisoformat(value)
            elif fdef.kind is Kind.DECIMAL:
                value = Decimal(value)
        out[name] = value
    return out


class Outbox:
    def __init__(self, events: Table, counter: Table, objects: dict[str, ObjectDef]) -> None:
        self.events = events
        self.counter = counter
        self.objects = objects
        # Built once: the values travel as parameters (one cache key per statement, not per commit).
        self._take_seqs = (
            update(counter)
            .where(counter.c.id == 1)
            .values(value=counter.c.value + bindparam("taken"))
            .returning(counter.c.value)
        )
        self._append = insert(events)

    async def ensure_counter(self, conn: AsyncConnection) -> None:
        start = (await conn.execute(select(func.coalesce(func.max(self.events.c.seq), 0)))).scalar_one()
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("INSERT INTO _objectql_seq (id, value) VALUES (1, :v) ON CONFLICT (id) DO NOTHING"),
                {"v": start},
            )
        else:
            await conn.execute(text("INSERT OR IGNORE INTO _objectql_seq (id, value) VALUES (1, :v)"), {"v": start})

    async def append(self, conn: AsyncConnection, pending: list[PendingEvent]) -> list[ChangeEvent]:
        """Give ``pending`` their seqs and write them; call last in the transaction, just before commit."""
        if not pending:
            return []
        top = (await conn.execute(self._take_seqs, {"taken": len(pending)})).scalar_one()
        first = int(top) - len(pending) + 1
        committed = [p.committed(first + i) for i, p in enumerate(pending)]
        rows = [
            {
                "seq": e.seq,
                "object": e.object,
                "action": e.action,
                "record_id": e.id,
                "user_id": e.user_id,
                "ts": e.ts,
                "payload": json.dumps(
                    {"record": e.record, "previous": e.previous, "changed": e.changed},
                    default=_encode_value,
                    ensure_ascii=False,
                ),
            }
            for e in committed
        ]
        await conn.execute(self._append, rows[0] if len(rows) == 1 else rows)
        return committed

    async def current_seq(self, conn: AsyncConnection) -> int:
        value = (await conn.execute(select(self.counter.c.value).where(self.counter.c.id == 1))).scalar()
        return int(value or 0)

    async def oldest_seq(self, conn: AsyncConnection) -> int | None:
        value = (await conn.execute(select(func.min(self.events.c.seq)))).scalar()
        return int(value) if value is not None else None

    async def read(
        self, conn: AsyncConnection, *, after: int, object: str | None = None, limit: int = 1000
    ) -> list[ChangeEvent]:
        query = select(self.events).where(self.events.c.seq > after).order_by(self.events.c.seq).limit(limit)
        if object is not None:
            query = query.where(self.events.c.object == object)
        rows = (await conn.execute(query)).mappings().all()
        out: list[ChangeEvent] = []
        for row in rows:
            payload = json.loads(row["payload"])
            obj = self.objects.get(row["object"])
            changed = payload.get("changed")
            out.append(
                ChangeEvent(
                    seq=int(row["seq"]),
                    object=row["object"],
                    action=row["action"],
                    id=row["record_id"],
                    record=_decode_record(obj, payload.get("record")),
                    previous=_decode_record(obj, payload.get("previous")),
                    changed=tuple(changed) if changed is not None else None,
                    user_id=row["user_id"],
                    ts=row["ts"],
                )
            )
        return out

    async def prune(self, conn: AsyncConnection, cutoff: datetime, batch: int) -> int:
        """Delete events from before ``cutoff`` among the oldest ``batch``; the newest event is always kept.

        Only the oldest ``batch`` events are looked at, by seq (the primary key), so one call's work is
        bounded however large the outbox is; events come in seq order with their times nearly in order, so
        repeating until fewer than ``batch`` go deletes what is old.
        """
        events = self.events
        oldest = select(events.c.seq).order_by(events.c.seq).limit(batch).scalar_subquery()
        newest = select(func.max(events.c.seq)).scalar_subquery()
        stmt = delete(events).where(events.c.seq.in_(oldest), events.c.ts < cutoff, events.c.seq < newest)
        result = await conn.execute(stmt)
        return int(result.rowcount or 0)
