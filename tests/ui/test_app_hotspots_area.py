"""AppTest: the Hotspots page's study-area upload applies to every view that has a grid, the same way
the Gi* view and the command line use it (``hotspots.count_grid``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from apptest_support import app_as, ensure_user
from shapely.geometry import box, mapping

from hoth_geo import store
from hoth_geo.analysis import hotspots
from hoth_geo.selection import ReportFilter

# A box round Durham City: part of the partnership's area, with reports inside and outside it.
DURHAM_CITY = box(-1.62, 54.74, -1.52, 54.80)


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('app_hotspots_area') / 'app.sqlite'}"


@pytest.fixture()
def analyst(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    return ensure_user(db_url, "analyst")


def _page(user, view: str, *, upload: bool):
    at = app_as(user, "hotspots").run()
    assert not at.exception, at.exception
    at.radio(key="hs_view").set_value(view).run()
    if upload:
        geojson = json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": mapping(DURHAM_CITY)}],
            }
        ).encode()
        at.file_uploader(key="hs_boundary").set_value(
            ("durham-city.geojson", geojson, "application/geo+json")
        ).run()
        assert any(s.value.startswith("Using the boundary in durham") for s in at.success)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _metric(at, label: str) -> int:
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


def test_the_density_view_smooths_over_the_uploaded_area(db_url, analyst):
    default = _page(analyst, "Intensity (kernel density)", upload=False)
    uploaded = _page(analyst, "Intensity (kernel density)", upload=True)
    reports = store.load_reports(store.connect(db_url))
    expected = {}
    for name, area in (("default", None), ("uploaded", DURHAM_CITY)):
        counts, grid, _ = hotspots.count_grid(reports, 8, ReportFilter(), area=area)
        # The page's bandwidth slider starts at the default radius rounded to 100 m.
        bandwidth = float(round(hotspots.default_bandwidth_m(counts), -2))
        density = hotspots.kernel_density(counts, grid, bandwidth_m=bandwidth).table
        top = density["density"].max()
        expected[name] = int((density["density"] > top * 0.01).sum())
    assert expected["uploaded"] < expected["default"]  # the county's empty hexagons are not drawn
    assert _metric(default, "Hexagons drawn") == expected["default"]
    assert _metric(uploaded, "Hexagons drawn") == expected["uploaded"]


def test_the_emerging_view_runs_on_the_uploaded_area_grid(db_url, analyst):
    at = _page(analyst, "Emerging hot spots", upload=True)
    reports = store.load_reports(store.connect(db_url))
    _counts, grid, _ = hotspots.count_grid(reports, 8, ReportFilter(), area=DURHAM_CITY)
    # Every hexagon of the area is analysed, those without reports included, as Gi* does.
    inside = hotspots.study_area_grid(8, DURHAM_CITY)[0]
    assert np.isin(inside, grid).all()
    per_pattern = at.dataframe[0].value
    assert int(per_pattern["hexagons"].sum()) == len(grid)
    assert len(grid) > len(_counts)  # the area's hexagons with no report are in the grid
