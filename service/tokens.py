"""Page tokens the gateway hands out: CodeDeploy's ``nextToken`` sealed with an HMAC.

A client gets back only tokens the gateway made, so a forged, tampered or oversized one
is refused (400) before it reaches CodeDeploy or the cache. Replicas that share
``GATEWAY_CURSOR_SECRET`` accept each other's tokens.
"""

import base64
import binascii
import hashlib
import hmac

from service.errors import ErrorCode, InvalidRequest

# CodeDeploy's tokens run to a few hundred characters; sealed, they grow by a third and
# a signature. Anything longer is refused before any work is done on it.
MAX_TOKEN_CHARACTERS = 2048
SIGNATURE_BYTES = 16


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def scoped(self, scope: str) -> "PageTokens":
        """Tokens for one scope (an account in a region) under a key of their own: one
        handed out for another scope is refused like a forged one."""
        return PageTokens(hmac.new(self._secret, scope.encode(), hashlib.sha256).digest())

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def seal(self, token: str | None) -> str | None:
        """The client's form of CodeDeploy's ``token``."""
        if token is None:
            return None
        payload = token.encode()
        return base64.urlsafe_b64encode(self._signature(payload) + payload).decode()

    def open(self, sealed: str | None) -> str | None:
        """CodeDeploy's token inside ``sealed``; raises ``InvalidRequest`` for any other."""
        if sealed is None:
            return None
        refused = InvalidRequest(
            "nextToken is not a token this gateway gave out.", code=ErrorCode.INVALID_CURSOR
        )
        if len(sealed) > MAX_TOKEN_CHARACTERS:
            raise refused
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
            signature, payload = raw[:SIGNATURE_BYTES], raw[SIGNATURE_BYTES:]
            if hmac.compare_digest(signature, self._signature(payload)):
                return payload.decode()
        except (UnicodeError, ValueError, binascii.Error):
            pass
        raise refused
