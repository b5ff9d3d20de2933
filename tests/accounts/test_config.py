"""GATEWAY_ACCOUNTS_FILE: what it may say, and one line for each thing wrong with it."""

import json
from pathlib import Path
from typing import Any

import pytest

from service.accounts import MAX_TARGETS, AccountRegion, Accounts, Grants
from service.app import create_app, load_accounts
from service.errors import Forbidden, NotFound
from service.settings import ConfigurationError, Settings

ROLE = "arn:aws:iam::222222222222:role/read"


def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "accounts.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_the_example_from_the_docs_loads(tmp_path: Path) -> None:
    accounts = Accounts.load(
        write(
            tmp_path,
            {
                "default": "prod",
                "accounts": {
                    "prod": {
                        "roleArn": "arn:aws:iam::111111111111:role/codedeploy-gateway-read",
                        "regions": ["us-east-1", "eu-west-1"],
                    },
                    "staging": {
                        "roleArn": ROLE,
                        "externalId": "org-7f3a",
                        "regions": ["us-east-1"],
                    },
                },
            },
        )
    )
    assert accounts.default == AccountRegion("prod", "us-east-1")
    assert list(accounts) == [
        AccountRegion("prod", "us-east-1"),
        AccountRegion("prod", "eu-west-1"),
        AccountRegion("staging", "us-east-1"),
    ]
    assert accounts.locate("prod", None) == AccountRegion("prod", "us-east-1")
    assert accounts.locate(None, "eu-west-1") == AccountRegion("prod", "eu-west-1")
    assert accounts.of_event("222222222222", "us-east-1") == AccountRegion("staging", "us-east-1")
    assert accounts.of_event("111111111111", "ap-south-1") is None


def test_without_a_file_the_gateway_reads_its_own_account_as_before() -> None:
    accounts = load_accounts(Settings(auth="none"))  # AWS_REGION=us-east-1
    assert accounts.default == AccountRegion("default", "us-east-1")
    assert list(accounts) == [accounts.default]
    # Events from any account id reach the one account, as they did.
    assert accounts.of_event("123456789012", "us-east-1") == accounts.default


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        ("{", ["not JSON"]),
        ({"accounts": {}}, ["accounts: Dictionary should have at least 1 item"]),
        (
            {"accounts": {"a": {"regions": []}, "b": {"regions": ["mars-1"], "rolearn": ROLE}}},
            [
                "accounts.a.regions: List should have at least 1 item",
                "accounts.b.regions.0: String should match pattern",
                "accounts.b.rolearn: Extra inputs are not permitted",
            ],
        ),
        (
            {
                "default": "nope",
                "accounts": {
                    "a": {"regions": ["us-east-1", "us-east-1"], "externalId": "x-1"},
                    "b": {"roleArn": ROLE, "accountId": "333333333333", "regions": ["us-east-1"]},
                    "c": {
                        "roleArn": "arn:aws:iam::333333333333:role/other",
                        "regions": ["us-east-1"],
                    },
                },
            },
            [
                "default: 'nope' is not one of the accounts",
                "accounts.a.externalId: only goes with a roleArn",
                "accounts.a.regions: a region is listed twice",
                "accounts.b.accountId: is not the roleArn's account",
                "accounts.c: is account 'b' again",
            ],
        ),
        (
            {
                "default": "a",
                "accounts": {
                    "a": {"regions": ["us-east-1"]},
                    "b": {"regions": ["eu-west-1"], "accountId": "444444444444"},
                    "c": {"roleArn": ROLE, "regions": ["us-east-1"]},
                    "d": {"roleArn": ROLE.replace("222", "555"), "regions": ["us-east-1"]},
                },
            },
            ["accounts.b: is the gateway's own account, as 'a' is"],
        ),
        (
            {
                "accounts": {
                    "a": {"regions": ["us-east-1"]},
                    "b": {"roleArn": ROLE, "regions": ["us-east-1"]},
                }
            },
            ["default: name the default account (there are several)"],
        ),
        (
            {"accounts": {"a/b": {"regions": ["us-east-1"]}}},
            ["accounts.a/b.[key]: String should match pattern"],
        ),
        (
            '{"accounts": {"a": {"regions": ["us-east-1"]}, "a": {"regions": ["eu-west-1"]}}}',
            ["'a' is named twice in one object"],
        ),
        ("[" * 100_000 + "]" * 100_000, ["nested too deep"]),
    ],
    ids=[
        "not-json",
        "empty",
        "fields",
        "consistency",
        "own-twice",
        "no-default",
        "alias",
        "twice",
        "deep",
    ],
)
def test_each_problem_is_one_line(tmp_path: Path, content: Any, lines: list[str]) -> None:
    with pytest.raises(ConfigurationError) as error:
        Accounts.load(write(tmp_path, content))
    message = str(error.value).splitlines()
    assert len(message) == len(lines)
    for line, expected in zip(message, lines, strict=True):
        assert line.startswith(f"GATEWAY_ACCOUNTS_FILE ({tmp_path / 'accounts.json'}): ")
        assert expected in line


def test_the_estate_is_bounded(tmp_path: Path) -> None:
    regions = [f"us-east-{n}" for n in range(1, 11)]
    accounts = {f"a{n}": {"regions": regions} for n in range(MAX_TARGETS // 10 + 1)}
    with pytest.raises(ConfigurationError, match=f"at most {MAX_TARGETS}"):
        Accounts.load(write(tmp_path, {"default": "a0", "accounts": accounts}))


def test_a_yaml_file_says_the_same(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "default: prod\n"
        "accounts:\n"
        "  prod: {accountId: 123456789012, regions: [us-east-1, eu-west-1]}\n"
        "  on: {roleArn: 'arn:aws:iam::444444444444:role/read', regions: [us-east-1]}\n"
        f"  staging:\n    roleArn: {ROLE}\n    regions: [us-east-1]\n"
    )
    accounts = Accounts.load(path)
    # Unquoted, an account id and "on" stay as written (not a number, not true).
    assert list(accounts) == [
        AccountRegion("prod", "us-east-1"),
        AccountRegion("prod", "eu-west-1"),
        AccountRegion("on", "us-east-1"),
        AccountRegion("staging", "us-east-1"),
    ]
    assert accounts.of_event("123456789012", None) == AccountRegion("prod", "us-east-1")
    assert accounts.of_event("222222222222", None) == AccountRegion("staging", "us-east-1")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "accounts: {prod: [\n",
            "not YAML: expected the node content, but found '<stream end>' at line 2",
        ),
        # A tag builds nothing: the mapping stays an empty mapping.
        ("accounts: !!python/object:os.system {}\n", "accounts: Dictionary should have at least"),
        (
            "accounts:\n  a: {regions: [us-east-1]}\n  a: {regions: [eu-west-1]}\n",
            "not YAML: 'a' is named twice at line 3, column 3",
        ),
        ("accounts:\n  prod:\n    regions: us-east-1\n", "regions: Input should be a valid list"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deep"),
        ("accounts:\n  ? [a]\n  : {regions: [us-east-1]}\n", "a key that is not a string"),
        ("accounts: \xff\n", "not UTF-8 text"),
    ],
    ids=["broken", "python-object", "twice", "wrong-shape", "deep", "list-key", "not-utf-8"],
)
def test_a_yaml_problem_is_one_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "accounts.yml"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ConfigurationError) as error:
        Accounts.load(path)
    [line] = str(error.value).splitlines()
    assert line.startswith(f"GATEWAY_ACCOUNTS_FILE ({path}): ")
    assert expected in line


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="No such file"):
        Accounts.load(tmp_path / "nowhere.json")


def test_unknown_accounts_and_regions_are_coded_not_found() -> None:
    accounts = Accounts.alone("us-east-1")
    with pytest.raises(NotFound) as account:
        accounts.locate("prod", None)
    with pytest.raises(NotFound) as region:
        accounts.locate("default", "eu-west-1")
    assert (account.value.code, region.value.code) == ("ACCOUNT_NOT_FOUND", "REGION_NOT_FOUND")


def test_grants_check_the_account_and_name_the_audience() -> None:
    grants = Grants(frozenset({"staging", "prod"}))
    grants.check("prod")
    with pytest.raises(Forbidden):
        grants.check("sandbox")
    assert grants.audience == '["prod", "staging"]'
    # No set of names reads as another: a name with a comma is one name, not two.
    assert Grants(frozenset({"prod,staging"})).audience != grants.audience
    assert Grants().audience == "all"


def test_an_api_key_may_only_be_granted_configured_accounts(tmp_path: Path) -> None:
    keys = {"ops": {"sha256": "0" * 64, "accounts": ["stagign"]}}
    settings = Settings(
        auth="api-key",
        api_keys=json.dumps(keys),
        accounts_file=write(tmp_path, {"accounts": {"staging": {"regions": ["us-east-1"]}}}),
    )
    with pytest.raises(ConfigurationError, match=r"ops: no such account: \['stagign'\]"):
        create_app(settings)


def test_a_long_name_is_not_echoed_whole() -> None:
    accounts = Accounts.alone("us-east-1")
    for account, region in (("a" * 20_000, None), ("default", "r" * 20_000)):
        with pytest.raises(NotFound) as unknown:
            accounts.locate(account, region)
        assert len(unknown.value.detail) < 200


def test_with_an_accounts_file_no_aws_region_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(ConfigurationError, match="No AWS region"):
        create_app(Settings(auth="none"))
    path = write(tmp_path, {"accounts": {"prod": {"regions": ["eu-west-1"]}}})
    create_app(Settings(auth="none", accounts_file=path))  # each account names its regions
