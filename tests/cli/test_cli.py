"""The hoth-geo command line, as other tools call it."""

from __future__ import annotations

import json

import pandas as pd
import pyogrio
from typer.testing import CliRunner

from hoth_geo.cli import app

runner = CliRunner()


def test_ingest_reports_the_reconciled_summary_and_refuses_clearly(db_url, tmp_path, shared_data):
    url = db_url
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


def test_hexes_writes_csv_geojson_and_gpkg(demo_db_url, tmp_path):
    for name in ("h.csv", "h.geojson", "h.gpkg"):
        result = runner.invoke(
            app,
            ["hexes", "--res", "8", "--concern", "cse", "--out", str(tmp_path / name), "--db", demo_db_url],
        )
        assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "h.csv", keep_default_na=False)
    assert list(table.columns)[:3] == ["h3", "where", "count"] and table["count"].sum() > 0
    assert table["where"].iloc[0], "the busiest hexagon is named by its streets"
    gj = json.loads((tmp_path / "h.geojson").read_text())
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(table)
    assert gj["features"][0]["geometry"]["type"] == "Polygon"
    info = pyogrio.read_info(tmp_path / "h.gpkg", layer="hexes")
    assert info["crs"] == "EPSG:4326" and info["features"] == len(table)


def test_map_writes_a_standalone_offline_page(db, tmp_path):
    out = tmp_path / "map.html"
    result = runner.invoke(app, ["map", "--res", "8", "--from", "2026-05-01", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<script src=" not in page.replace('<script src="data:', "")  # nothing fetched from a server
    assert "L.map" in page or "L.Map" in page


def test_hotspots_command_finds_the_planted_cluster(db, tmp_path):
    out = tmp_path / "hotspots.csv"
    result = runner.invoke(app, ["hotspots", "--res", "8", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert {"h3", "count", "z", "p", "p_fdr", "class"} <= set(table.columns)
    assert table.loc[table["h3"] == "8819464e2dfffff", "class"].item() == "hot_99"
    assert (table["count"] == 0).any(), "the grid includes zero-count cells"


def test_hotspots_refuses_too_few_reports(db, tmp_path):
    result = runner.invoke(
        app,
        [
            "hotspots",
            "--from",
            "2024-11-01",
            "--to",
            "2024-11-02",
            "--out",
            str(tmp_path / "x.csv"),
            "--db",
            db,
        ],
    )
    assert result.exit_code == 2 and "30" in result.output


def test_emerging_and_patrol_plan_and_evaluate(db, tmp_path):
    em = runner.invoke(app, ["emerging", "--res", "8", "--out", str(tmp_path / "em.csv"), "--db", db])
    assert em.exit_code == 0, em.output
    table = pd.read_csv(tmp_path / "em.csv")
    assert table.loc[table["h3"] == "88194650c9fffff", "category"].item() in ("new_hot", "consecutive_hot")

    plan = runner.invoke(
        app, ["patrol-plan", "--slots", "6", "--out", str(tmp_path / "plan.csv"), "--db", db]
    )
    assert plan.exit_code == 0, plan.output
    rows = pd.read_csv(tmp_path / "plan.csv", encoding="utf-8-sig")
    assert len(rows) == 6 and rows["h3"].str.len().eq(15).all()

    ev = runner.invoke(
        app,
        [
            "evaluate",
            "--train-from",
            "2025-11-01",
            "--train-to",
            "2026-04-30",
            "--test-from",
            "2026-05-01",
            "--test-to",
            "2026-10-31",
            "--n-boot",
            "20",
            "--out",
            str(tmp_path / "ev.csv"),
            "--db",
            db,
        ],
    )
    assert ev.exit_code == 0, ev.output
    scores = pd.read_csv(tmp_path / "ev.csv")
    assert set(scores["method"]) == {"count", "gistar", "kde", "last_period"}
    assert (scores["pai"] > 1).all()


# Each ReportFilter field and the option that sets it on every command that filters.
