"""The map of one point (where a shared report will land, or a Review row): without a basemap it still
says where the point is, with the area's outlines and the nearest town's label in view."""

from __future__ import annotations

import json
import re

import folium
import pytest

from hoth_geo import settings
from hoth_geo.deliver import basemap as basemaps
from hoth_geo.deliver import maps

# A petrol station's point in Crook (shipped gazetteer), half a kilometre from the Crook label.
NEAR_CROOK = (54.7155, -1.7465)
A_TILE_SERVER = basemaps.from_url("http://tiles.example.org/{z}/{x}/{y}.png", attribution="Example tiles")


def _fit(m: folium.Map):
    found = re.search(
        r'"fit":(null|\[\[[^\]]*\],\[[^\]]*\]\]),"fitMaxZoom":(null|\d+)', maps.standalone_html(m)
    )
    assert found, "the hexagon layer's view settings are in the page"
    return json.loads(found.group(1)), json.loads(found.group(2))


def test_nearest_town_is_the_closest_town_label():
    name, lat, lon, km = maps.nearest_town(*NEAR_CROOK)
    assert name == "Crook"
    assert 0.2 < km < 2.0
    labels = maps.town_labels()
    assert (
        (labels["name"] == name).any() and lat in set(labels["latitude"]) and lon in set(labels["longitude"])
    )


def test_without_a_basemap_the_view_takes_in_the_point_and_its_nearest_town():
    m = maps.location_map(*NEAR_CROOK, 16, basemap=None)
    fit, max_zoom = _fit(m)
    assert max_zoom == 16, "never closer than the precision asks"
    (south, west), (north, east) = fit
    _name, town_lat, town_lon, _km = maps.nearest_town(*NEAR_CROOK)
    assert south < town_lat < north and west < town_lon < east
    # The point stays at the centre of the view: it is what the map is for.
    assert (south + north) / 2 == pytest.approx(NEAR_CROOK[0]) and (west + east) / 2 == pytest.approx(
        NEAR_CROOK[1]
    )
    html = maps.standalone_html(m)
    assert "hothReference" in html and '"Crook"' in html, "outlines and town labels are drawn"
    assert not any(isinstance(el, folium.TileLayer) for el in m._children.values())


def test_with_a_basemap_the_point_is_shown_at_its_zoom():
    m = maps.location_map(*NEAR_CROOK, 16, basemap=A_TILE_SERVER)
    fit, _max_zoom = _fit(m)
    assert fit is None
    assert m.location == list(NEAR_CROOK) and m.options["zoom"] == 16


def test_a_configured_basemap_is_read_when_none_is_given(monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "basemap.json")
    basemaps.save(A_TILE_SERVER, tmp_path / "basemap.json")
    assert _fit(maps.location_map(*NEAR_CROOK, 16))[0] is None
    (tmp_path / "basemap.json").unlink()
    assert _fit(maps.location_map(*NEAR_CROOK, 16))[0] is not None


# --- in a real browser ------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("point", [NEAR_CROOK, (54.64, -1.95)])  # in a town; in the dales, 10 km out
def test_the_preview_at_street_zoom_shows_a_town_name_and_its_point_in_the_middle(chromium, tmp_path, point):
    """At the Share page's size, a point placed to 50 m (zoom 16) with no basemap: the nearest town's
    label is shown whole inside the map, and the point is where the view is centred."""
    m = maps.location_map(*point, 16, basemap=None)
    folium.CircleMarker(location=point, radius=6, color="#b30000").add_to(m)
    path = tmp_path / "preview.html"
    path.write_text(maps.standalone_html(m), encoding="utf-8")
    page = chromium.new_page(viewport={"width": 700, "height": 380})
    page.goto(path.as_uri())
    page.wait_for_function(f"() => window.{m.get_name()} && window.{m.get_name()}._hothLayers")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(300)
    info = page.evaluate(
        f"""([lat, lng]) => {{
        const map = window.{m.get_name()};
        const box = map.getContainer().getBoundingClientRect();
        const shown = [...document.querySelectorAll('.hoth-town')].filter(el => {{
            const r = el.getBoundingClientRect();
            return getComputedStyle(el).visibility !== 'hidden' && r.left >= box.left && r.right <= box.right
                && r.top >= box.top && r.bottom <= box.bottom;
        }}).map(el => el.innerText);
        const p = map.latLngToContainerPoint([lat, lng]);
        return {{shown, x: p.x, y: p.y, w: box.width, h: box.height, zoom: map.getZoom()}};
    }}""",
        list(point),
    )
    page.close()
    assert maps.nearest_town(*point)[0] in info["shown"], info
    assert abs(info["x"] - info["w"] / 2) < 2 and abs(info["y"] - info["h"] / 2) < 2, info
    assert info["zoom"] <= 16
