"""Fan-out backends, chosen by URL scheme (``memory://``, ``redis://``, ``postgresql://``)."""

from __future__ import annotations

from objectql.realtime.backends.base import Backend, BackendReconnected, BrokerMessage


def backend_for_url(url: str) -> Backend:
    """The backend for ``url``; drivers are imported only when their scheme is used."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from objectql.realtime.backends.memory import MemoryBackend

        return MemoryBackend(url)
    if scheme in ("redis", "rediss"):
        from objectql.realtime.backends.redis import RedisBackend

        return RedisBackend(url)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        from objectql.realtime.backends.postgres import PostgresBackend

        return PostgresBackend(url)
    raise ValueError(f"unsupported broker URL scheme {scheme!r} (supported: memory://, redis://, postgresql://)")


__all__ = ["Backend", "BackendReconnected", "BrokerMessage", "backend_for_url"]
