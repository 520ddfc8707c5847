"""The two timers of a connection, the same on every transport: the deadline to authenticate, and the end
of a token's life.

A token is honoured until ``exp`` + leeway (what :class:`~objectql.realtime.policy.Principal.ends_at` says)
and the connection ends at most :data:`~objectql.realtime.vocabulary.EXPIRY_GRACE` seconds later — never
earlier. A plain-WebSocket client that sends a fresh token moves its expiry; the other transports keep the
token they started with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from objectql.realtime.vocabulary import EXPIRY_GRACE


class ConnectionTimers:
    """A connection's authentication deadline and token expiry; :meth:`cancel` when it is released."""

    __slots__ = ("_deadline", "_expiry")

    def __init__(self) -> None:
        self._deadline: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def set_deadline(self, seconds: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` in ``seconds`` unless :meth:`clear_deadline` comes first (the client authenticated)."""
        self.clear_deadline()
        self._deadline = asyncio.get_running_loop().call_later(seconds, fn)

    def clear_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def set_expiry(self, ends_at: float | None, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the token that ends at ``ends_at`` (a Unix time; None: it does not) has ended, in
        place of any expiry set before."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if ends_at is not None:
            delay = max(ends_at - time.time() + EXPIRY_GRACE, 0.0)
            self._expiry = asyncio.get_running_loop().call_later(delay, fn)

    def cancel(self) -> None:
        self.clear_deadline()
        self.set_expiry(None, lambda: None)


__all__ = ["ConnectionTimers"]
