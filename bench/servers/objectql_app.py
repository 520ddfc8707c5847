"""The server under test: ``objectql.server.app.create_app`` plus a bench-only write route.

The benchmarks write through ``POST /bench/write`` (a JSON record, created as the system user: the
engine's write path without HTTP GraphQL parsing), and ``GET /bench/stats`` counts the subscriptions the
hub holds (graphql-transport-ws acknowledges no subscription, so a benchmark asks the server). These
routes exist only here, never in the ``objectql`` package.

    python -m bench.servers.objectql_app APP_DIR --db URL --port P [--broker URL] [--workers N]

With ``--workers N`` uvicorn runs N worker processes on the one port, each building the app from the
environment as ``objectql serve --workers N`` does (``bench_app_from_environment``), bench routes included.

Diagnostics only (never in a reported run): ``BENCH_GC_THRESHOLD=N`` sets the cyclic garbage collector's
first-generation threshold to N before serving, to see how much of the fan-out cost is collection.
"""

from __future__ import annotations

import argparse
import gc
import os
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.common.system import HOST, raise_nofile
from objectql.server.app import create_app, uvicorn_options
from objectql.server.asgi import APP_DIR_ENV, app_from_environment
from objectql.server.logs import configure_logging
from objectql.server.settings import Settings

# What each of uvicorn's worker processes imports (``--workers``).
WORKER_APP = "bench.servers.objectql_app:bench_app_from_environment"


async def bench_write(request: Request) -> JSONResponse:
    record = await request.json()
    state = request.app.state
    # Revisions measured beside this one (``--before``) may name the engine ``objectql``.
    engine = state.engine if hasattr(state, "engine") else state.objectql
    created = await engine.object("orders").create(record)
    return JSONResponse({"id": created["id"]}, status_code=201)


async def bench_stats(request: Request) -> JSONResponse:
    hub = request.app.state.realtime.require_hub()
    return JSONResponse({"subscriptions": _count(hub, "subscription_count"), "groups": _count(hub, "group_count")})


def _count(hub: object, name: str) -> int:
    # A property on the hub today; a method would do as well (the realtime package is changing under us).
    value = getattr(hub, name)
    return int(value() if callable(value) else value)


def with_bench_routes(app: Starlette) -> Starlette:
    app.router.routes.insert(0, Route("/bench/write", bench_write, methods=["POST"]))
    app.router.routes.insert(0, Route("/bench/stats", bench_stats, methods=["GET"]))
    return app


def bench_app_from_environment() -> Starlette:
    """A worker's app (``--workers``): the server's own, built from the environment, plus the bench routes."""
    return with_bench_routes(app_from_environment())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers.objectql_app")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broker", help="fan-out backend URL (redis://… or postgresql://…); memory:// if omitted")
    parser.add_argument("--workers", type=int, default=1, help="server processes on the one port")
    args = parser.parse_args()
    raise_nofile()
    threshold = os.environ.get("BENCH_GC_THRESHOLD")
    if threshold:
        gc.set_threshold(int(threshold), *gc.get_threshold()[1:])
    flags = {"database_url": args.db, "port": args.port, "host": HOST}
    if args.broker:
        flags["broker_url"] = args.broker
    settings = Settings.load(flags, os.environ, app_dir=args.dir)
    configure_logging(settings.log_level)
    options: dict[str, Any] = {
        "host": HOST,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,
        "lifespan": "on",
        # One access-log line per write would be measured as fan-out cost; the baseline logs nothing.
        "access_log": False,
        **uvicorn_options(settings),
    }
    if args.workers > 1:
        # As ``objectql serve --workers`` does: each worker builds the app from the environment.
        os.environ[APP_DIR_ENV] = str(args.dir.resolve())
        os.environ["OBJECTQL_DATABASE_URL"] = args.db
        if args.broker:
            os.environ["OBJECTQL_BROKER_URL"] = args.broker
        uvicorn.run(
            "bench.servers.objectql_app:bench_app_from_environment", factory=True, workers=args.workers, **options
        )
    else:
        uvicorn.run(with_bench_routes(create_app(args.dir, settings)), **options)


if __name__ == "__main__":
    main()
