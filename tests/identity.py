"""An identity provider for the tests: signing keys, tokens, and a JWKS over loopback HTTP."""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.emulator.server import serve
from service.guard import hash_key

ISSUER = "https://login.example.com/"
AUDIENCE = "codedeploy-gateway"
API_KEY = "k3y-for-the-billing-service-0123456789abcdefABCDEF"
OTHER_KEY = "k3y-for-the-status-page-0123456789abcdefABCDEFGHIJ"
API_KEYS = {"billing": hash_key(API_KEY), "status-page": hash_key(OTHER_KEY)}
INSTANCE = "/v1/deployments/d-EXAMPLE01/instances/i-0a1b2c3d4e5f60002"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        codec = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        data: dict[str, Any] = codec.to_jwk(self.private.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "use": "sig"}


@dataclass
class IdentityProvider:
    """Publishes ``published`` at its JWKS URL and counts how often it is fetched."""

    rsa: SigningKey
    ec: SigningKey
    published: list[SigningKey] = field(default_factory=list)
    fetches: int = 0
    up: bool = True
    url: str = ""

    def token(self, key: SigningKey | None = None, headers: dict[str, Any] | None = None,
              **claims: Any) -> str:  # fmt: skip
        key = key or self.rsa
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload,
            key.private,
            algorithm=key.algorithm,
            headers={"kid": key.kid, **(headers or {})},
        )

    async def jwks(self, _: Request) -> Response:
        self.fetches += 1
        if not self.up:
            return Response("down", status_code=503)
        return JSONResponse({"keys": [key.jwk() for key in self.published]})

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "auth": "jwt",
            "jwt_jwks_url": f"{self.url}/jwks",
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            **overrides,
        }


@pytest.fixture(scope="session")
def signing_keys() -> tuple[SigningKey, SigningKey]:
    return (
        SigningKey(
            "rsa-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
        SigningKey("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1())),
    )


@pytest.fixture
async def idp(signing_keys: tuple[SigningKey, SigningKey]) -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider(*signing_keys)
    provider.published = [provider.rsa, provider.ec]
    app = Starlette(routes=[Route("/jwks", provider.jwks)])
    async with serve(app) as url:
        provider.url = url
        yield provider


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}
