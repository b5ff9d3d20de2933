"""Account routing: which account region's resolver answers a request, checked
against the caller's grants before anything is read."""

import logging

from service.accounts import EVERY_ACCOUNT, AccountRegion, Grants, echo
from service.codedeploy import Upstreams
from service.errors import Forbidden, GatewayError
from service.reads.caches import Caches
from service.reads.resolver import Resolver
from service.tokens import Cursors

logger = logging.getLogger(__name__)


class Resolvers:
    """A resolver per account and region the accounts list, all sharing the caches (whose
    keys name the account and region) and made on first use."""

    def __init__(self, upstreams: Upstreams, caches: Caches, cursors: Cursors) -> None:
        self.accounts = upstreams.accounts
        self.caches = caches
        self._upstreams = upstreams
        self._cursors = cursors
        self._resolvers: dict[AccountRegion, Resolver] = {}

    def at(self, where: AccountRegion) -> Resolver:
        """``where``'s resolver; a ``KeyError`` for one the accounts do not list (a
        replica's message naming it), so what is kept here stays bounded by the file."""
        resolver = self._resolvers.get(where)
        if resolver is None:
            if where not in self.accounts:
                raise KeyError(f"{where} is not read")
            resolver = Resolver(self._upstreams.get(where), self.caches, self._cursors)
            self._resolvers[where] = resolver
        return resolver

    def of(
        self,
        account: str | None,
        region: str | None,
        grants: Grants = EVERY_ACCOUNT,
        *,
        caller: str | None = None,
    ) -> Resolver:
        """The resolver of ``account`` in ``region`` (the default account, the account's
        first region, when not named), before anything is read: ``Forbidden`` (logged with
        ``caller``) for an account ``grants`` leaves out, then ``NotFound`` for one not
        configured."""
        try:
            return self._find(account, region, grants)
        except Forbidden:
            alias = account if account is not None else self.accounts.default.account
            logger.warning("%s may not read account %s", caller, echo(alias))
            raise

    def peek(self, account: str | None, region: str | None, grants: Grants) -> Resolver | None:
        """``of``'s resolver without its errors: None where ``of`` would raise."""
        try:
            return self._find(account, region, grants)
        except GatewayError:
            return None

    def _find(self, account: str | None, region: str | None, grants: Grants) -> Resolver:
        alias = account if account is not None else self.accounts.default.account
        grants.check(alias, named=account is not None)
        return self.at(self.accounts.locate(account, region))
