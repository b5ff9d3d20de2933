"""The layers of docs/architecture.md, checked: a module imports only from the layers
below its own (and from its own package), never from a sibling in its layer, and only the
application factory knows the fleet."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# Top to bottom; packages in one layer are independent of each other.
LAYERS: list[set[str]] = [
    {"service.__main__"},
    {"service.app", "service.ci"},
    {"service.fleet"},
    {"service.rest", "service.graphql"},
    {"service.webhooks"},
    {"service.edge", "service.live"},
    {"service.reads", "service.request"},
    {"service.codedeploy", "service.cache", "service.guard", "service.emulator", "service.tokens"},
    {"service.accounts", "service.models", "service.snapshot"},
    {
        "service.errors",
        "service.settings",
        "service.metrics",
        "service.logs",
        "service.health",
        "service.freshness",
        "service.moments",
        "service.tracing",
    },
    {"service.codes", "service.version"},
]


def _unit(module: str) -> str:
    """The layered unit a module belongs to: its package under ``service``, or itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _layer(unit: str) -> int:
    for depth, units in enumerate(LAYERS):
        if unit in units:
            return depth
    raise AssertionError(f"{unit} is in no layer: add it to LAYERS and docs/architecture.md")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> list[tuple[str, str, int]]:
    """(importer, imported, line) for every import of a ``service`` module, those under
    ``TYPE_CHECKING`` too: a type the code names is a dependency all the same."""
    found = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        module = _module(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "service":
                    names = [f"service.{alias.name}" for alias in node.names]
                else:
                    names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found += [(module, name, node.lineno) for name in names if name.startswith("service.")]
    return found


def test_every_import_runs_down_the_layers() -> None:
    wrong = []
    for importer, imported, line in _imports():
        source, target = _unit(importer), _unit(imported)
        if source == target:
            continue
        if _layer(target) <= _layer(source):
            wrong.append(f"{importer}:{line} imports {imported}")
    assert wrong == []


def test_only_the_factory_knows_the_fleet() -> None:
    users = {
        _unit(importer)
        for importer, imported, _ in _imports()
        if _unit(imported) == "service.fleet" and _unit(importer) != "service.fleet"
    }
    assert users == {"service.app"}


@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_the_layers_are_the_documented_ones(layer: int) -> None:
    documented = (ROOT / "docs" / "architecture.md").read_text()
    for unit in LAYERS[layer]:
        assert f"`{unit.removeprefix('service.')}`" in documented
