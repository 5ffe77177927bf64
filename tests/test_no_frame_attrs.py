"""Results carry their side facts as documented fields, not in ``DataFrame.attrs``.

pandas marks ``attrs`` experimental and drops it on many operations, and the facts it held (totals,
the suppressed cells, warnings, time steps) are what a reader or a partner relies on. The analysis,
disclosure and export verbs return small frozen dataclasses instead (``GiResult``, ``DensityResult``,
``EmergingResult``, ``PeriodChange``, ``Evaluation``, ``SuppressedCounts``, ``ShareableHexes``,
``ShareablePlaces``).

What remains, on purpose: the intake layer's description of a file as read (``files.read_table``
puts filename, header_row, warnings, encoding, delimiter and sheet on the frame; the normalisers and
the import read them). That travels only between intake modules, never to a caller of a result.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hoth_geo

PACKAGE = Path(hoth_geo.__file__).resolve().parent

# The modules still allowed to read or write DataFrame.attrs, each with the reason.
ATTRS_ALLOWED = {
    "intake/files.py": "read_table describes the file it read on the frame",
    "intake/import_stream.py": "each chunk of a streamed file keeps the file's description",
    "intake/policeuk.py": "reads the header row and the reader's warnings",
    "intake/sharing_form.py": "reads the file name, header row, warnings and delimiter",
    "intake/identity.py": "reads the header row to number rows as the file does",
    "intake/pipeline.py": "reads the header row to number quarantined rows as the file does",
    "intake/review.py": "reads a corrected quarantined row again as the row of its file it was (header row)",
}


def _attrs_uses(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted(
        {node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "attrs"}
    )


def _modules() -> dict[str, Path]:
    return {p.relative_to(PACKAGE).as_posix(): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_outside_the_list_uses_dataframe_attrs():
    found = {
        name: lines
        for name, path in _modules().items()
        if name not in ATTRS_ALLOWED and (lines := _attrs_uses(path))
    }
    assert not found, (
        "DataFrame.attrs used outside the intake's file description; return a documented dataclass or a "
        f"documented column instead: {found}"
    )


@pytest.mark.parametrize("name", sorted(ATTRS_ALLOWED))
def test_each_allowed_module_still_needs_its_exception(name):
    path = _modules().get(name)
    assert path is not None, f"{name} is listed in ATTRS_ALLOWED but no longer exists"
    assert _attrs_uses(path), f"{name} no longer uses .attrs: take it off ATTRS_ALLOWED"


def test_the_check_sees_attrs_in_any_form(tmp_path):
    # The detector itself: reading, writing and updating attrs are all found.
    sample = tmp_path / "sample.py"
    sample.write_text("a = df.attrs['x']\ndf.attrs = {}\nout.attrs.update(n=1)\nb = df.attributes\n")
    assert _attrs_uses(sample) == [1, 2, 3]


def test_results_carry_their_facts_as_fields(demo_store):
    """The facts attrs used to hide are fields a caller can rely on: the reports analysed, the
    resolution actually shared and the publishable total."""
    from hoth_geo.access.privacy import policy_for
    from hoth_geo.analysis.hotspots import hotspots
    from hoth_geo.deliver.exports import shareable_hexes

    gi = hotspots(demo_store.reports, 8)
    assert gi.n_reports == int(gi.table["count"].sum()) > 0
    shared = shareable_hexes(demo_store.reports, 9, None, policy_for("partner"))
    assert (shared.res, shared.res_requested) == (8, 9) and shared.note
    assert isinstance(shared.total, int) and shared.total % 5 == 0
    assert not shared.table.attrs
