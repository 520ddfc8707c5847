"""GraphQL tests run against the same real server fixture as the realtime tests."""

from tests.realtime.conftest import live_server

__all__ = ["live_server"]
