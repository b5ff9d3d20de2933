"""Who may call, and how often: API keys, OIDC tokens, per-caller rate limits."""

from service.guard.authenticator import Authenticator
from service.guard.keys import hash_key, new_key
from service.guard.ratelimit import TokenBuckets

__all__ = ["Authenticator", "TokenBuckets", "hash_key", "new_key"]
