"""The Origin check of WebSocket handshakes and SSE requests."""

from __future__ import annotations

import pytest

from objectql.server.origins import OriginPolicy, parse_origin
from objectql.server.settings import SettingError, Settings


def policy(allowed: str | None = None) -> OriginPolicy:
    env = {"OBJECTQL_ALLOWED_ORIGINS": allowed} if allowed else {}
    return OriginPolicy.from_settings(Settings.load({}, env))


@pytest.mark.parametrize(
    ("origin", "scheme", "host", "allowed"),
    [
        (None, "http", "localhost:8000", True),
        (None, "wss", None, True),
        ("http://localhost:8000", "http", "localhost:8000", True),
        ("http://localhost:8000", "ws", "localhost:8000", True),
        ("https://api.example", "wss", "api.example", True),
        ("HTTP://LocalHost:8000", "http", "localhost:8000", True),
        ("http://api.example:80", "http", "api.example", True),
        ("http://api.example", "ws", "api.example:80", True),
        ("https://api.example:443", "https", "api.example", True),
        ("http://[::1]:8000", "http", "[::1]:8000", True),
        ("http://localhost:8001", "http", "localhost:8000", False),
        ("http://localhost", "http", "localhost:8000", False),
        ("https://localhost:8000", "http", "localhost:8000", False),
        ("http://api.example", "wss", "api.example", False),
        ("http://api.example:443", "https", "api.example", False),
        ("http://evil.example", "http", "api.example", False),
        ("http://api.example.evil.example", "http", "api.example", False),
        ("http://localhost:8000", "http", None, False),
        ("null", "http", "localhost:8000", False),
        ("", "http", "localhost:8000", False),
        ("localhost:8000", "http", "localhost:8000", False),
        ("file://", "http", "localhost:8000", False),
        ("http://localhost:99999", "http", "localhost:8000", False),
        ("http://user@localhost:8000", "http", "localhost:8000", False),
    ],
)
def test_unset_allow_list_means_same_origin_only(
    origin: str | None, scheme: str, host: str | None, allowed: bool
) -> None:
    assert policy().allows(origin, scheme=scheme, host_header=host) is allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example", True),
        ("https://app.example:443", True),
        ("HTTPS://APP.EXAMPLE", True),
        ("http://localhost:3000", True),
        ("http://app.example", False),
        ("https://app.example:8443", False),
        ("https://sub.app.example", False),
        ("https://app.example.evil.example", False),
        ("http://localhost:3001", False),
        ("http://localhost", False),
        ("null", False),
    ],
)
def test_listed_origins_match_exactly_on_scheme_host_and_port(origin: str, allowed: bool) -> None:
    listed = policy("https://app.example, http://localhost:3000")
    assert listed.allows(origin, scheme="https", host_header="api.example") is allowed


def test_the_servers_own_origin_stays_allowed_with_an_allow_list() -> None:
    listed = policy("https://app.example")
    assert listed.allows("https://api.example", scheme="wss", host_header="api.example")


def test_default_ports_in_the_allow_list_are_normalised() -> None:
    listed = policy("http://app.example:80")
    assert listed.allows("http://app.example", scheme="http", host_header="api.example")


def test_the_null_origin_is_allowed_only_when_listed() -> None:
    assert not policy().allows("null", scheme="http", host_header="localhost")
    assert policy("null").allows("null", scheme="http", host_header="localhost")
    assert not policy("null").allows("http://evil.example", scheme="http", host_header="localhost")


def test_an_allowed_origin_with_a_bad_port_is_a_setting_error() -> None:
    with pytest.raises(SettingError) as info:
        policy("https://app.example:port")
    assert info.value.name == "allowed_origins"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("https://a.example", ("https", "a.example", 443)),
        ("http://A.Example:8080", ("http", "a.example", 8080)),
        ("ws://a.example", ("http", "a.example", 80)),
        ("https://a.example/path", None),
        ("https://a.example?q=1", None),
        ("ftp://a.example", None),
        ("a.example", None),
    ],
)
def test_parse_origin_normalises_scheme_host_and_default_port(text: str, parsed: tuple[str, str, int] | None) -> None:
    assert parse_origin(text) == parsed
