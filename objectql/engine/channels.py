"""Who may join a presence channel: the engine's channel patterns, and record channels.

A channel ``<object>:<id>`` (or ``<object>:<id>:<anything>``) whose first segment names a defined
object is tied to that record: only a user who may read the record joins it, and a missing record is
refused exactly like an invisible one, so joining is no existence oracle. Every channel is also
matched against the patterns of ``presence.yml`` (:mod:`objectql.metadata.channels`); with no file,
everyone allowed in may join (signed-in users; anyone on an open server).
"""

from __future__ import annotations

from objectql.engine.core import ObjectQL
from objectql.engine.permissions import role_matches
from objectql.engine.user import User
from objectql.engine.views import build_view, require_visible
from objectql.errors import Forbidden, NotFound, Unauthenticated
from objectql.metadata.channels import ChannelRules


class ChannelGate:
    def __init__(self, engine: ObjectQL, rules: ChannelRules) -> None:
        self.engine = engine
        self.rules = rules

    async def check_join(self, user: User, channel: str) -> None:
        """Forbidden unless ``user`` may join ``channel`` (a name already checked for its grammar)."""
        if not self._pattern_allows(user, channel):
            raise self._refusal(user, channel)
        record = self.record_of(channel)
        if record is None:
            return
        object_name, record_id = record
        if not record_id:
            raise self._refusal(user, channel)
        try:
            view = build_view(self.engine, object_name, user, fields=["id"], record_id=record_id, live=False)
            await require_visible(self.engine, view)
        except (Forbidden, NotFound, Unauthenticated):
            raise self._refusal(user, channel) from None

    def record_of(self, channel: str) -> tuple[str, str] | None:
        """The (object, record id) a channel is tied to, or None."""
        parts = channel.split(":", 2)
        if len(parts) < 2 or parts[0] not in self.engine.registry:
            return None
        return parts[0], parts[1]

    def _pattern_allows(self, user: User, channel: str) -> bool:
        if not self.rules.declared:
            return self.engine.allow_anonymous or not user.is_anonymous
        rule = self.rules.rule_for(channel)
        return rule is not None and role_matches(rule.join, user)

    def _refusal(self, user: User, channel: str) -> Forbidden:
        if user.is_anonymous and self.engine.sign_in:
            message = f"sign in to join the channel {channel!r}"
        else:
            message = f"you may not join the channel {channel!r}"
        return Forbidden(message, details={"channel": channel})
