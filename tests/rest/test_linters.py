"""The OpenAPI document passes the linters API teams run in CI, as they are from npm:
@redocly/cli's recommended rules and spectral's `spectral:oas`, with no error, in local
mode and with authentication on."""

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.settings import Settings
from tests.identity import API_KEYS
from tests.support import NPM, npm_install

PACKAGES = ["@redocly/cli@2.77.0", "@stoplight/spectral-cli@6.16.3", "openapi-typescript@7.13.0"]

pytestmark = NPM


@pytest.fixture(scope="module")
def linters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = npm_install(tmp_path_factory.mktemp("linters"), *PACKAGES)
    (where / ".spectral.yaml").write_text('extends: ["spectral:oas"]\n')
    return where


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"local": True}, id="local"),
        pytest.param({"auth": "api-key", "api_keys": json.dumps(API_KEYS)}, id="api-key"),
    ],
)
def test_the_linters_find_nothing(linters: Path, settings: dict[str, Any]) -> None:
    """Not an error, not a warning: what API teams' CI would flag is fixed, not tolerated."""
    document = linters / "openapi.json"
    document.write_text(json.dumps(create_app(Settings(**settings)).api.openapi()))
    binaries = linters / "node_modules" / ".bin"
    redocly = subprocess.run(
        [str(binaries / "redocly"), "lint", str(document), "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=linters,
    )
    report = json.loads(redocly.stdout)
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, report["problems"]
    spectral = subprocess.run(
        [str(binaries / "spectral"), "lint", str(document), "--fail-severity=hint"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=linters,
    )
    assert spectral.returncode == 0, spectral.stdout + spectral.stderr


def test_openapi_typescript_generates_named_types_without_a_warning(linters: Path) -> None:
    document = linters / "local.json"
    document.write_text(json.dumps(create_app(Settings(local=True)).api.openapi()))
    generated = linters / "gateway.ts"
    run = subprocess.run(
        [str(linters / "node_modules" / ".bin" / "openapi-typescript"), str(document),
         "-o", str(generated)],
        capture_output=True, text=True, timeout=120, cwd=linters,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "warn" not in (run.stdout + run.stderr).lower(), run.stdout + run.stderr
    types = generated.read_text()
    # One enum each, named as the docs list them; operations by their operationId.
    assert 'InstanceStatus: "Pending" | "InProgress"' in types
    assert 'DeploymentStatus: "Created" | "Queued"' in types
    assert 'status?: components["schemas"]["InstanceStatus"][];' in types
    assert "ListDeploymentInstanceSummaries: {" in types
