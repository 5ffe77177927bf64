"""``hoth-geo hotspots --method kde``: one grid for the counts, the Gi* checks and the density, and the
same surface as the library's ``density``."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from hoth_geo import hexes
from hoth_geo.analysis import hotspots
from hoth_geo.cli import app
from hoth_geo.selection import located

runner = CliRunner()


def test_kde_builds_the_grid_once_and_writes_the_density_of_the_area(demo_store, monkeypatch, tmp_path):
    built = []
    count_grid = hotspots.count_grid

    def counting_count_grid(*args, **kwargs):
        built.append(args[1])
        return count_grid(*args, **kwargs)

    monkeypatch.setattr(hotspots, "count_grid", counting_count_grid)
    out = tmp_path / "kde.csv"
    url = str(demo_store.engine.url)
    result = runner.invoke(app, ["hotspots", "--method", "kde", "--res", "8", "--out", str(out), "--db", url])
    assert result.exit_code == 0, result.output
    assert built == [8], "the study-area grid is built once for --method kde"

    written = pd.read_csv(out)
    assert list(written.columns) == ["h3", "count", "density"]
    monkeypatch.setattr(hotspots, "count_grid", count_grid)
    expected = hotspots.density(demo_store.reports, 8).table
    assert written["h3"].tolist() == list(hexes.cells_to_str(expected["h3"]))
    assert written["count"].tolist() == expected["count"].tolist()
    assert int(written["count"].sum()) == int(located(demo_store.reports, 8).sum())
    assert written["density"].to_numpy() == pytest.approx(expected["density"].to_numpy(), rel=1e-9)
