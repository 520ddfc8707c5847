"""The app factory: the one place that wires the engine, its tasks and the HTTP routes together."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from objectql.engine.channels import ChannelGate
from objectql.engine.core import ObjectQL
from objectql.engine.source import EngineSource
from objectql.metadata.channels import ChannelRules, load_channel_rules
from objectql.realtime.backends import backend_for_url
from objectql.realtime.service import Realtime
from objectql.realtime.transports.graphql_websocket import graphql_websocket
from objectql.realtime.transports.protocols.plain.types import PlainPresence
from objectql.realtime.transports.sse import EventStream
from objectql.realtime.transports.websocket import realtime_websocket
from objectql.realtime.vocabulary import MAX_MESSAGE_BYTES
from objectql.resolvers.executor import GraphQLExecutor
from objectql.resolvers.service import GraphQLService
from objectql.schema import build_schema
from objectql.server.admission import ServerPolicy
from objectql.server.body_limit import BodyLimitMiddleware
from objectql.server.cors import CORSMiddleware
from objectql.server.dashboard import dashboard_routes
from objectql.server.gc_policy import freeze_startup_objects, tune_collector
from objectql.server.graphql_http import GraphQLEndpoint
from objectql.server.health import live, ready
from objectql.server.hosts import HostCheckMiddleware, HostPolicy
from objectql.server.http_protocol import HeadDeadlineProtocol
from objectql.server.metrics import Metrics, metrics_endpoint
from objectql.server.playground import playground_routes
from objectql.server.pruner import OutboxPruner
from objectql.server.seed import load_seed
from objectql.server.settings import Settings, redact_url
from objectql.server.websocket_protocol import FramesProtocol

log = logging.getLogger("objectql.server")

OPEN_SERVER_WARNING = (
    "NO JWT KEY CONFIGURED: this server runs OPEN — every connection is anonymous and objects "
    "without permissions are readable and writable by anyone. Set OBJECTQL_JWT_SECRET or "
    "OBJECTQL_JWT_PUBLIC_KEY to require authentication."
)


def create_app(
    app_dir: Path | None,
    settings: Settings,
    *,
    engine: ObjectQL | None = None,
    tune_gc: bool = False,
) -> Starlette:
    """A Starlette app serving the ObjectQL app in ``app_dir`` (``objects/``, optional ``seed.yml`` and
    ``presence.yml``), or serving ``engine``, an :class:`ObjectQL` its caller owns.

    On start-up it loads the definitions, syncs the schema, inserts seed data into empty objects (not into a
    given engine: its owner seeds it) and keeps what the routes use on ``app.state``: ``engine`` (the
    ObjectQL engine), ``realtime`` (hub, presence, connections), ``policy`` (authentication, origins, limits) and
    ``graphql`` (the document runner). On shutdown it stops its tasks and closes the engine it opened.
    ``tune_gc`` applies the server's collector policy to the whole process: ``objectql serve`` asks for it,
    an app embedded in another never does (docs/embedding.md).
    """
    if app_dir is None and engine is None:
        raise ValueError("create_app needs an app directory or an engine")
    policy = ServerPolicy.from_settings(settings)
    given = engine  # the caller's engine, if any: it is opened (when it is not yet) but never closed here

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await policy.authenticator.start()  # a JWKS URL's keys, before the first token arrives
            stack.push_async_callback(policy.authenticator.stop)
            engine = given
            if engine is None:
                assert app_dir is not None
                engine = ObjectQL(
                    objects=app_dir,
                    database_url=settings.database_url,
                    allow_anonymous=not settings.auth_enabled,
                    sign_in=settings.auth_enabled,
                    outbox_retention=settings.outbox_retention,
                    max_groups=settings.aggregate_max_groups,
                    max_text_length=settings.max_text_length,
                )
                await engine.init()
                stack.push_async_callback(engine.close)
                await load_seed(engine, app_dir)
            elif not engine.ready:
                await engine.init()
                stack.push_async_callback(engine.close)
            pruner = OutboxPruner(engine, batch=settings.outbox_prune_batch)
            pruner.start()
            stack.push_async_callback(pruner.stop)
            realtime = Realtime(
                EngineSource(engine),
                backend_for_url(settings.broker_url),
                PlainPresence(),
                ChannelGate(engine, load_channel_rules(app_dir) if app_dir is not None else ChannelRules()),
                prefix=settings.broker_prefix,
                presence_heartbeat=settings.presence_heartbeat,
                presence_timeout=settings.presence_timeout,
                aggregate_interval=settings.aggregate_interval / 1000,
                window_rows=settings.window_rows,
            )
            await realtime.start()
            stack.push_async_callback(realtime.stop)
            metrics = Metrics(engine, realtime)
            stack.callback(metrics.close)
            app.state.metrics = metrics
            app.state.settings = settings
            app.state.engine = engine
            app.state.realtime = realtime
            app.state.policy = policy
            if tune_gc:
                tune_collector()
                freeze_startup_objects()
            executor = GraphQLExecutor(
                engine,
                build_schema(engine.registry),
                introspection=settings.graphql_introspection,
                suggestions=settings.graphql_suggestions,
                max_cost=settings.graphql_max_cost,
            )
            app.state.graphql = GraphQLService(executor)
            if not settings.auth_enabled:
                log.warning(OPEN_SERVER_WARNING)
            log.info(
                "serving %s: %d object(s) on %s",
                app_dir if app_dir is not None else "an embedded engine",
                len(engine.registry),
                redact_url(engine.database_url),
            )
            try:
                yield
            finally:
                # From here on /health answers 503, so a load balancer stops routing here before the close.
                app.state.engine = None

    routes = [
        Route("/health", ready, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        WebSocketRoute("/api/realtime", realtime_websocket),
        Route("/api/events/{object}", EventStream(), methods=["GET"]),
        *dashboard_routes(),
        # The playground answers browser page requests for GET /graphql; everything else is GraphQL.
        *playground_routes(settings.playground_dir, app_dir),
        Route("/graphql", GraphQLEndpoint(), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_websocket),
    ]
    # A page on another site whose name resolves to this machine (DNS rebinding) reaches it with its own
    # name in Host: only the names this server is meant to answer to get through.
    middleware = [
        Middleware(HostCheckMiddleware, policy=HostPolicy.from_settings(settings)),
        Middleware(CORSMiddleware, origins=policy.origins),
        # Inside CORS, so that a listed origin's page can read the refusal.
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


__all__ = ["OPEN_SERVER_WARNING", "create_app", "uvicorn_options"]


# docs/websocket.md: messages over 65,536 bytes close with 1009; the server pings every 20 s and drops
# a peer silent for 40 s (20 s between pings + 20 s to answer).
WS_MAX_SIZE = MAX_MESSAGE_BYTES
WS_PING_INTERVAL = 20.0
WS_PING_TIMEOUT = 20.0


# uvicorn's WebSocket protocol with a direct path for fan-out frames (see objectql/server/websocket_protocol.py).
# The class, not an import string: older uvicorn releases take only their own protocol names as strings.
WS_PROTOCOL = FramesProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """HTTP and WebSocket options every server of this app runs with."""
    return {
        # uvicorn's HTTP protocol with a deadline on request heads (see objectql/server/http_protocol.py).
        "http": functools.partial(HeadDeadlineProtocol, head_timeout=float(settings.header_timeout)),
        "ws": WS_PROTOCOL,
        "ws_max_size": WS_MAX_SIZE,
        "ws_ping_interval": WS_PING_INTERVAL,
        "ws_ping_timeout": WS_PING_TIMEOUT,
        "ws_per_message_deflate": settings.ws_compression,
    }
