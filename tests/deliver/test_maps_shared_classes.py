"""The partner web map is classed like the partner PNG: head/tail classes of the counts as shared
(suppressed and perturbed), never of the true counts, with the '<k' class drawn quietly beneath."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from hoth_geo.access import privacy
from hoth_geo.deliver import exports, maps, static_maps


@pytest.fixture(scope="module")
def partner():
    return privacy.policy_for("partner")


@pytest.fixture(scope="module")
def shared(demo_store, partner):
    return exports.shareable_hexes(demo_store.reports, partner.coarsest_res, None, partner).table


def _legend(m) -> list[dict]:
    text = m.get_root().render()
    return json.loads(re.search(r'"classes":(\[.*?\])', text).group(1))


def _numbers(label: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", html.unescape(label))]


def test_partner_legend_classes_come_from_the_shared_counts(demo_store, shared, partner):
    legend = _legend(maps.shared_count_map(shared, partner.k))
    shown = {int(v) for v in shared["count"] if not privacy.is_suppressed(v)}
    true = privacy.hex_counts(demo_store.reports, partner.coarsest_res)
    small = set(range(1, partner.k))
    real = [c for c in legend if not c.get("quiet")]
    assert len(real) >= 3
    for cls in real:
        numbers = _numbers(cls["label"])
        # Every number in a label is a count as shared: none is small, none only a true count.
        assert numbers and set(numbers) <= shown, cls
        assert not set(numbers) & small, cls
    # The shared counts carry noise: classes of the true counts would print other bounds.
    _idx, true_classes = maps.classify(true["count"].to_numpy(dtype=float))
    true_bounds = {n for label in true_classes.labels for n in _numbers(label)}
    shared_bounds = {n for c in real for n in _numbers(c["label"])}
    assert shared_bounds - true_bounds
    # Hexagon numbers per class add up to the hexagons shown.
    assert sum(c["n"] for c in legend) == int((shared["count"].astype(str) != "0").sum())


def test_partner_web_map_legend_is_the_partner_png_legend(demo_store, shared, partner):
    web = _legend(maps.shared_count_map(shared, partner.k))
    true = privacy.hex_counts(demo_store.reports, partner.coarsest_res)
    png = static_maps.map_layer(true, kind="count", policy=partner).legend  # top class first
    assert [c["color"] for c in web][::-1] == [c for c, _, _ in png]
    assert [c["n"] for c in web][::-1] == [n for _, _, n in png]
    for cls, (_c, label, _n) in zip(web[::-1], png, strict=True):
        assert label.startswith(html.unescape(cls["label"]))


def test_the_suppressed_class_is_quiet_and_drawn_beneath(shared, partner):
    legend = _legend(maps.shared_count_map(shared, partner.k))
    first, lowest = legend[0], legend[1]
    # Classes are drawn in order: the '<k' class first, so every real class draws over it.
    assert first.get("quiet") is True and first["color"] == maps.SUPPRESSED_COLOUR
    assert html.unescape(first["label"]) == f"Fewer than {partner.k} reports ('<{partner.k}')"
    assert not any(c.get("quiet") for c in legend[1:])

    def lightness(colour: str) -> float:
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
        return float(rgb.mean()), float(rgb.max() - rgb.min())

    (l_sup, chroma_sup), (_l_low, chroma_low) = lightness(first["color"]), lightness(lowest["color"])
    assert chroma_sup < 0.01 < chroma_low  # a neutral grey beside a coloured class
    assert l_sup >= 0.9
    # The hottest classes keep their on-screen dots; the quiet class never gets one.
    text = maps.shared_count_map(shared, partner.k).get_root().render()
    assert '"emphasise":2' in text


def test_a_police_count_table_gets_the_police_classes(demo_store):
    counts = privacy.hex_counts(demo_store.reports, 8)
    keys, categories = maps.disclosed_count_classes(counts["count"], 5)
    _idx, classes = maps.classify(counts["count"].to_numpy(dtype=float))
    assert [v[0] for v in categories.values()] == list(classes.labels)
    assert maps.SUPPRESSED_KEY not in categories
    with pytest.raises(ValueError, match="non-negative"):
        maps.disclosed_count_classes([3, -1], 5)
