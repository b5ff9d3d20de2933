"""k8s/iam-policy.json allows exactly the CodeDeploy operations the code can call, and the
member accounts' role (k8s/member-role.yaml) the same, to the gateway's role alone."""

import ast
import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
CODEDEPLOY = ROOT / "service" / "codedeploy"


def _names_operation(node: ast.AST) -> bool:
    """A call that names the operation it makes first: ``Calls`` (every call upstream goes
    through it) or a ``Batch`` (which ``read_batch`` hands to ``Calls``)."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    func = node.func
    named = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return named in {"calls", "_calls", "Batch"}


def operations_called() -> set[str]:
    names: set[str] = set()
    for module in CODEDEPLOY.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if _names_operation(node):
                assert isinstance(node, ast.Call)
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return names


def test_the_policy_allows_exactly_what_the_code_calls() -> None:
    policy = json.loads((ROOT / "k8s" / "iam-policy.json").read_text())
    [statement] = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(f"codedeploy:{op}" for op in operations_called())


def test_the_code_calls_only_read_operations() -> None:
    assert operations_called() == {
        "BatchGetApplications",
        "BatchGetDeploymentGroups",
        "BatchGetDeploymentInstances",
        "BatchGetDeploymentTargets",
        "BatchGetDeployments",
        "GetApplication",
        "GetDeployment",
        "GetDeploymentGroup",
        "GetDeploymentInstance",
        "GetDeploymentTarget",
        "ListApplications",
        "ListDeploymentGroups",
        "ListDeploymentInstances",
        "ListDeploymentTargets",
        "ListDeployments",
    }


class CloudFormation(yaml.SafeLoader):
    """Reads a template's short forms (``!Ref X``) as their long ones (``{"Ref": "X"}``)."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    if isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    if name == "Fn::GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {name: value}


CloudFormation.add_multi_constructor("!", _short_form)


def test_the_member_role_grants_the_same_reads_to_the_gateway_alone() -> None:
    template = yaml.load((ROOT / "k8s" / "member-role.yaml").read_text(), CloudFormation)
    role = template["Resources"]["ReadRole"]
    assert role["Type"] == "AWS::IAM::Role"
    [policy] = role["Properties"]["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    gateway = json.loads((ROOT / "k8s" / "iam-policy.json").read_text())["Statement"][0]
    assert sorted(statement["Action"]) == sorted(gateway["Action"])
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Ref": "GatewayRoleArn"}}
    assert trust["Action"] == "sts:AssumeRole"
    condition, with_id, without = trust["Condition"]["Fn::If"]
    assert condition == "HasExternalId"
    assert with_id == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    assert without == {"Ref": "AWS::NoValue"}
    # StackSets: nothing in it names one account.
    assert not re.search(r"\b\d{12}\b", (ROOT / "k8s" / "member-role.yaml").read_text())


def test_the_gateway_may_assume_the_member_roles_and_nothing_else() -> None:
    policy = json.loads((ROOT / "k8s" / "iam-assume-roles.json").read_text())
    [statement] = policy["Statement"]
    template = yaml.load((ROOT / "k8s" / "member-role.yaml").read_text(), CloudFormation)
    role_name = template["Parameters"]["RoleName"]["Default"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Resource"] == f"arn:aws:iam::*:role/{role_name}"
