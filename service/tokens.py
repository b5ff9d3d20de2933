"""Cursors the gateway hands out: where an item sits in one of CodeDeploy's paged lists
(CodeDeploy's page token and an index in its page), sealed with an HMAC.

A cursor is bound to its list — which list, its parent and its filters (``binding``) —
and, through a key of its own per scope, to the account and region: one from another list,
another account, another secret or made up is refused (400 ``INVALID_CURSOR``) before it
reaches CodeDeploy or the cache. First pages are no exception. Replicas that share
``GATEWAY_CURSOR_SECRET`` accept each other's cursors.
"""

import base64
import binascii
import hashlib
import hmac
import json

from service.errors import ErrorCode, InvalidRequest

# CodeDeploy's tokens run to a few hundred characters; sealed with an index, they grow by a
# third and a signature. Anything longer is refused before any work is done on it.
MAX_CURSOR_CHARACTERS = 2048
SIGNATURE_BYTES = 16

Position = tuple[str | None, int]
"""CodeDeploy's token of a page (None: the first) and an index in it (-1: before it)."""


class Cursors:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def scoped(self, scope: str) -> "Cursors":
        """Cursors for one scope (an account in a region) under a key of their own."""
        return Cursors(hmac.new(self._secret, scope.encode(), hashlib.sha256).digest())

    def _signature(self, binding: str, payload: bytes) -> bytes:
        signed = hmac.new(self._secret, binding.encode(), hashlib.sha256)
        signed.update(b"\0" + payload)
        return signed.digest()[:SIGNATURE_BYTES]

    def seal(self, binding: str, position: Position) -> str:
        payload = json.dumps(position, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._signature(binding, payload) + payload).decode()

    def open(self, binding: str, cursor: str) -> Position:
        """The position ``cursor`` holds; ``InvalidRequest`` for one not sealed for
        ``binding`` in this scope."""
        refused = InvalidRequest(
            "The cursor (`after`, `nextToken`) is not one this gateway gave out for this "
            "list, its filters, account and region.",
            code=ErrorCode.INVALID_CURSOR,
        )
        if len(cursor) > MAX_CURSOR_CHARACTERS:
            raise refused
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
            signature, payload = raw[:SIGNATURE_BYTES], raw[SIGNATURE_BYTES:]
            if hmac.compare_digest(signature, self._signature(binding, payload)):
                token, index = json.loads(payload)
                return token, index
        except (UnicodeError, ValueError, TypeError, binascii.Error):
            pass
        raise refused
