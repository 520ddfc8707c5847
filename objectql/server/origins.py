"""Which web pages may open a WebSocket or an SSE stream: the ``Origin`` check.

Browsers attach cookies and ambient credentials to cross-site WebSocket handshakes and ``EventSource``
requests, and neither is covered by CORS, so the server checks ``Origin`` itself. An origin is compared as
``(scheme, host, port)`` with default ports filled in, so ``http://a.example:80`` and ``http://a.example``
are the same origin while ``https://a.example`` and ``http://a.example:8080`` are not.

- No ``Origin`` header: allowed. Browsers always send one on these requests, so its absence means a
  non-browser client, which could send any value anyway.
- The server's own origin (``Host`` with the request's scheme): always allowed.
- Any other origin: allowed only when listed in ``allowed_origins``.
- ``null`` (sandboxed frames, ``file://`` pages): refused unless ``null`` itself is listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from objectql.server.settings import SettingError, Settings

NULL_ORIGIN = "null"

# WebSocket requests carry ws/wss as their scheme, but a page's origin is http/https.
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_DEFAULT_PORT = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` as ``(scheme, host, port)``, lower-cased with the default port filled in.

    Returns ``None`` for anything that is not such an origin (a path, credentials, an unknown scheme).
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = _HTTP_SCHEME.get(parts.scheme.lower())
    host = parts.hostname
    if scheme is None or not host or parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, host.lower(), port if port is not None else _DEFAULT_PORT[scheme]


@dataclass(frozen=True)
class OriginPolicy:
    """The allowed origins of WebSocket handshakes and SSE requests; build it with :meth:`from_settings`."""

    allowed: frozenset[Origin] = frozenset()
    allow_null: bool = False

    @classmethod
    def from_origins(cls, origins: Iterable[str]) -> OriginPolicy:
        """A policy allowing ``origins`` (``scheme://host[:port]`` or ``null``) besides the server's own."""
        allowed: set[Origin] = set()
        allow_null = False
        for text in origins:
            if text.strip() == NULL_ORIGIN:
                allow_null = True
                continue
            origin = parse_origin(text)
            if origin is None:
                raise ValueError(f"not an origin: {text!r}")
            allowed.add(origin)
        return cls(frozenset(allowed), allow_null)

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginPolicy:
        """The policy of ``allowed_origins``; unset means the server's own origin only."""
        try:
            return cls.from_origins(settings.allowed_origins)
        except ValueError as exc:
            raise SettingError("allowed_origins", str(exc)) from None

    def allows(self, origin: str | None, *, scheme: str, host_header: str | None) -> bool:
        """Whether a request with this ``Origin`` header may proceed.

        ``scheme`` is the request's own (``http``, ``https``, ``ws`` or ``wss``) and ``host_header`` its
        ``Host``; together they make the server's own origin.
        """
        if origin is None:
            return True
        if origin.strip() == NULL_ORIGIN:
            return self.allow_null
        parsed = parse_origin(origin)
        if parsed is None:
            return False
        if parsed in self.allowed:
            return True
        return host_header is not None and parsed == parse_origin(f"{scheme}://{host_header}")


__all__ = ["NULL_ORIGIN", "OriginPolicy", "parse_origin"]
