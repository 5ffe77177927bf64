"""Exports on the demo data: every format read back and scanned for what must not leave the police."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
import zipfile

import h3
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest

from hoth_geo import store
from hoth_geo.access.privacy import (
    NamedPlacesRelease,
    NotAllowed,
    is_suppressed,
    label_keys,
    policy_for,
)
from hoth_geo.analysis.aggregate import aggregate_hexes, monthly_counts
from hoth_geo.analysis.places import place_ranking
from hoth_geo.deliver.exports import (
    CRS_OPTIONS,
    FORMATS,
    export_filename,
    export_hexes,
    export_layers,
    export_places,
    export_reports,
    export_table,
    record_export,
    shareable_hexes,
    shareable_places,
)
from hoth_geo.deliver.wayfinding import describe_cells
from hoth_geo.intake import pipeline
from hoth_geo.intake.area import gazetteer_for, shipped_area
from hoth_geo.schema import TEMPLATE_COLUMNS
from hoth_geo.selection import ReportFilter, filter_mask

CHILD_REF = re.compile(r"DEMO-C\d{4}")
NARRATIVE = "SYNTHETIC DEMO REPORT"
GRADING = re.compile(r"grading", re.IGNORECASE)
PAYLOADS = ['=HYPERLINK("http://example.invalid","click")', "+cmd", "-1+1", "@SUM(A1)", "\t=1"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SHARED = ("partner", "public")
RELEASE = NamedPlacesRelease(
    reason="MACE 12 May: joint disruption plan for the named hotels", released_by="a.analyst", role="analyst"
)
RELEASED = policy_for("partner", named_places=RELEASE)


def _monthly_keys(reports, f, monthly):
    """The cell keys of monthly_counts' located and online columns."""
    keep = filter_mask(reports, f)
    month = reports["observed_at"].dt.to_period("M").dt.to_timestamp().to_numpy(dtype=object)
    online = reports["online"].to_numpy(dtype=bool)
    index = list(pd.to_datetime(monthly["month"]))
    return {
        "located": label_keys(reports, keep & ~online, month, index),
        "online": label_keys(reports, keep & online, month, index),
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exports")
    engine = store.connect(f"sqlite:///{tmp}/x.sqlite")
    pipeline.load_demo_data(engine)
    return engine, store.load_reports(engine), pipeline.all_places(engine)


# --- Reading the produced files back ----------------------------------------------------------------------


def _csv_rows(data: bytes) -> list[dict]:
    assert data.startswith(b"\xef\xbb\xbf")  # BOM for spreadsheets
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _xlsx_cells(data: bytes) -> dict[str, list[list]]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    sheets = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"live formula in {ws.title}!{cell.coordinate}: {cell.value!r}"
        sheets[ws.title] = [[c.value for c in row] for row in ws.iter_rows()]
    return sheets


def _xlsx_rows(data: bytes, sheet: str) -> list[dict]:
    rows = _xlsx_cells(data)[sheet]
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _gpkg_layers(data: bytes, tmp_path) -> dict[str, pd.DataFrame]:
    path = tmp_path / "read.gpkg"
    path.write_bytes(data)
    return {name: pyogrio.read_dataframe(path, layer=name) for name, _ in pyogrio.list_layers(path)}


def _records(data: bytes, fmt: str, tmp_path, layer: str) -> list[dict]:
    """The rows of an export, as a reader of the file would see them."""
    if fmt == "csv":
        return _csv_rows(data)
    if fmt == "xlsx":
        return _xlsx_rows(data, layer)
    if fmt == "geojson":
        return [f["properties"] for f in json.loads(data)["features"]]
    frame = _gpkg_layers(data, tmp_path)[layer].drop(columns="geometry")
    return frame.to_dict("records")


def _all_text(data: bytes, fmt: str) -> str:
    """Everything in the file as text (an XLSX is a zip of XML parts: read them all)."""
    if fmt == "xlsx":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return data.decode("utf-8", "replace")


def _assert_nothing_about_a_child(data: bytes, fmt: str, rows: list[dict], count_cols, k: int = 5):
    text = _all_text(data, fmt)
    assert NARRATIVE not in text
    assert not CHILD_REF.search(text)
    assert not GRADING.search(text)
    for row in rows:
        assert not (set(map(str, row)) & {"narrative", "child_ref", "grading_source", "z", "p_fdr"})
        for col in count_cols:
            v = row[col]
            if isinstance(v, str) and (is_suppressed(v) or v == ""):
                continue
            n = float(v)
            assert n == 0 or n >= k, f"{col}={v!r} below k in {row}"


# --- Partner and public exports -----------------------------------------------------------------------------


@pytest.mark.parametrize("audience", SHARED)
@pytest.mark.parametrize("fmt", FORMATS)
def test_shared_hex_exports_hold_no_small_counts_or_report_detail(demo, tmp_path, audience, fmt):
    engine, reports, _ = demo
    policy = policy_for(audience)
    data = export_hexes(reports, 8, None, policy, fmt=fmt)
    rows = _records(data, fmt, tmp_path, "hexes")
    assert len(rows) == len(aggregate_hexes(reports, 8))
    _assert_nothing_about_a_child(data, fmt, rows, ["count"])
    assert any(r["count"] == "<5" for r in rows)  # there are small cells, and they are suppressed
    assert {"top_place_types", "top_concerns", "distinct_places"}.isdisjoint(rows[0])
    # Breakdowns name categories only, without numbers.
    assert not any(re.search(r"\(\d+\)", str(r["common_concerns"] or "")) for r in rows)


@pytest.mark.parametrize("audience", SHARED)
@pytest.mark.parametrize("fmt", FORMATS)
def test_places_files_are_refused_to_partners_without_a_release_and_to_the_public(demo, audience, fmt):
    engine, reports, places = demo
    with pytest.raises(NotAllowed, match="named places"):
        export_places(reports, places, None, policy_for(audience), fmt=fmt)
    assert shareable_places(reports, places, None, policy_for(audience)).table.empty
    with pytest.raises(ValueError, match="only be released to partners"):
        policy_for("public", named_places=RELEASE)


@pytest.mark.parametrize("fmt", FORMATS)
def test_released_places_follow_the_named_venue_rule(demo, tmp_path, fmt):
    engine, reports, places = demo
    data = export_places(reports, places, None, RELEASED, fmt=fmt)
    rows = _records(data, fmt, tmp_path, "places")
    _assert_nothing_about_a_child(data, fmt, rows, ["reports"])
    assert rows and "agencies" not in rows[0] and "place_id" not in rows[0] and "first" not in rows[0]
    ranking = place_ranking(reports, places)
    eligible = ranking[(ranking["reports"] >= 5) & (ranking["agencies"] >= 2)]
    assert len(rows) == len(eligible)
    for r in rows:
        # Only places with k+ reports from 2+ agencies, and their count within the ptable's noise.
        same = eligible[(eligible["name"] == r["name"]) & (eligible["place_type"] == r["place_type"])]
        assert len(same), r
        assert (abs(same["reports"] - int(float(r["reports"]))) <= 2).any(), r
    assert len(ranking) > len(rows)  # places named before the rule are not any more


def test_a_release_needs_a_reason_and_a_police_or_analyst_user():
    with pytest.raises(ValueError, match="reason"):
        NamedPlacesRelease(reason="because", released_by="a.analyst", role="analyst")
    with pytest.raises(NotAllowed, match="police or analyst"):
        NamedPlacesRelease(reason="MACE meeting on the hotels", released_by="p.partner", role="partner")


@pytest.mark.parametrize("audience", SHARED)
def test_geopackage_layers_hold_nothing_about_a_child(demo, tmp_path, audience):
    _, reports, places = demo
    data = export_layers(reports, places, 8, None, policy_for(audience))
    layers = _gpkg_layers(data, tmp_path)
    assert set(layers) == {"hexes"}  # no named places unless released
    _assert_nothing_about_a_child(
        data, "gpkg", layers["hexes"].drop(columns="geometry").to_dict("records"), ["count"]
    )
    released = _gpkg_layers(export_layers(reports, places, 8, None, RELEASED), tmp_path)
    assert set(released) == {"hexes", "places"}
    assert "agencies" not in released["places"].columns
    _assert_nothing_about_a_child(
        data, "gpkg", released["places"].drop(columns="geometry").to_dict("records"), ["reports"]
    )


def test_hotspot_class_is_shared_but_not_z(demo):
    _, reports, _ = demo
    partner = shareable_hexes(reports, 8, None, policy_for("partner"), with_hotspots=True).table
    police = shareable_hexes(reports, 8, None, policy_for("police"), with_hotspots=True).table
    assert "class" in partner and not {"z", "p_fdr"} & set(partner)
    assert {"z", "p_fdr", "class"} <= set(police)
    assert (partner["class"] == "hot_99").sum() == (police["class"] == "hot_99").sum() > 0


def test_partner_request_at_res_10_is_coarsened_and_logged(demo):
    engine, reports, _ = demo
    before = len(store.load_export_log(engine))
    data = export_hexes(
        reports, 10, None, policy_for("partner"), fmt="csv", engine=engine, exported_by="analyst"
    )
    rows = _csv_rows(data)
    assert {h3.get_resolution(r["h3"]) for r in rows} == {8}
    log = store.load_export_log(engine)
    assert len(log) == before + 1
    entry = json.loads(log["filters"].iloc[-1])
    assert (entry["res"], entry["res_requested"]) == (8, 10)
    police = export_hexes(reports, 10, None, policy_for("police"), fmt="csv")
    assert {h3.get_resolution(r["h3"]) for r in _csv_rows(police)} == {10}


def test_shared_tables_suppress_counts_and_drop_detail(demo):
    _, reports, places = demo
    policy = policy_for("partner")
    f = ReportFilter(concerns=("trafficking",))
    monthly = monthly_counts(reports, f)
    keys = _monthly_keys(reports, f, monthly)
    rows = _csv_rows(export_table(monthly, policy, count_cols=("located", "online"), keys=keys))
    assert len(rows) == len(monthly)
    _assert_nothing_about_a_child(b"", "csv", rows, ["located", "online"])
    assert any(is_suppressed(r["located"]) for r in rows) and any(r["located"] == "5" for r in rows)
    with pytest.raises(ValueError, match="cell keys"):
        export_table(monthly, policy, count_cols=("located", "online"))

    ranking = place_ranking(reports, places)
    keep = filter_mask(reports, None) & reports["place_id"].notna().to_numpy()
    place_keys = label_keys(reports, keep, reports["place_id"].astype(object).to_numpy(), ranking["place_id"])
    data = export_table(
        ranking, policy_for("public"), fmt="xlsx", count_cols=("reports",), keys=place_keys, kind="places"
    )
    ranked = _xlsx_rows(data, "places")
    assert {"concerns", "share_of_type", "agencies"}.isdisjoint(ranked[0])
    for r in ranked:
        if is_suppressed(r["reports"]):
            assert r["first"] is None and r["last"] is None
    assert "Hotel A" not in _all_text(data, "xlsx") and "(demo)" not in _all_text(data, "xlsx")


# --- Police exports ----------------------------------------------------------------------------------------


def test_police_exports_carry_exact_counts_and_narratives(demo, tmp_path):
    engine, reports, places = demo
    police = policy_for("police")
    hexes = _csv_rows(export_hexes(reports, 8, None, police, fmt="csv"))
    assert any(int(r["count"]) < 5 for r in hexes)  # the scan above would have caught these
    assert "top_concerns" in hexes[0]
    ids = reports["id"].head(50).tolist()
    data = export_reports(engine, ids, police, fmt="xlsx")
    rows = _xlsx_rows(data, "reports")
    assert [r["id"] for r in rows] == ids
    assert all(r["narrative"].startswith(NARRATIVE) for r in rows)
    assert any(CHILD_REF.fullmatch(r["child_ref"] or "") for r in rows)
    assert _xlsx_cells(data)  # no live formula anywhere


@pytest.mark.parametrize("audience", SHARED)
def test_report_rows_are_refused_outside_the_police_and_not_logged(demo, audience):
    engine, _, _ = demo
    before = len(store.load_export_log(engine))
    with pytest.raises(NotAllowed, match=audience):
        export_reports(engine, [1, 2, 3], policy_for(audience))
    assert len(store.load_export_log(engine)) == before


@pytest.fixture(scope="module")
def payload_db(tmp_path_factory):
    """A database holding reports whose free text carries spreadsheet formula payloads."""
    tmp = tmp_path_factory.mktemp("payloads")
    engine = store.connect(f"sqlite:///{tmp}/p.sqlite")
    rows = []
    for i, payload in enumerate(PAYLOADS):
        row = dict.fromkeys(TEMPLATE_COLUMNS, "")
        row.update(
            {
                "Source reference": f"SYN-F{i}",
                "Date observed": "03/04/2025",
                "Reporting agency": payload,
                "Location": payload,
                "Place name": payload,
                "Latitude": "54.7763",
                "Longitude": "-1.5754",
                "Concerns": "Missing",
                "Narrative": payload + " synthetic example",
                "Child reference": payload,
            }
        )
        rows.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TEMPLATE_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    summary = pipeline.import_file(engine, buf.getvalue().encode("utf-8"), "payloads.csv")
    assert summary.n_accepted == len(PAYLOADS), summary.describe()
    return engine


def test_formula_payloads_in_reports_are_never_live(payload_db):
    engine = payload_db
    police = policy_for("police")
    rows = _csv_rows(export_reports(engine, ReportFilter(), police, fmt="csv"))
    # Numbers (a negative longitude) are numbers to a spreadsheet, not formulas.
    cells = [v for r in rows for v in r.values() if not re.fullmatch(r"-?\d+(\.\d+)?", v)]
    assert len(rows) == len(PAYLOADS)
    assert not [v for v in cells if v.startswith(FORMULA_START)]
    narratives = {r["narrative"] for r in rows}
    assert '\'=HYPERLINK("http://example.invalid","click") synthetic example' in narratives
    data = export_reports(engine, None, police, fmt="xlsx")
    sheet = _xlsx_cells(data)["reports"]  # asserts no cell has data_type 'f'
    texts = [v for row in sheet for v in row if isinstance(v, str)]
    assert not [v for v in texts if v.startswith(FORMULA_START)]
    assert "'@SUM(A1)" in texts


@pytest.mark.parametrize("audience", ["police", "partner"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_generic_tables_neutralise_payloads_and_keep_numbers(fmt, audience):
    df = pd.DataFrame({"=header": PAYLOADS, "value": [-1, 2, 3.5, 0, 7], "note": ["ok"] * 5})
    data = export_table(df, policy_for(audience), fmt=fmt)
    if fmt == "csv":
        rows = _csv_rows(data)
        assert [r["'=header"] for r in rows] == ["'" + p for p in PAYLOADS]
        assert [r["value"] for r in rows] == ["-1.0", "2.0", "3.5", "0.0", "7.0"]
    else:
        rows = _xlsx_rows(data, "table")
        assert [r["'=header"] for r in rows] == ["'" + p for p in PAYLOADS]
        assert [r["value"] for r in rows] == [-1, 2, 3.5, 0, 7]  # numbers stay numbers


# --- Formats ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("crs", CRS_OPTIONS)
def test_geopackage_layers_columns_and_crs(demo, tmp_path, crs):
    _, reports, places = demo
    path = tmp_path / "layers.gpkg"
    path.write_bytes(export_layers(reports, places, 8, None, RELEASED, crs=crs))
    assert {name for name, _ in pyogrio.list_layers(path)} == {"hexes", "places"}
    hexes = pyogrio.read_info(path, layer="hexes")
    pts = pyogrio.read_info(path, layer="places")
    assert hexes["crs"] == pts["crs"] == crs
    assert hexes["geometry_type"] == "Polygon" and pts["geometry_type"] == "Point"
    assert list(hexes["fields"]) == ["h3", "count", "common_place_types", "common_concerns"]
    assert list(pts["fields"]) == [
        "name",
        "place_type",
        "place_type_label",
        "locality",
        "reports",
    ]
    frame = pyogrio.read_dataframe(path, layer="hexes")
    x, y = frame.geometry.iloc[0].centroid.coords[0]
    if crs == "EPSG:4326":
        assert -3 < x < -1 and 54 < y < 55.2
    else:
        assert 380_000 < x < 480_000 and 500_000 < y < 580_000  # County Durham in British National Grid


def test_geojson_is_a_valid_feature_collection(demo):
    _, reports, _ = demo
    doc = json.loads(export_hexes(reports, 8, None, policy_for("partner"), fmt="geojson"))
    assert doc["type"] == "FeatureCollection" and doc["marking"] == "OFFICIAL-SENSITIVE"
    assert doc["features"]
    for f in doc["features"]:
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
        ring = np.asarray(f["geometry"]["coordinates"][0])
        assert (ring[0] == ring[-1]).all()  # closed ring
        assert (np.abs(ring[:, 0]) <= 180).all() and (np.abs(ring[:, 1]) <= 90).all()
        assert (ring[:, 0] < -1).all() and (ring[:, 1] > 54).all()  # lon, lat order (Durham)
    with pytest.raises(ValueError, match="crs='EPSG:27700' is not possible for GeoJSON"):
        export_hexes(reports, 8, None, policy_for("partner"), fmt="geojson", crs="EPSG:27700")


def test_csv_coordinates_follow_the_crs(demo):
    _, reports, places = demo
    bng = _csv_rows(export_places(reports, places, None, RELEASED, fmt="csv", crs="EPSG:27700"))
    assert {"easting", "northing"} <= set(bng[0]) and "latitude" not in bng[0]
    assert all(380_000 < float(r["easting"]) < 480_000 for r in bng)


def test_xlsx_carries_the_marking(demo):
    _, reports, _ = demo
    data = export_hexes(reports, 8, None, policy_for("public"), fmt="xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["hexes", "About"]
    assert wb["hexes"].oddHeader.center.text == "OFFICIAL"
    about = {r[0]: r[1] for r in _xlsx_cells(data)["About"][1:]}
    assert about["audience"] == "public" and about["marking"] == "OFFICIAL"


def test_validation_names_argument_and_value(demo):
    engine, reports, places = demo
    with pytest.raises(ValueError, match="fmt must be one of .*got 'shp'"):
        export_hexes(reports, 8, None, policy_for("police"), fmt="shp")
    with pytest.raises(ValueError, match="crs must be one of .*got 'EPSG:3857'"):
        export_places(reports, places, None, policy_for("police"), fmt="gpkg", crs="EPSG:3857")
    with pytest.raises(ValueError, match="fmt must be one of csv, xlsx, got 'geojson'"):
        export_reports(engine, [1], policy_for("police"), fmt="geojson")
    with pytest.raises(ValueError, match="count_cols: 'score'"):
        export_table(pd.DataFrame({"score": [1]}), policy_for("partner"), count_cols=("score",))


# --- The export log ----------------------------------------------------------------------------------------------


def test_every_export_logs_one_row_with_the_sha256(demo):
    engine, reports, places = demo
    start = len(store.load_export_log(engine))
    partner = policy_for("partner")
    f = ReportFilter(concerns=("cse",))
    produced = [
        ("hexes", export_hexes(reports, 8, f, partner, fmt="gpkg", engine=engine, exported_by="a.analyst")),
        (
            "places",
            export_places(reports, places, f, RELEASED, fmt="csv", engine=engine, exported_by="a.analyst"),
        ),
        ("layers", export_layers(reports, places, 7, f, partner, engine=engine, exported_by="a.analyst")),
        ("reports", export_reports(engine, [1, 2], policy_for("police"), exported_by="a.analyst")),
        (
            "monthly",
            export_table(
                monthly_counts(reports, f),
                partner,
                count_cols=("located", "online"),
                keys=_monthly_keys(reports, f, monthly_counts(reports, f)),
                kind="monthly",
                engine=engine,
            ),
        ),
    ]
    log = store.load_export_log(engine).iloc[start:]
    assert len(log) == len(produced)
    for (kind, data), (_, entry) in zip(produced, log.iterrows(), strict=True):
        assert entry["kind"] == kind
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["n_bytes"] == len(data)
    first = json.loads(log["filters"].iloc[0])
    assert first["concerns"] == ["cse"] and first["policy"] == {
        "k": 5,
        "coarsest_res": 8,
        "marking": "OFFICIAL-SENSITIVE",
    }
    assert log["audience"].tolist() == ["partner", "partner", "partner", "police", "partner"]
    assert json.loads(log["filters"].iloc[3])["report_ids"] == [1, 2]
    # The release of named places is in the log with its reason and who made it.
    assert json.loads(log["filters"].iloc[1])["named_places"] == RELEASE.as_record()
    assert "named_places" not in first
    # Bytes made elsewhere (e.g. a briefing PDF) are recorded the same way.
    rid = record_export(
        engine,
        b"%PDF-1.7 synthetic",
        policy=partner,
        kind="briefing",
        filters=f,
        filename="b.pdf",
        exported_by="x",
    )
    assert store.load_export_log(engine).set_index("id").loc[rid, "kind"] == "briefing"


def test_export_filename_carries_the_marking():
    from datetime import date

    name = export_filename("hexes", policy_for("partner"), "csv", when=date(2025, 4, 3))
    assert name == "OFFICIAL-SENSITIVE_hoth-geo_hexes_partner_2025-04-03.csv"


def test_secondary_marks_appear_only_with_a_published_total(demo):
    _, reports, _ = demo
    # A narrow selection leaves few hexagons, where secondary suppression has work to do.
    f = ReportFilter(concerns=("radicalisation",))
    table = shareable_hexes(reports, 8, f, policy_for("partner")).table
    shown = table["count"].tolist()
    n_hidden = sum(map(is_suppressed, shown))
    assert n_hidden != 1  # never exactly one suppressed cell under a published total


# --- Hexagons in words ----------------------------------------------------------------------------------------


def test_hex_exports_name_each_hexagons_streets_and_a_partners_never_a_venue(demo):
    _, reports, _ = demo
    gaz = gazetteer_for(shipped_area())
    police = _csv_rows(export_hexes(reports, 8, None, policy_for("police"), fmt="csv", gazetteer=gaz))
    partner = _csv_rows(export_hexes(reports, 8, None, policy_for("partner"), fmt="csv", gazetteer=gaz))
    assert list(police[0])[:3] == ["h3", "where", "count"] and list(partner[0])[:3] == [
        "h3",
        "where",
        "count",
    ]
    # The busiest hexagon, the demo's bus station, is named by the streets it lies on.
    cell = h3.str_to_int(police[0]["h3"])
    expected = describe_cells([cell], 8, gaz.streets, gaz.places).iloc[0]
    assert police[0]["where"] == expected and expected and not expected.startswith("near")
    by_cell = {r["h3"]: r["where"] for r in partner}
    assert by_cell[police[0]["h3"]] == expected  # the same streets for a partner
    # Where no street is near, the police see the nearest gazetteer place; a partner sees nothing.
    venues = {f"near {name}" for name in gaz.places["name"]}
    by_venue = [r for r in police if r["where"] in venues]
    assert by_venue, "the demo has hexagons with a venue but no street near"
    assert all(by_cell[r["h3"]] == "" for r in by_venue)
    assert not any(r["where"] in venues for r in partner)
    # Without the gazetteer the file is as before: no column of words.
    assert "where" not in _csv_rows(export_hexes(reports, 8, None, policy_for("partner"), fmt="csv"))[0]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_street_name_cannot_be_a_live_formula_in_a_hex_export(demo, fmt, tmp_path):
    _, reports, _ = demo
    gaz = gazetteer_for(shipped_area())
    top = shareable_hexes(reports, 8, None, policy_for("police")).table["h3"].iloc[0]
    lat, lng = h3.cell_to_latlng(h3.int_to_str(int(top)))
    hostile = pd.DataFrame(
        {
            "street": [PAYLOADS[0]],
            "locality": ["Synthetic"],
            "latitude": [lat],
            "longitude": [lng],
            "n_points": [10**6],
        }
    )
    gaz = dataclasses.replace(gaz, streets=pd.concat([gaz.streets, hostile], ignore_index=True))
    data = export_hexes(reports, 8, None, policy_for("partner"), fmt=fmt, gazetteer=gaz)
    rows = _records(data, fmt, tmp_path, "hexes")
    where = [str(r["where"]) for r in rows if PAYLOADS[0] in str(r["where"])]
    assert where and all(not w.startswith(FORMULA_START) for w in where), where
