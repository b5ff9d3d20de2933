"""STS's AssumeRole over AWS's query protocol, and which account a signed request reads.

Credentials it mints read their role's account; any others (the gateway's own identity
in local mode, ``local``/``local``) read the home account. Signatures are not checked:
the key id in a request's ``Authorization`` header and the region it signs for decide,
and a header with no credential scope at all reads the home account.
"""

import re
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from service.emulator.data import EmulatorData, role_account
from service.emulator.errors import AwsError

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
HOME_REGION = "us-east-1"
# Credential=<key id>/<date>/<region>/<service>/aws4_request
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
MIN_SESSION_SECONDS = 900  # STS's floor for DurationSeconds
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_KEY_CHARACTERS = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signed a request: the account its key reads, and the region it signed for."""

    account: str
    region: str


@dataclass(frozen=True, slots=True)
class _Minted:
    account: str
    expires: float


class Sts:
    def __init__(self, data: EmulatorData, clock: Callable[[], float] = time.time) -> None:
        self.data = data
        self.clock = clock
        self._minted: dict[str, _Minted] = {}

    def signer(self, authorization: str) -> Signer:
        """The account and region of a signed request; an AWS error for a minted key
        that expired or never was."""
        match = _SCOPE.search(authorization)
        if match is None:  # any Authorization will do for the home account (benchmarks)
            return Signer(self.data.account_id, HOME_REGION)
        key, region, _ = match.groups()
        minted = self._minted.get(key)
        if minted is None:
            if key.startswith("ASIA"):
                raise AwsError(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                )
            return Signer(self.data.account_id, region)
        if minted.expires <= self.clock():
            raise AwsError(
                "ExpiredTokenException", "The security token included in the request is expired"
            )
        return Signer(minted.account, region)

    def assume_role(self, form: dict[str, str]) -> str:
        """AssumeRole's XML answer, or the AWS error STS would give."""
        arn = form.get("RoleArn", "")
        name = form.get("RoleSessionName", "")
        if not _SESSION_NAME.fullmatch(name):
            raise AwsError("ValidationError", "RoleSessionName must be 2 to 64 of [\\w+=,.@-].")
        account = role_account(arn)
        role = self.data.roles.get(arn)
        denied = AwsError(
            "AccessDenied",
            f"User: arn:aws:iam::{self.data.account_id}:user/gateway is not authorized to "
            f"perform: sts:AssumeRole on resource: {arn}",
            403,
        )
        if account is None or role is None:
            raise denied
        if role.refuse is not None:
            raise AwsError(role.refuse.type, role.refuse.message, role.refuse.status)
        if role.external_id is not None and form.get("ExternalId") != role.external_id:
            raise denied
        try:
            asked = int(form.get("DurationSeconds", "3600"))
        except ValueError:
            raise AwsError("ValidationError", "DurationSeconds must be a number.") from None
        if asked < MIN_SESSION_SECONDS:
            raise AwsError(
                "ValidationError",
                f"1 validation error detected: Value '{asked}' at 'durationSeconds' failed to "
                f"satisfy constraint: Member must have value greater than or equal to "
                f"{MIN_SESSION_SECONDS}",
            )
        if asked > role.max_session_seconds:
            raise AwsError(
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            )
        key = "ASIA" + "".join(secrets.choice(_KEY_CHARACTERS) for _ in range(16))
        expires = self.clock() + asked
        self._minted[key] = _Minted(account, expires)
        expiration = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        role_name = arn.rsplit("/", 1)[-1]
        return (
            f'<AssumeRoleResponse xmlns="{NAMESPACE}"><AssumeRoleResult><Credentials>'
            f"<AccessKeyId>{key}</AccessKeyId>"
            f"<SecretAccessKey>{secrets.token_urlsafe(30)}</SecretAccessKey>"
            f"<SessionToken>{secrets.token_urlsafe(60)}</SessionToken>"
            f"<Expiration>{expiration}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROA{key[4:]}:{escape(name)}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{escape(role_name)}/{escape(name)}</Arn>"
            "</AssumedRoleUser></AssumeRoleResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )


def error_xml(error: AwsError, request_id: str) -> str:
    """An error as the query protocol sends it."""
    kind = "Receiver" if error.status >= 500 else "Sender"
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type>'
        f"<Code>{escape(error.type)}</Code><Message>{escape(error.message)}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
