"""``GET /health``: 200 ``{"status": "ok"}`` once the engine is ready and its database answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from objectql.engine.core import ObjectQL
from objectql.errors import ObjectQLError


async def health(request: Request) -> JSONResponse:
    """Readiness for load balancers: 503 while starting or while the database is unreachable."""
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


__all__ = ["health"]
