"""Settings: precedence, parsing, validation, secrecy, and the docs table kept in sync."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from objectql.server.settings import (
    SETTINGS,
    SettingError,
    Settings,
    broker_prefix_for,
    markdown_table,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
PEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"


def load(cli: dict[str, Any] | None = None, env: dict[str, str] | None = None, **kw: Any) -> Settings:
    return Settings.load(cli or {}, env or {}, **kw)


# -- the table ---------------------------------------------------------------------------------------


def test_every_table_row_is_a_typed_settings_attribute_and_back() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]


def test_every_setting_has_an_objectql_env_var_named_after_it() -> None:
    for s in SETTINGS:
        assert s.env == f"OBJECTQL_{s.name.upper()}"
        assert s.help


def test_docs_settings_md_contains_the_generated_table_and_every_setting() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert markdown_table() in text, "docs/settings.md is stale: python -m objectql.server.settings"
    for s in SETTINGS:
        assert f"`{s.name}`" in text
        assert f"`{s.env}`" in text


# -- precedence --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cli", "env", "expected"),
    [
        ({}, {}, 8000),
        ({}, {"OBJECTQL_PORT": "9001"}, 9001),
        ({"port": "9002"}, {"OBJECTQL_PORT": "9001"}, 9002),
        ({"port": None}, {"OBJECTQL_PORT": "9001"}, 9001),
        ({}, {"OBJECTQL_PORT": ""}, 8000),
    ],
    ids=["default", "env", "flag-beats-env", "unset-flag-falls-to-env", "empty-env-is-unset"],
)
def test_flag_beats_environment_beats_default(cli: dict[str, Any], env: dict[str, str], expected: int) -> None:
    assert load(cli, env).port == expected


def test_defaults_match_the_spec() -> None:
    s = load()
    assert s.broker_url == "memory://"
    assert s.outbox_retention == 86400
    assert s.ws_queue == 1000
    assert s.ws_max_subscriptions == 100
    assert s.jwt_leeway == 10
    assert s.jwt_roles_claim == "roles"
    assert (s.host, s.port, s.workers, s.log_level) == ("127.0.0.1", 8000, 1, "info")
    assert s.allowed_origins == ()
    assert s.jwt_algorithm is None
    assert not s.auth_enabled


def test_default_database_is_a_sqlite_file_inside_the_app_dir(tmp_path: Path) -> None:
    s = load(app_dir=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'objectql.db'}"


def test_allowed_origins_are_comma_separated() -> None:
    env = {"OBJECTQL_ALLOWED_ORIGINS": "https://a.example, http://localhost:3000"}
    assert load(env=env).allowed_origins == ("https://a.example", "http://localhost:3000")


def test_log_level_is_case_insensitive() -> None:
    assert load(env={"OBJECTQL_LOG_LEVEL": "DEBUG"}).log_level == "debug"


# -- derived values ----------------------------------------------------------------------------------


def test_jwt_algorithm_defaults_to_hs256_with_a_secret() -> None:
    s = load(env={"OBJECTQL_JWT_SECRET": "s3cret"})
    assert s.jwt_algorithm == "HS256"
    assert s.auth_enabled


def test_jwt_algorithm_defaults_to_rs256_with_a_public_key() -> None:
    s = load(env={"OBJECTQL_JWT_PUBLIC_KEY": PEM})
    assert s.jwt_algorithm == "RS256"
    assert s.jwt_public_key == PEM


def test_public_key_may_be_given_as_a_file_path(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(PEM, encoding="utf-8")
    assert load(env={"OBJECTQL_JWT_PUBLIC_KEY": str(key)}).jwt_public_key == PEM


def test_public_key_on_one_line_with_escaped_newlines_is_unescaped() -> None:
    one_line = PEM.strip().replace("\n", "\\n")
    assert load(env={"OBJECTQL_JWT_PUBLIC_KEY": one_line}).jwt_public_key == PEM


def test_broker_prefix_is_shared_by_one_database_and_ignores_its_password() -> None:
    a = broker_prefix_for("postgresql://app:one@db:5432/shop")
    assert a == broker_prefix_for("postgresql+asyncpg://app:two@db:5432/shop")
    assert a != broker_prefix_for("postgresql://app:one@db:5432/other")
    assert load(cli={"database_url": "postgresql://app:one@db:5432/shop"}).broker_prefix == a


def test_broker_prefix_can_be_set() -> None:
    assert load(env={"OBJECTQL_BROKER_PREFIX": "shop-prod"}).broker_prefix == "shop-prod"


# -- bad values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cli", "env", "setting", "fragment"),
    [
        ({"port": "abc"}, {}, "port", "flag --port"),
        ({}, {"OBJECTQL_PORT": "abc"}, "port", "OBJECTQL_PORT"),
        ({"port": "70000"}, {}, "port", "65535"),
        ({"port": "0"}, {}, "port", "at least 1"),
        ({"workers": "0"}, {}, "workers", "at least 1"),
        ({}, {"OBJECTQL_WS_QUEUE": "1.5"}, "ws_queue", "whole number"),
        ({}, {"OBJECTQL_JWT_LEEWAY": "-1"}, "jwt_leeway", "at least 0"),
        ({"log_level": "loud"}, {}, "log_level", "one of"),
        ({"database_url": "mysql://x/y"}, {}, "database_url", "sqlite"),
        ({"broker_url": "kafka://x"}, {}, "broker_url", "redis://"),
        ({}, {"OBJECTQL_ALLOWED_ORIGINS": "example.com"}, "allowed_origins", "scheme://host"),
        ({}, {"OBJECTQL_ALLOWED_ORIGINS": "https://a.example/path"}, "allowed_origins", "scheme://host"),
        ({}, {"OBJECTQL_JWT_ALGORITHM": "none"}, "jwt_algorithm", "one of"),
        ({}, {"OBJECTQL_JWT_ALGORITHM": "HS256"}, "jwt_algorithm", "no JWT key"),
        ({}, {"OBJECTQL_JWT_SECRET": "s", "OBJECTQL_JWT_ALGORITHM": "RS256"}, "jwt_algorithm", "public key"),
        ({}, {"OBJECTQL_JWT_SECRET": "s", "OBJECTQL_JWT_PUBLIC_KEY": PEM}, "jwt_secret", "not both"),
        ({}, {"OBJECTQL_JWT_PUBLIC_KEY": "/no/such/key.pem"}, "jwt_public_key", "readable file"),
        ({}, {"OBJECTQL_JWT_JWKS_FILE": "/no/such/jwks.json"}, "jwt_jwks_file", "no such file"),
        ({"workers": "2"}, {}, "workers", "shared broker"),
        ({"colour": "blue"}, {}, "colour", "not a setting"),
    ],
)
def test_bad_value_raises_an_error_naming_the_setting(
    cli: dict[str, Any], env: dict[str, str], setting: str, fragment: str
) -> None:
    with pytest.raises(SettingError) as info:
        load(cli, env)
    assert info.value.name == setting
    assert f"setting {setting}:" in info.value.message
    assert fragment in info.value.message


NUMERIC = [s for s in SETTINGS if s.type is int]
# workers above 1 need a shared broker; the bounds are what is under test here.
SHARED_BROKER = {"OBJECTQL_BROKER_URL": "redis://127.0.0.1:6379/0"}


def test_every_numeric_setting_has_a_minimum_and_a_maximum() -> None:
    for s in NUMERIC:
        assert s.minimum is not None and s.maximum is not None, s.name
        assert s.minimum <= s.default <= s.maximum, s.name


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda s: s.name)
def test_a_numeric_setting_takes_its_maximum_and_refuses_more(setting: Any) -> None:
    assert getattr(load(env={**SHARED_BROKER, setting.env: str(setting.maximum)}), setting.name) == setting.maximum
    for too_big in (setting.maximum + 1, 10**20):
        for cli, env in (({}, {setting.env: str(too_big)}), ({setting.name: str(too_big)}, {})):
            with pytest.raises(SettingError) as info:
                load(cli, {**SHARED_BROKER, **env})
            assert info.value.name == setting.name
            assert f"setting {setting.name}: must be at most {setting.maximum}" in info.value.message


def test_several_workers_are_accepted_with_a_shared_broker() -> None:
    assert load({"workers": "3", "broker_url": "redis://127.0.0.1:6379/0"}).workers == 3


# -- secrecy -----------------------------------------------------------------------------------------


def test_repr_never_shows_the_jwt_secret() -> None:
    s = load(env={"OBJECTQL_JWT_SECRET": "hunter2-very-secret"})
    assert "hunter2-very-secret" not in repr(s)
    assert "hunter2-very-secret" not in str(s)
    assert "jwt_secret='***'" in repr(s)


def test_repr_masks_passwords_in_urls() -> None:
    s = load(
        {
            "database_url": "postgresql://app:pw-db-123@db/shop",
            "broker_url": "redis://:pw-redis-456@cache:6379/0",
        }
    )
    text = repr(s)
    assert "pw-db-123" not in text
    assert "pw-redis-456" not in text
    assert "postgresql://app:***@db/shop" in text


def test_error_messages_mask_passwords_in_urls() -> None:
    with pytest.raises(SettingError) as info:
        load({"database_url": "mysql://app:pw-789@db/shop"})
    assert "pw-789" not in info.value.message


def test_a_jwks_url_is_http_or_https_and_alone() -> None:
    assert Settings.load({}, {"OBJECTQL_JWKS_URL": "https://id.example/jwks.json"}).jwt_algorithm == "RS256"
    with pytest.raises(SettingError) as info:
        Settings.load({}, {"OBJECTQL_JWKS_URL": "file:///etc/passwd"})
    assert info.value.name == "jwks_url"
    with pytest.raises(SettingError):
        Settings.load({}, {"OBJECTQL_JWKS_URL": "https://id.example/jwks.json", "OBJECTQL_JWT_SECRET": "x" * 40})
