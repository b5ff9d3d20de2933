"""The messages: Standard Webhooks' envelope as its own library verifies it, and Slack's
Block Kit limits held whatever the number of failures."""

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from service.accounts import AccountRegion
from service.models import DeploymentInfo, Diagnostics, InstanceSummary, LifecycleEvent
from service.snapshot import Snapshot
from service.webhooks.messages import (
    SLACK_MAX_BLOCKS,
    SLACK_MAX_HEADER,
    SLACK_MAX_SECTION,
    Seen,
    message_id,
    sign,
    slack,
    standard,
)
from tests.webhooks.conftest import SECRET

WHERE = AccountRegion("prod", "eu-west-1")


def seen(value: DeploymentInfo | InstanceSummary, kind: str, item: str) -> Seen:
    return Seen(WHERE, "orders-api", "prod", kind, "d-FAILED001", item, value,  # type: ignore[arg-type]
                Snapshot(value).body)  # fmt: skip


def failed_instance(number: int) -> Seen:
    tail = "\n".join(f"line {n}: " + "x" * 400 for n in range(100))  # 40 KB of log
    instance = InstanceSummary(
        deployment_id="d-FAILED001",
        instance_id=f"i-{number:017x}",
        status="Failed",
        lifecycle_events=[
            LifecycleEvent(lifecycle_event_name="BeforeInstall", status="Succeeded"),
            LifecycleEvent(
                lifecycle_event_name="ApplicationStart",
                status="Failed",
                diagnostics=Diagnostics(
                    error_code="ScriptFailed",
                    script_name="scripts/start.sh",
                    message="Script at specified location: scripts/start.sh run as user root "
                    "failed with exit code 1 <&>" * 20,
                    log_tail=tail,
                ),
            ),
        ],
    )
    return seen(instance, "instance", instance.instance_id or "")


def test_a_signature_verifies_with_the_standard_webhooks_library() -> None:
    deployment = DeploymentInfo(deployment_id="d-FAILED001", status="Failed")
    body = standard(seen(deployment, "deployment", "d-FAILED001"), 1_800_000_000.0)
    msg_id = message_id("tracker", "deployment", "d-FAILED001", "Failed")
    now = int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(Verifier(SECRET)._whsecret, msg_id, now, body),
    }
    payload = Verifier(SECRET).verify(body, headers)
    assert payload["type"] == "deployment.failed"
    assert payload["data"] == {"deploymentInfo": {"deploymentId": "d-FAILED001",
                                                  "status": "Failed"}}  # fmt: skip
    assert (payload["account"], payload["region"]) == ("prod", "eu-west-1")
    assert payload["timestamp"] == "2027-01-15T08:00:00Z"
    tampered = body.replace(b"Failed", b"Succeeded")
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Verifier(SECRET).verify(tampered, headers)


def test_the_same_change_has_the_same_id_and_another_another() -> None:
    assert message_id("a", "d-1", "Failed") == message_id("a", "d-1", "Failed")
    assert message_id("a", "d-1", "Failed") != message_id("b", "d-1", "Failed")
    assert message_id("a", "d-1", "Failed").startswith("msg_")


def test_slack_holds_block_kit_limits_for_a_thousand_failed_instances() -> None:
    failures = [failed_instance(n) for n in range(1000)]
    deployment = DeploymentInfo(
        deployment_id="d-FAILED001", application_name="orders-api", status="Failed",
        deployment_group_name="prod" * 100,
    )  # fmt: skip
    message = json.loads(
        slack(seen(deployment, "deployment", "d-FAILED001"), failures[:10], 1000,
              "https://gateway.example.com/board")
    )  # fmt: skip
    blocks = message["blocks"]
    assert len(blocks) <= SLACK_MAX_BLOCKS
    assert blocks[0]["type"] == "header"
    assert len(blocks[0]["text"]["text"]) <= SLACK_MAX_HEADER
    texts = [block["text"]["text"] for block in blocks if block["type"] == "section"]
    texts += [element["text"] for block in blocks if block["type"] == "context"
              for element in block["elements"]]  # fmt: skip
    assert all(len(text) <= SLACK_MAX_SECTION for text in texts)
    assert len(message["text"]) <= 3000
    failures_shown = [text for text in texts if "failed at *ApplicationStart*" in text]
    assert len(failures_shown) == 10
    assert "(`scripts/start.sh`)" in failures_shown[0]
    assert "line 99: " in failures_shown[0]  # the tail's end, not its start
    assert "&lt;&amp;&gt;" in failures_shown[0]  # mrkdwn escaped
    assert any("990 more failed" in text for text in texts)
    assert any("<https://gateway.example.com/board|Open the board>" in text for text in texts)
