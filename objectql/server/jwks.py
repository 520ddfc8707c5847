"""Verification keys from a JWKS: a file read at start, or an identity provider's URL kept fresh.

Identity providers publish their signing keys at a JWKS URL and rotate them: a new key appears, tokens
signed with it follow, the old key goes. :class:`RemoteKeys` fetches the URL at start and keeps the keys;
a token naming a ``kid`` it does not hold makes it fetch again — the token waits for that fetch, so the first
token of a new key is accepted — and keys older than :data:`MAX_AGE` are refreshed in the background.
Fetches are bounded: one at a time (concurrent callers share it), at most one per :data:`MIN_INTERVAL`
for unknown kids, so a flood of tokens with made-up kids costs the provider one request per interval.
A failed fetch keeps the keys it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.request
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

log = logging.getLogger("objectql.server")

MIN_INTERVAL = 30.0  # seconds between fetches prompted by unknown kids
MAX_AGE = 300.0  # keys older than this are refreshed in the background
FETCH_TIMEOUT = 5.0
MAX_BYTES = 1 << 20


class JwksError(ValueError):
    """A JWKS document that holds no usable key."""


@dataclass(frozen=True)
class KeySet:
    """Verification keys by ``kid``; keys without one are used only when they are alone."""

    by_kid: Mapping[str, Any]
    unnamed: tuple[Any, ...]

    def select(self, kid: Any) -> Any:
        if isinstance(kid, str) and kid:
            return self.by_kid.get(kid)
        keys = [*self.by_kid.values(), *self.unnamed]
        return keys[0] if kid is None and len(keys) == 1 else None


EMPTY = KeySet({}, ())


def parse_jwks(document: Any, algorithm: str) -> KeySet:
    """The public signing keys of a JWKS document usable with ``algorithm``; JwksError when there are none."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksError('no "keys" list')
    by_kid: dict[str, Any] = {}
    unnamed: list[Any] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", algorithm) != algorithm:
            continue
        try:
            # Binding the configured algorithm makes keys of another type (oct, or EC for RS256) fail here.
            key = jwt.PyJWK(entry, algorithm=algorithm).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        if hasattr(key, "public_key"):
            continue  # a private key does not belong in a JWKS a server reads
        kid = entry.get("kid")
        if isinstance(kid, str) and kid:
            by_kid[kid] = key
        else:
            unnamed.append(key)
    if not by_kid and not unnamed:
        raise JwksError(f"holds no public signing key usable with {algorithm}")
    return KeySet(by_kid, tuple(unnamed))


def _fetch(url: str) -> Any:
    request = urllib.request.Request(url, headers={"accept": "application/json"})
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
        return json.loads(response.read(MAX_BYTES + 1)[:MAX_BYTES])


class RemoteKeys:
    """The keys of a JWKS URL, fetched with caching (see the module's docstring)."""

    def __init__(self, url: str, algorithm: str) -> None:
        self.url = url
        self.algorithm = algorithm
        self.keys = EMPTY
        self.fetches = 0
        self._fetched_at: float | None = None
        self._last_attempt = -MIN_INTERVAL
        self._inflight: asyncio.Task[None] | None = None

    def select(self, kid: Any) -> Any:
        stale = self._fetched_at is not None and time.monotonic() - self._fetched_at > MAX_AGE
        if stale and self._inflight is None:
            # Without a running event loop (a command-line use) the keys held will do.
            with contextlib.suppress(RuntimeError):
                self._start_refresh()
        return self.keys.select(kid)

    def pending_for(self, kid: Any) -> Awaitable[None] | None:
        """What to await before verifying a token naming ``kid`` — a fetch, when the kid is unknown and
        the interval allows one (or one is already running) — else None."""
        if self.keys.select(kid) is not None:
            return None
        if self._inflight is None and time.monotonic() - self._last_attempt < MIN_INTERVAL:
            return None
        return asyncio.shield(self._start_refresh())

    async def refresh(self) -> None:
        """Fetch the keys now (at start); a failure is logged and keeps the keys held."""
        await self._start_refresh()

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._inflight is None:
            self._last_attempt = time.monotonic()
            self._inflight = asyncio.get_running_loop().create_task(self._refresh(), name="objectql jwks refresh")
        return self._inflight

    async def _refresh(self) -> None:
        try:
            self.fetches += 1
            document = await asyncio.to_thread(_fetch, self.url)
            self.keys = parse_jwks(document, self.algorithm)
            self._fetched_at = time.monotonic()
        except (OSError, ValueError) as exc:
            log.warning(
                "JWKS fetch from %s failed (%s); keeping %d key(s)",
                self.url,
                type(exc).__name__,
                len(self.keys.by_kid) + len(self.keys.unnamed),
            )
        finally:
            self._inflight = None


__all__ = ["EMPTY", "JwksError", "KeySet", "RemoteKeys", "parse_jwks"]
