"""What ``objectql serve`` tells at start: where everything is, whether it signs people in, and with
``--dev`` a key for this run and ready-made tokens.

Development users come from ``DIR/dev-users.yml`` when the app has one (a list of ``{sub, roles}``), else
one user per role the definitions name. The tokens are printed on the terminal, never logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from objectql.errors import DefinitionError
from objectql.metadata.loader import yaml_error
from objectql.metadata.registry import Registry
from objectql.server.settings import Settings, redact_url

DEV_USERS_FILE = "dev-users.yml"
DEV_TOKEN_TTL = 8 * 3600


@dataclass(frozen=True)
class DevUser:
    sub: str
    roles: tuple[str, ...]


def dev_secret() -> str:
    """A signing key for one run of a development server: tokens die with the process."""
    return secrets.token_urlsafe(32)


def dev_users(app_dir: Path, registry: Registry) -> list[DevUser]:
    """The development users of an app: ``dev-users.yml``, else one per role its permissions name."""
    path = app_dir / DEV_USERS_FILE
    if path.is_file():
        return _read_users(path)
    roles: set[str] = set()
    for obj in registry:
        perms = obj.permissions
        if perms is None:
            continue
        for action in ("read", "create", "update", "delete"):
            roles.update(getattr(perms, action, None) or ())
        for field_roles in perms.fields.values():
            roles.update(field_roles.read or ())
            roles.update(field_roles.update or ())
        for rule in perms.rows:
            roles.update(rule.roles)
    return [DevUser(role, (role,)) for role in sorted(roles - {"*", "anonymous"})]


def _read_users(path: Path) -> list[DevUser]:
    file = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise yaml_error(file, exc) from None
    if not isinstance(raw, list):
        raise DefinitionError(file, "", "a list of users: - {sub: ID, roles: [ROLE, ...]}")
    users = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("sub"), str) or not entry["sub"]:
            raise DefinitionError(file, f"[{i}].sub", "a user id (a non-empty string)")
        roles = entry.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise DefinitionError(file, f"[{i}].roles", "a list of role names")
        users.append(DevUser(entry["sub"], tuple(roles)))
    return users


def banner(app_dir: Path, settings: Settings, registry: Registry, *, dev: bool) -> list[str]:
    """The lines printed before the server starts: the app, the addresses, the sign-in mode."""
    http = f"http://{settings.host}:{settings.port}"
    ws = f"ws://{settings.host}:{settings.port}"
    first = next(iter(registry.names()), "<object>")
    if dev:
        mode = "JWT, with a development key made for this run (restart: new key, new tokens)"
    elif settings.auth_enabled:
        mode = f"JWT ({settings.jwt_algorithm}): clients send a bearer token; without one they are anonymous"
    else:
        mode = "OPEN: no JWT key, every client is anonymous (objectql serve --dev, or set OBJECTQL_JWT_SECRET)"
    lines = [
        f"ObjectQL: {app_dir} — {len(registry)} object(s) on {redact_url(settings.database_url)}",
        f"  dashboard   {http}/",
        f"  playground  {http}/graphql",
        f"  GraphQL     POST {http}/graphql · {ws}/graphql (graphql-transport-ws, graphql-ws)",
        f"  realtime    {ws}/api/realtime · SSE {http}/api/events/{first}",
        f"  sign-in     {mode}",
    ]
    exposed = exposure_warning(settings)
    return lines if exposed is None else [*lines, f"  warning     {exposed}"]


def exposure_warning(settings: Settings) -> str | None:
    """What listening on every interface without a list of host names exposes, or None."""
    if settings.allowed_hosts or settings.trusted_hosts != ("*",):
        return None
    reach = (
        "anyone who can reach this machine can read and write (no JWT key)"
        if not settings.auth_enabled
        else ("the dashboard, the playground and the API are reachable from the network")
    )
    return (
        f"listening on every interface ({settings.host}) and answering any Host name: {reach}, and pages on "
        "other sites can reach it by DNS rebinding. Set OBJECTQL_ALLOWED_HOSTS to the names clients use "
        "(comma-separated, e.g. OBJECTQL_ALLOWED_HOSTS=shop.example.com,*.internal.example)"
    )


def token_lines(settings: Settings, users: list[DevUser]) -> list[str]:
    """Development tokens, one per user, signed with the configured key, and a signed-in dashboard link."""
    from objectql.server.auth import Authenticator

    authenticator = Authenticator.from_settings(settings)
    http = f"http://{settings.host}:{settings.port}"
    lines = [f"Development tokens (valid {DEV_TOKEN_TTL // 3600} h; send as Authorization: Bearer <token>):"]
    first: str | None = None
    for user in users:
        token = authenticator.mint(user.sub, list(user.roles), DEV_TOKEN_TTL)
        first = first or token
        lines += [f"  {user.sub} ({', '.join(user.roles) or 'no roles'}): {token}"]
    if first is not None:
        lines.append(f"The dashboard, signed in as {users[0].sub}: {http}/#token={first}")
    return lines
