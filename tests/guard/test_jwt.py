"""OIDC tokens: verified against the provider's JWKS, every bad one told why in a 401."""

import base64
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from service.guard.jwt import JWKS_MAX_AGE_SECONDS, JWKS_MIN_REFETCH_SECONDS
from service.settings import Settings
from tests.identity import (
    API_KEY,
    API_KEYS,
    AUDIENCE,
    INSTANCE,
    ISSUER,
    IdentityProvider,
    SigningKey,
    bearer,
)
from tests.support import FakeClock, GatewayFactory, Upstream, fields


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(algorithm: str, secret: bytes | None = None) -> str:
    """A token signed with ``secret`` by HMAC, or with no signature at all."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300}
    header = {"alg": algorithm, "kid": "rsa-1"}
    signed = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if secret is None else hmac.digest(secret, signed.encode(), "sha256")
    return f"{signed}.{b64(signature)}"


@pytest.mark.parametrize("which", ["rsa", "ec"])
async def test_a_valid_token_gets_data(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider, which: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, "service.access")
    key = idp.rsa if which == "rsa" else idp.ec
    async with make_gateway(**idp.settings()) as gateway:
        response = await gateway.get(INSTANCE, headers=bearer(idp.token(key)))
    assert response.status_code == 200
    assert [fields(r)["caller"] for r in caplog.records] == ["jwt:alice"]


def bad_tokens(idp: IdentityProvider) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    stranger = SigningKey("rsa-1", "RS256", rsa.generate_private_key(65537, 2048))
    public_pem = idp.rsa.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "expired": (idp.token(exp=now - 120), "TOKEN_EXPIRED"),
        "not yet valid": (idp.token(nbf=now + 120), "INVALID_TOKEN"),
        "wrong audience": (idp.token(aud="someone-else"), "INVALID_TOKEN"),
        "wrong issuer": (idp.token(iss="https://evil.example/"), "INVALID_TOKEN"),
        "no expiry": (idp.token(exp=None), "INVALID_TOKEN"),
        "no subject": (idp.token(sub=None), "INVALID_TOKEN"),
        "alg none": (forged("none"), "INVALID_TOKEN"),
        # HMAC keyed with the public key: the classic algorithm confusion.
        "hmac confusion": (forged("HS256", public_pem), "INVALID_TOKEN"),
        "wrong signer": (idp.token(stranger), "INVALID_TOKEN"),
        "not a jwt": ("a.b.c", "INVALID_TOKEN"),
    }


async def test_every_bad_token_gets_401_saying_why(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider
) -> None:
    async with make_gateway(**idp.settings()) as gateway:
        for name, (token, code) in bad_tokens(idp).items():
            response = await gateway.get(INSTANCE, headers=bearer(token))
            assert (response.status_code, response.json()["code"]) == (401, code), name
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
            assert token not in response.text
    assert upstream.calls() == 0


async def test_a_little_clock_skew_is_forgiven(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider
) -> None:
    just_expired = idp.token(exp=int(time.time()) - 5)
    async with make_gateway(**idp.settings()) as gateway:
        assert (await gateway.get(INSTANCE, headers=bearer(just_expired))).status_code == 200
    async with make_gateway(**idp.settings(jwt_leeway_seconds=0)) as gateway:
        assert (await gateway.get(INSTANCE, headers=bearer(just_expired))).status_code == 401


async def test_the_caller_can_be_another_claim(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, "service.access")
    async with make_gateway(**idp.settings(jwt_caller_claim="azp")) as gateway:
        token = idp.token(azp="status-frontend")
        assert (await gateway.get(INSTANCE, headers=bearer(token))).status_code == 200
        assert (await gateway.get(INSTANCE, headers=bearer(idp.token()))).status_code == 401
    assert fields(caplog.records[0])["caller"] == "jwt:status-frontend"


async def test_a_rotated_key_is_fetched_once_when_first_seen(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider,
    signing_keys: tuple[SigningKey, SigningKey], clock: FakeClock,
) -> None:  # fmt: skip
    rotated = SigningKey("rsa-2", "RS256", signing_keys[0].private)
    async with make_gateway(**idp.settings()) as gateway:
        assert idp.fetches == 1  # at start-up
        idp.published.append(rotated)
        clock.advance(JWKS_MIN_REFETCH_SECONDS)
        for _ in range(3):
            response = await gateway.get(INSTANCE, headers=bearer(idp.token(rotated)))
            assert response.status_code == 200
    assert idp.fetches == 2


async def test_unknown_kids_refetch_at_most_every_30_seconds(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider, clock: FakeClock
) -> None:
    async with make_gateway(**idp.settings()) as gateway:
        clock.advance(JWKS_MIN_REFETCH_SECONDS)
        for n in range(5):
            forged = idp.token(headers={"kid": f"forged-{n}"})
            response = await gateway.get(INSTANCE, headers=bearer(forged))
            assert (response.status_code, response.json()["code"]) == (401, "INVALID_TOKEN")
        assert idp.fetches == 2
        clock.advance(JWKS_MIN_REFETCH_SECONDS)
        await gateway.get(INSTANCE, headers=bearer(idp.token(headers={"kid": "forged-again"})))
        assert idp.fetches == 3


async def test_keys_are_refreshed_when_old_and_kept_when_the_provider_is_down(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider, clock: FakeClock
) -> None:
    async with make_gateway(**idp.settings()) as gateway:
        clock.advance(JWKS_MAX_AGE_SECONDS)
        idp.up = False
        response = await gateway.get(INSTANCE, headers=bearer(idp.token()))
    assert response.status_code == 200
    assert idp.fetches == 2


async def test_no_keys_at_all_is_503_not_the_callers_fault(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider, clock: FakeClock
) -> None:
    idp.up = False
    async with make_gateway(**idp.settings()) as gateway:
        down = await gateway.get(INSTANCE, headers=bearer(idp.token()))
        idp.up = True
        clock.advance(JWKS_MIN_REFETCH_SECONDS)
        back = await gateway.get(INSTANCE, headers=bearer(idp.token()))
    assert (down.status_code, down.json()["code"]) == (503, "JWKS_UNAVAILABLE")
    assert back.status_code == 200


async def test_keys_may_come_from_a_file(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [idp.ec.jwk()]}))
    settings = idp.settings(jwt_jwks_url=None, jwt_jwks_file=path)
    async with make_gateway(**settings) as gateway:
        assert (await gateway.get(INSTANCE, headers=bearer(idp.token(idp.ec)))).status_code == 200
        assert (await gateway.get(INSTANCE, headers=bearer(idp.token(idp.rsa)))).status_code == 401
    assert idp.fetches == 0


async def test_keys_and_tokens_together(
    upstream: Upstream, make_gateway: GatewayFactory, idp: IdentityProvider
) -> None:
    settings = idp.settings(auth="api-key,jwt", api_keys=json.dumps(API_KEYS))
    async with make_gateway(**settings) as gateway:
        assert (await gateway.get(INSTANCE, headers=bearer(API_KEY))).status_code == 200
        assert (await gateway.get(INSTANCE, headers=bearer(idp.token()))).status_code == 200
        refused = await gateway.get(INSTANCE)
    assert "API key" in refused.json()["detail"]
    assert "OIDC" in refused.json()["detail"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"jwt_jwks_url": "http://idp.example.com/jwks"},  # keys in clear text
        {"jwt_issuer": None},
        {"jwt_audience": None},
        {"jwt_jwks_url": None},
    ],
)
def test_incomplete_jwt_settings_stop_start_up(overrides: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "auth": "jwt",
        "jwt_jwks_url": "https://idp.example.com/jwks",
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
    }
    with pytest.raises(ValidationError):
        Settings(**{**base, **overrides})
