"""k8s/iam-policy.json allows exactly the CodeDeploy operations the code can call."""

import ast
import json
from pathlib import Path

ROOT = Path(__file__).parents[1]
UPSTREAM = ROOT / "service" / "codedeploy" / "upstream.py"


def operations_called() -> set[str]:
    """The operation names CodeDeploy._call is given: every call upstream goes through it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(UPSTREAM.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_call"
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
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
