"""The realtime service: the hub, presence and the fan-out backend of one server process.

It listens to the engine's committed events (the fast path for this process's own writes), announces
each commit's seq on the backend so other processes catch up from the outbox, and owns every task and
connection it starts: :meth:`stop` closes connections with 1012 and awaits everything. Transports open
subscriptions through :meth:`Realtime.open` and track their connections with :meth:`Realtime.track`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

from objectql.engine.events import ChangeEvent
from objectql.realtime.backends import Backend, BackendReconnected
from objectql.realtime.connection import Connection, node_id
from objectql.realtime.feed import EventFeed
from objectql.realtime.hub import Hub
from objectql.realtime.live import Ending, Framing, LiveRequest
from objectql.realtime.opening import Live, LiveContext, Opening, open_live, rescope
from objectql.realtime.presence import ChannelAccess, Presence, PresenceWire
from objectql.realtime.source import ChangeSource
from objectql.realtime.vocabulary import CLOSE_RESTART
from objectql.realtime.windows import WindowBudget
from objectql.realtime.wire import dumps

log = logging.getLogger("objectql.realtime")

EVENTS_CHANNEL = "events"
PRESENCE_CHANNEL = "presence"
# Overflow policy of the presence announcement queue: when full, queued announcements are dropped and
# this process re-announces all its members once the queue drains (announcements are idempotent).
PRESENCE_QUEUE = 10_000
SYNC_GRACE = 3.0


class Realtime:
    def __init__(
        self,
        source: ChangeSource,
        backend: Backend,
        presence_wire: PresenceWire,
        channels: ChannelAccess,
        *,
        prefix: str = "objectql",
        presence_heartbeat: float = 10.0,
        presence_timeout: float = 30.0,
        aggregate_interval: float = 0.1,
        window_rows: int = 10_000,
    ) -> None:
        self.source = source
        self.backend = backend
        self.prefix = prefix
        self.presence_heartbeat = presence_heartbeat
        self.presence_timeout = presence_timeout
        self.presence = Presence(presence_wire, node_id(), self._queue_announcement)
        self.channels = channels
        self._announcements: deque[dict[str, Any]] = deque()
        self._announcements_ready = asyncio.Event()
        self._announcements_overflowed = False
        self.connections: set[Connection] = set()
        self.hub: Hub | None = None
        self.aggregate_interval = aggregate_interval
        self.window_rows = window_rows
        self.context: LiveContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._signal = 0
        self._signal_ready = asyncio.Event()

    @property
    def channel(self) -> str:
        return f"{self.prefix}:{EVENTS_CHANNEL}"

    @property
    def presence_channel(self) -> str:
        return f"{self.prefix}:{PRESENCE_CHANNEL}"

    async def start(self) -> None:
        source = self.source
        start = await source.current_seq()
        feed = EventFeed(lambda after, limit: source.events(after=after, limit=limit), source.current_seq, start=start)
        self.hub = Hub(feed, source.records_at)
        self.context = LiveContext(source, self.hub, WindowBudget(self.window_rows), self.aggregate_interval)
        source.add_listener(self._on_commit)
        await self.backend.connect()
        await self.backend.subscribe(self.channel)
        await self.backend.subscribe(self.presence_channel)
        self.hub.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(), name="objectql backend listener"),
            loop.create_task(self._announce(), name="objectql backend publisher"),
            loop.create_task(self._publish_presence(), name="objectql presence publisher"),
            loop.create_task(self._heartbeat(), name="objectql presence heartbeat"),
        ]
        # Learn who is already present on the other processes.
        self.presence.request_sync()

    async def stop(self) -> None:
        """Close every connection with 1012 (server restart) and await every task."""
        with contextlib.suppress(ValueError):
            self.source.remove_listener(self._on_commit)
        connections = list(self.connections)
        for conn in connections:
            conn.abort_with(CLOSE_RESTART, "server restart")
        await asyncio.gather(*(c.wait_closed() for c in connections), return_exceptions=True)
        # Let the leaves of the closed connections reach the other processes.
        for _ in range(40):
            if not self._announcements:
                break
            await asyncio.sleep(0.025)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.hub is not None:
            await self.hub.stop()
        await self.backend.disconnect()

    def require_hub(self) -> Hub:
        if self.hub is None:
            raise RuntimeError("the realtime service is not started")
        return self.hub

    def track(self, conn: Connection) -> None:
        """Own ``conn``: it is closed with 1012 when the service stops."""
        self.connections.add(conn)
        conn.on_close(self.connections.discard)

    # -- subscriptions -------------------------------------------------------------------------

    async def open(
        self,
        conn: Connection,
        client_id: str,
        request: LiveRequest,
        framing: Framing,
        *,
        end: Ending | None = None,
    ) -> Opening:
        """Check and compile a request of any kind; send its first messages with :meth:`Opening.release`
        (:mod:`objectql.realtime.opening`)."""
        return await open_live(self.require_context(), conn, client_id, request, framing, end=end)

    def rescope(self, live: Live, request: LiveRequest, framing: Framing, end: Ending | None = None) -> Live | None:
        """``live`` as its request for a new user may see it (new roles or claims); None when its connection
        closed meanwhile; raises when the new user may not have it (:func:`objectql.realtime.opening.rescope`)."""
        return rescope(self.require_context(), live, request, framing, end)

    def require_context(self) -> LiveContext:
        if self.context is None:
            raise RuntimeError("the realtime service is not started")
        return self.context

    # -- the event path ------------------------------------------------------------------------

    def _on_commit(self, events: list[ChangeEvent]) -> None:
        if self.hub is None:
            return
        self.hub.feed.notify(events)
        # Announce the newest seq; signals are cumulative, so coalescing them loses nothing.
        self._signal = max(self._signal, events[-1].seq)
        self._signal_ready.set()

    async def _announce(self) -> None:
        while True:
            await self._signal_ready.wait()
            self._signal_ready.clear()
            try:
                await self.backend.publish(self.channel, str(self._signal))
            except Exception:
                log.warning("could not announce seq %s on the broker; other processes catch up later", self._signal)
                await asyncio.sleep(0.5)
                self._signal_ready.set()

    async def _listen(self) -> None:
        hub = self.require_hub()
        while True:
            try:
                message = await self.backend.next_message()
            except BackendReconnected:
                # Messages published while away are lost: catch up from the outbox, resync presence.
                hub.feed.mark_behind()
                self.presence.request_sync()
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broker listener failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if message.channel == self.channel:
                with contextlib.suppress(ValueError):
                    hub.feed.signal(int(message.data))
            elif message.channel == self.presence_channel:
                self.presence.receive(message.data)

    # -- presence across processes -------------------------------------------------------------

    def _queue_announcement(self, message: dict[str, Any]) -> None:
        if len(self._announcements) >= PRESENCE_QUEUE:
            self._announcements.clear()
            self._announcements_overflowed = True
        self._announcements.append(message)
        self._announcements_ready.set()

    async def _publish_presence(self) -> None:
        while True:
            await self._announcements_ready.wait()
            self._announcements_ready.clear()
            while self._announcements:
                message = self._announcements.popleft()
                try:
                    await self.backend.publish(self.presence_channel, dumps(message))
                except Exception:
                    log.warning("could not announce presence on the broker; will re-announce")
                    self._announcements_overflowed = True
                    await asyncio.sleep(0.5)
            if self._announcements_overflowed:
                self._announcements_overflowed = False
                self.presence.announce_all()

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.backend.publish(self.presence_channel, dumps(self.presence.heartbeat()))
            self.presence.expire(self.presence_timeout, SYNC_GRACE)
            await asyncio.sleep(self.presence_heartbeat)
