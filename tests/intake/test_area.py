"""Any partnership's area, end to end on real open data: Darlington set from its LSOA boundaries (in
British National Grid, as a GeoPackage and as a zipped Shapefile), its gazetteer built from the
Code-Point Open zip in the layout OS publishes and from police.uk files, the Durham Constabulary
files imported into it (rows outside Darlington skipped with one line), and hotspots and evaluate
run on them from the command line. Plus the statistics guards of the same issue."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from typer.testing import CliRunner

from hoth_geo import store
from hoth_geo.analysis import hotspots as hs
from hoth_geo.cli import app
from hoth_geo.intake import area as area_mod
from hoth_geo.intake import pipeline
from hoth_geo.intake.area_gazetteer import osm_for_area, read_osm_any, read_osm_gpkg
from hoth_geo.schema import TEMPLATE_COLUMNS

pytestmark = pytest.mark.shared

runner = CliRunner()

DARLINGTON = "E06000005"
DURHAM = "E06000047"


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_data) -> dict[str, Path]:
    """Official-format inputs built from the shared open data, as a partnership would download them."""
    d = tmp_path_factory.mktemp("area_inputs")
    cp = shared_data / "codepoint_open"
    codepoint_zip = d / "codepo_gb.zip"
    with zipfile.ZipFile(codepoint_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("dh", "dl", "sr", "ts"):
            zf.write(cp / f"{name}.csv", f"Data/CSV/{name}.csv")
        zf.write(cp / "Code-Point_Open_Column_Headers.csv", "Doc/Code-Point_Open_Column_Headers.csv")
        zf.write(cp / "metadata.txt", "Doc/metadata.txt")
    lsoa = gpd.read_file(
        shared_data / "boundaries_martinjc" / f"statistical_eng_lsoa_by_lad_{DARLINGTON}.json"
    )
    # Several polygons, in British National Grid: the area must be dissolved and reprojected.
    gpkg = d / "darlington_lsoa.gpkg"
    lsoa.to_crs("EPSG:27700").to_file(gpkg, driver="GPKG")
    shp_dir = d / "shp"
    shp_dir.mkdir()
    lsoa.to_crs("EPSG:27700").to_file(shp_dir / "darlington.shp")
    shp_zip = d / "darlington_shp.zip"
    with zipfile.ZipFile(shp_zip, "w") as zf:
        for p in shp_dir.iterdir():
            zf.write(p, p.name)
    durham = gpd.read_file(shared_data / "boundaries_martinjc" / f"statistical_eng_lsoa_by_lad_{DURHAM}.json")
    durham_path = d / "county_durham.geojson"
    durham.to_file(durham_path, driver="GeoJSON")
    return {
        "codepoint": codepoint_zip,
        "gpkg": gpkg,
        "shp_zip": shp_zip,
        "durham": durham_path,
        "wards": shared_data / "boundaries_martinjc" / f"electoral_eng_wards_by_lad_{DARLINGTON}.json",
        "lsoa_json": shared_data / "boundaries_martinjc" / f"statistical_eng_lsoa_by_lad_{DARLINGTON}.json",
    }


def _ok(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_boundary_formats_dissolve_and_reproject_to_the_same_area(files, tmp_path):
    from_gpkg = area_mod.read_area_boundary(files["gpkg"])
    from_shp = area_mod.read_area_boundary(files["shp_zip"])
    # Independent reference: the LSOAs' own lon/lat polygons, dissolved by geopandas.
    reference = gpd.read_file(files["lsoa_json"]).to_crs("EPSG:27700").union_all()
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


def test_darlington_end_to_end_from_the_command_line(tmp_path, files, shared_data):
    db = f"sqlite:///{tmp_path / 'darlington.sqlite'}"
    out = _ok(["area", "set", "--boundary", str(files["gpkg"]), "--name", "Darlington", "--db", db])
    assert "study area set to Darlington" in out.output and "no gazetteer yet" in out.output
    durham_files = sorted((shared_data / "policeuk_durham").glob("*.csv"))
    built = _ok(
        [
            "area",
            "build-gazetteer",
            "--codepoint",
            str(files["codepoint"]),
            *[a for p in durham_files[:2] for a in ("--policeuk", str(p))],
            "--localities",
            str(files["wards"]),
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
    assert set(gaz.places["locality"]) <= set(gpd.read_file(files["wards"])["WD13NM"])
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
    reference = gpd.read_file(files["lsoa_json"]).union_all()
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
    part = gpd.read_file(files["lsoa_json"]).sort_values("LSOA11CD").head(20)
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


def test_switching_area_replaces_the_gazetteer_and_reports_what_lies_outside(tmp_path, files, shared_data):
    db = f"sqlite:///{tmp_path / 'switch.sqlite'}"
    engine = store.connect(db)
    from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area

    first = area_mod.set_area(files["shp_zip"], "Darlington", db_url=db, engine=engine)
    build_gazetteer_for_area(first.area, codepoint=[files["codepoint"]])
    pipeline.import_file(engine, shared_data / "policeuk_durham" / "2019-01-durham-street.csv")
    n_darlington = len(store.load_context(engine))
    assert n_darlington > 1000

    second = area_mod.set_area(files["durham"], "County Durham", db_url=db, engine=engine)
    assert second.previous.name == "Darlington"
    gaz = area_mod.current_gazetteer(db)
    assert gaz.area_name == "County Durham"
    assert gaz.postcodes.empty and gaz.places.empty, "a new area starts empty: nothing of Darlington's"
    n_out = second.outside["police_context"]
    assert 0.99 * n_darlington <= n_out <= n_darlington, "only rows on the shared border are inside both"
    text = " ".join(second.messages())
    assert f"{n_out:,} of {n_darlington:,} stored police.uk rows" in text
    assert "outside County Durham" in text

    back = area_mod.set_area(files["gpkg"], "Darlington", db_url=db, engine=engine)
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


def test_osm_pbf_and_gpkg_give_the_same_places_as_geojson(tmp_path, shared_data):
    import osmium

    geojson = shared_data / "osm_isleofman" / "food-and-drink.overpass.geojson"
    features = read_osm_any([geojson])
    nodes = features[features["osm_type"] == "node"].reset_index(drop=True)
    pbf = tmp_path / "iom.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for row in nodes.itertuples():
            writer.add_node(
                osmium.osm.mutable.Node(
                    id=int(row.osm_id), location=(row.longitude, row.latitude), tags=dict(row.tags)
                )
            )
    gpd.GeoDataFrame(
        {"osm_id": "node/" + nodes["osm_id"], "amenity": [t.get("amenity") for t in nodes["tags"]]}
        | {"name": [t.get("name") for t in nodes["tags"]]},
        geometry=gpd.points_from_xy(nodes["longitude"], nodes["latitude"]),
        crs="EPSG:4326",
    ).to_crs("EPSG:27700").to_file(tmp_path / "iom.gpkg", driver="GPKG")

    isle = shapely.box(-4.9, 54.0, -4.3, 54.45)
    area = area_mod.Area("isle-of-man", "Isle of Man", isle, tmp_path / "none")
    loc = gpd.GeoDataFrame({"ward_name": ["Isle of Man"]}, geometry=[isle], crs="EPSG:4326")
    empty_pc = pd.DataFrame(columns=["postcode", "latitude", "longitude"])
    from_geojson = osm_for_area([geojson], area, loc, empty_pc)[0]
    from_pbf, _streets, report = osm_for_area([pbf], area, loc, empty_pc)
    node_places = from_geojson[from_geojson["place_id"].str.startswith("osm:node/")]
    assert len(node_places) > 50
    pd.testing.assert_frame_equal(
        from_pbf.reset_index(drop=True), node_places.reset_index(drop=True), check_exact=False, atol=1e-6
    )
    assert report.read == len(nodes) and report.kept >= len(node_places)
    from_gpkg = read_osm_gpkg(tmp_path / "iom.gpkg")
    assert sorted(from_gpkg["osm_id"]) == sorted(nodes["osm_id"])
    assert np.allclose(
        from_gpkg.sort_values("osm_id")["latitude"].to_numpy(),
        nodes.sort_values("osm_id")["latitude"].to_numpy(),
    )


def test_area_page_shows_the_area_to_an_admin(tmp_path, monkeypatch):
    from apptest_support import app_as, ensure_user

    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    admin = ensure_user(url, "admin")
    at = app_as(admin, "area").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Area"
    assert at.metric[0].value == "County Durham and Darlington"


def test_open_names_roads_become_streets_and_far_squares_are_not_read(tmp_path, files, shared_data):
    """An OS Open Names zip in the published layout (Doc/ header file, one header-less CSV per 10 km
    square), holding real Darlington road points from police.uk, one populated place, and a square in
    Cornwall that must not even be opened."""
    from hoth_geo.intake.area_gazetteer import OPEN_NAMES_COLUMNS, grid_square_origin, streets_from_open_names
    from hoth_geo.intake.gazetteer import parse_policeuk_location, wgs84_to_bng

    boundary = area_mod.read_area_boundary(files["gpkg"])
    area = area_mod.Area("darlington-test", "Darlington", boundary, tmp_path / "gaz")
    crimes = pd.read_csv(shared_data / "policeuk_durham" / "2019-01-durham-street.csv").dropna(
        subset=["Latitude"]
    )
    parsed = parse_policeuk_location(crimes["Location"])
    roads = crimes[(parsed["kind"] == "street").to_numpy()].assign(street=parsed["street"])
    roads = roads.drop_duplicates("street")
    in_darlington = roads["LSOA name"].str.startswith("Darlington").to_numpy()
    roads = pd.concat([roads[in_darlington].head(300), roads[~in_darlington].head(100)])
    e, n = wgs84_to_bng(roads["Longitude"].to_numpy(), roads["Latitude"].to_numpy())
    squares: dict[str, list[list[str]]] = {}
    letters = "ABCDEFGHJKLMNOPQRSTUVWXYZ"
    for name, x, y in zip(roads["street"], e, n, strict=True):
        ref = next(
            f"{a}{b}{int(x % 100_000 // 10_000)}{int(y % 100_000 // 10_000)}"
            for a in "HNOST"
            for b in letters
            if grid_square_origin(f"{a}{b}00") == (x // 100_000 * 100_000, y // 100_000 * 100_000)
        )
        row = dict.fromkeys(OPEN_NAMES_COLUMNS, "")
        row |= {"NAME1": name, "TYPE": "transportNetwork", "LOCAL_TYPE": "Named Road"}
        row |= {"GEOMETRY_X": f"{x:.0f}", "GEOMETRY_Y": f"{y:.0f}", "POPULATED_PLACE": "Somewhere"}
        squares.setdefault(ref, []).append(list(row.values()))
    town = dict.fromkeys(OPEN_NAMES_COLUMNS, "") | {
        "NAME1": "Darlington",
        "TYPE": "populatedPlace",
        "LOCAL_TYPE": "Town",
        "GEOMETRY_X": "428900",
        "GEOMETRY_Y": "514500",
    }
    squares["NZ21"] = [*squares.get("NZ21", []), list(town.values())]
    zpath = tmp_path / "opname_csv_gb.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("Doc/OS_Open_Names_Header.csv", ",".join(OPEN_NAMES_COLUMNS) + "\n")
        for ref, rows in squares.items():
            zf.writestr(f"Data/{ref}.csv", pd.DataFrame(rows).to_csv(header=False, index=False))
        zf.writestr("Data/SW42.csv", "not,even,csv\n\x00")  # Cornwall: never opened
    loc = gpd.read_file(files["wards"]).rename(columns={"WD13NM": "ward_name"})[["ward_name", "geometry"]]
    streets, report = streets_from_open_names([zpath], area, loc)
    inside = shapely.contains_xy(boundary, roads["Longitude"].to_numpy(), roads["Latitude"].to_numpy())
    bx0, by0, bx1, by1 = gpd.GeoSeries([boundary], crs="EPSG:4326").to_crs("EPSG:27700").total_bounds
    touching = [
        ref
        for ref in squares
        if not (
            grid_square_origin(ref)[0] > bx1
            or grid_square_origin(ref)[0] + 10_000 < bx0
            or grid_square_origin(ref)[1] > by1
            or grid_square_origin(ref)[1] + 10_000 < by0
        )
    ]
    assert sorted(report.files) == sorted(f"Data/{ref}.csv" for ref in touching)
    n_read = sum(len(squares[ref]) for ref in touching)
    assert report.read == n_read and inside.sum() > 20
    assert report.skipped["not a named road (places, road numbers, postcodes, ...)"] == 1
    assert report.kept == inside.sum()
    assert report.skipped.get("outside Darlington", 0) == n_read - 1 - inside.sum()
    assert "Data/SW42.csv" not in report.files
    assert set(streets["locality"]) <= set(loc["ward_name"])
    assert set(streets["street"]) == set(roads["street"][inside])


CLEVELAND_LADS = ("E06000001", "E06000002", "E06000003", "E06000004")  # Hartlepool .. Stockton-on-Tees


def test_cleveland_a_whole_other_force_from_the_command_line(tmp_path, files, shared_data):
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
            str(files["codepoint"]),
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


def test_exports_name_and_use_the_configured_area(tmp_path, files):
    """A deployment whose area is County Durham under its partnership's own name: the briefing pack's
    title names it, and a hot-spot map is drawn on its grid."""
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    _ok(["demo", "--db", db])
    set_out = _ok(
        ["area", "set", "--boundary", str(files["durham"]), "--name", "Durham Safeguarding Area", "--db", db]
    )
    assert "stored partnership reports" in set_out.output, "Darlington's demo reports lie outside it"
    pdf = tmp_path / "briefing.pdf"
    _ok(["export", "--kind", "briefing", "--audience", "police", "--out", str(pdf), "--db", db])
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Durham Safeguarding Area" in " ".join(text.split())
    assert "County Durham and Darlington" not in text


def test_area_and_about_pages_follow_a_configured_area(tmp_path, monkeypatch, files):
    from apptest_support import app_as, ensure_user

    from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area

    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    admin = ensure_user(url, "admin")
    result = area_mod.set_area(files["gpkg"], "Darlington <b>Partnership</b>", db_url=url)
    build_gazetteer_for_area(result.area, codepoint=[files["codepoint"]])
    at = app_as(admin, "area").run()
    assert not at.exception, at.exception
    assert at.metric[0].value == "Darlington <b>Partnership</b>"
    assert at.dataframe[0].value["source"].tolist() == ["OS Code-Point Open"]
    about = app_as(admin, "about").run()
    assert not about.exception, about.exception
    text = " ".join(m.value for m in about.markdown)
    assert "OS Code-Point Open" in text and "Crown copyright" in text
    assert "<b>" not in text, "the area's name is shown as text, never as HTML"
