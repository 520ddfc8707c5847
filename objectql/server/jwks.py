"""Verification keys from a JWKS: a file read at start, or an identity provider's URL kept fresh.

Identity providers publish their signing keys at a JWKS URL and rotate them: a new key appears, tokens
signed with it follow, the old key goes. :class:`RemoteKeys` fetches the URL at start and keeps the keys; keys
older than :data:`MAX_AGE` are refreshed in the background, and a token naming a ``kid`` it does not hold makes
it fetch again. Such a token waits for that fetch, and is judged by what it brings.

Fetches are bounded: one at a time, and at most one per :data:`MIN_INTERVAL` whatever prompts them. A token with
an unknown kid that arrives within the interval is not refused for it: it waits for the fetch due when the
interval ends, with every other token waiting meanwhile. So a flood of made-up kids costs the provider one request
per interval, and cannot starve a real rotation: the first token of a newly published key is accepted, at most
one interval (plus the fetch) late, however many made-up kids come before it. At most :data:`MAX_WAITING` tokens
wait at once; beyond that an unknown kid is refused at once, so a flood holds a bounded number of requests (and
the next fetch still comes within the interval). A failed fetch keeps the keys it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import time
import urllib.request
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

log = logging.getLogger("objectql.server")

MIN_INTERVAL = 5.0  # seconds from one fetch to the next
MAX_WAITING = 1000  # tokens waiting for a fetch at once
MAX_AGE = 300.0  # keys older than this are refreshed in the background
FETCH_TIMEOUT = 5.0
MAX_BYTES = 1 << 20


class JwksError(ValueError):
    """A JWKS document that holds no usable key."""


def fingerprint(key: Any) -> bytes:
    """What identifies a public key whatever object holds it: its SubjectPublicKeyInfo encoding."""
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


@dataclass(frozen=True)
class KeySet:
    """Verification keys by ``kid``; keys without one are used only when they are alone."""

    by_kid: Mapping[str, Any]
    unnamed: tuple[Any, ...]

    @functools.cached_property
    def fingerprints(self) -> frozenset[bytes]:
        return frozenset(fingerprint(key) for key in (*self.by_kid.values(), *self.unnamed))

    def select(self, kid: Any) -> Any:
        if isinstance(kid, str) and kid:
            return self.by_kid.get(kid)
        keys = [*self.by_kid.values(), *self.unnamed]
        return keys[0] if kid is None and len(keys) == 1 else None

    def holds(self, key_fingerprint: bytes) -> bool:
        """Whether the key of ``key_fingerprint`` is in this set."""
        return key_fingerprint in self.fingerprints


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
        self.waiting = 0  # tokens waiting for a fetch now
        # Tokens that waited for the latest fetch to end: judged by its keys, they do not wait again for the
        # next one. Cleared when a fetch ends, so at most MAX_WAITING entries.
        self._judged: set[str] = set()
        self._fetched_at: float | None = None
        self._last_attempt = -math.inf
        # The next fetch, running or due at the end of the interval; owned here, cancelled by close().
        self._fetch: asyncio.Task[None] | None = None

    def select(self, kid: Any) -> Any:
        stale = self._fetched_at is not None and time.monotonic() - self._fetched_at > MAX_AGE
        if stale and self._fetch is None:
            # Without a running event loop (a command-line use) the keys held will do.
            with contextlib.suppress(RuntimeError):
                self._next_fetch()
        return self.keys.select(kid)

    def holds(self, key_fingerprint: bytes) -> bool:
        return self.keys.holds(key_fingerprint)

    def pending_for(self, kid: Any, token: str) -> Awaitable[None] | None:
        """What to await before verifying ``token``, which names ``kid``: the next fetch, when the kid is unknown,
        the token has not waited for the latest one already and fewer than :data:`MAX_WAITING` tokens wait;
        else None (judge it with the keys held)."""
        if self.keys.select(kid) is not None or token in self._judged or self.waiting >= MAX_WAITING:
            return None
        return self._wait(self._next_fetch(), token)

    async def refresh(self) -> None:
        """Fetch the keys (at start: at once); a failure is logged and keeps the keys held."""
        await asyncio.shield(self._next_fetch())

    async def close(self) -> None:
        """Cancel a fetch running or due."""
        if self._fetch is not None:
            self._fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetch

    async def _wait(self, fetch: asyncio.Task[None], token: str) -> None:
        self.waiting += 1
        try:
            # Shielded: a waiter that goes away (a closed request) does not cancel the others' fetch.
            await asyncio.shield(fetch)
            self._judged.add(token)
        finally:
            self.waiting -= 1

    def _next_fetch(self) -> asyncio.Task[None]:
        if self._fetch is None:
            delay = max(0.0, self._last_attempt + MIN_INTERVAL - time.monotonic())
            self._fetch = asyncio.get_running_loop().create_task(self._refresh(delay), name="objectql jwks fetch")
        return self._fetch

    async def _refresh(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            self._last_attempt = time.monotonic()
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
            self._judged.clear()
            self._fetch = None


__all__ = ["EMPTY", "JwksError", "KeySet", "RemoteKeys", "fingerprint", "parse_jwks"]
