"""The Export page with Streamlit's AppTest: audiences by capability, the preview, and the export log."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from hoth_geo import store
from hoth_geo.cli import app

runner = CliRunner()


def _page_script(role: str | None) -> None:
    import streamlit as st

    from hoth_geo.access import auth
    from hoth_geo.selection import ReportFilter
    from hoth_geo.ui.pages import export

    if role is not None:
        st.session_state["user"] = auth.User(
            id=1, username=f"{role}@example.org", display_name=None, role=role, is_admin=False
        )
    st.session_state["filters"] = ReportFilter()
    export.render()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('export_page') / 'demo.sqlite'}"
    result = runner.invoke(app, ["demo", "--db", url])
    assert result.exit_code == 0, result.output
    return url


@pytest.fixture()
def app_env(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    return db_url


def _run(role):
    at = AppTest.from_function(_page_script, args=(role,), default_timeout=180).run()
    assert not at.exception, at.exception
    return at


def test_partner_is_offered_only_partner_and_public(app_env):
    at = _run("partner")
    assert at.title[0].value == "Export"
    assert list(at.selectbox(key="export_audience").options) == [
        "Partner agencies (aggregated; small numbers suppressed)",
        "Public (as partner; private business names withheld)",
    ]


def test_police_is_offered_every_audience(app_env):
    at = _run("police")
    assert len(at.selectbox(key="export_audience").options) == 3


def test_no_user_means_no_export_rights(app_env):
    at = _run(None)
    assert any("no export rights" in w.value for w in at.warning)
    assert not at.button


def test_partner_preview_shows_no_small_number(app_env):
    at = _run("partner")
    table = at.dataframe[0].value
    assert len(table) > 0
    for value in table["count"]:
        assert value in ("<5", "[c]") or int(value) >= 5, value
    assert "<5" in set(table["count"])
    # The published total is written as every other count on the pages (demo: about five thousand).
    heading = next(m.value for m in at.markdown if m.value.startswith("**Hexagon table**"))
    assert re.search(r"total reports \d,\d{3}$", heading), heading


def _files(log):
    """Export-log rows for files (previews are logged too, as kind 'preview')."""
    return log[log["kind"] != "preview"]


def test_a_partner_preview_is_recorded_once_in_the_export_log(app_env):
    engine = store.connect(app_env)
    before = store.load_export_log(engine)
    at = _run("partner")
    log = store.load_export_log(engine)
    new = log.iloc[len(before) :]
    assert new["kind"].tolist() == ["preview"]
    assert new["audience"].iloc[0] == "partner" and new["exported_by"].iloc[0] == "partner@example.org"
    assert json.loads(new["filters"].iloc[0])["map"] == "count"  # the default kind is a map image
    # The same view again (a rerun, or another map file of the same map) is not logged twice; the
    # table without a map is a new view.
    at.run()
    at.selectbox(key="export_kind").set_value("map-html").run()
    assert len(store.load_export_log(engine)) == len(log)
    at.selectbox(key="export_kind").set_value("csv").run()
    assert not at.exception, at.exception
    latest = store.load_export_log(engine).iloc[len(log) :]
    assert latest["kind"].tolist() == ["preview"]


def test_preparing_a_csv_gives_a_download_and_one_log_row(app_env):
    engine = store.connect(app_env)
    before = len(_files(store.load_export_log(engine)))
    at = _run("partner")
    at.selectbox(key="export_kind").set_value("csv").run()
    assert not at.exception, at.exception
    assert not at.get("download_button")
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    assert at.get("download_button"), "a prepared export must be offered for download"
    log = _files(store.load_export_log(engine))
    assert len(log) == before + 1
    row = log.iloc[-1]
    assert row["audience"] == "partner"
    assert row["exported_by"] == "partner@example.org"
    assert row["filename"].endswith(".csv") and row["filename"].startswith("OFFICIAL-SENSITIVE_")
    assert any(f"#{row['id']}" in s.value for s in at.success)
    # A rerun (any widget change) shows the cached file and records nothing more.
    at.run()
    assert at.get("download_button")
    assert len(_files(store.load_export_log(engine))) == before + 1
    recent = at.dataframe[-1].value  # the user's recent exports, named as a person reads them
    assert row["id"] in set(recent["Log entry"]) and row["filename"] in set(recent["File"])
    assert "Exported (UK time)" in recent.columns


def test_preparing_a_partner_png_map_previews_the_image(app_env):
    engine = store.connect(app_env)
    before = len(_files(store.load_export_log(engine)))
    at = _run("partner")
    at.selectbox(key="export_kind").set_value("map-png").run()
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    assert at.get("image"), "a PNG export is previewed as the image itself"
    assert at.get("download_button")
    log = _files(store.load_export_log(engine))
    assert len(log) == before + 1
    assert log.iloc[-1]["filename"].endswith(".png")


def test_an_empty_marking_is_refused_by_name(app_env):
    at = _run("partner")
    at.text_input(key="export_marking_partner").set_value("  ").run()
    assert any("marking" in e.value for e in at.error)
    assert not at.button


def test_partner_map_preview_is_the_delivered_png(app_env):
    """The preview labelled 'what the partner audience receives' is the PNG file, not a look-alike."""
    import io

    import numpy as np
    from PIL import Image

    from hoth_geo.access import privacy
    from hoth_geo.deliver import export_prep
    from hoth_geo.intake import pipeline
    from hoth_geo.ui.pages import export

    at = _run("partner")
    assert at.selectbox(key="export_kind").value == "map-png"
    assert at.get("image"), "the map preview must be the delivered image"

    engine = store.connect(app_env)
    reports, places = store.load_reports(engine), pipeline.all_places(engine)
    policy = privacy.policy_for("partner")
    args = dict(policy=policy, res=privacy.DEFAULT_COARSEST_RES, filters=None, map_type="count", demo=True)
    preview = export.preview_image(reports, places, kind="map-png", **args)
    delivered = export_prep.prepare_export(reports, places, kind="map-png", **args).data
    a = np.asarray(Image.open(io.BytesIO(preview)).convert("RGB"))
    b = np.asarray(Image.open(io.BytesIO(delivered)).convert("RGB"))
    assert a.shape == b.shape
    # Everything but the footer's generation time: same hexagons, classes, colours and legend.
    assert (a[:-60] == b[:-60]).all()
