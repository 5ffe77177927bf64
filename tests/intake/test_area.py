"""Any partnership's area (hoth_geo.intake.area) on real open data: Darlington set from its LSOA
boundaries (in British National Grid, as a GeoPackage and as a zipped Shapefile), switching areas,
police.uk files partly outside the area, and the pages that show it. Plus the statistics guards of the
same issue. The `area` commands end to end are in tests/cli/test_area.py; the gazetteer sources in
test_area_gazetteer.py."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hoth_geo import store
from hoth_geo.analysis import hotspots as hs
from hoth_geo.cli import app
from hoth_geo.intake import area as area_mod
from hoth_geo.intake import pipeline

pytestmark = pytest.mark.shared

runner = CliRunner()


def _ok(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_boundary_formats_dissolve_and_reproject_to_the_same_area(area_files, tmp_path):
    from_gpkg = area_mod.read_area_boundary(area_files["gpkg"])
    from_shp = area_mod.read_area_boundary(area_files["shp_zip"])
    # Independent reference: the LSOAs' own lon/lat polygons, dissolved by geopandas.
    reference = gpd.read_file(area_files["lsoa_json"]).to_crs("EPSG:27700").union_all()
    for got in (from_gpkg, from_shp):
        assert got.geom_type == "Polygon", "65 neighbouring LSOAs dissolve into one polygon"
        bng = gpd.GeoSeries([got], crs="EPSG:4326").to_crs("EPSG:27700").iloc[0]
        assert abs(bng.area - reference.area) / reference.area < 0.002
        assert bng.symmetric_difference(reference).area / reference.area < 0.002
    with pytest.raises(area_mod.AreaError, match="not a GeoJSON"):
        (tmp_path / "notes.txt").write_text("not a boundary")
        area_mod.read_area_boundary(tmp_path / "notes.txt")
    with pytest.raises(area_mod.AreaError, match="holds no polygons"):
        gpd.GeoDataFrame(geometry=gpd.points_from_xy([-1.5], [54.5]), crs="EPSG:4326").to_file(
            tmp_path / "points.geojson", driver="GeoJSON"
        )
        area_mod.read_area_boundary(tmp_path / "points.geojson")


def test_switching_area_replaces_the_gazetteer_and_reports_what_lies_outside(
    tmp_path, area_files, shared_data
):
    db = f"sqlite:///{tmp_path / 'switch.sqlite'}"
    engine = store.connect(db)
    from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area

    first = area_mod.set_area(area_files["shp_zip"], "Darlington", db_url=db, engine=engine)
    build_gazetteer_for_area(first.area, codepoint=[area_files["codepoint"]])
    pipeline.import_file(engine, shared_data / "policeuk_durham" / "2019-01-durham-street.csv")
    n_darlington = len(store.load_context(engine))
    assert n_darlington > 1000

    second = area_mod.set_area(area_files["durham"], "County Durham", db_url=db, engine=engine)
    assert second.previous.name == "Darlington"
    gaz = area_mod.current_gazetteer(db)
    assert gaz.area_name == "County Durham"
    assert gaz.postcodes.empty and gaz.places.empty, "a new area starts empty: nothing of Darlington's"
    n_out = second.outside["police_context"]
    assert 0.99 * n_darlington <= n_out <= n_darlington, "only rows on the shared border are inside both"
    text = " ".join(second.messages())
    assert f"{n_out:,} of {n_darlington:,} stored police.uk rows" in text
    assert "outside County Durham" in text

    back = area_mod.set_area(area_files["gpkg"], "Darlington", db_url=db, engine=engine)
    assert back.reused_gazetteer and back.area.area_id == first.area.area_id
    assert len(area_mod.current_gazetteer(db).postcodes) > 4000

    area_mod.use_shipped_area(db)
    assert area_mod.current_area(db).shipped
    with engine.connect() as conn:
        events = conn.execute(sa.text("SELECT event FROM audit_log")).scalars().all()
    assert events.count("area_set") == 3


def test_a_file_outside_the_shipped_area_says_so_in_one_line(tmp_path, shared_data):
    engine = store.connect(f"sqlite:///{tmp_path / 'x.sqlite'}")
    path = shared_data / "policeuk_neighbours" / "2019-01-northumbria-street.csv"
    summary = pipeline.import_file(engine, path)
    assert summary.reconciles and summary.n_quarantined < 50
    assert summary.n_out_of_area > 0.9 * summary.n_read
    first = summary.warnings[0]
    assert first.startswith("MOST OF THIS FILE LIES OUTSIDE COUNTY DURHAM AND DARLINGTON")
    assert f"{summary.n_out_of_area:,} of {summary.n_read:,} rows" in first
    assert "outside the area (skipped)" in summary.describe()
    assert store.load_quarantine(engine, status=None)["reason"].str.contains("outside").sum() == 0


def test_policeuk_rows_just_inside_are_kept_and_far_rows_skipped(tmp_path, shared_data):
    # The ~50 Durham rows recorded far away (e.g. Barking and Dagenham) are skipped, not quarantined.
    engine = store.connect(f"sqlite:///{tmp_path / 'x.sqlite'}")
    summary = pipeline.import_file(engine, shared_data / "policeuk_durham" / "2018-10-durham-street.csv")
    assert 0 < summary.n_out_of_area < 0.01 * summary.n_read
    assert "lie outside County Durham and Darlington" in summary.warnings[0]
    assert not summary.warnings[0].startswith("MOST")


def test_permutations_too_few_for_fdr_are_flagged_with_the_count_needed():
    grid, _ = hs.study_area_grid(8)
    n = len(grid)
    assert n > 3000
    assert hs.permutations_needed(n, 0.10) == int(np.ceil(20 * n)) - 1
    rng = np.random.default_rng(1)
    cells = rng.choice(grid, 400, replace=False)
    counts = pd.DataFrame({"h3": cells, "count": rng.poisson(3, 400) + 1})
    warning = hs.gi_star(counts, grid, permutations=99).warning
    assert f"{hs.permutations_needed(n, 0.10):,} permutations" in warning
    assert f"{n:,} cells" in warning and "0.02" in warning
    assert hs.gi_star(counts, grid, permutations=99, fdr=False).warning is None
    assert hs.gi_star(counts, grid).warning is None
    # A small grid where 999 permutations suffice is not flagged.
    assert hs.permutation_fdr_warning(40, 999, True) is None
    assert hs.permutation_fdr_warning(40, 99, True) is not None


def test_hotspots_cli_prints_the_permutation_warning(tmp_path, demo_store):
    url = str(demo_store.engine.url)
    result = runner.invoke(
        app, ["hotspots", "--res", "8", "--permutations", "99", "--out", str(tmp_path / "h.csv"), "--db", url]
    )
    assert result.exit_code == 0, result.output
    assert "permutations" in result.output and "Use at least" in result.output


def test_edge_hexagons_with_reports_raise_no_warning(demo_store):
    result = hs.hotspots(demo_store.reports, 8)
    out = result.table
    # Demo reports sit inside the area; hexagons straddling its edge are part of it, not "outside".
    assert result.warning is None
    grid, _ = hs.study_area_grid(8)
    assert len(out) > len(grid), "edge hexagons holding reports are still in the analysis"


def test_area_page_shows_the_area_to_an_admin(tmp_path, monkeypatch):
    from apptest_support import app_as, ensure_user

    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    admin = ensure_user(url, "admin")
    at = app_as(admin, "area").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Area"
    assert at.subheader[0].value == "County Durham and Darlington"
    assert [m.label for m in at.metric] == ["Size", "Postcodes", "Places / streets"]


def test_area_and_about_pages_follow_a_configured_area(tmp_path, monkeypatch, area_files):
    from apptest_support import app_as, ensure_user

    from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area
    from hoth_geo.ui.text import md_escape

    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    admin = ensure_user(url, "admin")
    result = area_mod.set_area(area_files["gpkg"], "Darlington <b>Partnership</b>", db_url=url)
    build_gazetteer_for_area(result.area, codepoint=[area_files["codepoint"]])
    at = app_as(admin, "area").run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == md_escape("Darlington <b>Partnership</b>"), "named, as text"
    assert at.dataframe[0].value["Source"].tolist() == ["OS Code-Point Open"]
    about = app_as(admin, "about").run()
    assert not about.exception, about.exception
    text = " ".join(m.value for m in about.markdown)
    assert "OS Code-Point Open" in text and "Crown copyright" in text
    assert "<b>" not in text, "the area's name is shown as text, never as HTML"


def test_a_gazetteer_rebuilt_by_another_process_is_read_again(tmp_path, monkeypatch, area_files, shared_data):
    """Several app instances share one deployment: when one of them (or the command line) rebuilds the
    area's gazetteer, the others use the new one on their next lookup, and the app's caches of what it
    says (places, hexagons in words) are keyed by its build, without a restart."""
    import subprocess
    import sys

    from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area
    from hoth_geo.ui import state

    db = f"sqlite:///{tmp_path / 'instances.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", db)
    area = area_mod.set_area(area_files["gpkg"], "Darlington", db_url=db).area
    build_gazetteer_for_area(area, codepoint=[area_files["codepoint"]])
    assert area_mod.gazetteer_for(area).places.empty, "Code-Point alone: postcodes, no places"
    assert len(area_mod.gazetteer_for(area).postcodes) > 1000
    key_before = state.version()
    assert state.places().empty
    month = sorted((shared_data / "policeuk_durham").glob("*.csv"))[-1]
    rebuild = (
        "import sys; from hoth_geo.intake import area as a;"
        " from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area as b;"
        " b(a.current_area(sys.argv[1]), codepoint=[sys.argv[2]], policeuk=[sys.argv[3]])"
    )
    subprocess.run(
        [sys.executable, "-c", rebuild, db, str(area_files["codepoint"]), str(month)], check=True, timeout=600
    )
    rebuilt = area_mod.gazetteer_for(area_mod.current_area(db))
    assert len(rebuilt.places) > 20, "the other process's build, not the layers this process read before"
    assert state.version() != key_before
    assert len(state.places()) == len(rebuilt.places)
