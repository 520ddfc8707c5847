"""Who may connect and within which limits: the policy a server hands its realtime transports.

The server owns it (:class:`objectql.server.admission.ServerPolicy` builds one from the settings): it
verifies tokens, checks a browser's ``Origin`` and fixes the per-connection limits. The transports only
ask it; they never learn how tokens are verified or which origins are allowed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from objectql.engine.user import User
from objectql.realtime.vocabulary import MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class Limits:
    """Per-connection limits (docs/settings.md names the settings behind them)."""

    queue_size: int = 1000
    max_subscriptions: int = 100
    auth_timeout: float = 10.0
    max_message_bytes: int = MAX_MESSAGE_BYTES
    messages_per_second: int = 100
    presence_per_second: int = 10
    sse_ping_interval: float = 15.0


class Principal(Protocol):
    """Whom a connection speaks for, and until when."""

    @property
    def user(self) -> User: ...

    @property
    def expires_at(self) -> float | None:
        """The token's ``exp`` (epoch seconds); None when it never expires (anonymous)."""

    @property
    def ends_at(self) -> float | None:
        """When a live connection of this principal must end (``exp`` + leeway)."""


class ConnectionPolicy(Protocol):
    @property
    def auth_required(self) -> bool:
        """True on a server with a key: connections must authenticate; False: every one is anonymous."""

    @property
    def limits(self) -> Limits: ...

    def authenticate(self, token: str | None) -> Principal:
        """The principal of ``token`` (None: anonymous); raises Unauthenticated for a bad or expired one."""

    def keys_pending(self, token: str | None) -> Awaitable[None] | None:
        """What to await before :meth:`authenticate` can judge ``token`` (a fetch of the identity provider's
        keys for a key not seen yet), or None."""

    def origin_allowed(self, origin: str | None, scheme: str, host: str | None) -> bool:
        """Whether a request with this ``Origin`` (its scheme and ``Host``) may open a stream or socket."""


async def authenticate(policy: ConnectionPolicy, token: str | None) -> Principal:
    """``policy.authenticate(token)`` once the keys it needs are there."""
    pending = policy.keys_pending(token)
    if pending is not None:
        await pending
    return policy.authenticate(token)
