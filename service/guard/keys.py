"""API keys: each caller's name against the SHA-256 of its key; the keys themselves are
never stored, so the configuration is not a secret worth stealing."""

import hashlib
import hmac
import secrets
from collections.abc import Collection
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from service.accounts import ALIAS_PATTERN, EVERY_ACCOUNT, Grants
from service.settings import ConfigurationError, parse_document

CallerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
KeyHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Entry(BaseModel):
    """A key that reads only some accounts (their aliases)."""

    model_config = ConfigDict(extra="forbid")

    sha256: KeyHash
    accounts: list[Annotated[str, StringConstraints(pattern=ALIAS_PATTERN)]] = Field(min_length=1)
    """A key that may read no account is a mistake: leave the caller out instead."""


_TABLE = TypeAdapter(dict[CallerName, KeyHash | Entry])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """256 random bits, URL-safe: long enough that a hash of it needs no salt or stretching."""
    return secrets.token_urlsafe(32)


class ApiKeys:
    def __init__(self, entries: dict[str, tuple[str, Grants]]) -> None:
        self._entries = [
            (name, bytes.fromhex(digest), grants) for name, (digest, grants) in entries.items()
        ]

    @classmethod
    def parse(cls, text: str, source: str, accounts: Collection[str] = ()) -> "ApiKeys":
        """``source`` names the variable or file in errors; values are never echoed. An
        entry may grant only some of ``accounts``; a bare hash grants them all."""
        try:
            table = _TABLE.validate_python(parse_document(text))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or 'value'}: {error['msg']}"
                for error in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigurationError(
                f"{source}: want a JSON object of caller name to the SHA-256 hex of its key, "
                'or to {"sha256": ..., "accounts": [...]} (python -m service hash-key makes '
                f"one): {problems}"
            ) from None
        except ValueError as exc:  # not JSON, or a caller named twice
            raise ConfigurationError(f"{source}: {exc}") from None
        if not table:
            raise ConfigurationError(f"{source}: names no caller")
        entries: dict[str, tuple[str, Grants]] = {}
        for name, entry in table.items():
            if isinstance(entry, str):
                entries[name] = (entry, EVERY_ACCOUNT)
                continue
            unknown = sorted(set(entry.accounts) - set(accounts))
            if unknown:
                raise ConfigurationError(f"{source}: {name}: no such account: {unknown}")
            entries[name] = (entry.sha256, Grants(frozenset(entry.accounts)))
        if len({digest for digest, _ in entries.values()}) != len(entries):
            raise ConfigurationError(f"{source}: two callers share one key")
        return cls(entries)

    def caller(self, key: str) -> tuple[str, Grants] | None:
        """The name whose hash matches, and its grants; every entry is compared, in
        constant time, so the answer's timing says nothing about which came close."""
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for name, expected, grants in self._entries:
            if hmac.compare_digest(digest, expected):
                found = (name, grants)
        return found
