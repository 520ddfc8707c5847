"""The server's connection policy: its authenticator, its origin rule and the per-connection limits.

Every realtime transport asks this one object whether a token is good, whether a browser's ``Origin``
may connect, and what a connection may do; it is built once from the settings.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

from objectql.realtime.policy import Limits
from objectql.server.auth import Authenticator, Identity
from objectql.server.origins import OriginPolicy
from objectql.server.settings import Settings


@dataclass(frozen=True)
class ServerPolicy:
    authenticator: Authenticator
    origins: OriginPolicy
    limits: Limits

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerPolicy:
        """The policy of ``settings``; a key or origin that cannot be used raises ``SettingError``."""
        return cls(
            Authenticator.from_settings(settings),
            OriginPolicy.from_settings(settings),
            Limits(queue_size=settings.ws_queue, max_subscriptions=settings.ws_max_subscriptions),
        )

    @property
    def auth_required(self) -> bool:
        return self.authenticator.enabled

    def authenticate(self, token: str | None) -> Identity:
        return self.authenticator.authenticate(token)

    def keys_pending(self, token: str | None) -> Awaitable[None] | None:
        return self.authenticator.keys_pending(token)

    def origin_allowed(self, origin: str | None, scheme: str, host: str | None) -> bool:
        return self.origins.allows(origin, scheme=scheme, host_header=host)
