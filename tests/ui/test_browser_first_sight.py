"""The app's maps at first sight in a 1280-pixel-wide window (a common laptop screen): each town name
shown sits just above its own town and none is cut by the map's edge; every hexagon of the patrol plan
is marked so that it shows at the zoom that fits the plan. Reuses the server and helpers of
tests/test_browser.py."""

from __future__ import annotations

import pytest
import test_browser
from app_server import save_screenshot
from test_browser import (
    ANALYST,
    MAP_IFRAME,
    PARTNER,
    go_in_session,
    hex_count,
    map_frame,
    sign_in,
    wait_in_map,
)

from hoth_geo.deliver.maps import town_labels

pytestmark = pytest.mark.browser

app = test_browser.app

# For every town name shown: where its town is on the map, where its label is, and the map's box.
LABELS_JS = """(towns) => {
    const el = document.querySelector('.leaflet-container'), map = el && window[el.id];
    if (!map || !map._hothLayers) return null;
    const box = el.getBoundingClientRect();
    return {box: [box.left, box.top, box.right, box.bottom],
        shown: [...el.querySelectorAll('.hoth-town')].filter(e => e.style.visibility !== 'hidden')
        .map(e => {
            const name = e.innerText, r = e.getBoundingClientRect();
            const p = towns[name] ? map.latLngToContainerPoint(towns[name]) : {x: NaN, y: NaN};
            return {name: name, x: box.left + p.x, y: box.top + p.y, rect: [r.left, r.top, r.right, r.bottom]};
        })};
}"""


def _labels_after_settling(page) -> dict:
    hex_count(page)
    page.wait_for_timeout(2500)  # the frame takes its final size and the view is fitted again
    towns = {t.name: [t.latitude, t.longitude] for t in town_labels().itertuples()}
    frame = map_frame(page)
    frame.wait_for_function(f"(towns) => ({LABELS_JS})(towns) !== null", arg=towns)
    return frame.evaluate(LABELS_JS, towns)


def _assert_on_their_towns(info: dict) -> None:
    left, top, right, bottom = info["box"]
    assert len(info["shown"]) >= 4, info
    for label in info["shown"]:
        l_, t_, r_, b_ = label["rect"]
        # Centred over its town, just above it ("top" direction, 5 px offset).
        assert abs((l_ + r_) / 2 - label["x"]) <= 3, label
        assert 0 <= label["y"] - b_ <= 20, label
        # Whole: nothing of the name falls outside the map.
        assert l_ >= left and r_ <= right and t_ >= top and b_ <= bottom, (label, info["box"])


@pytest.mark.parametrize("user", [ANALYST, PARTNER])
def test_town_names_sit_on_their_towns_and_are_never_cut(chromium, app, user):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(test_browser.SLOW)
    try:
        sign_in(page, app, user)
        page.get_by_role("heading", name="Hotspot map").wait_for()
        _assert_on_their_towns(_labels_after_settling(page))
        save_screenshot(page, f"town-labels-1280-{user.split('.')[0]}")
    finally:
        context.close()


# Hexagons in the plan, marks drawn for them, and whether the marks are shown at this zoom.
PLAN_MARKS_JS = """() => {
    const el = document.querySelector('.leaflet-container'), map = el && window[el.id];
    if (!map || !map._hothLayers) return null;
    const top = map._hothLayers.top, view = map.getBounds();
    let inView = 0;
    top.eachLayer(m => { if (view.contains(m.getLatLng())) inView++; });
    return {hexes: map._hothLayers.hexes.getLayers().length, marks: top.getLayers().length,
            shown: map.hasLayer(top), inView: inView};
}"""


def test_every_patrol_plan_hexagon_is_marked_at_first_sight(chromium, app):
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(test_browser.SLOW)
    try:
        sign_in(page, app, ANALYST)
        page.get_by_role("heading", name="Hotspot map").wait_for()
        hex_count(page)
        go_in_session(page, "patrol")
        page.get_by_role("heading", name="Patrol plan", exact=True).wait_for()
        page.wait_for_timeout(2500)
        info = wait_in_map(
            page, f"() => {{ const i = ({PLAN_MARKS_JS})(); return i && i.hexes > 0; }}", PLAN_MARKS_JS
        )
        # The plan spans the area, so its hexagons are specks at the fitted zoom: each has its mark.
        assert info["shown"] and info["marks"] == info["hexes"] == info["inView"], info
        page.locator(MAP_IFRAME).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        save_screenshot(page, "patrol-plan-1280")
    finally:
        context.close()
