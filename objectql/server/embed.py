"""ObjectQL inside another ASGI app: build its app, mount it under a prefix, let the host run its lifespan.

```python
from starlette.applications import Starlette
from starlette.routing import Mount
from objectql.server.embed import asgi_app, lifespan

api = asgi_app(Path(__file__).parent / "app", jwt_secret=os.environ["OBJECTQL_JWT_SECRET"])  # or engine=…
app = Starlette(routes=[Mount("/data", app=api)], lifespan=lifespan(api))
```

A mounted app's own lifespan never runs (ASGI servers send lifespan events to the outermost app only), so
the host enters it: :func:`lifespan` makes a host lifespan that starts and stops every given ObjectQL app
around the host's own work. FastAPI takes the same function (``FastAPI(lifespan=lifespan(api))``, then
``app.mount("/data", api)``). docs/embedding.md has both, and what changes under a prefix.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from objectql.engine.core import ObjectQL
from objectql.server.app import create_app
from objectql.server.settings import Settings

HostLifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def asgi_app(
    app_dir: str | Path | None = None,
    *,
    engine: ObjectQL | None = None,
    settings: Settings | None = None,
    **values: Any,
) -> Starlette:
    """The ObjectQL ASGI app for an app directory, or for ``engine`` (an :class:`ObjectQL` the host owns).

    ``settings`` as given, else resolved like ``objectql serve`` does: ``values`` (setting names, e.g.
    ``jwt_secret=…``), then the ``OBJECTQL_*`` environment, then the defaults. The process's garbage
    collector is left as the host has it.
    """
    directory = Path(app_dir) if app_dir is not None else None
    if settings is None:
        settings = Settings.load(values, os.environ, app_dir=directory)
    return create_app(directory, settings, engine=engine)


def lifespan(*apps: Starlette, host: HostLifespan | None = None) -> HostLifespan:
    """A host-app lifespan that runs each ObjectQL app's start-up and shutdown around ``host``'s own."""

    @asynccontextmanager
    async def run(host_app: Any) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for app in apps:
                await stack.enter_async_context(app.router.lifespan_context(app))
            if host is not None:
                await stack.enter_async_context(host(host_app))
            yield

    return run


__all__ = ["asgi_app", "lifespan"]
