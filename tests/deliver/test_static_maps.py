"""Static maps: exact PNG size, the hex layer really drawn, suppression classes, marking and safe text."""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hoth_geo.access import privacy
from hoth_geo.analysis import hotspots
from hoth_geo.deliver import static_maps
from hoth_geo.deliver.maps import GISTAR_CATEGORIES, PALETTE


def _need_poppler() -> None:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            pytest.fail("poppler-utils (pdftotext, pdftoppm) must be installed in CI")
        pytest.skip("poppler-utils not installed")


@pytest.fixture(scope="module")
def demo(demo_store):
    return demo_store.reports, demo_store.places


@pytest.fixture(scope="module")
def hexes(demo):
    # h3, count and the cell keys partner maps need for their perturbation.
    return privacy.hex_counts(demo[0], 8)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _count_colour(img: np.ndarray, colour: str, region=None) -> int:
    if region is not None:
        (y0, y1), (x0, x1) = region
        img = img[y0:y1, x0:x1]
    return int((img == np.array(_rgb(colour), dtype=np.uint8)).all(axis=2).sum())


# The map panel of a 1920x1080 render: below the header, above the attributions, left of the legend.
MAP_REGION = ((140, 940), (60, 1400))


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (1366, 768)])
def test_png_has_exactly_the_requested_size(hexes, size):
    png = static_maps.render_map(hexes, kind="count", policy="police", title="Reports", size_px=size)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == size


def test_count_map_draws_the_hexagons_in_the_class_colours(hexes):
    png = static_maps.render_map(hexes, kind="count", policy="police", title="Reports per hexagon")
    img = _pixels(png)
    layer = static_maps.map_layer(hexes, kind="count", policy=privacy.policy_for("police"))
    drawn = {c for c, _, _ in layer.legend}
    assert drawn <= set(PALETTE)
    for colour in drawn:
        assert _count_colour(img, colour, MAP_REGION) > 0, colour
    # Most hexagons are in the lowest classes: they cover a real share of the map, not a few pixels.
    assert sum(_count_colour(img, c, MAP_REGION) for c in drawn) > 5_000


def test_gistar_map_shows_the_hot_class(demo):
    gi = hotspots.hotspots(demo[0], 8).table
    assert (gi["class"] == "hot_99").any()
    png = static_maps.render_map(gi, kind="gistar", policy="partner", title="Hotspots")
    hot = GISTAR_CATEGORIES["hot_99"][1]
    assert _count_colour(_pixels(png), hot, MAP_REGION) > 50


def test_partner_count_map_has_no_class_below_k_except_the_suppressed_one(hexes):
    policy = privacy.policy_for("partner")
    layer = static_maps.map_layer(hexes, kind="count", policy=policy)
    labels = [label for _, label, _ in layer.legend]
    assert any(policy.small in label for label in labels)
    small_hexes = int(((hexes["count"] >= 1) & (hexes["count"] < policy.k)).sum())
    assert small_hexes > 0
    suppressed = [n for c, _, n in layer.legend if c == static_maps.SUPPRESSED_COLOUR]
    assert suppressed == [small_hexes]
    for colour, label, _ in layer.legend:
        if colour == static_maps.SUPPRESSED_COLOUR:
            continue
        low = int(label.split("–")[0].split(" ")[0].replace(",", ""))
        assert low >= policy.k, label
    # And the same is what a reader of the PDF sees.
    _need_poppler()
    pdf = static_maps.render_map(hexes, kind="count", policy=policy, title="Reports", fmt="pdf")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    for line in text.splitlines():
        if line.strip().endswith(")") and "reports" in line and not line.startswith("Fewer"):
            first = line.strip().split(" ")[0].split("–")[0].replace(",", "")
            if first.isdigit():
                assert int(first) >= policy.k, line
    assert f"Fewer than {policy.k} reports" in text
    # The colour of the suppressed class is really drawn.
    png = static_maps.render_map(hexes, kind="count", policy=policy, title="Reports")
    assert _count_colour(_pixels(png), static_maps.SUPPRESSED_COLOUR, MAP_REGION) > 100


def test_partner_count_map_is_coarsened_to_the_policy_resolution(demo):
    fine = privacy.hex_counts(demo[0], 9)
    layer = static_maps.map_layer(fine, kind="count", policy=privacy.policy_for("partner"))
    assert layer.res == 8
    assert any("resolution 8" in n for n in layer.notes)
    gi9 = hotspots.hotspots(demo[0], 9).table
    with pytest.raises(privacy.NotAllowed, match="resolution 9"):
        static_maps.map_layer(gi9, kind="gistar", policy=privacy.policy_for("partner"))


def test_pdf_is_one_page_with_title_and_marking_twice(hexes):
    _need_poppler()
    pdf = static_maps.render_map(
        hexes, kind="count", policy="partner", title="Reports per hexagon, Durham", fmt="pdf", demo=True
    )
    assert pdf.startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert re.search(r"^Pages:\s+1$", info, re.M)
    assert re.search(r"^Page size:\s+841\.\d+ x 595\.\d+ pts", info, re.M)  # A4 landscape
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Reports per hexagon, Durham" in text
    assert text.count("OFFICIAL-SENSITIVE") >= 2  # header and footer
    assert "SYNTHETIC DEMO DATA" in text
    assert "© Crown copyright" in text
    assert "Open Government Licence" in text
    assert "Darlington" in text  # a town label


def test_mathtext_in_names_is_printed_literally(hexes):
    _need_poppler()
    title = "Place $x^2$ and $\\alpha$ \x07bell"
    pdf = static_maps.render_map(
        hexes, kind="count", policy="police", title=title, subtitle="a $b$ c", fmt="pdf"
    )
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Place $x^2$ and $\\alpha$" in text
    assert "a $b$ c" in text
    assert "\x07" not in text
    png = static_maps.render_map(hexes, kind="count", policy="police", title=title)
    assert Image.open(io.BytesIO(png)).size == (1920, 1080)


def test_plain_removes_controls_and_cuts_long_text():
    assert static_maps.plain("a\x00b\u202ec\nd") == "a b c d"
    assert static_maps.plain("x" * 300, 10) == "x" * 9 + "…"
    assert static_maps.plain(None) == ""


def test_render_map_to_writes_the_file(tmp_path, hexes):
    path = static_maps.render_map_to(tmp_path / "map.png", hexes, kind="count", policy="police", title="T")
    assert Image.open(path).size == (1920, 1080)
    with pytest.raises(ValueError, match="path"):
        static_maps.render_map_to(tmp_path / "map.svg", hexes, kind="count", policy="police", title="T")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "heat"}, "kind"),
        ({"fmt": "svg"}, "fmt"),
        ({"size_px": (100, 100)}, "size_px"),
        ({"boundaries": "parishes"}, "boundaries"),
        ({"page": "letter", "fmt": "pdf"}, "page"),
        ({"policy": "press"}, "audience"),
        ({"title": ""}, "title"),
        ({"value_col": "missing"}, "missing"),
    ],
)
def test_bad_arguments_are_named(hexes, kwargs, match):
    args = {"kind": "count", "policy": "police", "title": "T", **kwargs}
    with pytest.raises(ValueError, match=match):
        static_maps.render_map(hexes, **args)


def test_bad_values_are_named():
    frame = pd.DataFrame({"h3": [int("881f1d4887fffff", 16)], "class": ["very_hot"]})
    with pytest.raises(ValueError, match="very_hot"):
        static_maps.render_map(frame, kind="gistar", policy="police", title="T")


def test_empty_map_still_renders():
    frame = pd.DataFrame({"h3": pd.Series(dtype=np.int64), "count": pd.Series(dtype=np.int64)})
    png = static_maps.render_map(frame, kind="count", policy="partner", title="Nothing")
    assert Image.open(io.BytesIO(png)).size == (1920, 1080)


def test_local_tiles_are_drawn_under_the_hexagons(tmp_path, hexes):
    # A one-colour tile at every position the map needs: the basemap colour must show between hexagons.
    tile = Image.new("RGB", (256, 256), (10, 200, 30))
    lng_w, lat_s, lng_e, lat_n = -2.4, 54.4, -1.2, 55.0
    for z in range(6, 12):

        def xy(lng, lat, z=z):
            x = (lng + 180) / 360 * 2**z
            y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z
            return int(x), int(y)

        x0, y0 = xy(lng_w, lat_n)
        x1, y1 = xy(lng_e, lat_s)
        for x in range(x0 - 1, x1 + 2):
            for y in range(y0 - 1, y1 + 2):
                p = tmp_path / str(z) / str(x) / f"{y}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                tile.save(p)
    png = static_maps.render_map(hexes, kind="count", policy="police", title="T", tiles=tmp_path)
    assert _count_colour(_pixels(png), "#0ac81e", MAP_REGION) > 10_000
    with pytest.raises(ValueError, match="tiles"):
        static_maps.render_map(hexes, kind="count", policy="police", title="T", tiles=tmp_path / "nope")


def test_partner_count_maps_need_the_cell_keys_and_police_maps_do_not(hexes):
    bare = hexes[["h3", "count"]]
    with pytest.raises(ValueError, match="cell keys"):
        static_maps.map_layer(bare, kind="count", policy=privacy.policy_for("partner"))
    static_maps.map_layer(bare, kind="count", policy=privacy.policy_for("police"))


def _lab(colour: str) -> np.ndarray:
    """CIE L*a*b* (D65) of a '#rrggbb' colour."""
    rgb = np.array(_rgb(colour), dtype=float) / 255
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_suppressed_class_is_quieter_than_the_lightest_count_class(hexes):
    """The '<5' class must not draw the eye more than the lightest real class: the emphasis follows the counts."""
    layer = static_maps.map_layer(hexes, kind="count", policy=privacy.policy_for("partner"))
    real = [c for c, _, _ in layer.legend if c != static_maps.SUPPRESSED_COLOUR]
    lightest = real[-1]  # the legend runs from the highest class down
    white = _lab("#ffffff")
    standout = lambda c: float(np.linalg.norm(_lab(c) - white))  # noqa: E731
    chroma = lambda c: float(np.hypot(*_lab(c)[1:]))  # noqa: E731
    for colour in (static_maps.SUPPRESSED_COLOUR, static_maps.SUPPRESSED_HATCH_COLOUR):
        assert standout(colour) < standout(lightest), colour
        assert chroma(colour) < chroma(lightest) and chroma(colour) < 1, colour  # a neutral grey
    assert static_maps.SUPPRESSED_COLOUR in layer.hatched
    # On the rendered map the suppressed hexagons really are the quiet grey, and the legend says so.
    png = static_maps.render_map(hexes, kind="count", policy="partner", title="Reports")
    img = _pixels(png)
    assert _count_colour(img, static_maps.SUPPRESSED_COLOUR, MAP_REGION) > 100
    assert any("hatch" in label for c, label, _ in layer.legend if c == static_maps.SUPPRESSED_COLOUR)


def test_png_count_classes_are_the_web_map_classes(hexes):
    from hoth_geo.deliver import maps

    layer = static_maps.map_layer(hexes, kind="count", policy="police")
    counts = hexes.loc[hexes["count"] > 0, "count"].to_numpy(dtype=float)
    _idx, classes = maps.classify(counts)  # what maps.build_hex_map draws for these hexagons
    expected = zip(classes.colors, classes.labels, classes.counts, strict=True)
    assert [(c, f"{lab} reports", n) for c, lab, n in expected][::-1] == list(layer.legend)
    # Head/tail breaks: the top class holds the few hottest hexagons, not hundreds.
    assert layer.legend[0][2] <= 5


def test_inset_draws_the_layer_around_one_hexagon(hexes):
    from matplotlib.figure import Figure

    layer = static_maps.map_layer(hexes, kind="count", policy="police")
    top = int(hexes.sort_values("count").iloc[-1]["h3"])
    fig = Figure(figsize=(4, 3))
    with static_maps.text_rc():
        static_maps.draw_inset(fig, (0, 0, 1, 1), layer, top, label="A", caption="A: Somewhere Street")
    (ax,) = fig.axes
    assert ax.get_xlim()[1] - ax.get_xlim()[0] < 5_000
    drawn = np.concatenate([np.asarray(c.get_facecolors()) for c in ax.collections])
    assert len(drawn) >= 1
    assert any(t.get_text() == "A: Somewhere Street" for t in fig.texts)
