"""Where clients put their credentials, per transport (the token itself is checked by the server's
authenticator): HTTP ``Authorization: Bearer``, GraphQL ``connection_init`` payloads, SSE's query string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from objectql.errors import Unauthenticated

# Schemes a token is often sent under by mistake (the server speaks Bearer only).
MISTAKEN_SCHEMES = ("bearer", "token", "jwt")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _strip_bearer(value: str, *, required: bool) -> str | None:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    if required:
        return None
    return value.strip() or None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme matched case-insensitively).

    None when there is none, or when it carries another scheme's credentials (``Basic``, ``Negotiate``: a
    proxy's, not ours). A token sent the wrong way — bare, under ``Token`` or ``JWT``, or an empty
    ``Bearer`` — is not an anonymous request but a mistake: :class:`~objectql.errors.Unauthenticated`.
    """
    value = _header(headers, "authorization")
    if value is None:
        return None
    token = _strip_bearer(value, required=True)
    if token is not None:
        return token
    scheme, _, rest = value.strip().partition(" ")
    if not rest.strip() or scheme.lower() in MISTAKEN_SCHEMES:
        raise Unauthenticated("the Authorization header must be: Bearer <token>", details={"reason": "invalid"})
    return None


def connection_init_token(payload: Any) -> str | None:
    """The token in a GraphQL ``connection_init`` payload, or ``None`` for an anonymous connection.

    Looks for ``authorization`` (any case; the ``Bearer`` prefix optional), then ``token`` (the raw JWT).
    """
    if not isinstance(payload, Mapping):
        return None
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
            return _strip_bearer(value, required=False)
    token = payload.get("token")
    if isinstance(token, str):
        return token.strip() or None
    return None


def sse_token(headers: Mapping[str, str], query_params: Mapping[str, str]) -> str | None:
    """The token of an SSE request: the ``Authorization: Bearer`` header, else ``?access_token=``.

    ``EventSource`` cannot set headers, hence the query parameter; the header wins when both are sent.
    """
    token = bearer_token(headers)
    if token is not None:
        return token
    value = query_params.get("access_token")
    return value.strip() or None if isinstance(value, str) else None
