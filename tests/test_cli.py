"""The hoth-geo command line, as other tools call it."""

from __future__ import annotations

import json

import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from hoth_geo.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.sqlite'}"
    result = runner.invoke(app, ["demo", "--db", url])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DEMO DATA" in result.output
    return url


def test_ingest_reports_the_reconciled_summary_and_refuses_clearly(tmp_path, shared_data):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    ok = runner.invoke(
        app, ["ingest", str(shared_data / "policeuk_durham" / "2019-01-durham-street.csv"), "--db", url]
    )
    assert ok.exit_code == 0, ok.output
    assert "policeuk:" in ok.output and "accepted" in ok.output and "quarantined" in ok.output
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    refused = runner.invoke(app, ["ingest", str(bad), "--db", url])
    assert refused.exit_code == 1
    assert "empty" in refused.output


def test_hexes_writes_csv_geojson_and_gpkg(db, tmp_path):
    for name in ("h.csv", "h.geojson", "h.gpkg"):
        result = runner.invoke(
            app, ["hexes", "--res", "8", "--concern", "cse", "--out", str(tmp_path / name), "--db", db]
        )
        assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "h.csv")
    assert {"h3", "count"} <= set(table.columns) and table["count"].sum() > 0
    gj = json.loads((tmp_path / "h.geojson").read_text())
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(table)
    assert gj["features"][0]["geometry"]["type"] == "Polygon"
    info = pyogrio.read_info(tmp_path / "h.gpkg", layer="hexes")
    assert info["crs"] == "EPSG:4326" and info["features"] == len(table)


def test_filters_are_validated_by_name(db, tmp_path):
    result = runner.invoke(
        app, ["hexes", "--concern", "county", "--out", str(tmp_path / "x.csv"), "--db", db]
    )
    assert result.exit_code == 2 and "unknown key 'county'" in result.output
    result = runner.invoke(
        app, ["hexes", "--from", "31/01/2025", "--out", str(tmp_path / "x.csv"), "--db", db]
    )
    assert result.exit_code == 2 and "--from must be a date as YYYY-MM-DD" in result.output


def test_map_writes_a_standalone_offline_page(db, tmp_path):
    out = tmp_path / "map.html"
    result = runner.invoke(app, ["map", "--res", "8", "--from", "2026-05-01", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<script src=" not in page.replace('<script src="data:', "")  # nothing fetched from a server
    assert "L.map" in page or "L.Map" in page
