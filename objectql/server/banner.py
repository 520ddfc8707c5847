"""What ``objectql serve`` tells at start: where everything is, whether it signs people in, and what listening
on every interface exposes. The development tokens ``--dev`` adds come from :mod:`objectql.server.development`.
"""

from __future__ import annotations

from pathlib import Path

from objectql.metadata.registry import Registry
from objectql.server.development import DevKey, sign_in_mode
from objectql.server.hosts import url_host
from objectql.server.settings import Settings, redact_url


def banner(app_dir: Path, settings: Settings, registry: Registry, *, dev_key: DevKey | None = None) -> list[str]:
    """The lines printed before the server starts: the app, the addresses, the sign-in mode, a warning about
    what listening on every interface exposes. ``dev_key``: the development key the server signs with."""
    http = f"http://{url_host(settings.host)}:{settings.port}"
    ws = f"ws://{url_host(settings.host)}:{settings.port}"
    first = next(iter(registry.names()), "<object>")
    if dev_key is not None:
        mode = sign_in_mode(dev_key)
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
