"""``objectql token``: a development token on stdout, signed with the configured secret."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from objectql.server.auth import Authenticator
from objectql.server.cli import main
from objectql.server.settings import SETTINGS, Settings

SECRET = "a-development-secret-that-is-long-enough-for-hs256"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own OBJECTQL_* variables must not change what these tests see."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBJECTQL_JWT_SECRET", SECRET)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["token", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def unverified(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.mark.usefixtures("secret")
def test_token_prints_only_a_token_that_the_server_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--sub", "ada", "--roles", "admin, sales")
    assert code == 0
    assert out.count("\n") == 1
    token = out.strip()
    identity = Authenticator.from_settings(Settings.load({}, {"OBJECTQL_JWT_SECRET": SECRET})).authenticate(token)
    assert identity.user.id == "ada"
    assert identity.user.roles == ("admin", "sales")


@pytest.mark.usefixtures("secret")
def test_token_lives_one_hour_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    claims = unverified(run(capsys, "--sub", "ada")[1].strip())
    assert claims["roles"] == []
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.usefixtures("secret")
@pytest.mark.parametrize(
    ("ttl", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("90", 90), ("2H", 7200)]
)
def test_ttl_accepts_seconds_minutes_hours_days_or_plain_seconds(
    capsys: pytest.CaptureFixture[str], ttl: str, seconds: int
) -> None:
    claims = unverified(run(capsys, "--sub", "ada", "--ttl", ttl)[1].strip())
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == seconds


@pytest.mark.usefixtures("secret")
@pytest.mark.parametrize("ttl", ["0", "-5", "1w", "", "soon", "1h30m"])
def test_a_ttl_that_is_not_a_positive_duration_exits_2(capsys: pytest.CaptureFixture[str], ttl: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["token", "--sub", "ada", "--ttl", ttl])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--ttl" in captured.err


@pytest.mark.usefixtures("secret")
def test_extra_claims_are_added_for_row_rules(capsys: pytest.CaptureFixture[str]) -> None:
    claims = unverified(run(capsys, "--sub", "ada", "--claim", "tenant=acme", "--claim", "team=")[1].strip())
    assert (claims["tenant"], claims["team"]) == ("acme", "")


@pytest.mark.usefixtures("secret")
def test_a_claim_overriding_sub_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--sub", "ada", "--claim", "sub=root")
    assert (code, out) == (2, "")
    assert "sub" in err


def test_token_carries_the_configured_audience_and_issuer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBJECTQL_JWT_SECRET", SECRET)
    monkeypatch.setenv("OBJECTQL_JWT_AUDIENCE", "api")
    monkeypatch.setenv("OBJECTQL_JWT_ISSUER", "dev")
    claims = unverified(run(capsys, "--sub", "ada")[1].strip())
    assert (claims["aud"], claims["iss"]) == ("api", "dev")


def test_token_without_a_secret_exits_2_saying_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--sub", "ada")
    assert (code, out) == (2, "")
    assert "OBJECTQL_JWT_SECRET" in err


def test_token_with_a_public_key_exits_2_saying_it_needs_the_private_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    monkeypatch.setenv("OBJECTQL_JWT_PUBLIC_KEY", pem)
    monkeypatch.setenv("OBJECTQL_JWT_ALGORITHM", "ES256")
    code, out, err = run(capsys, "--sub", "ada")
    assert (code, out) == (2, "")
    assert "private key" in err


def test_token_requires_sub(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["token"])
    assert info.value.code == 2
    assert "--sub" in capsys.readouterr().err
