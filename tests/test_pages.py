"""Swagger UI and GraphiQL in a real headless Chromium, as a person uses them."""

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Locator, Page, Request, expect, sync_playwright

from tests.identity import API_KEY, API_KEYS
from tests.support import running_gateway

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Keeps Chromium from reaching for Google's services, which a closed network refuses.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.processes,
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None,
        reason="Debian's chromium is not installed (make test installs it when run as root)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local gateway wanting API keys."""
    log = tmp_path_factory.mktemp("keyed-gateway") / "gateway.log"
    with running_gateway(log, GATEWAY_AUTH="api-key", GATEWAY_API_KEYS=json.dumps(API_KEYS)) as url:
        yield url


@contextmanager
def open_page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith((base_url, "data:")):
            elsewhere.append(request.url)

    page.on("request", note)
    yield page
    context.close()
    assert elsewhere == [], "the page loaded something the gateway does not serve"


@pytest.fixture
def page(browser: Browser, local_gateway: str) -> Iterator[Page]:
    with open_page(browser, local_gateway) as page:
        yield page


@pytest.fixture
def keyed_page(browser: Browser, keyed_gateway: str) -> Iterator[Page]:
    with open_page(browser, keyed_gateway) as page:
        yield page


def execute_instance_route(page: Page) -> Locator:
    route = page.locator(
        ".opblock-summary", has_text="/v1/deployments/{deploymentId}/instances/{instanceId}"
    )
    route.click()
    block = page.locator(".opblock.is-open")
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    return block.locator(".live-responses-table .response")


def test_swagger_ui_runs_the_instance_route(page: Page) -> None:
    page.goto("/docs")
    response = execute_instance_route(page)
    expect(response.locator(".response-col_status")).to_contain_text("200")
    expect(response.locator(".response-col_description")).to_contain_text("ScriptFailed")


@pytest.mark.parametrize("scheme", ["Bearer", "ApiKey"])
def test_swagger_ui_authorizes_with_an_api_key(keyed_page: Page, scheme: str) -> None:
    page = keyed_page
    page.goto("/docs")
    page.locator(".auth-wrapper .authorize").click()
    container = page.locator(".auth-container", has_text=scheme)
    container.locator("input").fill(API_KEY)
    container.get_by_role("button", name="Apply credentials").click()
    page.locator(".modal-ux .close-modal").click()
    response = execute_instance_route(page)
    expect(response.locator(".response-col_status")).to_contain_text("200")


def test_swagger_ui_without_a_key_shows_the_401(keyed_page: Page) -> None:
    keyed_page.goto("/docs")
    response = execute_instance_route(keyed_page)
    expect(response.locator(".response-col_status")).to_contain_text("401")
    expect(response.locator(".response-col_description")).to_contain_text("MISSING_CREDENTIALS")


def test_graphiql_runs_its_example_query(page: Page) -> None:
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/graphql")
    run(page, "FailedInstance")
    # The editor renders only the lines in view: the top of the answer is enough.
    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"instanceId": "i-0a1b2c3d4e5f60002"')
    expect(result).to_contain_text('"status": "FAILED"')
    assert refused == []  # its fonts, styles and scripts all allowed


def test_graphiql_sends_the_headers_it_is_given(keyed_page: Page) -> None:
    page = keyed_page
    page.goto("/graphql")
    page.get_by_role("button", name="Headers").click()
    page.locator(".graphiql-editor-tool .graphiql-editor").last.click()
    page.keyboard.insert_text(json.dumps({"X-API-Key": API_KEY}))
    run(page, "FailedInstance")
    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"status": "FAILED"')
    # A subscription's socket carries them in connection_init.
    run(page, "LiveDeployment")
    expect(result).to_contain_text('"__typename": "InstanceChanged"')


def run(page: Page, operation: str) -> None:
    """The run button; with the example's two operations, it asks which."""
    page.locator(".graphiql-execute-button").click()
    page.get_by_role("menuitem", name=operation).click()


def test_graphiql_runs_the_live_subscription_example(page: Page) -> None:
    page.goto("/graphql")
    run(page, "LiveDeployment")
    result = page.locator(".graphiql-response")
    # The whole picture arrives at once: the latest event shows, an instance's.
    expect(result).to_contain_text('"__typename": "InstanceChanged"')
    expect(result).to_contain_text('"instanceId": "i-0e1f2a3b4c5d6000')


def test_graphiql_runs_a_persons_own_anonymous_query(page: Page) -> None:
    page.goto("/graphql")
    expect(page.locator(".graphiql-query-editor")).to_contain_text("FailedInstance")
    page.locator(".graphiql-query-editor .CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text('{ deployment(deploymentId: "d-EXAMPLE01") { deploymentId status } }')
    # Ctrl-Enter runs what is under the cursor: the button would still be offering the
    # example's two operations until the editor's next parse.
    page.keyboard.press("Control+Enter")
    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"deploymentId": "d-EXAMPLE01"')
    expect(result).to_contain_text('"status": "FAILED"')
