"""The webhooks file, checked at start-up: one line per problem, no secret in any."""

import json
from pathlib import Path

import pytest

from service.accounts import Accounts
from service.settings import ConfigurationError, Settings
from service.webhooks import Webhooks
from service.webhooks.addresses import refusal
from tests.webhooks.conftest import SECRET, hooks_file

ACCOUNTS = Accounts.alone("us-east-1")


def test_a_file_as_the_docs_show_it_loads(tmp_path: Path) -> None:
    path = hooks_file(
        tmp_path,
        {"name": "release-tracker", "url": "https://hooks.example.com/codedeploy",
         "accounts": ["default"], "applications": ["orders-api"], "deploymentGroups": ["prod"],
         "events": ["deployment", "instance-failed"], "format": "standard"},
        {"name": "chat", "url": "https://hooks.example.com/slack", "format": "slack"},
        allowedHosts=["hooks.example.com"], privateHosts=[],
    )  # fmt: skip
    hooks = Webhooks.load(path, ACCOUNTS)
    tracker, chat = hooks
    assert tracker.follows("default", "orders-api", "prod")
    assert not tracker.follows("default", "orders-api", "staging")
    assert tracker.wants("instance-failed")
    assert not tracker.wants("target-failed")
    assert chat.wants("target-failed")
    assert chat.follows("other", None, None)
    assert len(tracker.secret) == 32
    assert not tracker.private


def test_every_problem_is_one_line_and_no_secret_is_quoted(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("whsec_" + "c2hvcnQ=")  # "short": 5 bytes
    plain = tmp_path / "plain"
    plain.write_text("hunter2-not-a-webhook-secret")
    path = hooks_file(
        tmp_path,
        {"name": "a", "url": "https://elsewhere.example.org/x"},
        {"name": "a", "url": "https://user:pw@hooks.example.com/x", "secretFile": str(short)},
        {"name": "b", "url": "https://hooks.example.com/x", "accounts": ["prod"],
         "secretFile": str(plain)},
        {"name": "c", "url": "http://169.254.169.254/latest/meta-data"},
        {"name": "d", "url": "https://hooks.example.com/x", "secretFile": str(tmp_path / "no")},
        allowedHosts=["hooks.example.com", "169.254.169.254"], privateHosts=["intranet"],
    )  # fmt: skip
    with pytest.raises(ConfigurationError) as error:
        Webhooks.load(path, ACCOUNTS)
    lines = str(error.value).splitlines()
    assert all(line.startswith(f"GATEWAY_WEBHOOKS_FILE ({path}): ") for line in lines)
    found = "\n".join(lines)
    for expected in (
        "privateHosts: 'intranet' is not in allowedHosts",
        "webhooks.0.url: host 'elsewhere.example.org' is not in allowedHosts",
        "webhooks.1.name: 'a' is named twice",
        "webhooks.1.url: credentials in a URL",
        "webhooks.1.secretFile: the secret is 5 bytes",
        "webhooks.2.accounts: 'prod' is not an account the gateway reads",
        "webhooks.2.secretFile: does not hold a Standard Webhooks secret",
        "webhooks.3.url: 169.254.169.254 is a cloud metadata address",
        "webhooks.4.secretFile: No such file or directory",
    ):
        assert expected in found, expected
    assert len(lines) == 9
    assert "hunter2" not in found
    assert "pw@" not in found
    assert SECRET not in found


def test_unknown_fields_and_events_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"allowedHosts": ["h"], "webhooks": [
        {"name": "x", "url": "https://h/", "secretFile": "s", "events": ["deploy"], "fromat": 1}
    ]}))  # fmt: skip
    with pytest.raises(ConfigurationError) as error:
        Webhooks.load(path, ACCOUNTS)
    assert "webhooks.0.events.0: Input should be 'deployment'" in str(error.value)
    assert "webhooks.0.fromat: Extra inputs are not permitted" in str(error.value)


def test_a_webhooks_file_needs_somewhere_to_keep_deliveries(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GATEWAY_WEBHOOKS_FILE needs GATEWAY_WEBHOOKS_DB"):
        Settings(auth="none", webhooks_file=tmp_path / "w.json")
    Settings(auth="none", webhooks_file=tmp_path / "w.json", webhooks_db=tmp_path / "w.db")
    Settings(auth="none", webhooks_file=tmp_path / "w.json", redis_url="redis://r:6379/0")


@pytest.mark.parametrize(
    ("address", "private", "refused"),
    [
        ("100.64.0.1", False, "is private, loopback or link-local"),  # shared (CGNAT) space
        ("fd00:ec2::23", True, "is a cloud metadata address"),  # EKS Pod Identity
        ("::ffff:169.254.169.254", True, "is a cloud metadata address"),
        ("10.0.0.7", True, None),
        ("93.184.216.34", False, None),
    ],
)
def test_which_addresses_a_receiver_may_have(
    address: str, private: bool, refused: str | None
) -> None:
    reason = refusal(address, private_allowed=private)
    assert (reason is None) if refused is None else (reason is not None and refused in reason)


def test_a_bracketed_ipv6_host_named_private_is_accepted(tmp_path: Path) -> None:
    path = hooks_file(tmp_path, {"name": "inside", "url": "http://[fd12::1]:8080/hook"},
                      allowedHosts=["[fd12::1]"], privateHosts=["[fd12::1]"])  # fmt: skip
    assert Webhooks.load(path, ACCOUNTS).hooks["inside"].private


def test_a_secret_file_is_never_read_whole(tmp_path: Path) -> None:
    huge = tmp_path / "huge"
    huge.write_text(SECRET + "\n" + "x" * 10_000)
    path = hooks_file(tmp_path, {"name": "x", "url": "https://hooks.example.com/",
                                 "secretFile": str(huge)}, allowedHosts=["hooks.example.com"], privateHosts=[])  # fmt: skip
    with pytest.raises(ConfigurationError, match="holds more than 1024 bytes"):
        Webhooks.load(path, ACCOUNTS)
    assert "secret" not in repr(Webhooks.load(hooks_file(tmp_path, {
        "name": "x", "url": "https://hooks.example.com/"}, allowedHosts=["hooks.example.com"], privateHosts=[]),
        ACCOUNTS).hooks["x"])  # fmt: skip
