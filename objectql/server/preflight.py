"""What ``objectql serve`` makes sure of before it prints anything: its port, and its database.

The listening socket is bound here, first, and handed to uvicorn: a port another process holds is one line
saying so, before a banner could point at someone else's server. The database is then opened once (a
connection and a first read): a path that cannot be opened, a file that is not a database, a server that
does not answer or refuses the credentials is one line too, instead of a traceback from the application's
start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sqlite3

from sqlalchemy import make_url, text

from objectql.engine.database import create_sql_engine, normalise_url
from objectql.server.hosts import url_host
from objectql.server.settings import redact_url

SQLITE_TIMEOUT = 5.0


class CannotStart(Exception):
    """The server cannot start here: the message says why, on one line, for the person starting it."""


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` as uvicorn binds one (``SO_REUSEADDR``, IPv6 for an address with ``:``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise CannotStart(_bind_failure(host, port, exc)) from None
    sock.set_inheritable(True)
    return sock


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    where = f"{url_host(host)}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use by another process (stop it, or choose another --port)"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges; choose another --port)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: {host} is not an address of this machine (see --host)"
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {where}: the host name does not resolve (see --host)"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def check_database(url: str) -> None:
    """Open the database at ``url`` once; :class:`CannotStart` with the driver's reason when it cannot be."""
    driven = normalise_url(url)
    try:
        if driven.startswith("sqlite"):
            _open_sqlite(make_url(driven).database)
        else:
            asyncio.run(_open(driven))
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        detail = redact_url(reason[0]) if reason else type(exc).__name__
        raise CannotStart(f"cannot open the database {redact_url(url)}: {detail}") from None


def _open_sqlite(database: str | None) -> None:
    # The standard library's driver, not the server's: aiosqlite's thread outlives a failed connect and would
    # report to an event loop already closed.
    if not database or database == ":memory:":
        return
    with contextlib.closing(sqlite3.connect(database, timeout=SQLITE_TIMEOUT)) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a file that is not a database fails here


async def _open(url: str) -> None:
    engine = create_sql_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


__all__ = ["CannotStart", "check_database", "listen"]
