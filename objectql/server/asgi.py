"""The ASGI app for worker processes (``objectql serve --workers N``): built from the environment.

``objectql serve`` exports its resolved settings as ``OBJECTQL_*`` variables and the app directory as
``OBJECTQL_APP_DIR``; each worker builds the same app from them. Also usable directly:
``uvicorn --factory objectql.server.asgi:app_from_environment``.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette

from objectql.server.app import create_app
from objectql.server.settings import Settings

APP_DIR_ENV = "OBJECTQL_APP_DIR"


def app_from_environment() -> Starlette:
    app_dir = Path(os.environ.get(APP_DIR_ENV, "."))
    settings = Settings.load({}, os.environ, app_dir=app_dir)
    # The workers of `objectql serve`: server processes, whose collector policy is the server's.
    return create_app(app_dir, settings, tune_gc=settings.gc_tuning)
