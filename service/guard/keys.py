"""API keys: each caller's name against the SHA-256 of its key; the keys themselves are
never stored, so the configuration is not a secret worth stealing."""

import hashlib
import hmac
import secrets
from typing import Annotated

from pydantic import StringConstraints, TypeAdapter, ValidationError

from service.settings import ConfigurationError

CallerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
KeyHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
_TABLE = TypeAdapter(dict[CallerName, KeyHash])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """256 random bits, URL-safe: long enough that a hash of it needs no salt or stretching."""
    return secrets.token_urlsafe(32)


class ApiKeys:
    def __init__(self, hashes: dict[str, str]) -> None:
        self._entries = [(name, bytes.fromhex(digest)) for name, digest in hashes.items()]

    @classmethod
    def parse(cls, text: str, source: str) -> "ApiKeys":
        """``source`` names the variable or file in errors; values are never echoed."""
        try:
            table = _TABLE.validate_json(text)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or 'value'}: {error['msg']}"
                for error in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigurationError(
                f"{source}: want a JSON object of caller name to the SHA-256 hex of its key "
                f"(python -m service hash-key makes one): {problems}"
            ) from None
        if not table:
            raise ConfigurationError(f"{source}: names no caller")
        if len(set(table.values())) != len(table):
            raise ConfigurationError(f"{source}: two callers share one key")
        return cls(table)

    def caller(self, key: str) -> str | None:
        """The name whose hash matches; every entry is compared, in constant time, so the
        answer's timing says nothing about which entry came close."""
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for name, expected in self._entries:
            if hmac.compare_digest(digest, expected):
                found = name
        return found
