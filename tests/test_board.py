"""The status board in headless Chromium, against `make run`'s gateway: a deployment that
CodeDeploy changes turns its tile from InProgress to Failed without a reload; no console
error; no request leaves the gateway."""

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect, sync_playwright

from tests.identity import API_KEY, API_KEYS
from tests.support import running_gateway

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
QUIET = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# Reads as the gateway is deployed: every 5 s; the page shows a change within two.
SHOWN_MS = 20_000

pytestmark = [
    pytest.mark.processes,
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None,
        reason="Debian's chromium is not installed (make test installs it when run as root)",
    ),
]


def deployment(status: str, instance: str) -> dict[str, object]:
    """A deployment of the demo's production group, one instance at ``instance``."""
    failed = instance == "Failed"
    return {
        "applicationName": "orders-api",
        "deploymentGroupName": "orders-api-prod",
        "computePlatform": "Server",
        "status": status,
        "createTime": time.time(),
        "instances": [
            {
                "deploymentId": "d-BOARD0001",
                "instanceId": "i-0b0a0r0d00000001",
                "status": instance,
                "lifecycleEvents": [
                    {
                        "lifecycleEventName": "ApplicationStart",
                        "status": instance,
                        **(
                            {
                                "diagnostics": {
                                    "errorCode": "ScriptFailed",
                                    "scriptName": "scripts/start.sh",
                                    "logTail": "boom: PORT is taken",
                                }
                            }
                            if failed
                            else {}
                        ),
                    }
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The gateway as `make run` starts it, wanting a key, and its emulator's URL."""
    log = tmp_path_factory.mktemp("board") / "gateway.log"
    with running_gateway(log, GATEWAY_AUTH="api-key", GATEWAY_API_KEYS=json.dumps(API_KEYS)) as url:
        emulator = _emulator(log)
        yield url, emulator


def _emulator(log: Path) -> str:
    for _ in range(100):
        if found := re.search(r"Emulator:\s+(http://\S+)", log.read_text()):
            return found[1]
        time.sleep(0.1)
    raise AssertionError("the gateway named no emulator")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield browser
        browser.close()


def test_a_tile_turns_failed_live_and_opens_its_log_tail(
    browser: Browser, gateway: tuple[str, str]
) -> None:
    url, emulator = gateway
    put = f"{emulator}/_emulator/deployments/d-BOARD0001"
    httpx.put(put, content=json.dumps(deployment("InProgress", "InProgress"))).raise_for_status()
    context = browser.new_context(base_url=url)
    page: Page = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if _is_error(m) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda r: elsewhere.append(r.url) if not _ours(r, url) else None)

    page.goto("/board")
    page.get_by_label("API key or token").fill(API_KEY)  # asked once, kept for the tab
    page.get_by_role("button", name="Show the board").click()
    tile = page.locator('[id="tile-d-BOARD0001/i-0b0a0r0d00000001"]')
    expect(tile).to_have_attribute("data-status", "InProgress", timeout=SHOWN_MS)
    expect(tile).to_contain_text("InProgress")  # status in words, not colour alone

    httpx.put(put, content=json.dumps(deployment("Failed", "Failed"))).raise_for_status()
    expect(tile).to_have_attribute("data-status", "Failed", timeout=SHOWN_MS)
    tile.focus()
    page.keyboard.press("Enter")  # the keyboard opens it
    expect(tile).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_text("boom: PORT is taken")).to_be_visible()
    assert errors == []
    assert elsewhere == []
    context.close()


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"


def _ours(request: Request, base: str) -> bool:
    return request.url.startswith((base, "data:"))
