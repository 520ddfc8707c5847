"""Which host names the server answers to: the ``Host`` check that defeats DNS rebinding.

A page on ``attacker.example`` whose name is made to resolve to this machine reaches the server with
``Host: attacker.example``; only the names in ``allowed_hosts`` (by default the listening host and the
loopback names) get through, anything else is answered 400 before it reaches a route, on HTTP and on
WebSocket handshakes alike.

A ``Host`` header is ``name[:port]``, where an IPv6 literal is bracketed (``[::1]:8000``, RFC 3986); names
and patterns are compared lower-cased and without brackets, so ``::1``, ``[::1]`` and ``[::1]:8000`` are
the same host. A pattern ``*.example.com`` matches every name under ``example.com`` (not ``example.com``
itself), and ``*`` matches any name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from objectql.server.settings import SettingError, Settings

ANY_HOST = "*"
REFUSED = "Invalid host header"


def host_name(header: str | None) -> str | None:
    """The host a ``Host`` header names, lower-cased, without its port or an IPv6 literal's brackets.

    None for a missing or malformed header (an unclosed bracket, a bracketed text that is not an IPv6
    address, a port that is not a number).
    """
    if not header:
        return None
    value = header.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket:
            return None
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return name or None


def url_host(host: str) -> str:
    """``host`` as it goes in a URL: an IPv6 literal in brackets (``[::1]``), anything else as it is."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else host


def _pattern(text: str) -> str:
    return text.strip().lower().removeprefix("[").removesuffix("]")


@dataclass(frozen=True)
class HostPolicy:
    """The host names answered; build it with :meth:`from_settings`."""

    names: frozenset[str]
    suffixes: tuple[str, ...] = ()
    any_host: bool = False

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> HostPolicy:
        """Names, ``*.domain`` patterns and ``*``; a ``*`` anywhere else is a :class:`SettingError`."""
        names: set[str] = set()
        suffixes: list[str] = []
        for text in patterns:
            pattern = _pattern(text)
            if pattern == ANY_HOST:
                return cls(frozenset(), (), any_host=True)
            if pattern.startswith("*.") and "*" not in pattern[1:] and len(pattern) > 2:
                suffixes.append(pattern[1:])
            elif "*" in pattern or not pattern:
                raise SettingError("allowed_hosts", f"expected a host name, *.domain or *, not {text!r}")
            else:
                names.add(pattern)
        return cls(frozenset(names), tuple(suffixes))

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPolicy:
        """The policy of ``allowed_hosts`` (by default the listening host and the loopback names)."""
        return cls.from_patterns(settings.trusted_hosts)

    def allows(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header may proceed."""
        if self.any_host:
            return True
        name = host_name(header)
        if name is None:
            return False
        return name in self.names or any(name.endswith(suffix) for suffix in self.suffixes)


class HostCheckMiddleware:
    """Refuses (400) HTTP requests and WebSocket handshakes whose ``Host`` the policy does not allow."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.policy.any_host:
            header = next((v for k, v in scope["headers"] if k == b"host"), None)
            if not self.policy.allows(header.decode("latin-1") if header is not None else None):
                await PlainTextResponse(REFUSED, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = ["HostCheckMiddleware", "HostPolicy", "host_name", "url_host"]
