"""Who is asking: a user id, roles and the token's other claims."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class User:
    id: str | None
    roles: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", tuple(self.roles))

    @property
    def is_anonymous(self) -> bool:
        return self.id is None

    def claim(self, name: str) -> Any:
        """``$user.<name>`` in row rules: ``id`` is the user id, anything else a token claim."""
        if name == "id":
            return self.id
        if name == "roles":
            return list(self.roles)
        return self.claims.get(name)


ANONYMOUS = User(None, ("anonymous",))
