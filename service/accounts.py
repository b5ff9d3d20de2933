"""The CodeDeploy estate the gateway reads: named accounts, each in its regions.

``GATEWAY_ACCOUNTS_FILE`` names them; without it the gateway reads one account, its own
identity's, in one region, under the name ``default``. Nothing here knows botocore: the
upstream package turns an ``Account`` into credentials and clients.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.errors import ErrorCode, Forbidden, NotFound
from service.settings import ConfigurationError, load_file

# An alias stands in a URL path and in log lines: short, plain.
ALIAS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::(\d{12}):role/[A-Za-z0-9_+=,.@/-]{1,512}$"
# Every (account, region) may get a credential provider and a client: bounded.
MAX_TARGETS = 1000
DEFAULT_ALIAS = "default"

Alias = Annotated[str, StringConstraints(pattern=ALIAS_PATTERN)]
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]


@dataclass(frozen=True, slots=True)
class AccountRegion:
    """One account in one region: what a client reads, and what every key carries."""

    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.account}/{self.region}"


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    role_arn: Annotated[str, StringConstraints(pattern=ROLE_ARN_PATTERN)] | None = Field(
        default=None, alias="roleArn"
    )
    """Assumed from the gateway's own identity; absent: that identity reads it."""
    external_id: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")] | None
    ) = Field(default=None, alias="externalId")
    account_id: Annotated[str, StringConstraints(pattern=r"^\d{12}$")] | None = Field(
        default=None, alias="accountId"
    )
    """The 12-digit id, for routing notifications; taken from ``roleArn`` when it has one."""
    regions: list[Region] = Field(min_length=1)
    """The first is the account's default region."""

    @property
    def id(self) -> str | None:
        if self.account_id is not None:
            return self.account_id
        return None if self.role_arn is None else _arn_account(self.role_arn)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Alias | None = None
    accounts: dict[Alias, Account] = Field(min_length=1)


class Accounts:
    """The accounts by alias, the default one, and who each notification is about."""

    def __init__(self, accounts: dict[str, Account], default: str) -> None:
        self.accounts = accounts
        self.default = AccountRegion(default, accounts[default].regions[0])
        self._by_id = {account.id: alias for alias, account in accounts.items() if account.id}
        # Notifications from an account id no alias names: the gateway's own account's,
        # when it is read under an alias without an accountId (at most one has no role).
        self._own = next((alias for alias, account in accounts.items() if account.id is None), None)

    @classmethod
    def alone(cls, region: str) -> Self:
        """Today's gateway: its own identity, one region."""
        return cls({DEFAULT_ALIAS: Account(regions=[region])}, DEFAULT_ALIAS)

    @classmethod
    def load(cls, path: Path, source: str = "GATEWAY_ACCOUNTS_FILE") -> Self:
        """The file's accounts (JSON, or YAML for a name ending in ``.yaml`` or ``.yml``),
        or ``ConfigurationError`` with one line per problem."""
        parsed = load_file(path, _File, source)
        problems = _problems(parsed)
        if problems:
            where = f"{source} ({path})"
            raise ConfigurationError("\n".join(f"{where}: {line}" for line in problems))
        default = parsed.default or next(iter(parsed.accounts))
        return cls(parsed.accounts, default)

    def readable(self, grants: "Grants") -> list[tuple[str, list[str], bool]]:
        """The accounts ``grants`` lets a caller read, in the file's order: each alias, its
        regions, and whether it is the default."""
        return [
            (alias, account.regions, alias == self.default.account)
            for alias, account in self.accounts.items()
            if grants.allows(alias)
        ]

    def __contains__(self, target: object) -> bool:
        if not isinstance(target, AccountRegion):
            return False
        account = self.accounts.get(target.account)
        return account is not None and target.region in account.regions

    def __iter__(self) -> Iterator[AccountRegion]:
        for alias, account in self.accounts.items():
            for region in account.regions:
                yield AccountRegion(alias, region)

    def locate(self, account: str | None, region: str | None) -> AccountRegion:
        """The target named, the account's default region when ``region`` is None; a
        ``NotFound`` for an alias or region the file does not list (no upstream call)."""
        if account is None:
            if region is None:
                return self.default
            account = self.default.account
        found = self.accounts.get(account)
        if found is None:
            raise NotFound(
                f"No account is configured as {echo(account)}.", code=ErrorCode.ACCOUNT_NOT_FOUND
            )
        if region is None:
            return AccountRegion(account, found.regions[0])
        if region not in found.regions:
            raise NotFound(
                f"Account {account!r} is not read in region {echo(region)}.",
                code=ErrorCode.REGION_NOT_FOUND,
            )
        return AccountRegion(account, region)

    def of_event(self, account_id: str | None, region: str | None) -> AccountRegion | None:
        """The target a notification from ``account_id`` in ``region`` is about, if read."""
        alias = self._by_id.get(account_id or "", self._own)
        if alias is None:
            return None
        regions = self.accounts[alias].regions
        if region is None:
            region = regions[0]
        return AccountRegion(alias, region) if region in regions else None


def echo(given: str) -> str:
    """A caller's name for an account or region, quoted back no longer than an alias."""
    return repr(given) if len(given) <= 64 else repr(given[:64]) + "…"


def _arn_account(role_arn: str) -> str:
    match = re.match(ROLE_ARN_PATTERN, role_arn)
    assert match is not None  # the field's pattern checked it
    return match.group(1)


def _problems(parsed: _File) -> list[str]:
    problems = []
    if parsed.default is None and len(parsed.accounts) > 1:
        problems.append("default: name the default account (there are several)")
    elif parsed.default is not None and parsed.default not in parsed.accounts:
        problems.append(f"default: {parsed.default!r} is not one of the accounts")
    ids: dict[str, str] = {}
    own: str | None = None
    for alias, account in parsed.accounts.items():
        if account.role_arn is None:  # read by the gateway's own identity: its account
            if own is not None:
                problems.append(f"accounts.{alias}: is the gateway's own account, as {own!r} is")
            own = own or alias
        if account.external_id is not None and account.role_arn is None:
            problems.append(f"accounts.{alias}.externalId: only goes with a roleArn")
        if len(set(account.regions)) != len(account.regions):
            problems.append(f"accounts.{alias}.regions: a region is listed twice")
        role, given = account.role_arn, account.account_id
        if role is not None and given is not None and given != _arn_account(role):
            problems.append(f"accounts.{alias}.accountId: is not the roleArn's account")
        if account.id is not None:
            if account.id in ids:
                problems.append(f"accounts.{alias}: is account {ids[account.id]!r} again")
            ids[account.id] = alias
    targets = sum(len(account.regions) for account in parsed.accounts.values())
    if targets > MAX_TARGETS:
        problems.append(f"accounts: {targets} account regions; at most {MAX_TARGETS}")
    return problems


@dataclass(frozen=True, slots=True)
class Grants:
    """The accounts one caller may read: ``None``, every one."""

    accounts: frozenset[str] | None = None

    @property
    def audience(self) -> str:
        """Who may share answers with this caller: those granted the same accounts (a JSON
        list, so that no set of names reads as another)."""
        return "all" if self.accounts is None else json.dumps(sorted(self.accounts))

    def allows(self, account: str) -> bool:
        return self.accounts is None or account in self.accounts

    def check(self, account: str, *, named: bool = True) -> None:
        """``Forbidden`` for an account not granted, whether or not it is configured, so
        that a caller learns nothing of the accounts it may not read (nor the default's
        alias, when it named none)."""
        if not self.allows(account):
            which = f"account {echo(account)}" if named else "the default account"
            raise Forbidden(f"This caller may not read {which}.", code=ErrorCode.FORBIDDEN)


EVERY_ACCOUNT = Grants()
NO_ACCOUNT = Grants(frozenset())
