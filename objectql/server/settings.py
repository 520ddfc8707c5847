"""Server settings: one table that feeds the CLI flags, the validation and ``docs/settings.md``.

Every setting is read from its CLI flag (when it has one), then its ``OBJECTQL_*`` environment variable,
then its default. An environment variable set to the empty string counts as unset. A value that does not
parse raises :class:`SettingError` naming the setting and where the value came from. Secrets are never
shown by ``repr`` (and so never reach a log line); passwords in URLs are masked the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from objectql.engine.database import normalise_url
from objectql.engine.validation import DEFAULT_MAX_TEXT_LENGTH
from objectql.errors import ObjectQLError
from objectql.server.setting_parsers import PARSERS

MEMORY_BROKER = "memory://"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
PUBLIC_KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
DATABASE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg")
BROKER_SCHEMES = ("memory", "redis", "rediss", "postgresql", "postgres", "postgresql+asyncpg")


class SettingError(ObjectQLError):
    """A setting whose value is missing, malformed or inconsistent with another setting."""

    code = "INVALID_SETTING"

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"setting {name}: {message}", details={"setting": name})
        self.name = name


@dataclass(frozen=True)
class Setting:
    """One row of the settings table."""

    name: str
    env: str
    default: Any
    type: type
    help: str
    flag: str | None = None
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    # How the docs describe a default that is computed from other values.
    default_doc: str | None = None

    def describe_default(self) -> str:
        if self.default_doc is not None:
            return self.default_doc
        if self.default is None:
            return "unset"
        if isinstance(self.default, tuple):
            return ",".join(self.default) or "empty"
        return str(self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "database_url",
        "OBJECTQL_DATABASE_URL",
        None,
        str,
        "Database URL: sqlite:///path.db or postgresql://user:pass@host/db.",
        flag="--db",
        default_doc="`sqlite:///DIR/objectql.db` (a SQLite file in the served app directory)",
    ),
    Setting(
        "broker_url",
        "OBJECTQL_BROKER_URL",
        MEMORY_BROKER,
        str,
        "Fan-out backend for events and presence: memory:// (one process), redis://… or postgresql://….",
        flag="--broker",
    ),
    Setting(
        "broker_prefix",
        "OBJECTQL_BROKER_PREFIX",
        None,
        str,
        "Prefix of broker channel names, so deployments sharing a broker do not hear each other.",
        default_doc="derived from the database URL",
    ),
    Setting(
        "jwt_secret",
        "OBJECTQL_JWT_SECRET",
        None,
        str,
        "Shared secret for HMAC-signed tokens (HS256). Setting any JWT key turns authentication on.",
        secret=True,
    ),
    Setting(
        "jwt_public_key",
        "OBJECTQL_JWT_PUBLIC_KEY",
        None,
        str,
        "PEM public key for RS256/ES256 tokens: the PEM text itself, or the path of a PEM file.",
    ),
    Setting(
        "jwt_jwks_file",
        "OBJECTQL_JWT_JWKS_FILE",
        None,
        str,
        "Path of a JWKS file holding the public keys for RS256/ES256 tokens.",
    ),
    Setting(
        "jwks_url",
        "OBJECTQL_JWKS_URL",
        None,
        str,
        "URL of the identity provider's JWKS (http or https): fetched at start, cached, and fetched again "
        "for a token signed with a key it does not hold (at most every 5 s; the token waits for it) or when "
        "5 minutes old. A key the set no longer holds stops verifying tokens.",
    ),
    Setting(
        "jwt_algorithm",
        "OBJECTQL_JWT_ALGORITHM",
        None,
        str,
        "The one algorithm tokens must be signed with.",
        choices=HMAC_ALGORITHMS + PUBLIC_KEY_ALGORITHMS,
        default_doc="HS256 with a secret, RS256 with a public key, JWKS file or JWKS URL",
    ),
    Setting("jwt_audience", "OBJECTQL_JWT_AUDIENCE", None, str, "Required `aud` claim, checked exactly when set."),
    Setting("jwt_issuer", "OBJECTQL_JWT_ISSUER", None, str, "Required `iss` claim, checked exactly when set."),
    Setting(
        "jwt_leeway",
        "OBJECTQL_JWT_LEEWAY",
        10,
        int,
        "Seconds of clock skew allowed when checking `exp`.",
        minimum=0,
        maximum=3600,
    ),
    Setting("jwt_roles_claim", "OBJECTQL_JWT_ROLES_CLAIM", "roles", str, "The token claim holding the roles."),
    Setting(
        "allowed_origins",
        "OBJECTQL_ALLOWED_ORIGINS",
        (),
        tuple,
        "Comma-separated origins (scheme://host[:port], or null) allowed to open WebSockets and SSE "
        "streams besides the server's own.",
        flag="--allowed-origins",
        default_doc="same-origin only",
    ),
    Setting(
        "allowed_hosts",
        "OBJECTQL_ALLOWED_HOSTS",
        (),
        tuple,
        "Comma-separated host names the server answers to (the Host header; *.example.com patterns, * for "
        "any); anything else is refused, which defeats DNS rebinding.",
        default_doc="the listening host and localhost, 127.0.0.1 and ::1; any when listening on every interface",
    ),
    Setting(
        "outbox_retention",
        "OBJECTQL_OUTBOX_RETENTION",
        86400,
        int,
        "Seconds change events stay in the outbox for resume and replay.",
        minimum=1,
        maximum=30 * 86400,
    ),
    Setting(
        "header_timeout",
        "OBJECTQL_HEADER_TIMEOUT",
        10,
        int,
        "Seconds a connection has to send a request's head (request line and headers) under `objectql serve`; "
        "one that has not finished by then is closed.",
        minimum=1,
        maximum=300,
    ),
    Setting(
        "max_body_bytes",
        "OBJECTQL_MAX_BODY_BYTES",
        1024 * 1024,
        int,
        "Largest HTTP request body in bytes (POST /graphql and every other route): a larger one is answered 413 "
        "before it is read further.",
        minimum=1024,
        maximum=1024 * 1024 * 1024,
    ),
    Setting(
        "max_text_length",
        "OBJECTQL_MAX_TEXT_LENGTH",
        DEFAULT_MAX_TEXT_LENGTH,
        int,
        "Characters a text-like field without `max_length` takes (text, textarea, email, url, phone), and a JSON "
        "value's serialised text; a longer value is a VALIDATION_ERROR naming the field.",
        minimum=1,
        maximum=16 * 1024 * 1024,
    ),
    Setting(
        "outbox_prune_batch",
        "OBJECTQL_OUTBOX_PRUNE_BATCH",
        1000,
        int,
        "Change events the outbox pruner deletes per write transaction; other writes take their turn between "
        "batches, so pruning never holds the database's writer long.",
        minimum=1,
        maximum=100_000,
    ),
    Setting(
        "ready_timeout",
        "OBJECTQL_READY_TIMEOUT",
        1000,
        int,
        "Milliseconds `GET /health/ready` waits for the database to take a write (SQLite: the write lock; "
        "PostgreSQL: an answer) before answering 503.",
        minimum=1,
        maximum=60_000,
    ),
    Setting(
        "ws_queue",
        "OBJECTQL_WS_QUEUE",
        1000,
        int,
        "Outgoing messages queued per connection before it is closed as a slow consumer (1013).",
        minimum=1,
        maximum=100_000,
    ),
    Setting(
        "ws_compression",
        "OBJECTQL_WS_COMPRESSION",
        False,
        bool,
        "Negotiate permessage-deflate with WebSocket clients that offer it (no context takeover, 4 KiB window). "
        "Off by default: change messages are small JSON, and compressing costs CPU per message.",
    ),
    Setting(
        "ws_max_subscriptions",
        "OBJECTQL_WS_MAX_SUBSCRIPTIONS",
        100,
        int,
        "Active subscriptions allowed per connection.",
        minimum=1,
        maximum=10_000,
    ),
    Setting(
        "presence_heartbeat",
        "OBJECTQL_PRESENCE_HEARTBEAT",
        10,
        int,
        "Seconds between a process's presence heartbeats on the broker.",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "presence_timeout",
        "OBJECTQL_PRESENCE_TIMEOUT",
        30,
        int,
        "Seconds of silence after which another process's presence members leave (a crashed process).",
        minimum=2,
        maximum=86400,
    ),
    Setting(
        "graphql_introspection",
        "OBJECTQL_GRAPHQL_INTROSPECTION",
        True,
        bool,
        "Answer GraphQL introspection queries (the playground needs them).",
    ),
    Setting(
        "graphql_suggestions",
        "OBJECTQL_GRAPHQL_SUGGESTIONS",
        True,
        bool,
        'Add "Did you mean ...?" field suggestions to GraphQL validation errors.',
    ),
    Setting(
        "graphql_max_cost",
        "OBJECTQL_GRAPHQL_MAX_COST",
        100_000,
        int,
        "The most a GraphQL document may cost: each selected field counts 1, times the size of every list "
        "around it (its limit or first, else the default page of 100; 1000 for a list nothing pages). A "
        "document over it is refused before it runs (QUERY_TOO_COMPLEX).",
        minimum=1,
        maximum=100_000_000,
    ),
    Setting(
        "gc_tuning",
        "OBJECTQL_GC_TUNING",
        True,
        bool,
        "Under `objectql serve`, tune the process's garbage collector (higher thresholds, start-up objects "
        "frozen); an embedded app never touches it.",
    ),
    Setting("host", "OBJECTQL_HOST", "127.0.0.1", str, "Interface to listen on.", flag="--host"),
    Setting("port", "OBJECTQL_PORT", 8000, int, "TCP port to listen on.", flag="--port", minimum=1, maximum=65535),
    Setting(
        "workers",
        "OBJECTQL_WORKERS",
        1,
        int,
        "Server processes. More than one needs a shared broker.",
        flag="--workers",
        minimum=1,
        maximum=256,
    ),
    Setting(
        "playground_dir",
        "OBJECTQL_PLAYGROUND_DIR",
        None,
        str,
        "Directory of the built GraphiQL playground bundle served at GET /graphql (see docs/playground.md).",
        default_doc="`objectql/server/playground_bundle` (in wheels; `make playground` in a source tree)",
    ),
    Setting(
        "aggregate_interval",
        "OBJECTQL_AGGREGATE_INTERVAL",
        100,
        int,
        "Milliseconds between two messages of one live aggregate (changes in between are coalesced; the "
        "latest value always arrives).",
        minimum=0,
        maximum=60_000,
    ),
    Setting(
        "aggregate_max_groups",
        "OBJECTQL_AGGREGATE_MAX_GROUPS",
        1000,
        int,
        "Most groups one aggregate may have (query or live); more is TOO_MANY_GROUPS, and a live aggregate "
        "that grows past it ends.",
        minimum=1,
        maximum=100_000,
    ),
    Setting(
        "window_rows",
        "OBJECTQL_WINDOW_ROWS",
        10_000,
        int,
        "Most rows the live windows of one connection may hold together (the sum of their limits; the server "
        "keeps up to twice that, the rows beyond each window); a window past that is refused with TOO_MANY_ROWS.",
        minimum=1,
        maximum=10_000_000,
    ),
    Setting(
        "log_level",
        "OBJECTQL_LOG_LEVEL",
        "info",
        str,
        "Log level.",
        flag="--log-level",
        choices=LOG_LEVELS,
    ),
    Setting(
        "log_format",
        "OBJECTQL_LOG_FORMAT",
        "text",
        str,
        "Log line format: text (for people) or json (one JSON object per line, for log collectors).",
        flag="--log-format",
        choices=("text", "json"),
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, repr=False)
class Settings:
    """Resolved, validated settings. Build with :meth:`Settings.load`."""

    database_url: str
    broker_url: str
    broker_prefix: str
    jwt_secret: str | None
    jwt_public_key: str | None
    jwt_jwks_file: str | None
    jwks_url: str | None
    jwt_algorithm: str | None
    jwt_audience: str | None
    jwt_issuer: str | None
    jwt_leeway: int
    jwt_roles_claim: str
    allowed_origins: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    outbox_retention: int
    header_timeout: int
    max_body_bytes: int
    max_text_length: int
    outbox_prune_batch: int
    ready_timeout: int
    ws_queue: int
    ws_compression: bool
    ws_max_subscriptions: int
    presence_heartbeat: int
    presence_timeout: int
    graphql_introspection: bool
    graphql_suggestions: bool
    graphql_max_cost: int
    gc_tuning: bool
    host: str
    port: int
    workers: int
    playground_dir: str | None
    aggregate_interval: int
    aggregate_max_groups: int
    window_rows: int
    log_level: str
    log_format: str

    @classmethod
    def load(
        cls,
        cli_values: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        app_dir: Path | None = None,
    ) -> Settings:
        """Resolve every setting: CLI value (not None), then environment, then default.

        ``app_dir`` is the served app directory; the default database is a SQLite file inside it.
        """
        cli_values = cli_values or {}
        environ = environ or {}
        unknown = set(cli_values) - set(SETTINGS_BY_NAME)
        if unknown:
            raise SettingError(sorted(unknown)[0], "is not a setting")
        values = {setting.name: _resolve(setting, cli_values.get(setting.name), environ) for setting in SETTINGS}
        _derive(values, app_dir or Path("."))
        _check(values)
        return cls(**values)

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """The Host names answered: ``allowed_hosts``, else the listening host and the loopback names."""
        if self.allowed_hosts:
            return self.allowed_hosts
        if self.host in ("0.0.0.0", "::", ""):
            return ("*",)  # every interface: the names it is reached by are not known here
        return tuple(dict.fromkeys((self.host.strip("[]"), *LOOPBACK_NAMES)))

    @property
    def auth_enabled(self) -> bool:
        """Whether a JWT key is configured; without one the server runs open (every user anonymous)."""
        return bool(self.jwt_secret or self.jwt_public_key or self.jwt_jwks_file or self.jwks_url)

    def display(self) -> dict[str, str]:
        """Every setting as it may be shown: secrets hidden, URL passwords masked."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and SETTINGS_BY_NAME[f.name].secret:
                out[f.name] = "***"
            elif isinstance(value, tuple):
                out[f.name] = ",".join(value)
            elif isinstance(value, str) and value.startswith("-----BEGIN"):
                out[f.name] = "<PEM>"
            elif isinstance(value, str):
                out[f.name] = redact_url(value)
            else:
                out[f.name] = repr(value)
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.display().items())
        return f"Settings({inner})"

    __str__ = __repr__


def environ_setting(name: str, environ: Mapping[str, str]) -> Any:
    """One setting from ``environ``, else its default, parsed and bounded as :meth:`Settings.load` does it: for a
    command that needs one value rather than a server's settings (``objectql check``)."""
    return _resolve(SETTINGS_BY_NAME[name], None, environ)


_URL_PASSWORD = re.compile(r"(://[^/:@]*:)[^/@]*@")


def redact_url(value: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://user:***@host``; other text unchanged."""
    return _URL_PASSWORD.sub(r"\1***@", value)


def broker_prefix_for(database_url: str) -> str:
    """A stable prefix per database: processes sharing a database share a prefix, others do not.

    The URL is hashed without its password, so rotating a password does not split a deployment.
    """
    url = normalise_url(database_url)
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0] if "@" in parts.netloc else ""
    identity = f"{parts.scheme}://{user}@{netloc}{parts.path}"
    return "objectql:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:12]


def markdown_table() -> str:
    """The settings table as Markdown, the body of ``docs/settings.md``."""
    lines = [
        "| Setting | Environment variable | CLI flag | Default | Description |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        flag = f"`{s.flag}`" if s.flag else ""
        default = s.describe_default()
        if s.default_doc is None and default != "unset":
            default = f"`{default}`"
        extra = f" One of: {', '.join(s.choices)}." if s.choices else ""
        if s.minimum is not None and s.maximum is not None:
            extra += f" From {s.minimum:,} to {s.maximum:,}."
        lines.append(f"| `{s.name}` | `{s.env}` | {flag} | {default} | {s.help}{extra} |")
    return "\n".join(lines) + "\n"


# -- parsing ---------------------------------------------------------------------------------------


def _resolve(setting: Setting, cli: Any, environ: Mapping[str, str]) -> Any:
    env = environ.get(setting.env)
    if cli is not None:
        return _parse(setting, cli, f"flag {setting.flag or setting.name}")
    if env:
        return _parse(setting, env, f"environment variable {setting.env}")
    return setting.default


def _parse(setting: Setting, raw: Any, source: str) -> Any:
    parser = PARSERS[setting.type]
    try:
        value = parser(raw)
    except ValueError as exc:
        raise SettingError(setting.name, f"{exc} (from {source})") from None
    if setting.minimum is not None and value < setting.minimum:
        raise SettingError(setting.name, f"must be at least {setting.minimum}, not {value} (from {source})")
    if setting.maximum is not None and value > setting.maximum:
        raise SettingError(setting.name, f"must be at most {setting.maximum}, not {value} (from {source})")
    if setting.choices:
        if setting.name == "log_level":
            value = value.lower()
        if value not in setting.choices:
            raise SettingError(
                setting.name, f"must be one of {', '.join(setting.choices)}, not {value!r} (from {source})"
            )
    return value


# -- derived defaults and cross-checks -------------------------------------------------------------


def _derive(values: dict[str, Any], app_dir: Path) -> None:
    if values["database_url"] is None:
        values["database_url"] = f"sqlite:///{(app_dir / 'objectql.db').resolve()}"
    if values["broker_prefix"] is None:
        values["broker_prefix"] = broker_prefix_for(values["database_url"])
    if values["jwt_public_key"] is not None:
        values["jwt_public_key"] = _read_public_key(values["jwt_public_key"])
    if values["jwt_algorithm"] is None:
        if values["jwt_secret"] is not None:
            values["jwt_algorithm"] = "HS256"
        elif any(values[k] is not None for k in ("jwt_public_key", "jwt_jwks_file", "jwks_url")):
            values["jwt_algorithm"] = "RS256"


def _read_public_key(value: str) -> str:
    """The PEM text, given inline or as a file path; normalised to end with one newline."""
    if value.startswith("-----BEGIN"):
        # Environment variables often carry a PEM on one line with literal \n separators.
        text = value.replace("\\n", "\n") if "\n" not in value else value
    else:
        try:
            text = Path(value).expanduser().read_text(encoding="utf-8")
        except OSError:
            raise SettingError("jwt_public_key", f"neither PEM text nor a readable file: {value}") from None
        if not text.lstrip().startswith("-----BEGIN"):
            raise SettingError("jwt_public_key", f"{value} does not hold a PEM public key")
    return text.strip() + "\n"


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _check(values: dict[str, Any]) -> None:
    if _scheme(values["database_url"]) not in DATABASE_SCHEMES:
        raise SettingError(
            "database_url",
            f"expected a sqlite:/// or postgresql:// URL, not {redact_url(values['database_url'])!r}",
        )
    if _scheme(values["broker_url"]) not in BROKER_SCHEMES:
        raise SettingError(
            "broker_url",
            f"expected memory://, redis:// or postgresql://, not {redact_url(values['broker_url'])!r}",
        )
    for origin in values["allowed_origins"]:
        if origin == "null":
            # The literal origin of sandboxed frames and file:// pages; listing it is a deliberate choice.
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
            raise SettingError("allowed_origins", f"expected scheme://host[:port] origins, not {origin!r}")
    if values["workers"] > 1 and values["broker_url"] == MEMORY_BROKER:
        raise SettingError(
            "workers",
            f"{values['workers']} workers need a shared broker (redis:// or postgresql://); "
            "memory:// only reaches subscribers in its own process",
        )
    _check_jwt(values)


def _check_jwt(values: dict[str, Any]) -> None:
    secret = values["jwt_secret"]
    public = values["jwt_public_key"] or values["jwt_jwks_file"] or values["jwks_url"]
    algorithm = values["jwt_algorithm"]
    if secret is not None and public is not None:
        raise SettingError("jwt_secret", "configure either a secret or a public key / JWKS, not both")
    keys = [k for k in ("jwt_public_key", "jwt_jwks_file", "jwks_url") if values[k] is not None]
    if len(keys) > 1:
        raise SettingError(keys[0], "configure one of a public key, a JWKS file and a JWKS URL")
    url = values["jwks_url"]
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise SettingError("jwks_url", f"an http:// or https:// URL, not {url!r}")
    if values["jwt_jwks_file"] is not None and not Path(values["jwt_jwks_file"]).expanduser().is_file():
        raise SettingError("jwt_jwks_file", f"no such file: {values['jwt_jwks_file']}")
    if algorithm is None:
        return
    if secret is None and public is None:
        raise SettingError("jwt_algorithm", f"{algorithm} is set but no JWT key is configured")
    if secret is not None and algorithm not in HMAC_ALGORITHMS:
        raise SettingError("jwt_algorithm", f"{algorithm} needs a public key; a secret signs HS256/384/512 only")
    if public is not None and algorithm not in PUBLIC_KEY_ALGORITHMS:
        raise SettingError("jwt_algorithm", f"{algorithm} needs a secret; a public key verifies RS/ES/PS only")


__all__ = [
    "SETTINGS",
    "Setting",
    "SettingError",
    "Settings",
    "broker_prefix_for",
    "environ_setting",
    "markdown_table",
    "redact_url",
]


if __name__ == "__main__":
    # Regenerates the table in docs/settings.md.
    print(markdown_table(), end="")
