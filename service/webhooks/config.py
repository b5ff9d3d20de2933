"""The webhooks file (``GATEWAY_WEBHOOKS_FILE``): who is called, about what, in which
format; checked at start-up like the accounts file, one line per problem, a secret never
in any of them."""

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from service.accounts import Accounts, Alias
from service.codedeploy.inputs import NAME_PATTERN
from service.settings import ConfigurationError, load_file
from service.webhooks.addresses import literal_refusal

SOURCE = "GATEWAY_WEBHOOKS_FILE"
SECRET_PREFIX = "whsec_"
# The Standard Webhooks specification's bounds for a secret's bytes.
SECRET_BYTES = (24, 64)
MAX_WEBHOOKS = 100
MAX_SECRET_FILE_BYTES = 1024

EventChoice = Literal["deployment", "instance-failed", "target-failed", "all"]
Format = Literal["standard", "slack"]
HookName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:\[\]-]{1,253}$")]


class _Hook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: HookName
    url: AnyHttpUrl
    secret_file: Path = Field(alias="secretFile")
    accounts: list[Alias] | None = Field(default=None, min_length=1)
    applications: list[Name] | None = Field(default=None, min_length=1)
    deployment_groups: list[Name] | None = Field(
        default=None, alias="deploymentGroups", min_length=1
    )
    events: list[EventChoice] = Field(default=["all"], min_length=1)
    format: Format = "standard"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    allowed_hosts: list[Host] = Field(alias="allowedHosts", min_length=1)
    private_hosts: list[Host] = Field(default=[], alias="privateHosts")
    """Of the allowed hosts, those that may resolve to private, loopback or link-local
    addresses (a receiver inside the network); cloud metadata addresses never."""
    board_url: AnyHttpUrl | None = Field(default=None, alias="boardUrl")
    """The board's address as people reach it, linked from Slack messages."""
    webhooks: list[_Hook] = Field(min_length=1, max_length=MAX_WEBHOOKS)


@dataclass(frozen=True, slots=True)
class Webhook:
    """One receiver: what it follows, what it is sent, and how it is signed."""

    name: str
    url: str
    host: str
    secret: bytes = field(repr=False)
    accounts: frozenset[str] | None
    applications: frozenset[str] | None
    groups: frozenset[str] | None
    events: frozenset[EventChoice]
    format: Format
    private: bool
    """Whether its host may resolve to a private address (``privateHosts``)."""

    def wants(self, choice: EventChoice) -> bool:
        return "all" in self.events or choice in self.events

    def follows(self, account: str, application: str | None, group: str | None) -> bool:
        """Whether a change in ``account`` (of ``application``'s ``group``, when known)
        is this webhook's."""
        return (
            (self.accounts is None or account in self.accounts)
            and (self.applications is None or application in self.applications)
            and (self.groups is None or group in self.groups)
        )


@dataclass(frozen=True, slots=True)
class Webhooks:
    hooks: dict[str, Webhook]
    board_url: str | None

    def __iter__(self) -> Iterator[Webhook]:
        return iter(self.hooks.values())

    def __len__(self) -> int:
        return len(self.hooks)

    @classmethod
    def load(cls, path: Path, accounts: Accounts) -> "Webhooks":
        """The file's webhooks, or ``ConfigurationError`` with one line per problem."""
        parsed = load_file(path, _File, SOURCE)
        allowed = {host.lower() for host in parsed.allowed_hosts}
        private = {host.lower() for host in parsed.private_hosts}
        problems = [
            f"privateHosts: {host!r} is not in allowedHosts" for host in sorted(private - allowed)
        ]
        hooks: dict[str, Webhook] = {}
        for index, hook in enumerate(parsed.webhooks):
            where = f"webhooks.{index}"
            host = (hook.url.host or "").lower().strip("[]")
            if hook.name in hooks:
                problems.append(f"{where}.name: {hook.name!r} is named twice")
            if hook.url.username or hook.url.password:
                problems.append(f"{where}.url: credentials in a URL end up in logs; sign instead")
            if not _named(host, allowed):
                problems.append(f"{where}.url: host {host!r} is not in allowedHosts")
            elif (refused := literal_refusal(host, _named(host, private))) is not None:
                problems.append(f"{where}.url: {refused}")
            for alias in hook.accounts or ():
                if alias not in accounts.accounts:
                    problems.append(
                        f"{where}.accounts: {alias!r} is not an account the gateway reads"
                    )
            secret, problem = _secret(hook.secret_file)
            if problem:
                problems.append(f"{where}.secretFile: {problem}")
            hooks[hook.name] = Webhook(
                name=hook.name,
                url=str(hook.url),
                host=host,
                secret=secret,
                accounts=_set(hook.accounts),
                applications=_set(hook.applications),
                groups=_set(hook.deployment_groups),
                events=frozenset(hook.events),
                format=hook.format,
                private=_named(host, private),
            )
        if problems:
            raise ConfigurationError("\n".join(f"{SOURCE} ({path}): {line}" for line in problems))
        board = None if parsed.board_url is None else str(parsed.board_url)
        return cls(hooks, board)


def _named(host: str, hosts: set[str]) -> bool:
    """Whether ``hosts`` names ``host`` (an IPv6 address with or without its brackets)."""
    return host in hosts or f"[{host}]" in hosts


def _set(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def _secret(path: Path) -> tuple[bytes, str | None]:
    """The secret's bytes, or why the file holds none (never quoting it)."""
    try:
        if not path.is_file():
            return b"", "not a file" if path.exists() else "No such file or directory"
        with path.open("rb") as file:  # a secret is ~50 bytes: never read a huge file whole
            text = file.read(MAX_SECRET_FILE_BYTES + 1).decode().strip()
    except (OSError, UnicodeDecodeError) as exc:
        return b"", getattr(exc, "strerror", None) or "not readable text"
    if len(text) > MAX_SECRET_FILE_BYTES:
        return b"", f"holds more than {MAX_SECRET_FILE_BYTES} bytes: not one secret"
    if not text.startswith(SECRET_PREFIX):
        return b"", f"does not hold a Standard Webhooks secret ({SECRET_PREFIX} and base64)"
    try:
        secret = base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return b"", f"the part after {SECRET_PREFIX} is not base64"
    low, high = SECRET_BYTES
    if not low <= len(secret) <= high:
        return b"", f"the secret is {len(secret)} bytes; Standard Webhooks wants {low} to {high}"
    return secret, None
