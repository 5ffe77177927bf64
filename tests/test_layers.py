"""The package's layout is its data flow: each layer imports only the layers below it, and no modules
import each other in a circle (see "Layout" in README.md).

    foundation (settings, errors, schema, hexes, validation, selection)
      <- store (tables, queries, migrations)
      <- access (accounts, sessions, audit chain, disclosure control)
      <- intake (files, area and gazetteer, geocoding, identity, the import pipeline, the sharing form)
      <- analysis (hexagon counts, hot spots, time, places, patrol, disruption, evaluation)
      <- deliver (maps, static maps, briefing pack, exports)
      <- interfaces (cli, ui, the package's public names)

Imports inside functions count as much as those at the top of a module: a lazy import that runs
upwards is still a layer that knows about the one above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hoth_geo

PACKAGE = Path(hoth_geo.__file__).resolve().parent
LAYERS = {
    "settings": 0,
    "errors": 0,
    "schema": 0,
    "hexes": 0,
    "validation": 0,
    "selection": 0,
    "store": 1,
    "access": 2,
    "intake": 3,
    "analysis": 4,
    "deliver": 5,
    "cli": 6,
    "ui": 6,
}
INTERFACE = 6


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# Alembic's revision scripts are history: they may call the code of their day (e.g. a back-fill).
MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "versions" not in p.parts}


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return INTERFACE  # hoth_geo itself: the curated public names, loaded on first use
    return LAYERS[parts[1]]


def _imports(path: Path) -> set[str]:
    """The hoth_geo modules ``path`` imports anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hoth_geo"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hoth_geo"))
    return found & set(MODULES)


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def test_every_module_belongs_to_a_layer():
    assert all(_layer(m) >= 0 for m in MODULES)
    top_level = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    top_level |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert top_level <= set(LAYERS), f"a new top-level module needs a layer: {top_level - set(LAYERS)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_those_below(module):
    upward = sorted(o for o in GRAPH[module] if _layer(o) > _layer(module))
    assert not upward, f"{module} (layer {_layer(module)}) imports a layer above it: {upward}"


def test_no_modules_import_each_other_in_a_circle():
    # Depth-first search for a back edge; reports one circle in full.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (circle := visit(module)):
            pytest.fail("import circle: " + " -> ".join(circle))


def test_the_checks_see_a_real_upward_import():
    # The graph is read from the code: the Review page reaches down into intake, never the reverse.
    assert "hoth_geo.intake.review" in GRAPH["hoth_geo.ui.pages.review"]
    assert _layer("hoth_geo.ui.pages.review") > _layer("hoth_geo.intake.review")
