"""Every way the ``objectql`` command refuses, run as a real process: one line on stderr, no traceback, and
the exit code docs/cli.md gives (1 a broken app, 2 a usage or settings error, 3 a server that cannot start: its
port taken, its database not opened), and for ``serve`` nothing on stdout: no banner before the refusal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from objectql.server.settings import SETTINGS
from tests.conftest import write_objects

GOOD = {"tasks": "fields:\n  title: {type: text, required: true}\n  done: {type: boolean}\n"}


def app(tmp: Path, seed: str | None = None, objects: dict[str, str] | None = None, presence: str | None = None) -> Path:
    directory = write_objects(tmp / "app", objects or GOOD)
    if seed is not None:
        (directory / "seed.yml").write_text(seed, encoding="utf-8")
    if presence is not None:
        (directory / "presence.yml").write_text(presence, encoding="utf-8")
    return directory


def not_a_database(tmp: Path) -> Path:
    path = tmp / "notes.db"
    path.write_text("these are notes, not a database\n" * 100, encoding="utf-8")
    return path


def without(module: str) -> Callable[[Path], dict[str, str]]:
    """An environment in which importing ``module`` fails (a stand-in that raises on import)."""

    def environment(tmp: Path) -> dict[str, str]:
        shadow = tmp / "shadow" / module
        shadow.mkdir(parents=True)
        (shadow / "__init__.py").write_text(f"raise ImportError('{module} is not installed')\n", encoding="utf-8")
        return {"PYTHONPATH": str(tmp / "shadow")}

    return environment


# (name, arguments given the temp dir, extra environment, exit code, words the line must hold)
CASES: list[tuple[str, Callable[[Path], list[str]], Callable[[Path], dict[str, str]] | None, int, str]] = [
    ("check a missing directory", lambda t: ["check", str(t / "nowhere")], None, 1, "objects/"),
    ("check a broken definition", lambda t: ["check", str(app(t, objects={"x": "fields:\n  a: {type: huge}\n"}))],
     None, 1, "fields.a.type"),
    ("check invalid YAML", lambda t: ["check", str(app(t, objects={"x": "fields: {a: [\n"}))], None, 1,
     "valid YAML ("),
    ("check a seed record with a bad value", lambda t: ["check", str(app(t, "tasks:\n  - {title: 7}\n"))],
     None, 1, "tasks[0]"),
    ("check a seed record missing a required field", lambda t: ["check", str(app(t, "tasks:\n  - {done: true}\n"))],
     None, 1, "tasks[0]"),
    ("check a seed file that is not YAML", lambda t: ["check", str(app(t, "tasks: [\n"))], None, 1, "valid YAML ("),
    ("check a presence pattern with a space", lambda t: ["check", str(app(t, presence="channels:\n"
     "  - {pattern: 'a b', join: ['*']}\n"))], None, 1, "presence.yml: channels[0].pattern"),
    ("check a presence rule without roles", lambda t: ["check", str(app(t, presence="channels:\n"
     "  - {pattern: lobby, join: []}\n"))], None, 1, "channels[0].join"),
    ("serve a presence file that is not YAML", lambda t: ["serve", str(app(t, presence="channels: [\n")),
     "--port", "8765"], None, 1, "valid YAML ("),
    ("schema of a broken app", lambda t: ["schema", str(app(t, objects={"x": "fields: 3\n"}))], None, 1, "fields"),
    ("serve a seed record with a bad value", lambda t: ["serve", str(app(t, "tasks:\n  - {title: 7}\n")),
     "--port", "8765"], None, 1, "tasks[0]"),
    ("serve a missing directory", lambda t: ["serve", str(t / "nowhere"), "--port", "8765"], None, 1, "objects/"),
    ("serve a bad port", lambda t: ["serve", str(app(t)), "--port", "abc"], None, 2, "port"),
    ("serve several workers without a broker", lambda t: ["serve", str(app(t)), "--workers", "2"], None, 2,
     "broker"),
    ("serve PostgreSQL without its driver", lambda t: ["serve", str(app(t)), "--db", "postgresql://x@db/app"],
     without("asyncpg"), 2, "objectql[postgres]"),
    ("serve a Redis broker without its client", lambda t: ["serve", str(app(t)), "--broker", "redis://127.0.0.1:1/0"],
     without("redis"), 2, "objectql[redis]"),
    ("serve a PostgreSQL broker without its driver",
     lambda t: ["serve", str(app(t)), "--broker", "postgresql://x@db/app"], without("asyncpg"), 2,
     "objectql[postgres]"),
    ("token without a secret", lambda t: ["token", "--sub", "sam"], None, 2, "OBJECTQL_JWT_SECRET"),
    ("token with a bad lifetime", lambda t: ["token", "--sub", "sam", "--ttl", "soon"], None, 2, "duration"),
    ("an unknown flag", lambda t: ["serve", str(app(t)), "--colour"], None, 2, "unrecognized arguments"),
    ("init into a directory that is not empty", lambda t: ["init", str(app(t))], None, 2, "empty"),
    ("serve a SQLite file in a missing directory", lambda t: ["serve", str(app(t)), "--dev", "--port", free_port(),
     "--db", f"sqlite:///{t}/missing/app.db"], None, 3, "cannot open the database"),
    ("serve a file that is not a database", lambda t: ["serve", str(app(t)), "--port", free_port(), "--db",
     f"sqlite:///{not_a_database(t)}"], None, 3, "file is not a database"),
    ("serve a PostgreSQL server that does not answer", lambda t: ["serve", str(app(t)), "--port", free_port(),
     "--db", "postgresql://app:hunter2@127.0.0.1:1/app"], None, 3, "cannot open the database"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "arguments", "environment", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_refusal_is_one_line_without_a_traceback_and_the_documented_exit_code(
    tmp_path: Path,
    name: str,
    arguments: Callable[[Path], list[str]],
    environment: Callable[[Path], dict[str, str]] | None,
    code: int,
    words: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    if environment is not None:
        env.update(environment(tmp_path))
    argv = arguments(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "objectql.server.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert len(errors) == 1, errors
    assert words in errors[0], errors[0]
    assert "hunter2" not in result.stderr
    if argv[0] == "serve":
        assert result.stdout == ""  # refused before the banner (and any token)


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_a_port_in_use_is_refused_before_the_banner_and_its_tokens(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "objectql.server.cli", "serve", str(app(tmp_path)), "--dev", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""  # no banner pointing at someone else's server, no tokens for it
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "Traceback" not in result.stderr, errors
    assert f"127.0.0.1:{port}" in errors[0] and "in use" in errors[0]
    assert not (tmp_path / "app" / "objectql.db").exists()  # nothing was opened or seeded
