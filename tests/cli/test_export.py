"""`hoth-geo export`: every kind, the audience's rules, the export log and argument errors."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re

import pytest
from typer.testing import CliRunner

from hoth_geo import store
from hoth_geo.cli import app
from hoth_geo.cli.export import register
from hoth_geo.deliver.maps import band_categories, count_bands

register(app)  # a no-op once cli.py registers the command itself
runner = CliRunner()

MAGIC = {
    "map-png": (b"\x89PNG",),
    "map-pdf": (b"%PDF",),
    "briefing": (b"%PDF",),
    "map-html": (b"<!DOCTYPE html", b"<html"),
    "geojson": (b"{",),
    "gpkg": (b"SQLite format 3",),
    "csv": (b"\xef\xbb\xbf", b"h3"),
    "xlsx": (b"PK",),
}
SUFFIX = {
    "map-png": "png",
    "map-pdf": "pdf",
    "briefing": "pdf",
    "map-html": "html",
    "geojson": "geojson",
    "gpkg": "gpkg",
    "csv": "csv",
    "xlsx": "xlsx",
}


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('export_cli') / 'demo.sqlite'}"
    result = runner.invoke(app, ["demo", "--db", url])
    assert result.exit_code == 0, result.output
    return url


def _export(db_url, *args):
    return runner.invoke(app, ["export", *args, "--db", db_url])


def _log(db_url):
    return store.load_export_log(store.connect(db_url))


@pytest.mark.parametrize("kind", list(MAGIC))
def test_each_kind_writes_its_file_and_one_log_row_with_its_sha256(db_url, tmp_path, kind):
    before = len(_log(db_url))
    out = tmp_path / f"out.{SUFFIX[kind]}"
    result = _export(db_url, "--kind", kind, "--audience", "partner", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data, "the file must not be empty"
    head = data.lstrip(b"\xef\xbb\xbf") if kind == "csv" else data
    assert any(data.startswith(m) or head.startswith(m) for m in MAGIC[kind]), data[:40]
    log = _log(db_url)
    assert len(log) == before + 1
    row = log.iloc[-1]
    assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert row["audience"] == "partner"
    assert row["filename"] == out.name
    assert row["exported_by"].startswith("cli")
    assert f"#{row['id']}" in result.output
    assert "audience: partner" in result.output


def _no_small_count(value) -> bool:
    if isinstance(value, str):
        if value in ("<5", "[c]"):
            return True
        value = int(value)
    return value == 0 or value >= 5


def test_partner_geojson_has_no_small_count_and_no_report_text(db_url, tmp_path):
    out = tmp_path / "p.geojson"
    result = _export(db_url, "--kind", "geojson", "--audience", "partner", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    doc = json.loads(text)
    counts = [f["properties"]["count"] for f in doc["features"]]
    assert counts and all(_no_small_count(c) for c in counts)
    assert "<5" in counts, "the demo set has small counts, which must appear suppressed"
    assert "DEMO-C" not in text and "narrative" not in text.lower()


def test_partner_csv_has_no_small_count_and_no_report_text(db_url, tmp_path):
    out = tmp_path / "p.csv"
    result = _export(db_url, "--kind", "csv", "--audience", "partner", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(_no_small_count(r["count"]) for r in rows)
    assert "DEMO-C" not in text and "narrative" not in text.lower()


def test_police_csv_keeps_exact_counts(db_url, tmp_path):
    out = tmp_path / "police.csv"
    result = _export(db_url, "--kind", "csv", "--audience", "police", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert any(0 < int(r["count"]) < 5 for r in rows)


def test_partner_html_map_shows_classes_not_small_numbers(db_url, tmp_path):
    out = tmp_path / "p.html"
    result = _export(db_url, "--kind", "map-html", "--audience", "partner", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    # The classes of the partner PNG (head/tail breaks of the counts as shared) and one quiet '<5'.
    classes = json.loads(re.search(r'"classes":(\[.*?\])', text).group(1))
    assert classes[0]["quiet"] and html.unescape(classes[0]["label"]) == "Fewer than 5 reports ('<5')"
    for cls in classes[1:]:
        numbers = [int(n) for n in re.findall(r"\d+", cls["label"].replace(",", ""))]
        assert numbers and min(numbers) >= 5, cls
    assert "DEMO-C" not in text


def test_exported_hexagons_are_named_by_their_streets_and_a_partners_never_by_a_venue(db_url, tmp_path):
    police_csv, partner_csv, partner_html = tmp_path / "p.csv", tmp_path / "s.csv", tmp_path / "s.html"
    for audience, kind, out in (
        ("police", "csv", police_csv),
        ("partner", "csv", partner_csv),
        ("partner", "map-html", partner_html),
    ):
        result = _export(db_url, "--kind", kind, "--audience", audience, "--out", str(out))
        assert result.exit_code == 0, result.output
    police = list(csv.DictReader(io.StringIO(police_csv.read_bytes().decode("utf-8-sig"))))
    partner = list(csv.DictReader(io.StringIO(partner_csv.read_bytes().decode("utf-8-sig"))))
    busiest = police[0]["where"]
    assert busiest and {r["h3"]: r["where"] for r in partner}[police[0]["h3"]] == busiest
    venues = {r["where"] for r in police if r["where"].startswith("near ")} - {r["where"] for r in partner}
    assert venues, "the police file names a venue where no street is near"
    page = html.unescape(partner_html.read_text(encoding="utf-8"))
    assert busiest in page, "the partner map's tooltips name the streets"
    assert not any(v in page for v in venues), "and never a venue"


def test_partner_asking_for_res_10_gets_res_8_with_the_note(db_url, tmp_path):
    out = tmp_path / "fine.geojson"
    result = _export(db_url, "--kind", "geojson", "--audience", "partner", "--res", "10", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "H3 8" in result.output
    assert "not the 10 requested" in result.output
    row = _log(db_url).iloc[-1]
    filters = json.loads(row["filters"])
    assert (filters["res"], filters["res_requested"]) == (8, 10)


def test_marking_and_k_are_applied(db_url, tmp_path):
    out = tmp_path / "k.geojson"
    result = _export(
        db_url,
        "--kind",
        "geojson",
        "--audience",
        "public",
        "--k",
        "10",
        "--marking",
        "OFFICIAL",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["marking"] == "OFFICIAL"
    counts = [f["properties"]["count"] for f in doc["features"]]
    assert all(c in ("<10", "[c]") or int(c) >= 10 for c in counts)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--kind", "csv", "--audience", "friends", "--out", "x.csv"], "friends"),
        (["--kind", "csv", "--audience", "partner", "--out", "x.pdf"], "x.pdf"),
        (["--kind", "map-png", "--audience", "partner", "--out", "x.pdf"], "x.pdf"),
        (["--kind", "shapefile", "--audience", "partner", "--out", "x.shp"], "shapefile"),
        (["--kind", "map-png", "--audience", "partner", "--map", "heat", "--out", "x.png"], "heat"),
        (
            ["--kind", "geojson", "--audience", "partner", "--crs", "EPSG:27700", "--out", "x.geojson"],
            "EPSG:27700",
        ),
        (["--kind", "csv", "--audience", "partner", "--crs", "EPSG:3857", "--out", "x.csv"], "EPSG:3857"),
        (["--kind", "csv", "--audience", "partner", "--k", "1", "--out", "x.csv"], "--k"),
        (["--kind", "csv", "--audience", "partner", "--res", "12", "--out", "x.csv"], "--res"),
    ],
)
def test_invalid_arguments_exit_2_naming_the_value_and_record_nothing(db_url, tmp_path, args, named):
    before = len(_log(db_url))
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = runner.invoke(app, ["export", *args, "--db", db_url])
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert len(_log(db_url)) == before
    assert not list(tmp_path.iterdir())


def test_count_bands_never_name_a_small_number():
    keys, labels = count_bands(["<5", "[c]", 5, 9, 10, 19, 20, 49, 50, 501, 0], 5)
    assert labels == [
        "Fewer than 5 (<5)",
        "Withheld ([c]) to protect a small number",
        "5–9",
        "5–9",
        "10–19",
        "10–19",
        "20–49",
        "20–49",
        "50+",
        "50+",
        "No reports",
    ]
    assert set(keys) <= set(band_categories(5))
    assert [v[0] for k, v in band_categories(10).items() if k.startswith("band_")] == [
        "10–19",
        "20–49",
        "50+",
    ]
