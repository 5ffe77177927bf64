"""The Hotspots page's emerging view and ``hoth-geo emerging`` run on the same grid by default (every
hexagon of the deployment's area, as Gi*), so on the demo data they give the same table."""

from __future__ import annotations

import pandas as pd
import pytest
from apptest_support import app_as, ensure_user
from typer.testing import CliRunner

from hoth_geo import hexes, store
from hoth_geo.analysis import hotspots
from hoth_geo.cli import app


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('emerging_page_cli') / 'app.sqlite'}"


def test_the_emerging_view_and_the_command_line_give_the_same_table(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    at = app_as(ensure_user(db_url, "analyst"), "hotspots").run()  # an empty database gets the demo
    at.radio(key="hs_view").set_value("Emerging hot spots").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    per_pattern, patterned_rows = at.dataframe[0].value, at.dataframe[1].value

    out = tmp_path / "emerging.csv"
    result = CliRunner().invoke(app, ["emerging", "--res", "8", "--out", str(out), "--db", db_url])
    assert result.exit_code == 0, result.output
    cli = pd.read_csv(out)

    # The same hexagons tested: the deployment's area, empty hexagons included, as the Gi* view.
    reports = store.load_reports(store.connect(db_url))
    gi_grid = hexes.cells_to_str(hotspots.hotspots(reports, 8).table["h3"])
    assert sorted(cli["h3"]) == sorted(gi_grid)
    assert (cli["total_count"] == 0).any()
    assert int(per_pattern["hexagons"].sum()) == len(cli)
    # The same number of hexagons per pattern ...
    page_counts = dict(zip(per_pattern["pattern"], per_pattern["hexagons"], strict=True))
    assert page_counts == cli["label"].value_counts().to_dict()
    # ... and the same patterned hexagons with the same figures.
    patterned = cli[cli["category"] != "no_pattern"].set_index("h3").sort_index()
    page = patterned_rows.set_index("h3").sort_index()
    assert len(page) == len(patterned) > 0
    assert page.index.tolist() == patterned.index.tolist()
    for col in ("label", "total_count", "final_count", "n_hot_steps", "n_cold_steps"):
        assert page[col].tolist() == patterned[col].tolist(), col
    assert page["trend_z"].to_numpy() == pytest.approx(patterned["trend_z"].to_numpy())


def test_the_emerging_view_names_a_part_step_of_the_dates_chosen(db_url, monkeypatch):
    from datetime import date

    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    at = app_as(ensure_user(db_url, "analyst"), "hotspots").run()
    at.radio(key="hs_view").set_value("Emerging hot spots").run()
    assert not [c for c in at.caption if "Part steps" in c.value], "the demo's dates are whole months"
    at.date_input(key="f_dates").set_value((date(2025, 1, 1), date(2026, 10, 15))).run()
    assert not at.exception, at.exception
    (said,) = [c.value for c in at.caption if "Part steps" in c.value]
    named = said.split("Part steps: ")[1]
    assert named.startswith("01 Oct 2026\u201315 Oct 2026 only") and "Jan 2025" not in named
