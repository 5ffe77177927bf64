"""Tables a person reads on a laptop (AppTest, demo set): readable headers, and the columns that matter
first, so that a window too narrow for every column cuts off the least useful ones, never the counts or
the reason a row needs a location."""

from __future__ import annotations

import json

import pytest
from apptest_support import app_as, ensure_user

from hoth_geo.schema import INDICATORS, PLACE_TYPES
from hoth_geo.ui.text import md_escape


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('readable_tables') / 'app.sqlite'}"


@pytest.fixture()
def analyst(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    return ensure_user(db_url, "analyst")


def _run(user, page: str):
    at = app_as(user, page).run(timeout=120)
    assert not at.exception, at.exception
    return at


def _headers(frame) -> list[str]:
    """The headers as shown, in the order shown (hidden columns left out)."""
    config = json.loads(frame.proto.columns or "{}")
    order = list(frame.proto.column_order) or list(frame.value.columns)
    return [config.get(c, {}).get("label", c) for c in order if not config.get(c, {}).get("hidden")]


def _readable(headers: list[str]) -> bool:
    return all(h[:1].isupper() and "_" not in h for h in headers)


# The data grid's named widths, in pixels (Streamlit's column_config documentation).
NAMED_WIDTHS = {"small": 75, "medium": 200, "large": 400}
# 15 hexadecimal characters of 14 px text, each at most 9 px wide (DejaVu Sans, wider than the grid's
# Source Sans), inside the cell's 8 px padding each side.
WHOLE_H3_ID_PX = 15 * 9 + 2 * 8


def _shows_whole_h3_ids(frame) -> bool:
    """The grid's h3 column holds 15-character ids and fits them: sized to its contents, or at least
    WHOLE_H3_ID_PX wide."""
    assert frame.value["h3"].str.fullmatch("[0-9a-f]{15}").all()
    width = json.loads(frame.proto.columns or "{}").get("h3", {}).get("width")
    return width is None or NAMED_WIDTHS.get(width, width) >= WHOLE_H3_ID_PX


def test_place_ranking_shows_the_counts_beside_the_name(analyst):
    at = _run(analyst, "places")
    ranking = at.dataframe[0]
    headers = _headers(ranking)
    # A laptop at 1280 px shows about six columns: the counts, when the place was last reported and
    # what about, before the type and locality the name usually says already.
    assert headers[:6] == ["Rank", "Place", "Reports", "Agencies", "Latest", "Top concerns"]
    assert _readable(headers), headers
    # Scrolled right to the type and locality, the place name stays in view.
    config = json.loads(ranking.proto.columns)
    assert config["rank"].get("pinned") and config["name"].get("pinned"), config


def test_hexagon_detail_has_readable_headers_and_place_types(analyst):
    at = _run(analyst, "map")
    at.selectbox(key="map_pick").select_index(0).run(timeout=120)
    assert not at.exception, at.exception
    # Static tables, whose cells wrap: a long concern or sign is read whole on any screen.
    by_concern, by_type, by_indicator = (t.value for t in at.table[:3])
    assert list(by_concern.columns) == ["Reports", "Concern"]
    assert list(by_type.columns) == ["Reports", "Place type"]
    assert list(by_indicator.columns) == ["Reports", "Indicator noted"]
    # The guidance's words for each sign, most noted first.
    counts = by_indicator["Reports"]
    assert counts.is_monotonic_decreasing and counts.iloc[0] > 0
    # (Written as Markdown source, escaped: the browser shows the guidance's words.)
    assert set(by_indicator["Indicator noted"]) <= {md_escape(v) for v in INDICATORS.values()}
    places = at.dataframe[0]
    assert _headers(places)[:3] == ["Place", "Reports", "Agencies"]
    # Place types as a person names them, not as stored ("car_park").
    types = set(places.value["place_type"].dropna())
    assert types and types <= set(PLACE_TYPES.values()), types


def test_review_shows_why_before_the_often_empty_location_fields(analyst):
    at = _run(analyst, "review")
    waiting = next(f for f in at.dataframe if "Why it needs a location" in f.value.columns)
    headers = _headers(waiting)
    assert headers[:3] == ["Observed", "Agency", "Why it needs a location"]
    assert _readable(headers), headers


def test_a_resubmission_is_shown_field_by_field_in_the_forms_words(analyst, db_url, tmp_path):
    """A school re-grades a report: Review shows the changed fields as the sharing form names them, and
    says which changed once accepted."""
    from forms import SCHOOL_001, write_form

    from hoth_geo import store
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    graded = dict(
        SCHOOL_001, **{"Source reference": "RS-1", "Information grading": "A", "Handling code": "P"}
    )
    regraded = dict(graded, **{"Information grading": "C", "Handling code": "C"})
    first = pipeline.import_file(engine, write_form(tmp_path / "graded.csv", [graded]))
    report_id = int(first.rows["report_id"].iloc[0])
    pipeline.import_file(engine, write_form(tmp_path / "regraded.csv", [regraded]))
    at = _run(analyst, "review")
    at.button(key="resub_show").click().run(timeout=120)
    assert not at.exception, at.exception
    table = next(f for f in at.dataframe if "resubmitted" in f.value.columns)
    assert _headers(table) == ["Field", "Stored", "Resubmitted"]
    shown = table.value.set_index("field")
    assert list(shown.index) == ["Information grading", "Handling code"]
    assert tuple(shown.loc["Handling code"]) == ("P", "C")
    at.button(key="resub_accept").click().run(timeout=120)
    assert not at.exception, at.exception
    message = f"Report {report_id} updated: Information grading, Handling code changed."
    assert message in [m.value for m in at.success], "said after the page is drawn again"


def test_merging_and_unmerging_a_look_alike_say_what_they_did(tmp_path, monkeypatch):
    from forms import SCHOOL_001, write_form

    from hoth_geo import store
    from hoth_geo.intake import pipeline

    # A database of its own: the one look-alike is the one listed.
    db_url = f"sqlite:///{tmp_path / 'look-alikes.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    analyst = ensure_user(db_url, "analyst")
    seen = dict(SCHOOL_001, **{"Source reference": "MG-1", "Narrative": "Seen twice (synthetic)."})
    summary = pipeline.import_file(
        store.connect(db_url),
        write_form(tmp_path / "twice.csv", [seen, dict(seen, **{"Source reference": "MG-2"})]),
    )
    first, second = summary.rows["report_id"].astype(int).tolist()
    at = _run(analyst, "review")
    assert at.selectbox(key="dup_flag").options == [f"report {second} (twice.csv row 3) = report {first}"]
    at.button(key="dup_merge").click().run(timeout=120)
    assert not at.exception, at.exception
    assert f"Report {second} now counts as report {first}." in [m.value for m in at.success]
    assert at.selectbox(key="dup_merged").options == [f"report {second} merged into report {first}"]
    at.button(key="dup_unmerge").click().run(timeout=120)
    assert not at.exception, at.exception
    assert f"Report {second} counts on its own again." in [m.value for m in at.success]


def test_partner_export_preview_shows_whole_hexagon_ids(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    at = _run(ensure_user(db_url, "partner"), "export")
    table = next(f for f in at.dataframe if "h3" in f.value.columns)
    assert _headers(table)[:3] == ["Hexagon (H3)", "Where", "Reports"]
    assert (table.value["where"] != "").any()  # named by its streets, as the file names it
    assert _shows_whole_h3_ids(table), table.proto.columns


def test_hot_spot_table_shows_whole_hexagon_ids(analyst):
    at = _run(analyst, "hotspots")
    table = next(f for f in at.dataframe if "h3" in f.value.columns)
    assert _shows_whole_h3_ids(table), table.proto.columns


def test_imports_so_far_read_as_what_became_of_each_files_rows(analyst, db_url, tmp_path):
    from forms import OUTREACH, SCHOOL_001, write_form

    from hoth_geo import store
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    _run(analyst, "import")  # a new database gets the demo set first (run on its own, this test's too)
    pipeline.import_file(engine, write_form(tmp_path / "autumn.csv", [SCHOOL_001, OUTREACH]))
    # The school sends its report again with the time corrected, beside one new report.
    later = {**SCHOOL_001, "Source reference": "002"}
    pipeline.import_file(
        engine, write_form(tmp_path / "winter.csv", [{**SCHOOL_001, "Time observed": "15:50"}, later])
    )
    at = _run(analyst, "import")
    table = at.dataframe[0]
    headers = _headers(table)
    assert headers[:8] == [
        "Imported (UK time)",
        "File",
        "Rows read",
        "Stored",
        "Quarantined",
        "Duplicates",
        "Resubmitted",
        "Outside",
    ]
    assert _readable(headers), headers
    winter, autumn = table.value.iloc[0], table.value.iloc[1]
    assert (autumn["File"], autumn["Rows read"], autumn["Stored"], autumn["Quarantined"]) == (
        "autumn.csv",
        2,
        1,
        1,
    )
    assert (winter["File"], winter["Rows read"], winter["Stored"], winter["Resubmitted"]) == (
        "winter.csv",
        2,
        1,
        1,
    )
    counts = ["Stored", "Quarantined", "Duplicates", "Resubmitted", "Outside"]
    assert (table.value[counts].sum(axis=1) == table.value["Rows read"]).all(), "each file's rows add up"
    assert winter["Format"] == "Sharing form" and winter["Demo"] == ""
    assert table.value.iloc[-1]["Demo"] == "yes", "the demo set, imported first, is last"


def test_audit_log_reads_newest_first_with_who_did_what(db_url, monkeypatch):
    from hoth_geo import store
    from hoth_geo.access import audit

    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    admin = ensure_user(db_url, "admin")
    audit.record(store.connect(db_url), "audit_verified", actor=admin.username, details={"entries": 1})
    at = _run(admin, "audit")
    table = at.dataframe[0]
    assert _headers(table) == ["Entry", "At (UK time)", "By", "Event", "Target", "Details"]
    entries = table.value
    assert entries["Entry"].is_monotonic_decreasing
    assert (entries.iloc[0]["Event"], entries.iloc[0]["By"]) == ("audit_verified", "admin.test")
    assert entries.iloc[0]["Details"] == "entries: 1"  # in words; the download keeps the JSON
    accounts = entries[entries["Event"] == "user_added"]
    assert not accounts.empty and accounts["By"].eq("(system)").all(), "added by the app, not a person"


def test_an_audit_entrys_details_read_in_words_with_long_lists_shortened():
    from hoth_geo.ui.pages.admin import readable_details

    viewed = '{"report_ids": [4, 9, 17, 23, 31, 40, 52], "n": 7, "columns": ["time_text"]}'
    assert readable_details(viewed) == "report_ids: 7 values (4, 9, 17, 23, 31, …); n: 7; columns: time_text"
    assert readable_details('{"filters": {"res": 8}}') == 'filters: {"res": 8}'
    assert readable_details(None) == "" and readable_details("not json") == "not json"
