"""The reference pages are the code's own word: regenerated, they come out the same, and
they name every setting and every error."""

import re
from pathlib import Path

import pytest

from scripts.reference import PAGES, REFERENCE, error_classes, guides
from service.errors import GatewayError
from service.settings import Settings

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_generated_pages_are_current(name: str) -> None:
    assert (REFERENCE / name).read_text() == PAGES[name](), (
        f"docs/reference/{name} is stale: run python -m scripts.reference"
    )


def test_the_guides_snippets_of_the_contract_are_the_documents_own() -> None:
    made = guides()
    assert {path.name for path in made} >= {"graphql.md", "discovery.md", "rest.md"}
    for path, text in made.items():
        assert path.read_text() == text, f"{path.name}: run python -m scripts.reference"


def test_every_setting_says_what_it_does() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_every_setting_the_code_reads_is_in_the_reference() -> None:
    page = (REFERENCE / "configuration.md").read_text()
    read = {
        name
        for path in (ROOT / "service").rglob("*.py")
        for name in re.findall(r"(?<![A-Z_])GATEWAY_[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    assert read
    assert sorted(name for name in read if f"`{name}`" not in page) == []


def test_every_error_says_when_it_happens() -> None:
    page = (REFERENCE / "errors.md").read_text()
    kinds = error_classes()
    assert GatewayError in kinds
    for kind in kinds:
        assert kind.__doc__, kind
        assert f"problem:{kind.slug}`" in page
