"""Health for load balancers and orchestrators.

``GET /health/live``: 200 while the process serves HTTP at all (a liveness probe: restart it when this fails).
``GET /health/ready`` (and ``GET /health``): 200 ``{"status": "ok"}`` once the engine is started and its
database would take a write; otherwise 503 ``{"status": "unavailable", "reason": ...}`` — while starting and
shutting down, while the database is unreachable, read-only or write-locked by someone else for longer than
``OBJECTQL_READY_TIMEOUT``, and when its SQLite file was deleted or replaced (a readiness probe: route no
traffic here meanwhile).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from objectql.engine.core import ObjectQL
from objectql.errors import ObjectQLError
from objectql.server.settings import SETTINGS_BY_NAME


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    engine: ObjectQL | None = getattr(request.app.state, "engine", None)
    if engine is None:
        return _unavailable("the server is starting")
    if not engine.ready:
        return _unavailable("the server is shutting down")
    settings = getattr(request.app.state, "settings", None)
    timeout_ms = settings.ready_timeout if settings is not None else SETTINGS_BY_NAME["ready_timeout"].default
    try:
        await engine.check_ready(timeout_ms / 1000)
    except ObjectQLError as exc:
        return _unavailable(exc.message)
    return JSONResponse({"status": "ok"})


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)


__all__ = ["live", "ready"]
