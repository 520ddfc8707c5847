"""Messages of the plain WebSocket protocol: frame decoding, one typed message per client message and
one constructor per server message (each ``encode()`` gives the frame's text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from objectql.errors import InvalidRequest
from objectql.realtime.transports.protocols.plain import MAX_DEPTH, MAX_ID_LENGTH, MAX_NUMBER_DIGITS
from objectql.realtime.wire import UnreadableJSON, dumps, loads

MESSAGE_TYPES = ("auth", "subscribe", "unsubscribe", "join", "update", "leave", "ping")


class BadMessage(ValueError):
    """A frame that is not a JSON object of a known type (closes the socket with 4400)."""


def _number(text: str) -> int | float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise BadMessage("number too long")
    return int(text) if text.lstrip("-").isdigit() else float(text)


def decode_message(text: str) -> dict[str, Any]:
    """The frame as a message dict; BadMessage for anything else."""
    try:
        value = loads(
            text, max_depth=MAX_DEPTH, parse_int=_number, parse_float=_number, parse_constant=_reject_constant
        )
    except BadMessage:
        raise
    except UnreadableJSON as exc:
        raise BadMessage(str(exc)) from None
    except ValueError:
        raise BadMessage("not JSON") from None
    if not isinstance(value, dict):
        raise BadMessage("not a JSON object")
    if value.get("type") not in MESSAGE_TYPES:
        raise BadMessage("unknown message type")
    return value


def _reject_constant(name: str) -> Any:
    raise BadMessage(f"{name} is not JSON")


def _string(msg: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = msg.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(key, "a non-empty string")
    return value


def client_id(msg: dict[str, Any]) -> str:
    value = msg.get("id")
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidRequest("id", f"a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


@dataclass(frozen=True)
class Auth:
    token: str | None

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> Auth:
        token = msg.get("token")
        if token is not None and not isinstance(token, str):
            raise InvalidRequest("token", "a string or null")
        return cls(token or None)


@dataclass(frozen=True)
class Subscribe:
    id: str
    object: str
    filters: Any
    fields: Any
    record_id: str | None
    snapshot: bool
    resume_from: int | None
    # A live aggregate ({count?, sum?, avg?, min?, max?}) and its grouping, instead of rows.
    aggregate: Any = None
    group_by: Any = None
    # A live window: the first ``limit`` rows in ``sort`` order, instead of every matching row.
    sort: Any = None
    limit: Any = None
    # Related records nested in each record (rows only): {"customer": {...}, "orders": {...}}.
    expand: Any = None

    @property
    def window(self) -> bool:
        return self.sort is not None or self.limit is not None

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> Subscribe:
        sid = client_id(msg)
        obj = _string(msg, "object")
        fields = msg.get("fields")
        if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
            raise InvalidRequest("fields", "a list of field names")
        snapshot = msg.get("snapshot", False)
        if not isinstance(snapshot, bool):
            raise InvalidRequest("snapshot", "true or false")
        resume = msg.get("resume_from")
        if resume is not None and (isinstance(resume, bool) or not isinstance(resume, int) or resume < 0):
            raise InvalidRequest("resume_from", "a seq (a whole number >= 0)")
        filters = msg.get("filters")
        if filters is not None and not isinstance(filters, list | dict):
            raise InvalidRequest("filters", "a filter (list or object)")
        aggregate = msg.get("aggregate")
        if aggregate is not None and not isinstance(aggregate, dict):
            raise InvalidRequest("aggregate", "an object: {count?, sum?, avg?, min?, max?}")
        record_id = _string(msg, "record_id", required=False)
        sort, limit = msg.get("sort"), msg.get("limit")
        if sort is not None or limit is not None:
            if aggregate is not None:
                raise InvalidRequest("aggregate", "a subscription is a window (sort, limit) or an aggregate")
            if record_id is not None:
                raise InvalidRequest("record_id", "a window (sort, limit) watches many records, not one")
        expand = msg.get("expand")
        if expand is not None:
            if not isinstance(expand, dict):
                raise InvalidRequest("expand", "an object of reference fields and related lists to expand")
            if aggregate is not None or sort is not None or limit is not None:
                raise InvalidRequest("expand", "rows only: a window or an aggregate does not expand")
        return cls(
            sid,
            obj or "",
            filters,
            fields,
            record_id,
            snapshot,
            resume,
            aggregate,
            msg.get("group_by"),
            sort,
            limit,
            expand,
        )


@dataclass(frozen=True)
class Unsubscribe:
    id: str

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> Unsubscribe:
        return cls(client_id(msg))


@dataclass(frozen=True)
class Join:
    channel: Any
    meta: Any

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> Join:
        return cls(msg.get("channel"), msg.get("meta"))


@dataclass(frozen=True)
class Leave:
    channel: Any

    @classmethod
    def parse(cls, msg: dict[str, Any]) -> Leave:
        return cls(msg.get("channel"))


# -- server messages ----------------------------------------------------------------------------

PONG = '{"type":"pong"}'


def change_prefix(sid: str) -> str:
    """What precedes a change object's fields in a ``change`` message for subscription ``sid``."""
    return '{"type":"change","id":' + dumps(sid) + ","


@dataclass(frozen=True)
class AuthOk:
    user_id: str | None
    roles: tuple[str, ...]
    expires_at: float | None

    def encode(self) -> str:
        user = {"id": self.user_id, "roles": list(self.roles)}
        return dumps({"type": "auth_ok", "user": user, "expires_at": self.expires_at})


@dataclass(frozen=True)
class Subscribed:
    id: str
    seq: int

    def encode(self) -> str:
        return dumps({"type": "subscribed", "id": self.id, "seq": self.seq})


def aggregate_prefix(sid: str) -> str:
    """What precedes a live aggregate's shared ``"seq":…,"groups":[…]`` in this subscription's ``aggregate``
    message (a ``}`` follows it)."""
    return '{"type":"aggregate","id":' + dumps(sid) + ","


@dataclass(frozen=True)
class Snapshot:
    id: str
    records: list[dict[str, Any]]
    seq: int

    def encode(self) -> str:
        return dumps({"type": "snapshot", "id": self.id, "records": self.records, "seq": self.seq})


@dataclass(frozen=True)
class Reset:
    id: str
    reason: str
    seq: int

    def encode(self) -> str:
        return dumps({"type": "reset", "id": self.id, "reason": self.reason, "seq": self.seq})


@dataclass(frozen=True)
class Unsubscribed:
    id: str

    def encode(self) -> str:
        return dumps({"type": "unsubscribed", "id": self.id})


@dataclass(frozen=True)
class PresenceState:
    channel: str
    members: dict[str, list[dict[str, Any]]]

    def encode(self) -> str:
        return dumps({"type": "presence_state", "channel": self.channel, "members": self.members})


@dataclass(frozen=True)
class PresenceDiff:
    channel: str
    joins: dict[str, list[dict[str, Any]]]
    leaves: dict[str, list[dict[str, Any]]]

    def encode(self) -> str:
        return dumps({"type": "presence_diff", "channel": self.channel, "joins": self.joins, "leaves": self.leaves})


@dataclass(frozen=True)
class Error:
    """An error answering a message (``id`` repeats the message's) or a connection event (no ``id``)."""

    code: str
    message: str
    id: str | None = None
    path: Any = None
    details: Any = None

    def encode(self) -> str:
        out: dict[str, Any] = {"type": "error"}
        if self.id is not None:
            out["id"] = self.id
        out["code"] = self.code
        out["message"] = self.message
        if self.path is not None:
            out["path"] = self.path
        if self.details:
            out["details"] = self.details
        return dumps(out)


class PlainPresence:
    """The presence messages of this protocol, as the presence core asks for them."""

    def state(self, channel: str, members: dict[str, list[dict[str, Any]]]) -> str:
        return PresenceState(channel, members).encode()

    def diff(
        self, channel: str, joins: dict[str, list[dict[str, Any]]], leaves: dict[str, list[dict[str, Any]]]
    ) -> str:
        return PresenceDiff(channel, joins, leaves).encode()
