"""Swagger UI and GraphiQL in a real headless Chromium, as a person uses them."""

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Request, expect, sync_playwright

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

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (make test installs it when run as root)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, local_gateway: str) -> Iterator[Page]:
    context = browser.new_context(base_url=local_gateway)
    page = context.new_page()
    elsewhere: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith((local_gateway, "data:")):
            elsewhere.append(request.url)

    page.on("request", note)
    yield page
    context.close()
    assert elsewhere == [], "the page loaded something the gateway does not serve"


def test_swagger_ui_runs_the_instance_route(page: Page) -> None:
    page.goto("/docs")
    route = page.locator(
        ".opblock-summary", has_text="/v1/deployments/{deploymentId}/instances/{instanceId}"
    )
    route.click()
    block = page.locator(".opblock.is-open")
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    response = block.locator(".live-responses-table .response")
    expect(response.locator(".response-col_status")).to_contain_text("200")
    expect(response.locator(".response-col_description")).to_contain_text("ScriptFailed")


def test_graphiql_runs_its_example_query(page: Page) -> None:
    page.goto("/graphql")
    page.locator(".graphiql-execute-button").click()
    # The editor renders only the lines in view: the top of the answer is enough.
    result = page.locator(".graphiql-response")
    expect(result).to_contain_text('"instanceId": "i-0a1b2c3d4e5f60002"')
    expect(result).to_contain_text('"status": "FAILED"')
