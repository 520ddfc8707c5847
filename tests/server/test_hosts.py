"""The Host check: names, ``*.domain`` patterns and ``*``, with ports and bracketed IPv6 literals."""

from __future__ import annotations

import pytest

from objectql.server.hosts import HostPolicy, host_name
from objectql.server.settings import SettingError, Settings


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost", "localhost"),
        ("LocalHost:8000", "localhost"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("[2001:DB8::1]:443", "2001:db8::1"),
        ("[::1", None),
        ("[not-ipv6]:80", None),
        ("example.com:http", None),
        ("example.com:", None),
        ("", None),
        (None, None),
    ],
)
def test_host_name_drops_the_port_and_an_ipv6_literals_brackets(header: str | None, name: str | None) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    ("host", "header", "allowed"),
    [
        ("::1", "[::1]:8000", True),
        ("::1", "localhost:8000", True),
        ("::1", "attacker.example:8000", False),
        ("[::1]", "[::1]:8000", True),
        ("127.0.0.1", "127.0.0.1:8000", True),
        ("127.0.0.1", "[::1]:8000", True),
        ("127.0.0.1", "attacker.example", False),
        ("127.0.0.1", "[::1", False),
    ],
)
def test_the_listening_host_and_the_loopback_names_are_answered(host: str, header: str, allowed: bool) -> None:
    policy = HostPolicy.from_settings(Settings.load({"host": host}))
    assert policy.allows(header) is allowed


def test_listed_names_and_patterns_decide_when_set() -> None:
    policy = HostPolicy.from_settings(
        Settings.load({}, {"OBJECTQL_ALLOWED_HOSTS": "Shop.Example,*.api.example,[fd00::2]"})
    )
    assert policy.allows("shop.example:8000") and policy.allows("a.api.example") and policy.allows("[fd00::2]:1")
    assert not policy.allows("api.example") and not policy.allows("localhost") and not policy.allows("evil.example")
    assert HostPolicy.from_patterns(["*"]).allows("anything.example")


def test_a_wildcard_inside_a_name_is_a_setting_error() -> None:
    with pytest.raises(SettingError) as caught:
        HostPolicy.from_settings(Settings.load({}, {"OBJECTQL_ALLOWED_HOSTS": "a*.example"}))
    assert caught.value.name == "allowed_hosts"
