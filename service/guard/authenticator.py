"""Who is calling: the schemes ``GATEWAY_AUTH`` names, tried on one presented credential."""

from collections.abc import Callable, Collection
from types import TracebackType
from typing import Self

from pydantic import SecretStr

from service.accounts import Grants
from service.errors import ErrorCode, Unauthorized
from service.guard.jwt import JwksSource, JwtVerifier
from service.guard.keys import ApiKeys
from service.settings import ConfigurationError, Settings


class Authenticator:
    """Names callers ``key:<name>`` or ``jwt:<subject>``, so the two never collide in
    logs, metrics and rate limits; with no scheme configured every caller is anonymous."""

    def __init__(self, api_keys: ApiKeys | None = None, jwt: JwtVerifier | None = None) -> None:
        self._keys = api_keys
        self._jwt = jwt
        what = []
        if api_keys is not None:
            what.append("an API key (Authorization: Bearer <key>, or X-API-Key: <key>)")
        if jwt is not None:
            what.append("an OIDC access token (Authorization: Bearer <jwt>)")
        self._missing = f"Send {' or '.join(what)}."

    @classmethod
    def from_settings(
        cls, settings: Settings, clock: Callable[[], float], accounts: Collection[str] = ()
    ) -> Self:
        """``accounts``: the aliases an API key may be granted."""
        schemes = settings.auth_schemes
        keys = verifier = None
        if "api-key" in schemes:
            keys = _api_keys(settings, accounts)
        if "jwt" in schemes:
            assert settings.jwt_issuer  # Settings checked both
            assert settings.jwt_audience
            url = settings.jwt_jwks_url
            source = JwksSource(
                url=str(url) if url else None, file=settings.jwt_jwks_file, clock=clock
            )
            verifier = JwtVerifier(
                source,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                caller_claim=settings.jwt_caller_claim,
                leeway=settings.jwt_leeway_seconds,
                accounts_claim=settings.jwt_accounts_claim,
            )
        return cls(keys, verifier)

    @property
    def enabled(self) -> bool:
        return self._keys is not None or self._jwt is not None

    @staticmethod
    def unrequired_schemes() -> dict[str, dict[str, str]]:
        """The schemes a gateway with authentication takes, published by one without it
        too (required by no operation), so a client generated from either has both."""
        off = "Not required: this gateway runs with GATEWAY_AUTH=none."
        return {
            "Bearer": {"type": "http", "scheme": "bearer", "description": off},
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": off},
        }

    def openapi_schemes(self) -> dict[str, dict[str, str]]:
        """OpenAPI security schemes, so Swagger UI's Authorize button offers each one."""
        schemes: dict[str, dict[str, str]] = {}
        if self.enabled:
            schemes["Bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "description": " or ".join(
                    what
                    for what, on in (("An API key", self._keys), ("an OIDC token", self._jwt))
                    if on is not None
                ),
            }
        if self._keys is not None:
            schemes["ApiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        return schemes

    async def __aenter__(self) -> Self:
        if self._jwt is not None:
            await self._jwt.keys.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._jwt is not None:
            await self._jwt.keys.__aexit__(kind, exc, tb)

    async def caller(self, authorization: str | None, api_key: str | None) -> tuple[str, Grants]:
        """The caller the headers prove and the accounts it may read, or ``Unauthorized``."""
        credential = presented(authorization, api_key)
        if credential is None:
            raise Unauthorized(self._missing, code=ErrorCode.MISSING_CREDENTIALS)
        # API keys are URL-safe base64 (no dots); a JWT has exactly two.
        if self._jwt is not None and (self._keys is None or credential.count(".") == 2):
            subject, grants = await self._jwt.caller(credential)
            return "jwt:" + subject, grants
        if self._keys is not None and (found := self._keys.caller(credential)) is not None:
            name, grants = found
            return "key:" + name, grants
        raise Unauthorized("The API key is not valid.", code=ErrorCode.INVALID_API_KEY)


def presented(authorization: str | None, api_key: str | None) -> str | None:
    """The credential in ``Authorization: Bearer`` or else ``X-API-Key``; None without
    either, ``Unauthorized`` for an Authorization header of another form."""
    if authorization is not None:
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized(
                "The Authorization header must read: Bearer <credential>.",
                code=ErrorCode.INVALID_CREDENTIALS,
            )
        return credential
    if api_key is not None and api_key.strip():
        return api_key.strip()
    return None


def _api_keys(settings: Settings, accounts: Collection[str]) -> ApiKeys:
    if settings.api_keys_file is not None:
        source = f"GATEWAY_API_KEYS_FILE ({settings.api_keys_file})"
        try:
            text = settings.api_keys_file.read_text()
        except OSError as exc:
            raise ConfigurationError(f"{source}: {exc.strerror}") from None
        return ApiKeys.parse(text, source, accounts)
    assert isinstance(settings.api_keys, SecretStr)  # checked by Settings
    return ApiKeys.parse(settings.api_keys.get_secret_value(), "GATEWAY_API_KEYS", accounts)
