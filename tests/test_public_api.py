"""The curated public API (``import hoth_geo as hg``) and ``__all__`` in every library module."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import hoth_geo

PACKAGE = Path(hoth_geo.__file__).resolve().parent
# Packages whose __init__ holds code (the store's queries, the command line, the migration helpers).
CODE_PACKAGES = (PACKAGE / "store", PACKAGE / "cli", PACKAGE / "store" / "migrations")
# Every module with code of its own: the library, the app's modules and pages, the migration helpers
# (not the Alembic scripts, nor the app's two-line entry script).
MODULES = sorted(
    ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
    for p in PACKAGE.rglob("*.py")
    if p.name not in ("env.py", "entry.py")
    and "versions" not in p.parts
    and p.name != "__main__.py"
    and not (p.name == "__init__.py" and p.parent not in CODE_PACKAGES)
)


def test_all_lists_exactly_the_curated_names():
    assert hoth_geo.__all__ == ["__version__", *hoth_geo._PUBLIC]


@pytest.mark.parametrize("name", [n for n in hoth_geo.__all__ if n != "__version__"])
def test_each_public_name_is_the_owning_modules_object(name):
    module, attr = hoth_geo._PUBLIC[name]
    assert getattr(hoth_geo, name) is getattr(importlib.import_module(f"hoth_geo.{module}"), attr)


def test_a_public_name_survives_its_module_being_imported():
    from hoth_geo import hotspot_gistar
    from hoth_geo.analysis import hotspots as hotspots_module

    assert hoth_geo.hotspot_gistar is hotspot_gistar is hotspots_module.hotspots


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        hoth_geo.no_such_thing  # noqa: B018


def test_importing_the_package_loads_no_library_module():
    code = (
        "import sys, hoth_geo; print(sorted(m for m in sys.modules if m.startswith(('hoth_geo.', 'pandas'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_all_and_its_names_exist(module):
    path = PACKAGE.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
    ]
    assert declared, f"{path} has no __all__"
    mod = importlib.import_module(f"hoth_geo.{module}")
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"hoth_geo.{module}.__all__ names what it does not define: {missing}"
    assert len(set(mod.__all__)) == len(mod.__all__), f"hoth_geo.{module}.__all__ repeats a name"


def test_a_notebook_session_through_the_public_api(tmp_path):
    """Import the demo, select, count, find hot spots, map, and make a partner file, only through hg."""
    import hoth_geo as hg

    engine = hg.connect(f"sqlite:///{tmp_path / 'api.sqlite'}")
    summary = hg.load_demo_data(engine)
    assert summary.reconciles
    reports = hg.load_reports(engine)
    places = hg.all_places(engine)
    cse = hg.ReportFilter(concerns=("cse",))
    counts = hg.aggregate_hexes(reports, 8, cse)
    assert 0 < counts["count"].sum() < len(reports)
    gistar = hg.hotspot_gistar(reports, 8, cse).table
    assert gistar["class"].str.startswith("hot_").any()  # the planted CSE hotels
    html = hg.standalone_html(hg.build_hex_map(counts))
    assert html.lstrip().lower().startswith("<!doctype html")
    partner = hg.policy_for("partner")
    prepared = hg.prepare_export(reports, places, kind="csv", policy=partner, res=8, filters=cse)
    export_id = hg.record_export(engine, prepared, policy=partner, filters=cse, exported_by="analyst")
    assert export_id == prepared.export_id and export_id > 0
    with pytest.raises(ValueError, match="kind must be one of .*got .pdf-poster."):
        hg.prepare_export(reports, places, kind="pdf-poster", policy=partner, res=8, filters=cse)
