"""The package's layout is its data flow: each layer imports only the layers below it, and no modules
import each other in a circle (see "Layout" in README.md).

    foundation (settings, errors, schema, hexes, validation, selection, local_time)
      <- store (tables, queries, migrations)
      <- access (accounts, sessions, audit chain, disclosure control)
      <- intake (files, area and gazetteer, geocoding, identity, the import pipeline, the sharing form)
      <- analysis (hexagon counts, hot spots, time, places, patrol, disruption, evaluation)
      <- deliver (maps, static maps, briefing pack, exports)
      <- interfaces (cli, ui, the package's public names)

Imports inside functions count as much as those at the top of a module: a lazy import that runs
upwards is still a layer that knows about the one above it.

The tests mirror the layout: each library module has a test module of its own name in the matching
folder (hoth_geo/intake/files.py -> tests/intake/test_files.py, hoth_geo/hexes.py -> tests/test_hexes.py).
The pages (ui/) are tested by page and behaviour in tests/ui, so they are not mirrored one to one.
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
    "local_time": 0,
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


# --- The tests mirror the layout --------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
# Not mirrored: the Streamlit interface (tests/ui is organised by page and behaviour), the migrations
# (tests/store/test_migrations.py replays them all), package files and the `python -m` entry point.
NOT_MIRRORED_FOLDERS = {"ui", "migrations"}
NOT_MIRRORED_FILES = {"__init__.py", "__main__.py"}


def mirrored_test_module(path: Path) -> Path:
    """Where the tests of library module ``path`` live: tests/<folders>/test_<name>.py."""
    relative = path.relative_to(PACKAGE)
    return TESTS.joinpath(*relative.parts[:-1], f"test_{relative.name}")


def _library_modules() -> list[Path]:
    return sorted(
        p
        for p in PACKAGE.rglob("*.py")
        if p.name not in NOT_MIRRORED_FILES and not NOT_MIRRORED_FOLDERS & set(p.relative_to(PACKAGE).parts)
    )


def test_every_library_module_has_a_test_module_of_its_own_name():
    missing = [
        f"{p.relative_to(PACKAGE.parent)} -> {mirrored_test_module(p).relative_to(TESTS.parent)}"
        for p in _library_modules()
        if not mirrored_test_module(p).is_file()
    ]
    assert not missing, "library modules without their test module:\n" + "\n".join(missing)


def test_the_mirror_check_sees_every_layer_and_skips_only_the_exempt_modules():
    modules = _library_modules()
    assert mirrored_test_module(PACKAGE / "intake" / "files.py") == TESTS / "intake" / "test_files.py"
    assert mirrored_test_module(PACKAGE / "hexes.py") == TESTS / "test_hexes.py"
    folders = {p.relative_to(PACKAGE).parts[0] for p in modules if p.parent != PACKAGE}
    assert folders == set(LAYERS) - {"ui"} - {m for m in LAYERS if (PACKAGE / f"{m}.py").is_file()}
    assert PACKAGE / "store" / "tables.py" in modules and PACKAGE / "cli" / "options.py" in modules
    assert not [p for p in modules if "ui" in p.relative_to(PACKAGE).parts or p.name == "__init__.py"]


# --- Names used across modules are public ---------------------------------------------------------------


def _private_names_used(path: Path) -> list[str]:
    """Another hoth_geo module's private names (one leading underscore) that ``path`` imports or reads."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules_by_name: dict[str, str] = {}
    used = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hoth_geo"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    used.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                elif f"{node.module}.{alias.name}" in MODULES:
                    modules_by_name[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in MODULES:
                    modules_by_name[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and node.value.id in modules_by_name
        ):
            used.append(f"line {node.lineno}: {modules_by_name[node.value.id]}.{node.attr}")
    return used


def test_no_module_uses_another_modules_private_names():
    # A helper another module needs is part of its module's interface: a public name with a docstring.
    found = {
        str(path.relative_to(PACKAGE.parent)): uses
        for path in sorted(MODULES.values())
        if (uses := _private_names_used(path))
    }
    assert not found, f"private names used from another module: {found}"


def test_the_private_name_check_sees_both_ways_of_reaching_one(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from hoth_geo.intake.headers import _hidden, header_key\n"
        "from hoth_geo.intake import files\n"
        "files._secret(header_key('x'))\n",
        encoding="utf-8",
    )
    assert _private_names_used(sample) == [
        "line 1: from hoth_geo.intake.headers import _hidden",
        "line 3: hoth_geo.intake.files._secret",
    ]
