"""An operator's view of the webhooks: their state, their dead letters, and resending one
(``/operations/webhooks``; the metrics key when there is one, else a caller's credential
granted every account).
Not in OpenAPI: an operator's tool, like ``/metrics``, not the contract."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from service.edge.paths import OPERATIONS
from service.errors import ErrorCode, Forbidden, NotFound
from service.request import context_of
from service.webhooks import Webhooking

router = APIRouter(prefix=OPERATIONS + "/webhooks", include_in_schema=False)
MAX_LISTED = 1000


def _webhooks(request: Request) -> Webhooking:
    """The webhooks, for an operator: the metrics key, or a caller granted every account
    (dead letters carry any account's deployments)."""
    if context_of(request.scope).grants.accounts is not None:
        raise Forbidden(
            "The webhooks' routes want the metrics key, or a caller granted every account.",
            code=ErrorCode.FORBIDDEN,
        )
    webhooking: Webhooking | None = request.state.webhooks
    if webhooking is None:
        raise NotFound("No webhooks are configured (GATEWAY_WEBHOOKS_FILE).",
                       code=ErrorCode.WEBHOOK_NOT_FOUND)  # fmt: skip
    return webhooking


@router.get("")
async def list_webhooks(request: Request) -> dict[str, Any]:
    """Each webhook: where it calls (the host), what it takes, whether a 410 disabled it,
    and how many deliveries wait and how many died."""
    webhooking = _webhooks(request)
    disabled = await webhooking.outbox.disabled()
    counts = await webhooking.outbox.counts()
    return {
        "webhooks": [
            {
                "name": hook.name,
                "host": hook.host,
                "format": hook.format,
                "events": sorted(hook.events),
                "enabled": hook.name not in disabled,
                "disabledBecause": disabled.get(hook.name),
                "waiting": counts.get(hook.name, (0, 0))[0],
                "deadLetters": counts.get(hook.name, (0, 0))[1],
            }
            for hook in webhooking.webhooks
        ]
    }


@router.get("/dead-letters")
async def dead_letters(
    request: Request, limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 100
) -> dict[str, Any]:
    """What was given up on, oldest first, with the last try's error."""
    letters = await _webhooks(request).outbox.dead_letters(limit)
    return {
        "deadLetters": [
            {
                "ref": letter.ref,
                "webhook": letter.webhook,
                "webhookId": letter.id,
                "key": letter.key,
                "attempts": letter.attempts,
                "lastError": letter.last_error,
                "createdAt": letter.created,
                "diedAt": letter.died,
            }
            for letter in letters
        ]
    }


@router.post("/dead-letters/{ref}/resend", status_code=202)
async def resend(request: Request, ref: Annotated[str, Path(max_length=200)]) -> dict[str, str]:
    """The dead letter queued again (same ``webhook-id``), tried at once."""
    if not await _webhooks(request).resend(ref):
        raise NotFound(f"No dead letter {ref[:64]!r}.", code=ErrorCode.DEAD_LETTER_NOT_FOUND)
    return {"ref": ref, "status": "queued"}


@router.post("/{name}/enable")
async def enable(request: Request, name: Annotated[str, Path(max_length=64)]) -> dict[str, str]:
    """A webhook a 410 disabled, enabled again (what waits for it goes out)."""
    webhooking = _webhooks(request)
    if name not in webhooking.webhooks.hooks:
        raise NotFound(f"No webhook {name[:64]!r}.", code=ErrorCode.WEBHOOK_NOT_FOUND)
    await webhooking.enable(name)
    return {"name": name, "status": "enabled"}
