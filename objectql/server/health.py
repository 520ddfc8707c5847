"""Health for load balancers and orchestrators.

``GET /health/live``: 200 while the process serves HTTP at all (a liveness probe: restart it when this fails).
``GET /health/ready`` (and ``GET /health``): 200 ``{"status": "ok"}`` once the engine is started and its
database answers, 503 while starting, while the database is unreachable and while shutting down (a readiness
probe: route no traffic here meanwhile).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from objectql.engine.core import ObjectQL
from objectql.errors import ObjectQLError


async def live(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    engine: ObjectQL | None = getattr(request.app.state, "objectql", None)
    if engine is None or not await _database_answers(engine):
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def _database_answers(engine: ObjectQL) -> bool:
    try:
        await engine.current_seq()
    except ObjectQLError:
        return False
    return True


__all__ = ["live", "ready"]
