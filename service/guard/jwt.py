"""Bearer JWTs from an OIDC provider, checked against its published keys (JWKS)."""

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import jwt

from service.accounts import ALIAS_PATTERN, EVERY_ACCOUNT, Grants
from service.errors import ErrorCode, NotReady, Unauthorized
from service.settings import ConfigurationError

logger = logging.getLogger(__name__)

# Asymmetric only: with an HMAC algorithm the public key would double as the secret.
ALGORITHMS = frozenset({"RS256", "ES256"})
# Providers rotate keys by publishing the new one well before using it.
JWKS_MAX_AGE_SECONDS = 600.0
# A token with an unknown kid refetches at most this often, so a flood of forged kids
# cannot turn the gateway against the identity provider.
JWKS_MIN_REFETCH_SECONDS = 30.0
JWKS_TIMEOUT_SECONDS = 5.0
JWKS_MAX_BYTES = 1024 * 1024
ALIAS = re.compile(ALIAS_PATTERN)

Keys = Mapping[str | None, jwt.PyJWK]


def parse_jwks(document: Any) -> dict[str | None, jwt.PyJWK]:
    """The RS256/ES256 signing keys of a JWKS, by kid; any other key is skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWKS: want {"keys": [...]}')
    keys: dict[str | None, jwt.PyJWK] = {}
    for data in document["keys"]:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        if data.get("kty") not in ("RSA", "EC"):
            continue
        try:
            key = jwt.PyJWK(data)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ALGORITHMS:
            keys[data.get("kid")] = key
    if not keys:
        raise ValueError("no RS256 or ES256 signing key in it")
    return keys


class JwksSource:
    """The provider's keys: read once from a file, or fetched from a URL, cached for
    ``JWKS_MAX_AGE_SECONDS``, refetched early (rate-limited) when a token names a kid the
    cache lacks, and kept when a refetch fails."""

    def __init__(self, *, url: str | None, file: Path | None, clock: Callable[[], float]) -> None:
        self._url = url
        self._clock = clock
        self._keys: dict[str | None, jwt.PyJWK] | None = None
        self._expires = 0.0
        self._next_fetch = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        if file is not None:
            try:
                self._keys = parse_jwks(json.loads(file.read_text()))
            except (OSError, ValueError) as exc:
                raise ConfigurationError(f"GATEWAY_JWT_JWKS_FILE: {file}: {exc}") from None
            self._expires = float("inf")

    async def __aenter__(self) -> Self:
        if self._url is not None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=JWKS_TIMEOUT_SECONDS)
            )
            await self._refresh()  # warm; a failure is logged and retried on demand
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        now = self._clock()
        keys = self._keys
        missing = keys is None or now >= self._expires or kid not in keys
        if missing and self._url is not None and now >= self._next_fetch:
            await self._refresh()
            keys = self._keys
        if keys is None:
            raise NotReady(
                "The identity provider's keys cannot be fetched.", code=ErrorCode.JWKS_UNAVAILABLE
            )
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        if kid not in keys:
            raise Unauthorized(
                "The token is signed with an unknown key.", code=ErrorCode.INVALID_TOKEN
            )
        return keys[kid]

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if now < self._next_fetch:
                return  # another request just fetched
            self._next_fetch = now + JWKS_MIN_REFETCH_SECONDS
            try:
                self._keys = parse_jwks(await self._fetch())
                self._expires = now + JWKS_MAX_AGE_SECONDS
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                logger.warning("JWKS fetch from %s failed: %s", self._url, exc)

    async def _fetch(self) -> Any:
        assert self._session is not None
        assert self._url is not None
        async with self._session.get(self._url, allow_redirects=False) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            body = await response.content.read(JWKS_MAX_BYTES + 1)
            if len(body) > JWKS_MAX_BYTES:
                raise ValueError(f"larger than {JWKS_MAX_BYTES} bytes")
            return json.loads(body)


class JwtVerifier:
    def __init__(
        self,
        keys: JwksSource,
        *,
        issuer: str,
        audience: str,
        caller_claim: str,
        leeway: float,
        accounts_claim: str | None = None,
    ) -> None:
        self.keys = keys
        self._accounts_claim = accounts_claim
        self._issuer = issuer
        self._audience = audience
        self._claim = caller_claim
        self._leeway = leeway

    async def caller(self, token: str) -> tuple[str, Grants]:
        """The caller a valid token names, and the accounts it grants; ``Unauthorized``
        saying why otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("The bearer token is not a JWT.") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise _invalid("The token must be signed with RS256 or ES256.")
        kid = header.get("kid")
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if key.algorithm_name != algorithm:
            raise _invalid("The token's algorithm does not match its key.")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.", code=ErrorCode.TOKEN_EXPIRED) from None
        except jwt.ImmatureSignatureError:
            raise _invalid("The token is not valid yet.") from None
        except jwt.InvalidAudienceError:
            raise _invalid("The token is not meant for this gateway (audience).") from None
        except jwt.InvalidIssuerError:
            raise _invalid("The token comes from another issuer.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid(f"The token lacks the {exc.claim!r} claim.") from None
        except jwt.InvalidSignatureError:
            raise _invalid("The token's signature does not verify.") from None
        except jwt.PyJWTError:
            raise _invalid("The token is not valid.") from None
        caller = claims.get(self._claim)
        if not isinstance(caller, str) or not caller:
            raise _invalid(f"The token lacks the {self._claim!r} claim.")
        return caller, self._grants(claims)

    def _grants(self, claims: dict[str, Any]) -> Grants:
        """Every account without an accounts claim configured; else those it lists (a
        list, or a space-separated string like ``scope``); none when it is missing."""
        if self._accounts_claim is None:
            return EVERY_ACCOUNT
        listed = claims.get(self._accounts_claim) or []
        if isinstance(listed, str):
            listed = listed.split(" ")  # as OAuth's scope: spaces only
        if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
            raise _invalid(f"The token's {self._accounts_claim!r} claim is not a list of names.")
        # What no alias can be ("read:x" beside them in a scope, "prod,staging") grants
        # nothing, and never reads as several accounts.
        return Grants(frozenset(name for name in listed if ALIAS.fullmatch(name)))


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(detail, code=ErrorCode.INVALID_TOKEN)
