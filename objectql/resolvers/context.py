"""The per-request (or per-connection) context every resolver gets: engine, user, batch loaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from objectql.engine.core import ObjectQL
from objectql.engine.repository import ObjectRepository
from objectql.engine.user import User

MAX_BATCH = 1000


class Row(dict[str, Any]):
    """A record as GraphQL resolves it: attribute access to its fields, None for absent ones."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            # Never pretend to have protocol methods (``__await__`` would make a row look awaitable).
            raise AttributeError(name)
        return self.get(name)


@dataclass
class GraphQLContext:
    engine: ObjectQL
    user: User | None
    loaders: dict[str, DataLoader[str, Row | None]] = field(default_factory=dict)
    # Related lists and counts: one loader per (parent object, related list, arguments) and request.
    related: dict[tuple[str, str, str], DataLoader[str, Any]] = field(default_factory=dict)

    def repo(self, name: str) -> ObjectRepository:
        return self.engine.context(self.user).object(name)

    def loader(self, target: str) -> DataLoader[str, Row | None]:
        """One loader per target object and request: ``<field>_ref`` lookups become one query per batch."""
        loader = self.loaders.get(target)
        if loader is None:

            async def load(ids: Sequence[str]) -> list[Row | None]:
                found: dict[str, Row] = {}
                unique = list(dict.fromkeys(ids))
                for start in range(0, len(unique), MAX_BATCH):
                    chunk = unique[start : start + MAX_BATCH]
                    rows = await self.repo(target).find(filters=[["id", "in", chunk]], limit=MAX_BATCH)
                    found.update((r["id"], Row(r)) for r in rows)
                return [found.get(i) for i in ids]

            loader = DataLoader(load_fn=load)
            self.loaders[target] = loader
        return loader
