"""Town labels on the static maps never overlap: a label that would run into a more important one is
left out, at the scale of the page (the briefing's county map is small, so several are)."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hoth_geo.access import privacy
from hoth_geo.deliver import static_maps


@pytest.mark.parametrize(
    ("size", "rect"), [((11.69, 8.27), (0.03, 0.45, 0.94, 0.45)), ((13.3, 7.5), (0.02, 0.1, 0.96, 0.8))]
)
def test_town_labels_do_not_overlap(demo_store, size, rect):
    hexes = privacy.hex_counts(demo_store.reports, 8)
    layer = static_maps.map_layer(hexes, kind="count", policy="police")
    fig = Figure(figsize=size, dpi=100)
    canvas = FigureCanvasAgg(fig)
    with static_maps.text_rc():
        static_maps.draw_map_panel(fig, rect, layer, tiles=False)
        canvas.draw()
        renderer = canvas.get_renderer()
        map_ax = fig.axes[-2]
        towns = {name for name, _lat, _lng in static_maps.town_positions()}
        # Each label is drawn twice (a white halo beneath, the text on top): take the top copies.
        labels = [t for t in map_ax.texts if t.get_text() in towns and t.get_color() != "white"]
        boxes = [t.get_window_extent(renderer) for t in labels]
    assert len(labels) >= 6
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (labels[boxes.index(a)].get_text(), labels[boxes.index(b)].get_text())
