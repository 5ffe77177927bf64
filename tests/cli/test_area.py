"""The `area` commands (hoth_geo.cli.area), end to end on real open data: another partnership's area
set from its boundary, its gazetteer built from Code-Point Open and police.uk files, its own files
imported and analysed from the command line, and the exports naming it."""

from __future__ import annotations

import csv

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from area_inputs import DARLINGTON
from typer.testing import CliRunner

from hoth_geo import store
from hoth_geo.analysis import hotspots as hs
from hoth_geo.cli import app
from hoth_geo.intake import area as area_mod
from hoth_geo.intake import pipeline
from hoth_geo.schema import TEMPLATE_COLUMNS

pytestmark = pytest.mark.shared

runner = CliRunner()


def _ok(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_darlington_end_to_end_from_the_command_line(tmp_path, area_files, shared_data):
    db = f"sqlite:///{tmp_path / 'darlington.sqlite'}"
    out = _ok(["area", "set", "--boundary", str(area_files["gpkg"]), "--name", "Darlington", "--db", db])
    assert "study area set to Darlington" in out.output and "no gazetteer yet" in out.output
    durham_files = sorted((shared_data / "policeuk_durham").glob("*.csv"))
    built = _ok(
        [
            "area",
            "build-gazetteer",
            "--codepoint",
            str(area_files["codepoint"]),
            *[a for p in durham_files[:2] for a in ("--policeuk", str(p))],
            "--localities",
            str(area_files["wards"]),
            "--db",
            db,
        ]
    )
    assert "OS Code-Point Open: read 47,261" in built.output
    assert "gazetteer for Darlington" in built.output

    current = area_mod.current_area(db)
    assert current.name == "Darlington" and not current.shipped
    assert str(tmp_path) in str(current.gazetteer_dir), "the area lives beside the database"
    gaz = area_mod.gazetteer_for(current)
    assert gaz.area_name == "Darlington"
    # Every Darlington postcode with a location is kept (independently: the Code-Point district code).
    with open(shared_data / "codepoint_open" / "dl.csv", newline="") as fh:
        dl = [r for r in csv.reader(fh) if r[8] == DARLINGTON and r[1] != "90"]
    kept = set(gaz.postcodes["postcode"])
    assert sum(" ".join(r[0].split()) in kept for r in dl) / len(dl) > 0.995
    # ... and postcodes far away are not (Sunderland, Durham City).
    assert not gaz.postcodes["postcode"].str.startswith(("SR1 ", "DH1 ")).any()
    assert set(gaz.places["locality"]) <= set(gpd.read_file(area_files["wards"])["WD13NM"])
    assert len(gaz.places) > 20 and len(gaz.streets) > 300

    # Import every Durham Constabulary month and the Cleveland file: rows outside Darlington are
    # skipped with one summary line each, never quarantined one by one.
    lines = []
    for p in [*durham_files, shared_data / "policeuk_neighbours" / "2019-01-cleveland-street.csv"]:
        lines.append(_ok(["ingest", str(p), "--db", db]).output)
    assert all("outside the area (skipped)" in t for t in lines)
    assert "MOST OF THIS FILE LIES OUTSIDE DARLINGTON" in lines[-1]
    assert sum(t.count("warning:") for t in lines) == len(lines)

    engine = store.connect(db)
    with engine.connect() as conn:
        quarantined = conn.execute(sa.select(store.quarantine.c.reason)).scalars().all()
        imports = pd.read_sql(sa.select(store.imports), conn)
    assert not any("outside" in r for r in quarantined)
    assert (
        imports["n_read"]
        == imports[["n_accepted", "n_quarantined", "n_duplicates", "n_out_of_area"]].sum(axis=1)
    ).all()

    # >= 99 % of the rows with coordinates inside Darlington are stored (independent count).
    reference = gpd.read_file(area_files["lsoa_json"]).union_all()
    crimes = pd.concat([pd.read_csv(p) for p in durham_files], ignore_index=True)
    crimes = crimes.dropna(subset=["Latitude", "Longitude"])
    inside = shapely.contains_xy(reference, crimes["Longitude"].to_numpy(), crimes["Latitude"].to_numpy())
    context = store.load_context(engine)
    assert len(context) >= 0.99 * inside.sum(), (len(context), int(inside.sum()))
    assert len(context) <= inside.sum() * 1.02 + 10, "rows outside Darlington are not mixed in"

    hot = _ok(["hotspots", "--source", "context", "--res", "8", "--out", str(tmp_path / "h.csv"), "--db", db])
    assert "Darlington, " in hot.output
    assert "outside the study area" not in hot.output
    table = pd.read_csv(tmp_path / "h.csv")
    assert table["count"].sum() == len(context)
    assert table["class"].str.startswith("hot").sum() > 0
    area_cells = len(hs.polygon_to_cells(current.boundary, 8))
    assert area_cells <= len(table) <= area_cells * 1.1

    # Five police.uk months: a 10-day step gives the trend test the ten steps it needs.
    em = _ok(
        [
            "emerging",
            "--source",
            "context",
            "--res",
            "8",
            "--step",
            "10D",
            "--out",
            str(tmp_path / "em.csv"),
            "--db",
            db,
        ]
    )
    assert "Darlington, " in em.output
    emerging = pd.read_csv(tmp_path / "em.csv")
    assert len(emerging) == len(table) and emerging["total_count"].sum() == len(context)

    ev = _ok(
        [
            "evaluate",
            "--source",
            "context",
            "--train-from",
            "2018-10",
            "--train-to",
            "2018-12",
            "--test-from",
            "2019-01",
            "--test-to",
            "2019-02",
            "--n-boot",
            "50",
            "--out",
            str(tmp_path / "pai.csv"),
            "--db",
            db,
        ]
    )
    assert "Darlington: context" in ev.output
    pai = pd.read_csv(tmp_path / "pai.csv")
    gistar5 = pai[(pai["method"] == "gistar") & (pai["coverage"] == 0.05)]
    assert len(gistar5) == 1 and gistar5["pai"].iloc[0] > 2

    # A sharing-form row: a Darlington postcode is located; a Durham City one is not in this area.
    form = tmp_path / "form.csv"
    rows = [
        {"Source reference": "A-1", "Postcode": "DL1 1AA", "Location": "near the shops"},
        {"Source reference": "A-2", "Postcode": "DH1 3HP", "Location": "near the shops"},
        {"Source reference": "A-3", "Latitude": "54.7761", "Longitude": "-1.5733"},
    ]
    base = {
        "Date observed": "03/04/2025",
        "Reporting agency": "Test School (synthetic)",
        "Agency type": "school",
        "Place type": "shop",
        "Concern": "cce",
    }
    pd.DataFrame([{c: {**base, **r}.get(c, "") for c in TEMPLATE_COLUMNS} for r in rows]).to_csv(
        form, index=False
    )
    summary = pipeline.import_file(engine, form, today=pd.Timestamp("2026-01-01").date())
    assert summary.reconciles
    with engine.connect() as conn:
        stored = conn.execute(sa.select(store.reports.c.postcode, store.reports.c.latitude)).all()
    assert [r.postcode for r in stored] == ["DL1 1AA"] and 54.4 < stored[0].latitude < 54.7
    assert summary.n_quarantined == 2

    # --area overrides the configured area for one run: a smaller boundary gives a smaller grid.
    part = gpd.read_file(area_files["lsoa_json"]).sort_values("LSOA11CD").head(20)
    part_path = tmp_path / "part.geojson"
    part.to_file(part_path, driver="GeoJSON")
    small = _ok(
        [
            "hotspots",
            "--source",
            "context",
            "--res",
            "8",
            "--area",
            str(part_path),
            "--out",
            str(tmp_path / "h2.csv"),
            "--db",
            db,
        ]
    )
    assert "(--area) and are left out" in small.output and "\npart, " in small.output
    assert len(pd.read_csv(tmp_path / "h2.csv")) < len(table)
    assert area_mod.current_area(db).name == "Darlington", "--area changes nothing stored"

    shown = _ok(["area", "show", "--db", db])
    assert "area: Darlington" in shown.output and "police.uk street-level crime: read" in shown.output


CLEVELAND_LADS = ("E06000001", "E06000002", "E06000003", "E06000004")  # Hartlepool .. Stockton-on-Tees


def test_cleveland_a_whole_other_force_from_the_command_line(tmp_path, area_files, shared_data):
    """Cleveland's boundary derived from its own postcodes (a concave hull of the Code-Point units of
    its four unitary authorities, in British National Grid), then its police.uk file imported."""
    cp = pd.read_csv(
        shared_data / "codepoint_open" / "ts.csv",
        header=None,
        names=pd.read_csv(shared_data / "codepoint_open" / "Code-Point_Open_Column_Headers.csv").columns,
        dtype=str,
    )
    cp.columns = [
        "Postcode", "Quality", "Eastings", "Northings", "Country", "RHA", "HA", "County", "District", "Ward",
    ]  # fmt: skip
    mine = cp[cp["District"].isin(CLEVELAND_LADS) & (cp["Quality"] != "90")]
    hull = shapely.concave_hull(
        shapely.multipoints(mine[["Eastings", "Northings"]].astype(float).to_numpy()), ratio=0.02
    ).buffer(400)
    boundary = tmp_path / "cleveland.geojson"
    gpd.GeoDataFrame({"name": ["Cleveland"]}, geometry=[hull], crs="EPSG:27700").to_file(boundary)

    db = f"sqlite:///{tmp_path / 'cleveland.sqlite'}"
    cleveland = shared_data / "policeuk_neighbours" / "2019-01-cleveland-street.csv"
    _ok(["area", "set", "--boundary", str(boundary), "--name", "Cleveland", "--db", db])
    built = _ok(
        [
            "area",
            "build-gazetteer",
            "--codepoint",
            str(area_files["codepoint"]),
            "--policeuk",
            str(cleveland),
            "--db",
            db,
        ]
    )
    assert "gazetteer for Cleveland" in built.output
    own = _ok(["ingest", str(cleveland), "--db", db]).output
    other = _ok(
        ["ingest", str(shared_data / "policeuk_neighbours" / "2019-01-northumbria-street.csv"), "--db", db]
    )
    assert "MOST OF THIS FILE LIES OUTSIDE CLEVELAND" in other.output
    assert "MOST OF THIS FILE" not in own

    crimes = pd.read_csv(cleveland).dropna(subset=["Latitude", "Longitude"])
    from hoth_geo.intake.gazetteer import wgs84_to_bng

    e, n = wgs84_to_bng(crimes["Longitude"].to_numpy(), crimes["Latitude"].to_numpy())
    inside = shapely.contains_xy(hull, e, n)
    assert inside.mean() > 0.95, "the derived boundary covers the force's own rows"
    engine = store.connect(db)
    stored = store.load_context(engine)
    assert len(stored) >= 0.99 * inside.sum(), (len(stored), int(inside.sum()))
    assert (stored["falls_within"] == "Cleveland Police").mean() > 0.99

    hot = _ok(["hotspots", "--source", "context", "--res", "8", "--out", str(tmp_path / "h.csv"), "--db", db])
    assert "Cleveland, " in hot.output
    table = pd.read_csv(tmp_path / "h.csv")
    assert table["count"].sum() == len(stored) and table["class"].str.startswith("hot").sum() > 0

    # A sharing-form report in Middlesbrough is located from the area's own postcodes.
    form = tmp_path / "form.csv"
    row = {
        "Source reference": "C-1",
        "Date observed": "03/04/2025",
        "Reporting agency": "Test College (synthetic)",
        "Agency type": "education",
        "Place type": "shop",
        "Concern": "cce",
        "Postcode": mine[mine["District"] == "E06000002"]["Postcode"].iloc[0],
    }
    pd.DataFrame([{c: row.get(c, "") for c in TEMPLATE_COLUMNS}]).to_csv(form, index=False)
    summary = pipeline.import_file(engine, form, today=pd.Timestamp("2026-01-01").date())
    assert (summary.n_accepted, summary.n_quarantined) == (1, 0), summary.describe()


def test_exports_name_and_use_the_configured_area(tmp_path, area_files):
    """A deployment whose area is County Durham under its partnership's own name: the briefing pack's
    title names it, and a hot-spot map is drawn on its grid."""
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    _ok(["demo", "--db", db])
    set_out = _ok(
        [
            "area",
            "set",
            "--boundary",
            str(area_files["durham"]),
            "--name",
            "Durham Safeguarding Area",
            "--db",
            db,
        ]
    )
    assert "stored partnership reports" in set_out.output, "Darlington's demo reports lie outside it"
    pdf = tmp_path / "briefing.pdf"
    _ok(["export", "--kind", "briefing", "--audience", "police", "--out", str(pdf), "--db", db])
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Durham Safeguarding Area" in " ".join(text.split())
    assert "County Durham and Darlington" not in text


def test_rows_imported_before_the_gazetteer_are_located_again_from_the_command_line(tmp_path, area_files):
    from forms import OUTREACH, write_form

    db = f"sqlite:///{tmp_path / 'darlington.sqlite'}"
    _ok(["area", "set", "--boundary", str(area_files["gpkg"]), "--name", "Darlington", "--db", db])
    rows = [
        {**OUTREACH, "Source reference": "C-1", "Location": "", "Postcode": "DL1 5AD"},
        {**OUTREACH, "Source reference": "C-2"},
    ]
    imported = _ok(["ingest", str(write_form(tmp_path / "early.csv", rows)), "--db", db])
    assert "0 accepted + 2 quarantined" in imported.output
    built = _ok(["area", "build-gazetteer", "--codepoint", str(area_files["codepoint"]), "--db", db])
    assert "2 rows wait for a location in Review: `hoth-geo area locate-again`" in built.output

    again = _ok(["area", "locate-again", "--db", db])

    assert "2 rows tried with the area's gazetteer" in again.output
    assert "1 located and stored (1 by postcode)" in again.output
    assert "1 still needs a location in Review" in again.output
    assert "early.csv row 2: report 1, by postcode (within " in again.output
    assert len(store.load_reports(store.connect(db))) == 1
    assert "1 row tried" in _ok(["area", "locate-again", "--db", db]).output
