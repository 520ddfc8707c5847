"""JWT authentication: the configured algorithm only, required claims, leeway, roles, and no token in logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import traceback
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.datastructures import Headers

from objectql.engine.user import ANONYMOUS
from objectql.errors import Unauthenticated
from objectql.server.auth import (
    ANONYMOUS_IDENTITY,
    Authenticator,
    Identity,
    bearer_token,
    connection_init_token,
    sse_token,
)
from objectql.server.settings import SettingError, Settings

SECRET = "a-development-secret-long-enough-for-every-hmac-algorithm-hs256-hs384-hs512"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def private_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def authenticator(**env: str) -> Authenticator:
    environ = {f"OBJECTQL_{name.upper()}": value for name, value in env.items()}
    return Authenticator.from_settings(Settings.load({}, environ))


def claims(exp_in: float = 300, **extra: Any) -> dict[str, Any]:
    return {"sub": "ada", "exp": int(time.time() + exp_in), **extra}


def hs256(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hmac(payload: dict[str, Any], key: bytes, alg: str = "HS256", **headers: Any) -> str:
    """An HMAC token signed by hand, for keys PyJWT itself refuses to sign with (a PEM public key)."""
    header = b64(json.dumps({"alg": alg, "typ": "JWT", **headers}).encode())
    body = b64(json.dumps(payload).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def refused(auth: Authenticator, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        auth.authenticate(token)
    return info.value


# -- open mode ---------------------------------------------------------------------------------------


def test_without_a_key_authentication_is_off_and_any_token_is_ignored() -> None:
    auth = authenticator()
    assert not auth.enabled
    assert auth.authenticate(hs256(claims())) is ANONYMOUS_IDENTITY
    assert auth.authenticate("not even a token") is ANONYMOUS_IDENTITY
    assert auth.authenticate(None).user is ANONYMOUS


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_on_a_server_with_a_key_is_the_anonymous_identity(token: str | None) -> None:
    auth = authenticator(jwt_secret=SECRET)
    assert auth.enabled
    identity = auth.authenticate(token)
    assert identity.user is ANONYMOUS
    assert identity.expires_at is None
    assert identity.ends_at is None


# -- HS256 -------------------------------------------------------------------------------------------


def test_hs256_token_gives_its_sub_roles_claims_and_expiry() -> None:
    payload = claims(roles=["admin", "sales"], tenant="acme")
    identity = authenticator(jwt_secret=SECRET).authenticate(hs256(payload))
    assert identity.user.id == "ada"
    assert identity.user.roles == ("admin", "sales")
    assert identity.user.claim("tenant") == "acme"
    assert identity.expires_at == payload["exp"]


def test_claims_other_than_roles_are_kept_for_row_rules() -> None:
    identity = authenticator(jwt_secret=SECRET).authenticate(hs256(claims(roles=["a"], team=7)))
    assert identity.user.claims["team"] == 7
    assert identity.user.claims["sub"] == "ada"
    assert "roles" not in identity.user.claims


def test_roles_come_from_the_configured_claim() -> None:
    auth = authenticator(jwt_secret=SECRET, jwt_roles_claim="https://example.com/roles")
    token = hs256({**claims(roles=["ignored"]), "https://example.com/roles": ["editor"]})
    assert auth.authenticate(token).user.roles == ("editor",)


def test_a_single_string_role_is_one_role() -> None:
    assert authenticator(jwt_secret=SECRET).authenticate(hs256(claims(roles="admin"))).user.roles == ("admin",)


def test_a_token_without_the_roles_claim_has_no_roles() -> None:
    assert authenticator(jwt_secret=SECRET).authenticate(hs256(claims())).user.roles == ()


@pytest.mark.parametrize("roles", [5, True, {"admin": True}, ["admin", 1], [None], [["admin"]]])
def test_a_roles_claim_that_is_not_strings_is_refused(roles: Any) -> None:
    error = refused(authenticator(jwt_secret=SECRET), hs256(claims(roles=roles)))
    assert error.details == {"reason": "invalid"}


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = hs256(claims(), secret="another-secret-that-is-also-long-enough-for-hs256")
    assert refused(authenticator(jwt_secret=SECRET), token).details == {"reason": "invalid"}


def test_a_token_with_a_tampered_payload_is_refused() -> None:
    header, _, signature = hs256(claims(roles=["user"])).split(".")
    forged = f"{header}.{b64(json.dumps(claims(roles=['admin'])).encode())}.{signature}"
    refused(authenticator(jwt_secret=SECRET), forged)


def test_an_unsigned_alg_none_token_is_refused() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(roles=["admin"])).encode())
    refused(authenticator(jwt_secret=SECRET), f"{header}.{body}.")


def test_a_token_signed_with_another_hmac_algorithm_than_configured_is_refused() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    refused(authenticator(jwt_secret=SECRET), token)
    assert authenticator(jwt_secret=SECRET, jwt_algorithm="HS512").authenticate(token).user.id == "ada"


@pytest.mark.parametrize(
    "payload",
    [
        {"exp": int(time.time()) + 300},
        {"sub": "ada"},
        {"sub": 42, "exp": int(time.time()) + 300},
        {"sub": "", "exp": int(time.time()) + 300},
        {"sub": None, "exp": int(time.time()) + 300},
        {"sub": "ada", "exp": "tomorrow"},
    ],
    ids=["missing sub", "missing exp", "numeric sub", "empty sub", "null sub", "text exp"],
)
def test_a_token_without_a_string_sub_and_a_numeric_exp_is_refused(payload: dict[str, Any]) -> None:
    refused(authenticator(jwt_secret=SECRET), hs256(payload))


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "...", " "])
def test_a_malformed_token_is_refused(token: str) -> None:
    refused(authenticator(jwt_secret=SECRET), token)


def test_a_token_not_yet_valid_beyond_the_leeway_is_refused() -> None:
    refused(authenticator(jwt_secret=SECRET), hs256(claims(nbf=int(time.time()) + 60)))


def test_refusals_have_generic_messages() -> None:
    auth = authenticator(jwt_secret=SECRET)
    token = hs256(claims(), secret="another-secret-that-is-also-long-enough-for-hs256")
    assert refused(auth, token).message == "invalid token"
    assert refused(auth, hs256(claims(exp_in=-60))).message == "token expired"


def test_a_secret_that_looks_like_a_pem_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    # A secret holding a public key is how the key-confusion attack is usually set up.
    with pytest.raises(SettingError) as info:
        authenticator(jwt_secret=public_pem(rsa_key))
    assert info.value.name == "jwt_secret"


# -- expiry and leeway -------------------------------------------------------------------------------


def test_a_token_expired_within_the_leeway_is_accepted() -> None:
    identity = authenticator(jwt_secret=SECRET, jwt_leeway="10").authenticate(hs256(claims(exp_in=-5)))
    assert identity.user.id == "ada"


def test_a_token_expired_beyond_the_leeway_is_refused_with_reason_expired() -> None:
    error = refused(authenticator(jwt_secret=SECRET, jwt_leeway="10"), hs256(claims(exp_in=-15)))
    assert error.details == {"reason": "expired"}
    assert error.to_dict()["code"] == "UNAUTHENTICATED"


def test_with_zero_leeway_an_expired_token_is_refused() -> None:
    error = refused(authenticator(jwt_secret=SECRET, jwt_leeway="0"), hs256(claims(exp_in=-5)))
    assert error.details == {"reason": "expired"}


def test_a_connection_ends_at_exp_plus_leeway() -> None:
    payload = claims(exp_in=120)
    identity = authenticator(jwt_secret=SECRET, jwt_leeway="10").authenticate(hs256(payload))
    assert identity.expires_at == payload["exp"]
    assert identity.ends_at == payload["exp"] + 10
    assert identity.ends_in(now=payload["exp"]) == 10
    assert identity.ends_in(now=payload["exp"] + 60) == 0


def test_the_anonymous_identity_never_ends() -> None:
    assert ANONYMOUS_IDENTITY.ends_at is None
    assert ANONYMOUS_IDENTITY.ends_in() is None
    assert Identity(ANONYMOUS, None, 10).ends_at is None


# -- audience and issuer -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        ("api", True),
        (["other", "api"], True),
        ("API", False),
        ("api ", False),
        ("other", False),
        (["other"], False),
        (None, False),
    ],
)
def test_a_configured_audience_is_checked_exactly(aud: Any, accepted: bool) -> None:
    auth = authenticator(jwt_secret=SECRET, jwt_audience="api")
    token = hs256(claims(aud=aud) if aud is not None else claims())
    if accepted:
        assert auth.authenticate(token).user.id == "ada"
    else:
        refused(auth, token)


def test_without_a_configured_audience_a_token_audience_is_not_checked() -> None:
    assert authenticator(jwt_secret=SECRET).authenticate(hs256(claims(aud="anything"))).user.id == "ada"


@pytest.mark.parametrize(
    ("iss", "accepted"),
    [
        ("https://issuer.example", True),
        ("https://issuer.example/", False),
        ("https://ISSUER.example", False),
        ("https://evil.example", False),
        (None, False),
    ],
)
def test_a_configured_issuer_is_checked_exactly(iss: str | None, accepted: bool) -> None:
    auth = authenticator(jwt_secret=SECRET, jwt_issuer="https://issuer.example")
    token = hs256(claims(iss=iss) if iss is not None else claims())
    if accepted:
        assert auth.authenticate(token).user.id == "ada"
    else:
        refused(auth, token)


# -- RS256 / ES256 -----------------------------------------------------------------------------------


def test_rs256_token_verifies_with_the_configured_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = authenticator(jwt_public_key=public_pem(rsa_key))
    token = jwt.encode(claims(roles=["admin"]), rsa_key, algorithm="RS256")
    assert auth.authenticate(token).user.roles == ("admin",)


def test_es256_token_verifies_with_the_configured_public_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    auth = authenticator(jwt_public_key=public_pem(ec_key), jwt_algorithm="ES256")
    token = jwt.encode(claims(roles=["admin"]), ec_key, algorithm="ES256")
    assert auth.authenticate(token).user.roles == ("admin",)


def test_the_public_key_may_be_a_pem_file(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    pem_file = tmp_path / "key.pem"
    pem_file.write_text(public_pem(rsa_key), encoding="utf-8")
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert authenticator(jwt_public_key=str(pem_file)).authenticate(token).user.id == "ada"


def test_rs256_token_signed_by_another_private_key_is_refused(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), other_rsa_key, algorithm="RS256")
    refused(authenticator(jwt_public_key=public_pem(rsa_key)), token)


def test_hs256_token_keyed_with_the_public_key_is_refused_on_an_rs256_server(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    # The key-confusion attack: the public key is public, so an HMAC "signed" with it proves nothing.
    pem = public_pem(rsa_key)
    refused(authenticator(jwt_public_key=pem), forge_hmac(claims(roles=["admin"]), pem.encode()))


def test_es256_token_is_refused_on_an_rs256_server(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    token = jwt.encode(claims(), ec_key, algorithm="ES256")
    refused(authenticator(jwt_public_key=public_pem(rsa_key)), token)


def test_rs256_expired_token_is_refused_with_reason_expired(rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(exp_in=-60), rsa_key, algorithm="RS256")
    assert refused(authenticator(jwt_public_key=public_pem(rsa_key)), token).details == {"reason": "expired"}


def test_a_private_key_is_refused_as_the_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SettingError) as info:
        authenticator(jwt_public_key=private_pem(rsa_key))
    assert info.value.name == "jwt_public_key"
    assert "BEGIN" not in info.value.message


def test_a_public_key_of_the_wrong_type_for_the_algorithm_is_refused(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    with pytest.raises(SettingError, match="RS256"):
        authenticator(jwt_public_key=public_pem(ec_key), jwt_algorithm="RS256")


# -- JWKS --------------------------------------------------------------------------------------------


def jwk(key: PrivateKey, **fields: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        text = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())
    else:
        text = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())
    data: dict[str, Any] = json.loads(text)
    return {**data, **fields}


def write_jwks(tmp_path: Path, *keys: dict[str, Any]) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": list(keys)}), encoding="utf-8")
    return str(path)


def test_jwks_picks_the_key_named_by_kid(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = authenticator(
        jwt_jwks_file=write_jwks(tmp_path, jwk(rsa_key, kid="k1"), jwk(other_rsa_key, kid="k2", use="sig"))
    )
    assert auth.authenticate(jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "k1"})).user.id == "ada"
    assert auth.authenticate(jwt.encode(claims(), other_rsa_key, "RS256", headers={"kid": "k2"})).user.id == "ada"


def test_jwks_refuses_a_token_whose_kid_names_another_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = authenticator(jwt_jwks_file=write_jwks(tmp_path, jwk(rsa_key, kid="k1"), jwk(other_rsa_key, kid="k2")))
    refused(auth, jwt.encode(claims(), other_rsa_key, "RS256", headers={"kid": "k1"}))


def test_jwks_refuses_an_unknown_kid(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = authenticator(jwt_jwks_file=write_jwks(tmp_path, jwk(rsa_key, kid="k1")))
    refused(auth, jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "k9"}))


def test_jwks_token_without_kid_uses_the_only_key_and_is_refused_when_there_are_several(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(claims(), rsa_key, "RS256")
    single = tmp_path / "single"
    single.mkdir()
    assert authenticator(jwt_jwks_file=write_jwks(single, jwk(rsa_key, kid="k1"))).authenticate(token).user.id == "ada"
    several = authenticator(jwt_jwks_file=write_jwks(tmp_path, jwk(rsa_key, kid="k1"), jwk(other_rsa_key, kid="k2")))
    refused(several, token)


def test_jwks_with_es256_keys(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    auth = authenticator(jwt_jwks_file=write_jwks(tmp_path, jwk(ec_key, kid="e1")), jwt_algorithm="ES256")
    assert auth.authenticate(jwt.encode(claims(), ec_key, "ES256", headers={"kid": "e1"})).user.id == "ada"


def test_jwks_ignores_symmetric_and_encryption_keys(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    shared = b"a-symmetric-key-published-in-the-jwks-file"
    auth = authenticator(
        jwt_jwks_file=write_jwks(
            tmp_path,
            {"kty": "oct", "kid": "hmac", "k": b64(shared)},
            jwk(rsa_key, kid="enc", use="enc"),
            jwk(rsa_key, kid="sig"),
        )
    )
    refused(auth, forge_hmac(claims(), shared, kid="hmac"))
    refused(auth, jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "enc"}))
    assert auth.authenticate(jwt.encode(claims(), rsa_key, "RS256", headers={"kid": "sig"})).user.id == "ada"


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"keys": {}}', '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'],
    ids=["not json", "not an object", "keys not a list", "no public key"],
)
def test_a_jwks_file_without_a_usable_key_is_a_setting_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingError) as info:
        authenticator(jwt_jwks_file=str(path))
    assert info.value.name == "jwt_jwks_file"


# -- minting -----------------------------------------------------------------------------------------


def test_a_minted_token_verifies_with_its_sub_roles_and_extra_claims() -> None:
    auth = authenticator(jwt_secret=SECRET)
    identity = auth.authenticate(auth.mint("ada", ["admin", "sales"], 600, {"tenant": "acme"}))
    assert identity.user.id == "ada"
    assert identity.user.roles == ("admin", "sales")
    assert identity.user.claim("tenant") == "acme"
    assert identity.expires_at is not None
    assert 590 <= identity.expires_at - time.time() <= 600


def test_a_minted_token_carries_the_configured_audience_issuer_and_roles_claim() -> None:
    auth = authenticator(jwt_secret=SECRET, jwt_audience="api", jwt_issuer="dev", jwt_roles_claim="groups")
    token = auth.mint("ada", ["admin"], 60)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (payload["aud"], payload["iss"], payload["groups"]) == ("api", "dev", ["admin"])
    assert auth.authenticate(token).user.roles == ("admin",)


def test_a_minted_token_with_a_negative_ttl_is_already_expired() -> None:
    auth = authenticator(jwt_secret=SECRET, jwt_leeway="0")
    assert refused(auth, auth.mint("ada", [], -60)).details == {"reason": "expired"}


def test_extra_claims_may_not_override_sub_exp_or_roles() -> None:
    auth = authenticator(jwt_secret=SECRET)
    for name in ("sub", "exp", "roles"):
        with pytest.raises(ValueError, match=name):
            auth.mint("ada", [], 60, {name: "x"})


def test_minting_with_a_public_key_asks_for_the_private_key(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SettingError, match="private key"):
        authenticator(jwt_public_key=public_pem(rsa_key)).mint("ada", [], 60)


def test_minting_without_a_key_asks_for_a_secret() -> None:
    with pytest.raises(SettingError, match="OBJECTQL_JWT_SECRET"):
        authenticator().mint("ada", [], 60)


# -- secrecy -----------------------------------------------------------------------------------------


def test_a_refused_token_never_reaches_a_log_line_or_an_error(
    caplog: pytest.LogCaptureFixture, rsa_key: rsa.RSAPrivateKey
) -> None:
    for name in ["", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name or None)
    auth = authenticator(jwt_secret=SECRET, jwt_audience="api")
    bad_tokens = [
        hs256(claims(aud="api"), secret="another-secret-that-is-also-long-enough-for-hs256"),
        hs256(claims(exp_in=-3600, aud="api")),
        hs256(claims(aud="other")),
        hs256(claims(aud="api", roles=[1])),
        hs256({"sub": 1, "exp": int(time.time()) + 60, "aud": "api"}),
        jwt.encode(claims(aud="api"), rsa_key, algorithm="RS256"),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0b2tlbi1ub3QtanNvbg.c2lnbmF0dXJlLXRleHQ",
    ]
    for token in bad_tokens:
        error = refused(auth, token)
        shown = [
            str(error),
            repr(error),
            json.dumps(error.to_dict()),
            "".join(traceback.format_exception(error)),
        ]
        for part in [token, *token.split(".")]:
            if part:
                assert all(part not in text for text in shown)
                assert part not in caplog.text
                for record in caplog.records:
                    assert part not in record.getMessage()
    assert any(record.name == "objectql.server.auth" for record in caplog.records)
    assert SECRET not in caplog.text


def test_the_authenticator_repr_never_shows_the_secret() -> None:
    auth = authenticator(jwt_secret=SECRET)
    assert SECRET not in repr(auth)
    assert SECRET not in str(auth)


# -- finding credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer abc.def.ghi"}, "abc.def.ghi"),
        ({"authorization": "bearer abc"}, "abc"),
        ({"AUTHORIZATION": "BEARER abc"}, "abc"),
        ({"Authorization": "  Bearer   abc  "}, "abc"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None),  # a proxy's credentials, not ours
        ({}, None),
    ],
)
def test_bearer_token_reads_the_authorization_bearer_header(headers: dict[str, str], expected: str | None) -> None:
    assert bearer_token(headers) == expected


@pytest.mark.parametrize("value", ["abc.def.ghi", "Bearer", "Bearer   ", "Token abc.def.ghi", "JWT abc"])
def test_a_token_sent_the_wrong_way_is_refused_not_anonymous(value: str) -> None:
    with pytest.raises(Unauthenticated) as raised:
        bearer_token({"Authorization": value})
    assert raised.value.details["reason"] == "invalid"


def test_bearer_token_reads_starlette_headers() -> None:
    assert bearer_token(Headers(raw=[(b"authorization", b"Bearer abc")])) == "abc"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"Authorization": "Bearer abc"}, "abc"),
        ({"authorization": "abc"}, "abc"),
        ({"AUTHORIZATION": "bearer abc"}, "abc"),
        ({"aUtHoRiZaTiOn": "Bearer abc"}, "abc"),
        ({"token": "abc"}, "abc"),
        ({"Authorization": "Bearer abc", "token": "other"}, "abc"),
        ({"token": ""}, None),
        ({"Authorization": ""}, None),
        ({"Authorization": 5}, None),
        ({"token": ["abc"]}, None),
        ({"headers": {"Authorization": "Bearer abc"}}, None),
        ({}, None),
        (None, None),
        ("Bearer abc", None),
        (["abc"], None),
    ],
)
def test_connection_init_token_reads_authorization_or_token(payload: Any, expected: str | None) -> None:
    assert connection_init_token(payload) == expected


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"Authorization": "Bearer from-header"}, {"access_token": "from-query"}, "from-header"),
        ({}, {"access_token": "from-query"}, "from-query"),
        ({"Authorization": "Basic xyz"}, {"access_token": "from-query"}, "from-query"),
        ({}, {"access_token": ""}, None),
        ({}, {"token": "abc"}, None),
        ({}, {}, None),
    ],
)
def test_sse_token_prefers_the_header_over_the_access_token_parameter(
    headers: dict[str, str], query: dict[str, str], expected: str | None
) -> None:
    assert sse_token(headers, query) == expected


async def test_a_verified_token_is_remembered_until_its_exp_plus_leeway_and_refused_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    authenticator = Authenticator(algorithm="HS256", key=SECRET, leeway=0.0)
    token = authenticator.mint("sam", ["sales"], 1)
    decoded: list[str] = []
    original = Authenticator._decode

    def counting(self: Authenticator, text: str) -> dict[str, Any]:
        decoded.append(text)
        return original(self, text)

    monkeypatch.setattr(Authenticator, "_decode", counting)
    first = authenticator.authenticate(token)
    assert authenticator.authenticate(token) == first and len(decoded) == 1  # the second was remembered
    assert first.ends_at is not None
    await asyncio.sleep(max(0.0, first.ends_at - time.time()) + 0.2)  # past exp (+ no leeway)
    with pytest.raises(Unauthenticated) as raised:
        authenticator.authenticate(token)
    assert raised.value.details["reason"] == "expired" and len(decoded) == 2
    # A token that fails is never remembered.
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(token[:-2] + "xx")
    assert token[:-2] + "xx" not in authenticator._verified
