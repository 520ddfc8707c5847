"""The plain WebSocket protocol's session: one ``handle_<type>`` per client message.

The session talks to its socket only through the :class:`Connection` (push / close), so it is the same
whatever server runs it. Errors caused by a message keep the socket open and repeat the message's id;
protocol violations close it with the codes of :mod:`objectql.realtime.vocabulary`. The reply to a
message always comes before anything the message caused (``auth_ok`` before a subscription it ended).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any

from objectql.engine.user import ANONYMOUS, User
from objectql.errors import (
    InternalError,
    InvalidRequest,
    NotFound,
    ObjectQLError,
    RateLimited,
    TooManySubscriptions,
    Unauthenticated,
    Unavailable,
)
from objectql.realtime.connection import Connection, Message
from objectql.realtime.live import AggregateRequest, Ending, LiveRequest, ResetReply, RowsRequest, WindowRequest
from objectql.realtime.opening import Live
from objectql.realtime.policy import ConnectionPolicy
from objectql.realtime.presence import PresenceError, check_channel, check_meta
from objectql.realtime.rows import Enclosed
from objectql.realtime.service import Realtime
from objectql.realtime.transports.protocols.plain import types
from objectql.realtime.transports.protocols.plain.types import (
    PONG,
    Auth,
    AuthOk,
    BadMessage,
    Join,
    Leave,
    Snapshot,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    aggregate_prefix,
    change_prefix,
    decode_message,
)
from objectql.realtime.transports.timers import ConnectionTimers
from objectql.realtime.vocabulary import (
    CLOSE_AUTH_TIMEOUT,
    CLOSE_BAD_MESSAGE,
    CLOSE_DUPLICATE_ID,
    CLOSE_FLOOD,
    CLOSE_FORBIDDEN,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    RESET_REASON,
)

log = logging.getLogger("objectql.realtime")

# Overflow policy of the messages waiting behind a slow one: past this many, the connection is closed with
# 1013 (the flood rule, 100 messages/s, makes that a client that does not wait for its answers).
BACKLOG = 1000


# Claims every fresh token changes: a refresh that changes only these re-authorises nothing.
TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "jti"})


def scoping(user: User) -> dict[str, Any]:
    """The claims that may decide what ``user`` sees (row rules read ``$user.<claim>``)."""
    return {name: value for name, value in user.claims.items() if name not in TIME_CLAIMS}


class RateWindow:
    """Counts events per one-second window; remembers the previous window's count."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.count = 0
        self.previous = 0

    def hit(self) -> tuple[int, int]:
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed >= 1.0:
            self.previous = self.count if elapsed < 2.0 else 0
            self.start = now
            self.count = 0
        self.count += 1
        return self.previous, self.count


class PlainFraming:
    """A subscription's messages on this protocol: ``subscribed``, ``snapshot``, ``change``, ``aggregate``,
    ``reset`` — for every kind of request."""

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.change = Enclosed(change_prefix(sid))
        self.aggregate = Enclosed(aggregate_prefix(sid), "}")

    def opened(self, seq: int, records: list[dict[str, Any]] | None, *, ack: bool = True) -> list[Message]:
        messages: list[Message] = [Subscribed(self.sid, seq).encode()] if ack else []
        if records is not None:
            messages.append(Snapshot(self.sid, records, seq).encode())
        return messages

    def reset(self, seq: int) -> ResetReply:
        return ResetReply((types.Reset(self.sid, RESET_REASON, seq).encode(),), live=True)


@dataclass(eq=False)
class Active:
    """A subscription of this connection: what was asked (re-checked on new roles or claims), how its
    messages are framed, and what it is once open (None while it opens)."""

    request: LiveRequest
    framing: PlainFraming
    live: Live | None = None


class PlainSession:
    def __init__(self, realtime: Realtime, policy: ConnectionPolicy, conn: Connection) -> None:
        self.realtime = realtime
        self.policy = policy
        self.limits = policy.limits
        self.conn = conn
        self.user: User | None = None if policy.auth_required else ANONYMOUS
        # Set once an auth message succeeded on a server with a key: the user is then fixed.
        self.token_user = False
        self.subscriptions: dict[str, Active] = {}
        self.channels: set[str] = set()
        self.pending: set[asyncio.Task[None]] = set()
        # Handler coroutines made but not yet running: closed on release, never left unawaited.
        self._unstarted: list[Coroutine[Any, Any, None]] = []
        # Messages that arrived while one was being handled, and the task handling them (arrival order).
        self._backlog: deque[dict[str, Any]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._messages = RateWindow()
        self._presence = RateWindow()
        self.timers = ConnectionTimers()

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self.policy.auth_required:
            self.timers.set_deadline(self.limits.auth_timeout, self._auth_timeout)
        self.conn.on_close(lambda _c: self.release())

    def release(self) -> None:
        """Drop every subscription, presence entry, timer and pending task of this connection."""
        for active in self.subscriptions.values():
            self._drop(active)
        self.subscriptions.clear()
        self.realtime.presence.drop(self.conn)
        self.channels.clear()
        self.timers.cancel()
        for task in self.pending:
            task.cancel()
        for coroutine in self._unstarted:
            coroutine.close()  # a message whose handling never began: nothing to undo
        self._unstarted.clear()

    def _auth_timeout(self) -> None:
        if not self.authenticated:
            self.conn.close(CLOSE_AUTH_TIMEOUT, "authentication timeout")

    def _expire(self) -> None:
        self.conn.push(types.Error("TOKEN_EXPIRED", "the token expired").encode())
        self.conn.close(CLOSE_FORBIDDEN, "token expired")

    # -- frames --------------------------------------------------------------------------------

    def receive_bytes(self) -> None:
        self.conn.close(CLOSE_BAD_MESSAGE, "binary frames are not accepted")

    def receive_text(self, text: str) -> None:
        """Handle one text frame; slow handlers run as tasks owned by this session."""
        if self.conn.closed.is_set():
            return
        limit_bytes = self.limits.max_message_bytes
        # Four UTF-8 bytes per character at most: only long frames need encoding to be measured.
        if len(text) * 4 > limit_bytes and len(text.encode("utf-8")) > limit_bytes:
            self.conn.close(CLOSE_TOO_BIG, "message too big")
            return
        previous, current = self._messages.hit()
        limit = self.limits.messages_per_second
        if previous > limit and current > limit:
            self.conn.close(CLOSE_FLOOD, "too many messages")
            return
        try:
            msg = decode_message(text)
        except BadMessage as exc:
            self.conn.close(CLOSE_BAD_MESSAGE, str(exc))
            return
        # In arrival order: behind a message still being handled (a subscribe reading its snapshot), wait.
        if self._worker is not None:
            if len(self._backlog) >= BACKLOG:
                self.conn.close(CLOSE_TRY_AGAIN, "overloaded")
                return
            self._backlog.append(msg)
            return
        pending = self._handle(msg)
        if pending is not None:
            self._worker = asyncio.get_running_loop().create_task(self._drain(pending), name=f"plain {self.conn.id}")
            self.pending.add(self._worker)
            self._worker.add_done_callback(self.pending.discard)

    def _handle(self, msg: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        """Handle one message; returns what is still to await when its handler does I/O (a subscribe)."""
        kind = msg["type"]
        if not self.authenticated and kind not in ("auth", "ping"):
            self.conn.close(CLOSE_UNAUTHORIZED, "authenticate first")
            return None
        handler = getattr(self, f"handle_{kind}")
        try:
            # A handler that reads the database (subscribe, join) hands back what is left to await.
            follow_up = handler(msg)
        except ObjectQLError as exc:
            self.send_error(exc, msg)
            return None
        except Exception:
            self._internal_error(msg)
            return None
        if follow_up is None:
            return None
        guarded = self._guard(follow_up, msg)
        self._unstarted += [follow_up, guarded]
        return guarded

    async def _drain(self, pending: Coroutine[Any, Any, None]) -> None:
        """Finish ``pending``, then the messages that arrived meanwhile, one after the other."""
        try:
            await pending
            while self._backlog and not self.conn.closed.is_set():
                following = self._handle(self._backlog.popleft())
                if following is not None:
                    await following
        finally:
            self._worker = None

    def _internal_error(self, msg: dict[str, Any]) -> None:
        # A bad message costs the connection nothing else: its answer is an error, the socket stays open.
        log.exception("plain websocket handler failed")
        self.send_error(InternalError("internal error"), msg)

    async def _guard(self, follow_up: Coroutine[Any, Any, None], msg: dict[str, Any]) -> None:
        self._unstarted = [
            c for c in self._unstarted if c is not follow_up and inspect.getcoroutinestate(c) == inspect.CORO_CREATED
        ]
        try:
            await follow_up
        except asyncio.CancelledError:
            raise
        except ObjectQLError as exc:
            self.send_error(exc, msg)
        except Exception:
            self._internal_error(msg)

    def send_error(self, exc: ObjectQLError, msg: dict[str, Any] | None = None) -> None:
        mid = msg.get("id") if msg is not None else None
        data = exc.to_dict()
        error = types.Error(
            data["code"],
            data["message"],
            id=mid if isinstance(mid, str) else None,
            path=data.get("path"),
            details=data.get("details"),
        )
        self.conn.push(error.encode())

    # -- handlers ------------------------------------------------------------------------------

    def handle_ping(self, msg: dict[str, Any]) -> None:
        self.conn.push(PONG)

    def handle_auth(self, msg: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        auth = Auth.parse(msg)
        pending = self.policy.keys_pending(auth.token)
        if pending is not None:
            return self._auth_when_keys(pending, msg)  # a key not seen yet: fetch the provider's keys first
        try:
            principal = self.policy.authenticate(auth.token)
        except Unauthenticated as exc:
            if self.authenticated and exc.details.get("reason") == "expired":
                self._expire()
                return None
            expired = exc.details.get("reason") == "expired"
            self.conn.close(CLOSE_FORBIDDEN, "token expired" if expired else "invalid token")
            return None
        user: User = principal.user
        if self.token_user and user.id != self.user.id:  # type: ignore[union-attr]
            self.conn.close(CLOSE_FORBIDDEN, "a connection cannot change its user")
            return None
        previous, self.user = self.user, user
        self.token_user = self.policy.auth_required
        self.timers.clear_deadline()
        self.timers.set_expiry(principal.ends_at, self._expire)
        # The reply first, then what the new roles or claims did to the subscriptions.
        self.conn.push(AuthOk(user.id, user.roles, principal.expires_at).encode())
        if previous is not None and (previous.roles != user.roles or scoping(previous) != scoping(user)):
            self._reauthorise()
            if self.channels:
                return self._recheck_channels()
        return None

    async def _auth_when_keys(self, pending: Awaitable[None], msg: dict[str, Any]) -> None:
        await pending
        if self.conn.closed.is_set():
            return
        follow_up = self.handle_auth(msg)  # the keys are in (or may not be fetched again yet)
        if follow_up is not None:
            await follow_up

    def _reauthorise(self) -> None:
        """New roles or claims: re-check every subscription as the new user, so row rules bind the new claims;
        one whose rows changed moves to them (a window or an aggregate sends them again), one that lost read
        ends with its error."""
        for cid, active in list(self.subscriptions.items()):
            if self.conn.closed.is_set():
                return  # released meanwhile (a message overflowed the queue): nothing is left to re-check
            active.request = dataclasses.replace(active.request, user=self.user)
            if active.live is None:
                continue  # still opening, as the user it was asked by
            try:
                active.live = self.realtime.rescope(
                    active.live, active.request, active.framing, self._ending(cid, active)
                )
            except ObjectQLError as exc:
                del self.subscriptions[cid]
                self.send_error(exc, {"id": cid})
                continue
            if active.live is None:
                del self.subscriptions[cid]  # its connection closed as it reopened

    async def _recheck_channels(self) -> None:
        """New roles: leave every channel the user may no longer join, each with its error."""
        assert self.user is not None
        for channel in sorted(self.channels):
            try:
                await self.realtime.channels.check_join(self.user, channel)
            except Exception as exc:
                if self.conn.closed.is_set():
                    return
                if not isinstance(exc, ObjectQLError):
                    # Not known to be allowed any more: leave rather than keep what the new token may not join.
                    log.warning("re-checking presence channel %s failed: %s", channel, type(exc).__name__)
                    exc = Unavailable("the channel could not be checked; join it again", details={"channel": channel})
                self.channels.discard(channel)
                self.realtime.presence.leave(self.conn, channel)
                self.send_error(exc)

    async def handle_subscribe(self, msg: dict[str, Any]) -> None:
        req = Subscribe.parse(msg)
        if req.id in self.subscriptions:
            self.conn.close(CLOSE_DUPLICATE_ID, "subscription id already active")
            return
        if len(self.subscriptions) >= self.limits.max_subscriptions:
            raise TooManySubscriptions(f"at most {self.limits.max_subscriptions} active subscriptions per connection")
        # Reserved while it opens, so a duplicate in flight is caught too (and a release finds it).
        active = self.subscriptions[req.id] = Active(request_of(req, self.user), PlainFraming(req.id))
        try:
            opening = await self.realtime.open(
                self.conn, req.id, active.request, active.framing, end=self._ending(req.id, active)
            )
        except BaseException:
            if self.subscriptions.get(req.id) is active:
                del self.subscriptions[req.id]
            raise
        if self.subscriptions.get(req.id) is not active:
            opening.cancel()  # unsubscribed, or the connection released, while it opened
            return
        active.live = opening.release()
        if active.live is None:
            del self.subscriptions[req.id]  # ended by a reset, or the connection closed
            return
        if self.conn.closed.is_set():
            active.live.drop()  # released by its own first messages (a full queue): nothing else drops it
            return
        # The requests behind this one wait for its first messages (a window's rows), unless the database is away.
        await opening.started()

    def handle_unsubscribe(self, msg: dict[str, Any]) -> None:
        req = Unsubscribe.parse(msg)
        active = self.subscriptions.pop(req.id, None)
        if active is None:
            raise NotFound(f"no active subscription {req.id!r}", details={"id": req.id})
        self._drop(active)
        self.conn.push(Unsubscribed(req.id).encode())

    def _drop(self, active: Active) -> None:
        if active.live is not None:
            active.live.drop()

    def _ending(self, sid: str, active: Active) -> Ending:
        """How a live aggregate or window that can no longer be kept ends: ``error`` with its id."""

        def end(error: ObjectQLError) -> None:
            if self.subscriptions.get(sid) is active:
                del self.subscriptions[sid]
                self.send_error(error, {"id": sid})

        return end

    def _presence_allowed(self) -> bool:
        _, current = self._presence.hit()
        return current <= self.limits.presence_per_second

    def _member_key(self) -> str:
        assert self.user is not None
        return self.user.id if self.user.id is not None else f"anonymous:{self.conn.id}"

    def _presence_request(self, msg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The checked (channel, meta) of a join or update, within the presence rate limit."""
        req = Join.parse(msg)
        if not self._presence_allowed():
            raise RateLimited(f"at most {self.limits.presence_per_second} presence updates per second")
        try:
            return check_channel(req.channel), check_meta(req.meta)
        except PresenceError as exc:
            raise InvalidRequest("channel" if "channel" in str(exc) else "meta", str(exc)) from None

    def handle_join(self, msg: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        channel, meta = self._presence_request(msg)
        if channel in self.channels:
            self.realtime.presence.join(self.conn, self._member_key(), channel, meta)  # an update
            return None
        return self._join(channel, meta)

    async def _join(self, channel: str, meta: dict[str, Any]) -> None:
        assert self.user is not None
        await self.realtime.channels.check_join(self.user, channel)
        if self.conn.closed.is_set():
            return  # released while the check read the database: joining now would leave a ghost
        self.channels.add(channel)
        self.realtime.presence.join(self.conn, self._member_key(), channel, meta)

    def handle_update(self, msg: dict[str, Any]) -> None:
        channel, meta = self._presence_request(msg)
        if not self.realtime.presence.update(self.conn, channel, meta):
            raise InvalidRequest("channel", "join the channel before updating")

    def handle_leave(self, msg: dict[str, Any]) -> None:
        req = Leave.parse(msg)
        if not self._presence_allowed():
            raise RateLimited(f"at most {self.limits.presence_per_second} presence updates per second")
        try:
            channel = check_channel(req.channel)
        except PresenceError as exc:
            raise InvalidRequest("channel", str(exc)) from None
        self.channels.discard(channel)
        self.realtime.presence.leave(self.conn, channel)


def request_of(req: Subscribe, user: User | None) -> LiveRequest:
    """What a ``subscribe`` asks for: an aggregate, a window (``sort`` / ``limit``), or rows."""
    if req.aggregate is not None:
        return AggregateRequest(req.object, user, filters=req.filters, aggregate=req.aggregate, group_by=req.group_by)
    if req.window:
        # Resuming a window gives a fresh snapshot: windows are not replayed.
        return WindowRequest(req.object, user, filters=req.filters, fields=req.fields, sort=req.sort, limit=req.limit)
    return RowsRequest(
        req.object,
        user,
        filters=req.filters,
        fields=req.fields,
        record_id=req.record_id,
        snapshot=req.snapshot,
        resume_from=req.resume_from,
        expand=req.expand,
    )
