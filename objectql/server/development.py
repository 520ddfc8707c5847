"""``objectql serve --dev``: development users, a signing key kept across restarts, and their tokens.

Development users come from ``DIR/dev-users.yml`` when the app has one (a list of ``{sub, roles}``; ``objectql
init`` writes one). Without it there is an ``admin`` holding every role the definitions name — row rules
restrict only the roles they name, so a user holding them all sees every row — and one user per role.

Without a configured JWT key the server signs with a development key kept in ``DIR/.objectql/dev-key``
(created on first use, readable by its owner only; ``objectql init`` git-ignores ``.objectql/``), so tokens
pasted into a client survive a restart; deleting the file revokes them all. Where that file cannot be
written, the key is made for the run. With a configured secret the tokens are signed with it; a public key
cannot sign, and the tokens are replaced by a line saying so.

Tokens are printed when standard output is a terminal. Anywhere else (a log file, a CI job) they are
written to ``DIR/.objectql/dev-tokens`` — or a temporary file when that cannot be written — readable by its
owner only, and only that file's path is printed. They never reach a log record.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from objectql.errors import DefinitionError
from objectql.metadata.loader import yaml_error
from objectql.metadata.registry import Registry
from objectql.server.hosts import url_host
from objectql.server.settings import HMAC_ALGORITHMS, Settings

DEV_USERS_FILE = "dev-users.yml"
STATE_DIR = ".objectql"
KEY_FILE = "dev-key"
TOKENS_FILE = "dev-tokens"
DEV_TOKEN_TTL = 8 * 3600
ADMIN = "admin"
# A kept key shorter than this is not one we wrote: a new one replaces it.
MIN_KEY_LENGTH = 32
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


@dataclass(frozen=True)
class DevUser:
    sub: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class DevKey:
    """The development signing key and the file that keeps it (None: made for this run only, and why)."""

    secret: str
    path: Path | None
    reason: str | None = None


def dev_users(app_dir: Path | None, registry: Registry) -> list[DevUser]:
    """The development users of an app: ``dev-users.yml``, else ``admin`` with every role and one per role.

    ``app_dir`` None (an app serving an engine, without a directory): the users the roles make.
    """
    path = app_dir / DEV_USERS_FILE if app_dir is not None else None
    if path is not None and path.is_file():
        return _read_users(path)
    roles = sorted(named_roles(registry))
    return [DevUser(ADMIN, tuple(roles)), *(DevUser(role, (role,)) for role in roles if role != ADMIN)]


def named_roles(registry: Registry) -> set[str]:
    """Every role the definitions' permissions name (object, field and row level), ``*`` and anonymous aside."""
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
    return roles - {"*", "anonymous"}


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


# -- the key -----------------------------------------------------------------------------------------


def dev_key(app_dir: Path) -> DevKey:
    """The key kept in ``DIR/.objectql/dev-key``, created when missing; a key for this run when it cannot be."""
    path = app_dir / STATE_DIR / KEY_FILE
    try:
        kept = _read_private(path)
        if kept is not None and len(kept) >= MIN_KEY_LENGTH:
            return DevKey(kept, path)
        secret = secrets.token_urlsafe(32)
        _write_private(path, secret + "\n")
        return DevKey(secret, path)
    except OSError as exc:
        return DevKey(secrets.token_urlsafe(32), None, exc.strerror or type(exc).__name__)


def _read_private(path: Path) -> str | None:
    """The text of a file only its owner may read (its mode narrowed if it was wider); None if missing."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        path.chmod(PRIVATE_FILE)
    return path.read_text(encoding="utf-8").strip()


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable and writable by its owner only from the moment it exists."""
    path.parent.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def sign_in_mode(key: DevKey) -> str:
    """The banner's sign-in line when the server signs with a development key."""
    if key.path is None:
        return f"JWT, with a development key for this run only ({STATE_DIR}/ not writable: {key.reason})"
    return f"JWT, with the development key kept in {key.path} (restarts keep tokens valid; delete it to revoke them)"


# -- the tokens --------------------------------------------------------------------------------------


def token_lines(settings: Settings, users: list[DevUser]) -> list[str]:
    """Development tokens, one per user, signed with the configured key, and a signed-in dashboard link.

    A server holding only a public key cannot sign: one line says so instead.
    """
    from objectql.server.auth import Authenticator

    if settings.jwt_secret is None or settings.jwt_algorithm not in HMAC_ALGORITHMS:
        return [
            "Development tokens: none — this server holds a public key, which verifies tokens but cannot sign "
            "them; sign them where the private key lives"
        ]
    authenticator = Authenticator.from_settings(settings)
    http = f"http://{url_host(settings.host)}:{settings.port}"
    tokens = [(user, authenticator.mint(user.sub, list(user.roles), DEV_TOKEN_TTL)) for user in users]
    lines = [f"Development tokens (valid {DEV_TOKEN_TTL // 3600} h; send as Authorization: Bearer <token>):"]
    lines += [f"  {user.sub} ({', '.join(user.roles) or 'no roles'}): {token}" for user, token in tokens]
    if tokens:
        user, token = tokens[0]
        lines.append(f"The dashboard, signed in as {user.sub}: {http}/#token={token}")
    return lines


def deliver_tokens(lines: list[str], app_dir: Path, out: TextIO) -> list[str]:
    """What to print of the token lines on ``out``: the lines on a terminal; elsewhere, where they were written.

    Printed to a log file or a CI job's output, 8-hour tokens would outlive the terminal they were meant
    for: they go to a file only its owner may read instead.
    """
    if len(lines) < 2 or out.isatty():
        return lines
    text = "\n".join(lines) + "\n"
    path = app_dir / STATE_DIR / TOKENS_FILE
    try:
        _write_private(path, text)
    except OSError:
        fd, name = tempfile.mkstemp(prefix="objectql-dev-tokens-", text=True)  # mode 0600
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        path = Path(name)
    return [f"Development tokens: written to {path} (readable by you only; standard output is not a terminal)"]


__all__ = [
    "DEV_TOKEN_TTL",
    "DEV_USERS_FILE",
    "DevKey",
    "DevUser",
    "deliver_tokens",
    "dev_key",
    "dev_users",
    "named_roles",
    "sign_in_mode",
    "token_lines",
]
