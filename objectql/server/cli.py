"""The ``objectql`` command: ``check``, ``init``, ``serve`` and ``token``.

Each subcommand is a ``cmd_<name>(args) -> int`` function registered in :func:`build_parser`; the
``serve`` flags are generated from the settings table, so a setting with a ``flag`` needs no code here.
Exit codes: 0 success, 1 a broken app (definitions or seed data), 2 a usage or settings error, 3 the server
cannot start where it was asked to (its port is taken, its database cannot be opened).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from objectql import __version__
from objectql.engine.permissions import ObjectPolicy
from objectql.engine.summaries import compile_summaries
from objectql.engine.validation import DEFAULT_MAX_TEXT_LENGTH
from objectql.errors import DefinitionError
from objectql.metadata.channels import FILE_NAME as CHANNELS_FILE
from objectql.metadata.channels import ChannelRules, load_channel_rules
from objectql.metadata.registry import Registry
from objectql.server.banner import banner
from objectql.server.development import deliver_tokens, dev_key, dev_users, token_lines
from objectql.server.preflight import CannotStart, check_database, listen
from objectql.server.scaffold import TargetNotEmpty, scaffold
from objectql.server.seed import read_seed, seed_path
from objectql.server.settings import SETTINGS, SettingError, Settings, environ_setting

EXIT_OK = 0
EXIT_BROKEN_APP = 1
EXIT_USAGE = 2
EXIT_CANNOT_START = 3


def load_app(app_dir: Path, *, max_text_length: int = DEFAULT_MAX_TEXT_LENGTH) -> tuple[Registry, int, ChannelRules]:
    """Check an app directory without its database: definitions, row rules and every seed record.

    The seed records go through the engine's own validation (types, required, options, unique values,
    lookup targets, ``max_text_length`` as the server will have it) on a throwaway in-memory database.
    Returns the registry and the number of seed records.
    """
    registry = Registry.from_directory(app_dir)
    if not len(registry):
        raise DefinitionError(str(app_dir), "", "at least one objects/<name>.object.yml file")
    for obj in registry:
        # Row rules are compiled by the engine's policy; compiling them here catches their errors too.
        ObjectPolicy(obj, allow_anonymous=True, registry=registry)
    compile_summaries(registry)  # summary filters are checked against their child objects
    rules = load_channel_rules(app_dir)
    seed_file = seed_path(app_dir)
    records = 0
    if seed_file.is_file():
        read_seed(seed_file, registry)
        records = asyncio.run(_insert_seed(registry, app_dir, max_text_length))
    return registry, records, rules


async def _insert_seed(registry: Registry, app_dir: Path, max_text_length: int) -> int:
    from objectql.engine.core import ObjectQL
    from objectql.server.seed import load_seed

    async with ObjectQL(registry, "sqlite+aiosqlite://", max_text_length=max_text_length) as engine:
        return sum((await load_seed(engine, app_dir)).values())


def cmd_check(args: argparse.Namespace) -> int:
    """Validate an app's definitions and print one line per object."""
    app_dir: Path = args.dir
    try:
        registry, records, rules = load_app(app_dir, max_text_length=environ_setting("max_text_length", os.environ))
    except SettingError as exc:
        print(f"objectql check: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except DefinitionError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_BROKEN_APP
    for obj in registry:
        count = len(obj.declared)
        print(f"{obj.name}: {count} field{'s' if count != 1 else ''}")
    if seed_path(app_dir).is_file():
        print(f"{seed_path(app_dir).name}: {records} record{'s' if records != 1 else ''}")
    if rules.declared:
        print(f"{CHANNELS_FILE}: {len(rules.rules)} channel pattern{'s' if len(rules.rules) != 1 else ''}")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the GraphQL SDL; needs no database and no key."""
    try:
        registry = Registry.from_directory(args.dir)
    except DefinitionError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_BROKEN_APP
    from objectql.schema import build_schema

    print(build_schema(registry).as_str())
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    """Scaffold a sample app into a new or empty directory."""
    target: Path = args.dir
    try:
        written = scaffold(target)
    except TargetNotEmpty as exc:
        print(f"objectql init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(f"created {path}")
    print(f"\nnext: objectql serve {target} --dev")
    return EXIT_OK


# URL scheme → (the module its driver is, the extra that installs it, what it is for).
_DRIVERS = {
    "postgresql": ("asyncpg", "postgres", "the PostgreSQL driver"),
    "redis": ("redis", "redis", "the Redis client"),
}


def missing_driver(settings: Settings) -> str | None:
    """What to install when the database or broker URL needs a driver that is not installed, else None."""
    wanted = [
        ("--db", settings.database_url, "postgresql" if settings.database_url.startswith("postgres") else None),
        ("--broker", settings.broker_url, _broker_kind(settings.broker_url)),
    ]
    for flag, url, kind in wanted:
        if kind is None:
            continue
        module, extra, what = _DRIVERS[kind]
        try:
            importlib.import_module(module)
        except ImportError:
            scheme = url.split("://", 1)[0]
            return f"{flag} {scheme}://… needs {what}, which is not installed: pip install 'objectql[{extra}]'"
    return None


def _broker_kind(url: str) -> str | None:
    scheme = url.split("://", 1)[0].lower()
    if scheme.startswith("postgres"):
        return "postgresql"
    return "redis" if scheme in ("redis", "rediss") else None


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve an app with uvicorn until interrupted.

    Everything that can refuse comes before the banner: settings, drivers, the app, the port and the
    database. Then the banner (and with ``--dev`` the tokens), then uvicorn on the socket bound here.
    """
    app_dir: Path = args.dir
    cli_values = {s.name: getattr(args, s.name) for s in SETTINGS if s.flag}
    try:
        settings = Settings.load(cli_values, os.environ, app_dir=app_dir)
    except SettingError as exc:
        print(f"objectql serve: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    missing = missing_driver(settings)
    if missing is not None:
        print(f"objectql serve: {missing}", file=sys.stderr)
        return EXIT_USAGE
    try:
        registry, _, _ = load_app(app_dir, max_text_length=settings.max_text_length)
        users = dev_users(app_dir, registry) if args.dev else []
    except DefinitionError as exc:
        print(exc.message, file=sys.stderr)
        return EXIT_BROKEN_APP
    key = dev_key(app_dir) if args.dev and not settings.auth_enabled else None
    if key is not None:
        # In the environment, so that --workers processes sign and verify with it too.
        os.environ["OBJECTQL_JWT_SECRET"] = key.secret
        settings = Settings.load(cli_values, os.environ, app_dir=app_dir)
    try:
        from objectql.server.admission import ServerPolicy

        ServerPolicy.from_settings(settings)  # keys and origins that cannot be used: refused here, not later
    except SettingError as exc:
        print(f"objectql serve: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    try:
        listener = listen(settings.host, settings.port)
        check_database(settings.database_url)
    except CannotStart as exc:
        print(f"objectql serve: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    lines = banner(app_dir, settings, registry, dev_key=key)
    if args.dev:
        lines += deliver_tokens(token_lines(settings, users), app_dir, sys.stdout)
    print("\n".join(lines), flush=True)
    return _run_uvicorn(app_dir, settings, cli_values, listener)


def _run_uvicorn(app_dir: Path, settings: Settings, cli_values: dict[str, Any], listener: socket.socket) -> int:
    # Imported here: check and init should not pay for the web stack.
    import uvicorn

    from objectql.server.app import create_app, uvicorn_options
    from objectql.server.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,
        "lifespan": "on",
        **uvicorn_options(settings),
    }
    if settings.workers > 1:
        # Workers are separate processes: they rebuild the app from the environment, and uvicorn's supervisor
        # binds the port again for them (the check above has just found it free).
        from objectql.server.asgi import APP_DIR_ENV

        listener.close()
        os.environ[APP_DIR_ENV] = str(app_dir.resolve())
        for setting in SETTINGS:
            if setting.flag and cli_values.get(setting.name) is not None:
                os.environ[setting.env] = str(cli_values[setting.name])
        os.environ.setdefault("OBJECTQL_DATABASE_URL", settings.database_url)
        uvicorn.run("objectql.server.asgi:app_from_environment", factory=True, workers=settings.workers, **options)
        return EXIT_OK
    server = uvicorn.Server(uvicorn.Config(create_app(app_dir, settings, tune_gc=settings.gc_tuning), **options))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listener])
    return EXIT_OK if server.started else EXIT_CANNOT_START


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``30s``, ``15m``, ``1h``, ``7d`` or plain seconds, as seconds; must be positive."""
    match = _DURATION.fullmatch(text.strip().lower())
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]] if match else 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration like 30s, 15m, 1h or 7d, not {text!r}")
    return seconds


def _parse_claim(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    return name.strip(), value


def cmd_token(args: argparse.Namespace) -> int:
    """Print a development token signed with the configured secret (``OBJECTQL_JWT_SECRET``)."""
    # Imported here: check and init should not pay for PyJWT and cryptography.
    from objectql.server.auth import Authenticator

    roles = [role.strip() for role in (args.roles or "").split(",") if role.strip()]
    try:
        settings = Settings.load({}, os.environ)
        authenticator = Authenticator.from_settings(settings)
        token = authenticator.mint(args.sub, roles, args.ttl, dict(args.claim or []))
    except SettingError as exc:
        print(f"objectql token: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"objectql token: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(token)
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse, saying what is wrong on one line (the usage is a --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="objectql", description="YAML object definitions in, a data API out.")
    parser.add_argument("--version", action="version", version=f"objectql {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate an app's object definitions and seed data")
    check.add_argument("dir", type=Path, metavar="DIR", help="the app directory (holding objects/)")
    check.set_defaults(handler=cmd_check)

    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL) of an app")
    schema.add_argument("dir", type=Path, metavar="DIR", help="the app directory (with objects/)")
    schema.set_defaults(handler=cmd_schema)

    init = commands.add_parser("init", help="scaffold a sample app into a new directory")
    init.add_argument("dir", type=Path, metavar="DIR", help="a new or empty directory")
    init.set_defaults(handler=cmd_init)

    serve = commands.add_parser(
        "serve",
        help="serve an app over HTTP",
        description="Serve an app. Every setting can also come from its OBJECTQL_* environment variable; "
        "see docs/settings.md.",
    )
    serve.add_argument("dir", type=Path, nargs="?", default=Path("."), metavar="DIR", help="the app directory")
    serve.add_argument(
        "--dev",
        action="store_true",
        help="development: print tokens for the app's users (DIR/dev-users.yml, else an admin with every role "
        "and one per role), signed with the configured secret, else with a key kept in DIR/.objectql/dev-key",
    )
    for setting in SETTINGS:
        if setting.flag is None:
            continue
        default = setting.describe_default().replace("`", "")
        serve.add_argument(
            setting.flag,
            dest=setting.name,
            default=None,
            metavar="URL" if setting.name.endswith("_url") else setting.name.upper(),
            help=f"{setting.help} [{setting.env}; default: {default}]",
        )
    serve.set_defaults(handler=cmd_serve)

    token = commands.add_parser(
        "token",
        help="print a development token signed with OBJECTQL_JWT_SECRET",
        description="Mint a token for development and tests, signed with the configured secret "
        "(OBJECTQL_JWT_SECRET; the jwt_* settings apply). Prints only the token.",
    )
    token.add_argument("--sub", required=True, metavar="ID", help="the user id (the token's sub claim)")
    token.add_argument("--roles", default="", metavar="A,B", help="comma-separated roles (default: none)")
    token.add_argument(
        "--ttl",
        type=parse_duration,
        default=3600.0,
        metavar="DURATION",
        help="how long the token is valid: 30s, 15m, 1h, 7d or seconds (default: 1h)",
    )
    token.add_argument(
        "--claim",
        type=_parse_claim,
        action="append",
        metavar="NAME=VALUE",
        help="an extra claim for row rules ($user.NAME), as text; repeatable",
    )
    token.set_defaults(handler=cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``objectql`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
