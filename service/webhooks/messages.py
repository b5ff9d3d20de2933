"""What a webhook is sent: a change the streams carry, as a Standard Webhooks message
(signed JSON with a stable id), or as a Slack incoming-webhook message (Block Kit)."""

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from service.accounts import AccountRegion
from service.live.changes import KINDS, Kind
from service.models import DeploymentInfo, DeploymentTarget, InstanceSummary, LifecycleEvent
from service.webhooks.config import EventChoice, Webhook

FAILED = "Failed"
# Block Kit's limits (api.slack.com/reference/block-kit): blocks a message, characters a
# section's text, a header's text; and the message's fallback text, kept short.
SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION = 3000
SLACK_MAX_HEADER = 150
SLACK_MAX_TEXT = 3000
SLACK_FAILURES_SHOWN = 10
LOG_LINES = 10


@dataclass(frozen=True, slots=True)
class Seen:
    """One change a feed relayed, with where it happened."""

    where: AccountRegion
    application: str | None
    group: str | None
    kind: Kind
    deployment_id: str
    item_id: str
    value: Any
    body: bytes
    """The item's JSON, as GET answers it and the streams carry it."""

    @property
    def status(self) -> str | None:
        if isinstance(self.value, DeploymentTarget):
            target = _target(self.value)
            return None if target is None else target.status
        status: str | None = getattr(self.value, "status", None)
        return status

    @property
    def choice(self) -> EventChoice | None:
        """The narrow event choice this change is, if any (every change is ``all``'s)."""
        if self.kind == "deployment":
            return "deployment"
        if self.kind in ("instance", "target") and self.status == FAILED:
            return "instance-failed" if self.kind == "instance" else "target-failed"
        return None


@dataclass(frozen=True, slots=True)
class Message:
    """A delivery to make: to which webhook, in which order (``key``: one deployment's
    messages go out one after another), under which id, with what body."""

    webhook: str
    key: str
    id: str
    body: bytes
    created: float = field(compare=False)


def message_id(webhook: str, *parts: str) -> str:
    """The same change makes the same id, on any replica and after any restart, so a
    receiver drops what it has seen."""
    digest = hashlib.sha256("\x1f".join((webhook, *parts)).encode()).hexdigest()
    return f"msg_{digest[:32]}"


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks' ``webhook-signature``: HMAC-SHA256 of ``id.timestamp.body``."""
    mac = hmac.new(secret, b"%s.%d.%s" % (msg_id.encode(), timestamp, body), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def event_type(seen: Seen) -> str:
    """``deployment.succeeded``, ``instance.failed``, ``target.changed``, ``group.changed``."""
    if seen.kind == "deployment":
        return f"deployment.{(seen.status or 'unknown').lower()}"
    if seen.choice is not None:
        return f"{seen.kind}.failed"
    return f"{seen.kind}.changed"


def standard(seen: Seen, now: float) -> bytes:
    """The envelope's payload: the type, when, where, and the stream event's data."""
    head = orjson.dumps(
        {
            "type": event_type(seen),
            "timestamp": datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z"),
            "account": seen.where.account,
            "region": seen.where.region,
            "applicationName": seen.application,
            "deploymentGroupName": seen.group,
            "deploymentId": seen.deployment_id or None,
        }
    )
    member = KINDS[seen.kind].member
    return head[:-1] + b',"data":{"%s":%s}}' % (member, seen.body)


def slack(seen: Seen, failures: list[Seen], failed_count: int, board_url: str | None) -> bytes:
    """A Slack incoming-webhook message: the deployment (or failing item), its status,
    and each failure's lifecycle event, script and log tail, within Block Kit's limits
    whatever the number of failures (the first ten shown, the rest counted)."""
    where = f"{seen.where.account} / {seen.where.region}"
    if seen.kind == "deployment":
        title = f"Deployment {seen.deployment_id} {(seen.status or 'changed').lower()}"
    else:
        title = f"{seen.kind.capitalize()} {seen.item_id} {(seen.status or 'changed').lower()}"
        failures, failed_count = ([seen], 1) if seen.status == FAILED else ([], 0)
    context = " · ".join(
        part for part in (seen.application, seen.group, seen.deployment_id or None, where) if part
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(title, SLACK_MAX_HEADER)},
        {"type": "context", "elements": [_markdown(_escape(context), SLACK_MAX_SECTION)]},
    ]
    summary = _summary(seen)
    if summary:
        blocks.append({"type": "section", "text": _markdown(summary, SLACK_MAX_SECTION)})
    for failure in failures[:SLACK_FAILURES_SHOWN]:
        blocks.append({"type": "section", "text": _markdown(_failure(failure), SLACK_MAX_SECTION)})
    if failed_count > SLACK_FAILURES_SHOWN:
        more = f"…and {failed_count - SLACK_FAILURES_SHOWN} more failed"
        blocks.append({"type": "context", "elements": [_markdown(more, SLACK_MAX_SECTION)]})
    if board_url:
        link = f"<{board_url}|Open the board>"
        blocks.append({"type": "context", "elements": [_markdown(link, SLACK_MAX_SECTION)]})
    text = f"{title} ({context})"
    return orjson.dumps({"text": text[:SLACK_MAX_TEXT], "blocks": blocks[:SLACK_MAX_BLOCKS]})


def body_for(hook: Webhook, seen: Seen, now: float, failures: list[Seen], count: int,
             board_url: str | None) -> bytes:  # fmt: skip
    if hook.format == "slack":
        return slack(seen, failures, count, board_url)
    return standard(seen, now)


def _summary(seen: Seen) -> str:
    value = seen.value
    if not isinstance(value, DeploymentInfo):
        return ""
    lines = [f"*Status:* {_escape(value.status or 'unknown')}"]
    if value.deployment_overview is not None:
        overview = value.deployment_overview
        counts = (
            ("succeeded", overview.succeeded),
            ("failed", overview.failed),
            ("in progress", overview.in_progress),
            ("pending", overview.pending),
            ("skipped", overview.skipped),
        )
        lines.append(" · ".join(f"{count} {name}" for name, count in counts if count))
    if value.error_information is not None and value.error_information.message:
        lines.append(f"*Error:* {_escape(value.error_information.message)}")
    return "\n".join(line for line in lines if line)


def _failure(seen: Seen) -> str:
    """One failed instance or target: its failing lifecycle event, script, log tail."""
    events = _events(seen.value)
    failing = next((event for event in events if event.status == FAILED), None)
    head = f"*{_escape(seen.item_id)}* failed"
    if failing is None:
        return head
    head += f" at *{_escape(failing.lifecycle_event_name or 'a lifecycle event')}*"
    diagnostics = failing.diagnostics
    if diagnostics is None:
        return head
    if diagnostics.script_name:
        head += f" (`{_escape(diagnostics.script_name)}`)"
    parts = [head]
    if diagnostics.message:
        parts.append(_clip(_escape(diagnostics.message), 500))
    if diagnostics.log_tail:
        tail = "\n".join(diagnostics.log_tail.splitlines()[-LOG_LINES:])
        # What fits of the tail's end, inside a code block, under the section's limit.
        room = SLACK_MAX_SECTION - len("\n".join(parts)) - len("\n``````")
        parts.append(f"```{_escape(tail)[-max(room, 0) :]}```")
    return "\n".join(parts)


def _events(value: Any) -> list[LifecycleEvent]:
    if isinstance(value, InstanceSummary):
        return value.lifecycle_events
    if isinstance(value, DeploymentTarget) and (target := _target(value)) is not None:
        events: list[LifecycleEvent] = target.lifecycle_events
        return events
    return []


def _target(value: DeploymentTarget) -> Any:
    return (
        value.instance_target
        or value.lambda_target
        or value.ecs_target
        or value.cloud_formation_target
    )


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, as its docs say to escape them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text, limit)}


def _markdown(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(text, limit)}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
