"""Who a request or connection speaks for: JWT verification, development tokens, and credential lookup.

:class:`Authenticator` turns a bearer token into an :class:`Identity` (a :class:`~objectql.engine.user.User`
plus the moment a live connection must end). It verifies with the one configured algorithm — HS256/384/512
with ``jwt_secret``, or an RS/ES/PS algorithm with ``jwt_public_key`` or a key of ``jwt_jwks_file`` /
``jwks_url`` chosen by ``kid`` — so a token cannot pick its own algorithm (``alg: none``, or an HMAC token
"signed" with the public key). ``exp`` and ``sub`` are required; ``aud`` and ``iss`` are checked exactly
when configured.

Every refusal is :class:`~objectql.errors.Unauthenticated` with a generic message; ``details["reason"]`` is
``"expired"`` for an expired token (transports answer ``TOKEN_EXPIRED``) and ``"invalid"`` otherwise. Neither
the token nor key material ever reaches a message, a log line or a chained traceback.

With no key configured the server is open: :meth:`Authenticator.authenticate` returns the anonymous identity
whatever it is given.

The ``*_token`` helpers find the credentials each transport carries: an HTTP ``Authorization: Bearer``
header, a GraphQL ``connection_init`` payload, and an SSE request (header, else ``access_token``).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms
from jwt.warnings import InsecureKeyLengthWarning

from objectql.engine.user import ANONYMOUS, User
from objectql.errors import Unauthenticated
from objectql.realtime.transports.credentials import bearer_token, connection_init_token, sse_token
from objectql.server.jwks import JwksError, KeySet, RemoteKeys, fingerprint, parse_jwks
from objectql.server.settings import HMAC_ALGORITHMS, SettingError, Settings

logger = logging.getLogger(__name__)

VERIFIED_TOKENS = 4096


@dataclass(frozen=True)
class Identity:
    """An authenticated (or anonymous) user and when their token stops being valid.

    ``expires_at`` is the token's ``exp`` in epoch seconds, ``None`` for the anonymous identity.
    ``leeway`` is the clock skew the token was checked with; a live connection ends at :attr:`ends_at`.
    """

    user: User
    expires_at: float | None
    leeway: float = 0.0

    @property
    def ends_at(self) -> float | None:
        """Epoch seconds at which a connection using this identity must end: ``exp + leeway``.

        Ending earlier would refuse a token the server still accepts on a new request, so this is the
        earliest moment; ``None`` means never.
        """
        if self.expires_at is None:
            return None
        return self.expires_at + self.leeway

    def ends_in(self, now: float | None = None) -> float | None:
        """Seconds from ``now`` (default: the current time) until :attr:`ends_at`, never negative."""
        if self.ends_at is None:
            return None
        return max(0.0, self.ends_at - (time.time() if now is None else now))


ANONYMOUS_IDENTITY = Identity(ANONYMOUS, None)


@dataclass(frozen=True, repr=False)
class Authenticator:
    """Verifies tokens against the configured key; build it with :meth:`from_settings`.

    ``key`` is the HMAC secret or a loaded public key; ``jwks`` the keys of a JWKS file or URL. At most one is set;
    with neither, authentication is off and every caller is anonymous.
    """

    algorithm: str | None = None
    key: Any = None
    jwks: KeySet | RemoteKeys | None = None
    audience: str | None = None
    issuer: str | None = None
    leeway: float = 10.0
    roles_claim: str = "roles"
    # Tokens already verified, by their text: a client sends the same token with every request. Bounded
    # (the oldest goes first); an entry is only used before its token's exp + leeway, and, for a JWKS key,
    # while the set still holds the key (by its fingerprint) — a key the provider removed stops verifying at
    # the next fetch, for the tokens it verified before as for new ones.
    _verified: dict[str, tuple[Identity, bytes | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The authenticator for ``settings``; a key that cannot be loaded raises :class:`SettingError`."""
        common: dict[str, Any] = {
            "audience": settings.jwt_audience,
            "issuer": settings.jwt_issuer,
            "leeway": float(settings.jwt_leeway),
            "roles_claim": settings.jwt_roles_claim,
        }
        algorithm = settings.jwt_algorithm
        if not settings.auth_enabled or algorithm is None:
            return cls(**common)
        if settings.jwt_secret is not None:
            return cls(algorithm=algorithm, key=_load_secret(settings.jwt_secret, algorithm), **common)
        if settings.jwt_public_key is not None:
            return cls(algorithm=algorithm, key=_load_public_key(settings.jwt_public_key, algorithm), **common)
        if settings.jwks_url is not None:
            return cls(algorithm=algorithm, jwks=RemoteKeys(settings.jwks_url, algorithm), **common)
        assert settings.jwt_jwks_file is not None
        return cls(algorithm=algorithm, jwks=_load_jwks(Path(settings.jwt_jwks_file), algorithm), **common)

    @property
    def enabled(self) -> bool:
        """Whether a key is configured; if not, the server runs open and every caller is anonymous."""
        return self.algorithm is not None and (self.key is not None or self.jwks is not None)

    async def start(self) -> None:
        """Fetch the keys of a JWKS URL (nothing to do for other keys)."""
        if isinstance(self.jwks, RemoteKeys):
            await self.jwks.refresh()

    async def stop(self) -> None:
        """Cancel a JWKS fetch running or due."""
        if isinstance(self.jwks, RemoteKeys):
            await self.jwks.close()

    def keys_pending(self, token: str | None) -> Awaitable[None] | None:
        """What to await before :meth:`authenticate` can judge ``token``: a JWKS fetch when the token names a
        key the URL's set does not hold yet (bounded: see :mod:`objectql.server.jwks`); else None."""
        if not isinstance(self.jwks, RemoteKeys) or not token or token in self._verified:
            return None  # a verified token whose key has gone is refused without a fetch
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except Exception:
            return None  # not a JWT at all: authenticate refuses it
        return self.jwks.pending_for(kid, token)

    def authenticate(self, token: str | None) -> Identity:
        """The identity ``token`` proves; no token (or an open server) gives the anonymous identity.

        Raises :class:`Unauthenticated` for a token that is malformed, signed with another key or
        algorithm, expired (``details["reason"] == "expired"``), or missing ``sub`` / ``exp`` / the
        configured ``aud`` or ``iss``.
        """
        if not self.enabled or not token:
            return ANONYMOUS_IDENTITY
        known = self._verified.get(token)
        if known is not None:
            identity, key_fingerprint = known
            current = self.jwks is None or key_fingerprint is None or self.jwks.holds(key_fingerprint)
            if current and identity.ends_at is not None and time.time() < identity.ends_at:
                return identity
            del self._verified[token]
        try:
            claims, key_fingerprint = self._decode(token)
        except jwt.ExpiredSignatureError:
            logger.debug("token refused: expired")
            raise Unauthenticated("token expired", details={"reason": "expired"}) from None
        except Exception as exc:
            # Whatever fails on an untrusted token makes it invalid. The exception class says why; its
            # message may quote parts of the token, so it stays out of the log.
            logger.debug("token refused: %s", type(exc).__name__)
            raise _invalid() from None
        identity = self._identity(claims)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (identity, key_fingerprint)
        return identity

    def mint(
        self,
        sub: str,
        roles: list[str],
        ttl_seconds: float,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token for ``sub`` with ``roles``, valid for ``ttl_seconds`` (negative: already expired).

        For development and tests: it needs the HMAC secret. With a public key or JWKS file the server
        only holds verification keys, so minting raises :class:`SettingError`; sign with the private key
        where it lives instead. ``extra_claims`` may not override ``sub``, ``exp``, ``iat`` or the roles
        claim; ``aud`` and ``iss`` are added when configured so the token verifies here.
        """
        if self.algorithm is None or self.key is None or self.algorithm not in HMAC_ALGORITHMS:
            if self.enabled:
                message = (
                    "minting a token needs the signing key; this server only holds a public key, so sign "
                    "tokens with the matching private key, or configure OBJECTQL_JWT_SECRET for development"
                )
            else:
                message = "minting a token needs a key: set OBJECTQL_JWT_SECRET"
            raise SettingError("jwt_secret", message)
        if not isinstance(sub, str) or not sub:
            raise ValueError("sub must be a non-empty string")
        now = time.time()
        reserved = {"sub", "exp", "iat", self.roles_claim}
        clash = reserved & set(extra_claims or {})
        if clash:
            raise ValueError(f"extra claims may not set {', '.join(sorted(clash))}")
        claims: dict[str, Any] = dict(extra_claims or {})
        if self.audience is not None:
            claims.setdefault("aud", self.audience)
        if self.issuer is not None:
            claims.setdefault("iss", self.issuer)
        claims.update(sub=sub, iat=int(now), exp=int(now + ttl_seconds), **{self.roles_claim: list(roles)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            return jwt.encode(claims, self.key, algorithm=self.algorithm)

    # -- internals ---------------------------------------------------------------------------------

    def _decode(self, token: str) -> tuple[dict[str, Any], bytes | None]:
        """The token's claims, and the fingerprint of the JWKS key that verified them (None for other keys)."""
        assert self.algorithm is not None
        key = self.key
        key_fingerprint = None
        if self.jwks is not None:
            header = jwt.get_unverified_header(token)
            key = self.jwks.select(header.get("kid"))
            if key is None:
                raise jwt.InvalidKeyError("no key with this kid")
            key_fingerprint = fingerprint(key)
        with warnings.catch_warnings():
            # A short secret is reported once when the authenticator is built, not on every request.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                # Without a configured audience PyJWT would refuse every token carrying an "aud";
                # aud is checked only when an audience is configured.
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
            )
        return claims, key_fingerprint

    def _identity(self, claims: dict[str, Any]) -> Identity:
        sub = claims.get("sub")
        exp = claims.get("exp")
        if not isinstance(sub, str) or not sub:
            logger.debug("token refused: sub is not a non-empty string")
            raise _invalid()
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            logger.debug("token refused: exp is not a number")
            raise _invalid()
        roles = claims.get(self.roles_claim)
        if roles is None:
            roles = []
        elif isinstance(roles, str):
            roles = [roles]
        elif not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            logger.debug("token refused: claim %r is not a list of strings", self.roles_claim)
            raise _invalid()
        others = {name: value for name, value in claims.items() if name != self.roles_claim}
        return Identity(User(sub, tuple(roles), others), float(exp), self.leeway)

    def __repr__(self) -> str:
        # Names the kind of key only: the secret must never reach a log line through repr.
        if self.jwks is not None:
            source = "JWKS"
        elif isinstance(self.key, str):
            source = "secret"
        elif self.key is not None:
            source = "public key"
        else:
            source = "none (open)"
        return f"Authenticator(algorithm={self.algorithm!r}, key={source})"


def _invalid() -> Unauthenticated:
    return Unauthenticated("invalid token", details={"reason": "invalid"})


# -- loading keys ------------------------------------------------------------------------------------


def _load_secret(secret: str, algorithm: str) -> str:
    hmac = get_default_algorithms()[algorithm]
    try:
        prepared = hmac.prepare_key(secret)
    except jwt.InvalidKeyError:
        # PyJWT refuses PEM text as an HMAC secret: it is the key-confusion pattern.
        raise SettingError("jwt_secret", "looks like a PEM key; HMAC needs a shared secret") from None
    weakness = hmac.check_key_length(prepared)
    if weakness:
        logger.warning("setting jwt_secret: %s", weakness)
    return secret


def _load_public_key(pem: str, algorithm: str) -> Any:
    try:
        key = get_default_algorithms()[algorithm].prepare_key(pem)
    except (jwt.InvalidKeyError, ValueError, TypeError):
        raise SettingError("jwt_public_key", f"is not a public key usable with {algorithm}") from None
    if hasattr(key, "public_key"):
        # Only private key objects have public_key(); a private key does not belong on a server.
        raise SettingError("jwt_public_key", "holds a private key; configure the public key only")
    return key


def _load_jwks(path: Path, algorithm: str) -> KeySet:
    try:
        document = json.loads(path.expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SettingError("jwt_jwks_file", f"{path} is not a readable JSON file") from None
    try:
        return parse_jwks(document, algorithm)
    except JwksError as exc:
        raise SettingError("jwt_jwks_file", f"{path} {exc}") from None


# -- finding credentials -----------------------------------------------------------------------------


__all__ = [
    "ANONYMOUS_IDENTITY",
    "Authenticator",
    "Identity",
    "bearer_token",
    "connection_init_token",
    "sse_token",
]
