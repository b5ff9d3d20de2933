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

PACKAGES = ["@redocly/cli@2.77.0", "@stoplight/spectral-cli@6.16.3"]

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
def test_the_linters_find_no_error(linters: Path, settings: dict[str, Any]) -> None:
    document = linters / "openapi.json"
    document.write_text(json.dumps(create_app(Settings(**settings)).api.openapi()))
    binaries = linters / "node_modules" / ".bin"
    redocly = subprocess.run(
        [str(binaries / "redocly"), "lint", str(document), "--format=stylish"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=linters,
    )
    assert redocly.returncode == 0, redocly.stdout + redocly.stderr
    spectral = subprocess.run(
        [str(binaries / "spectral"), "lint", str(document), "--fail-severity=error"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=linters,
    )
    assert spectral.returncode == 0, spectral.stdout + spectral.stderr
