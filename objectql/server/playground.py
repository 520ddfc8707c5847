"""The GraphiQL playground at ``GET /graphql``, served from a bundle built at set-up, so it works offline.

``playground/`` in the source tree pins GraphiQL, React, graphql-ws and esbuild in ``package-lock.json``
(installed with ``npm ci``, integrity-checked) and bundles them into ``objectql/server/playground_bundle/``
(package data, so an installed wheel carries it): one JS file, one
CSS file (fonts inlined) and ``manifest.json`` naming them. ``make serve`` and ``make test`` build it;
``make playground`` builds it alone. This module serves that directory at ``/graphql/assets`` and, for a
browser asking for ``/graphql``, a page loading it. The page names no other origin: its Content-Security-Policy
lets it load and connect to its own origin only.

A request is a playground request when it is an HTTP ``GET`` or ``HEAD`` whose ``Accept`` names ``text/html``
and which has no ``query`` parameter; everything else at ``/graphql`` (``POST``, ``GET ?query=``, JSON
clients, WebSockets) is the GraphQL endpoint's. The page route only *matches* playground requests, so
mounted before the GraphQL route it takes browsers and lets the rest fall through to it.

Without a built bundle the page is a plain-text explanation of how to build it (status 503), not an error.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from pathlib import Path

import anyio
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from objectql.errors import DefinitionError
from objectql.metadata.registry import Registry
from objectql.server.development import DevUser, dev_users
from objectql.server.playground_example import GENERIC, example_document

log = logging.getLogger("objectql.server")

PAGE_PATH = "/graphql"
ASSETS_PATH = "/graphql/assets"
MANIFEST = "manifest.json"
# Next to this module: where `make playground` (and a package build) writes the bundle.
DEFAULT_DIST_DIR = Path(__file__).resolve().parent / "playground_bundle"
# Bundle file names carry a content hash, so they may be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

NOT_BUILT = """\
The GraphQL playground (GraphiQL) is not built on this server.

Its assets are installed from the pinned, integrity-checked playground/package-lock.json and bundled
into objectql/server/playground_bundle/ so the playground works without internet access. A wheel or sdist
of objectql carries them; in a source tree, build them:

    make playground

(which runs: cd playground && npm ci && npm run build; `make serve` and `make test` do it too),
then reload this page. To serve a bundle built elsewhere, point OBJECTQL_PLAYGROUND_DIR at its directory.

The GraphQL API itself does not need the playground: POST /graphql, GET /graphql?query=...
and WebSocket /graphql (graphql-transport-ws, graphql-ws) work as usual.
"""

PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ObjectQL · GraphQL playground</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<script src="{js}" defer></script>
</head>
<body>
<div id="graphiql" data-endpoint="{endpoint}" data-example="{example}">Loading the GraphQL playground…</div>
<noscript>The GraphQL playground needs JavaScript.</noscript>
</body>
</html>
"""


def is_playground_request(request: HTTPConnection) -> bool:
    """Whether ``request`` is a browser asking for the playground page rather than a GraphQL operation.

    True for an HTTP ``GET``/``HEAD`` whose ``Accept`` header contains ``text/html`` and that has no
    ``query`` parameter (``GET /graphql?query=…`` is an operation, whatever it accepts).
    """
    if request.scope["type"] != "http" or request.scope["method"] not in ("GET", "HEAD"):
        return False
    if "query" in request.query_params:
        return False
    return "text/html" in request.headers.get("accept", "").lower()


def read_manifest(dist_dir: Path) -> dict[str, str] | None:
    """``{"js": file, "css": file}`` of a built bundle in ``dist_dir``; None when it is missing or incomplete."""
    try:
        raw = json.loads((dist_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    manifest: dict[str, str] = {}
    for kind in ("js", "css"):
        name = raw.get(kind)
        if not isinstance(name, str) or not _ASSET_NAME.match(name) or not (dist_dir / name).is_file():
            return None
        manifest[kind] = name
    return manifest


class PlaygroundPage:
    """The endpoint of ``GET /graphql`` for browsers: the page, or how to build it when it is missing."""

    def __init__(self, dist_dir: Path, app_dir: Path | None = None) -> None:
        self.dist_dir = dist_dir
        self.app_dir = app_dir
        self._warned = False

    async def render(self, request: Request) -> Response:
        """The page for ``request`` (a playground request)."""
        manifest = await anyio.to_thread.run_sync(read_manifest, self.dist_dir)
        root = request.scope.get("root_path", "")
        if manifest is None:
            if not self._warned:
                # The full path goes to the log only: the page is public and need not show the file system.
                log.warning("GraphQL playground not built: no bundle in %s (run `make playground`)", self.dist_dir)
                self._warned = True
            return PlainTextResponse(NOT_BUILT, status_code=503, headers={"cache-control": "no-store"})
        engine = getattr(request.app.state, "engine", None)
        example = await example_document(engine, self._users(engine.registry)) if engine is not None else GENERIC
        page = PAGE.format(
            css=f"{root}{ASSETS_PATH}/{manifest['css']}",
            js=f"{root}{ASSETS_PATH}/{manifest['js']}",
            endpoint=f"{root}{PAGE_PATH}",
            example=html.escape(example, quote=True),
        )
        return HTMLResponse(page, headers=_page_headers(request))

    def _users(self, registry: Registry) -> list[DevUser]:
        """The development users the example's mutation may be written for (a broken dev-users.yml: none)."""
        try:
            return dev_users(self.app_dir, registry)
        except DefinitionError:
            return dev_users(None, registry)


def _page_headers(request: Request) -> dict[str, str]:
    host = request.url.netloc
    # 'self' covers same-origin WebSockets in current browsers; ws:/wss: on this host are named for older ones
    # and for a TLS-terminating proxy, where the page is https but the server sees http.
    policy = (
        "default-src 'none'; script-src 'self'; "
        # GraphiQL's dialogs and CodeMirror insert <style> elements and style attributes at run time.
        "style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; "
        f"connect-src 'self' ws://{host} wss://{host}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }


class PlaygroundRoute(Route):
    """``GET /graphql`` that matches playground requests only, so other requests reach the GraphQL route."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not is_playground_request(HTTPConnection(scope)):
            return Match.NONE, {}
        return super().matches(scope)


class PlaygroundAssets(StaticFiles):
    """The bundle's files: hashed names cached for good, a missing directory answering 404 (not 500)."""

    async def check_config(self) -> None:
        # StaticFiles fails every request when its directory is missing; here that only means "not built
        # yet" (the bundle may be built while the server runs), and a missing file is a 404.
        return None

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["x-content-type-options"] = "nosniff"
        name = Path(full_path).name
        response.headers["cache-control"] = "no-cache" if name == MANIFEST else IMMUTABLE
        return response


def playground_dir(dist_dir: Path | str | None = None) -> Path:
    """The bundle directory: ``dist_dir`` when given (the ``playground_dir`` setting), else the package's."""
    return Path(dist_dir).expanduser().resolve() if dist_dir else DEFAULT_DIST_DIR


def playground_routes(dist_dir: Path | str | None = None, app_dir: Path | None = None) -> list[BaseRoute]:
    """The page and its assets, for the app factory; mount them before the GraphQL route.

    ``dist_dir`` is the built bundle's directory (``OBJECTQL_PLAYGROUND_DIR``); by default
    ``objectql/server/playground_bundle``. ``app_dir`` holds the app's ``dev-users.yml``, whose users the
    opening example is written for.
    """
    directory = playground_dir(dist_dir)
    return [
        PlaygroundRoute(PAGE_PATH, PlaygroundPage(directory, app_dir).render, methods=["GET"]),
        Mount(ASSETS_PATH, app=PlaygroundAssets(directory=directory, check_dir=False), name="playground-assets"),
    ]


__all__ = [
    "ASSETS_PATH",
    "DEFAULT_DIST_DIR",
    "PAGE_PATH",
    "PlaygroundPage",
    "PlaygroundRoute",
    "is_playground_request",
    "playground_dir",
    "playground_routes",
    "read_manifest",
]
