"""A sharing-form export -> canonical report rows and quarantine (hoth_geo.intake.sharing_form):
refusals of missing columns, row-level reasons, payloads kept as text, fingerprints, the template.

Fixtures in tests/data are synthetic (no real people).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from intake_results import REPO, TODAY, assert_canonical, assert_reconciles, run

from hoth_geo import schema
from hoth_geo.intake.files import ImportRefused, read_table
from hoth_geo.intake.ingest import ingest
from hoth_geo.intake.sharing_form import normalise_sharing_form


def test_utf8_template_rows_are_normalised():
    r = run("utf8_template.csv")
    assert (r.n_read, len(r.rows), len(r.quarantine)) == (3, 3, 0)
    first, second, third = (r.rows.iloc[i] for i in range(3))
    assert first["row_number"] == 2
    assert first["observed_at"] == pd.Timestamp("2025-04-03 21:30")  # 03/04 is 3 April, not 4 March
    assert bool(first["time_known"]) and not bool(first["date_approximate"])
    assert first["date_received"] == pd.Timestamp("2025-04-05")
    assert first["postcode"] == "DH1 1AB"
    assert first["place_type"] == "takeaway"
    assert first["agency_type"] == "youth_service"
    assert first["concerns"] == "cce|cse"
    assert first["indicators"] == "missing_from_home|unexplained_money_items"
    assert (first["grading_source"], first["grading_information"], first["grading_handling"]) == (
        "1",
        "A",
        "P",
    )
    assert first["latitude"] == pytest.approx(54.7763) and first["longitude"] == pytest.approx(-1.5754)
    assert second["observed_at"] == pd.Timestamp("2025-04-03") and not bool(second["time_known"])
    assert (second["easting"], second["northing"]) == (427350.0, 542450.0)
    assert second["place_type"] == "transport_hub" and second["agency_type"] == "school"
    assert second["indicators"] == "not_attending_school"
    assert bool(third["online"]) and third["place_type"] == "online"
    assert bool(third["date_approximate"]) and third["observed_at"] == pd.Timestamp("2025-04-01")


def test_header_only_file_gives_zero_rows():
    r = run("header_only.csv")
    assert (r.n_read, len(r.rows), len(r.quarantine)) == (0, 0, 0)
    assert_canonical(r.rows)


def test_missing_date_and_location_columns_are_refused_in_one_message():
    with pytest.raises(ImportRefused) as exc:
        run("missing_columns.csv")
    msg = exc.value.message
    assert "date column" in msg and "location column" in msg
    assert '"Reporting agency", "Narrative", "Concerns"' in msg
    assert "missing_columns.csv" in msg


def test_missing_location_only_names_location():
    with pytest.raises(ImportRefused) as exc:
        ingest(b"Ref,Date observed,Narrative\nSYN-1,03/04/2025,x\n", "noloc.csv")
    assert "location column" in exc.value.message and "date column" not in exc.value.message


def test_bad_rows_are_quarantined_with_row_column_and_value():
    r = run("bad_rows.csv")
    assert_reconciles(r)
    reasons = dict(zip(r.quarantine["row_number"], r.quarantine["reason"], strict=True))
    assert (
        reasons[3]
        == 'row 3: date observed "31/02/2025" is not a valid date (dates are read day first: DD/MM/YYYY)'
    )
    assert reasons[4] == "row 4: latitude 154.2 out of range (-90 to 90)"
    assert reasons[5] == 'row 5: date observed "03/04/2099" is in the future'
    assert reasons[6].startswith('row 6: date observed "03/04/1999" is before 2000-01-01')
    assert reasons[7] == 'row 7: time observed "25:61" is not a valid time'
    assert reasons[8] == 'row 8: postcode "NOTAPOSTCODE" is not a valid UK postcode'
    assert reasons[10] == 'row 10: source grading "4" is not valid (expected 1, 2 or 3)'
    assert reasons[11].startswith('row 11: grading "9Z" is not a 3x5x2 grade')
    assert reasons[12] == "row 12: empty row"
    assert reasons[15] == "row 15: no date observed or date received"
    assert reasons[16] == "row 16: easting 900000 out of range (0 to 700000)"
    assert reasons[17] == 'row 17: latitude "abc" is not a number'
    q = r.quarantine.set_index("row_number")
    assert (q.loc[4, "field"], q.loc[4, "value"]) == ("latitude", "154.2")
    raw = json.loads(q.loc[4, "raw"])
    assert raw["Source reference"] == "SYN-X03" and raw["Latitude"] == "154.2"

    kept = r.rows.set_index("source_ref")
    assert sorted(kept.index) == ["SYN-X01", "SYN-X08", "SYN-X12", "SYN-X13", "SYN-X17"]
    # An invalid postcode is dropped when the row has another location.
    assert kept.loc["SYN-X08", "postcode"] is None and kept.loc["SYN-X08", "location_text"] == "North Road"
    # Date received stands in for a missing date observed, marked approximate.
    assert kept.loc["SYN-X12", "observed_at"] == pd.Timestamp("2025-04-05")
    assert bool(kept.loc["SYN-X12", "date_approximate"])
    # No location at all is passed on for the geocoder to route to review.
    assert kept.loc["SYN-X13", "location_text"] is None and not bool(kept.loc["SYN-X13", "online"])
    # Grid numbers typed into latitude/longitude move to easting/northing.
    assert (kept.loc["SYN-X17", "easting"], kept.loc["SYN-X17", "northing"]) == (427350.0, 543630.0)
    assert np.isnan(kept.loc["SYN-X17", "latitude"])


def test_formula_and_html_payloads_are_kept_verbatim_as_text():
    r = run("payloads.csv")
    assert len(r.rows) == 2
    a, b = r.rows.iloc[0], r.rows.iloc[1]
    assert a["agency"] == '=HYPERLINK("http://example.invalid","click")'
    assert a["location_text"] == "+SUM(1;2)"
    assert a["place_name"] == "@cmd"
    assert a["narrative"] == "<script>alert('x')</script> Synthetic example"
    assert a["child_ref"] == "-2+3"
    assert b["location_text"] == "<img src=x onerror=alert(1)>"
    assert b["place_name"] == "'=1+1"
    assert b["narrative"] == 'Synthetic example: "quoted" & <b>bold</b>'
    assert b["child_ref"] == "=cmd|' /C calc'!A0"


def test_fingerprint_is_stable_content_based_and_ignores_reference():
    base = "Ref,Date observed,Time observed,Location,Concerns,Narrative\n"
    a = ingest(
        (base + "SYN-1,03/04/2025,21:30,Market Place,CSE,Seen with  older males\n").encode(),
        "a.csv",
        today=TODAY,
    )
    b = ingest(
        (base + "SYN-99,3/4/25,21:30,market place,cse,seen with older males\n").encode(), "b.csv", today=TODAY
    )
    c = ingest(
        (base + "SYN-1,03/04/2025,21:31,Market Place,CSE,Seen with older males\n").encode(),
        "c.csv",
        today=TODAY,
    )
    d = ingest(
        (base + "SYN-1,03/04/2025,,Market Place,CSE,Seen with older males\n").encode(), "d.csv", today=TODAY
    )
    fa, fb, fc, fd = (r.rows["fingerprint"].iloc[0] for r in (a, b, c, d))
    assert fa == fb
    assert len({fa, fc, fd}) == 3
    again = ingest(
        (base + "SYN-1,03/04/2025,21:30,Market Place,CSE,Seen with  older males\n").encode(),
        "a.csv",
        today=TODAY,
    )
    assert again.rows["fingerprint"].iloc[0] == fa


def test_frame_from_elsewhere_with_pandas_string_dtype_and_nan():
    frame = pd.DataFrame(
        {"Date observed": ["03/04/2025", None], "Location": ["Market Place", "North Road"]}, dtype="str"
    )
    r = normalise_sharing_form(frame, today=TODAY)
    assert_reconciles(r)
    assert r.rows["location_text"].tolist() == ["Market Place"]
    assert r.quarantine["reason"].tolist() == ["row 3: no date observed or date received"]


def test_template_matches_schema_and_imports_cleanly():
    path = REPO / "data" / "template.csv"
    frame = read_table(path)
    assert tuple(frame.columns) == schema.TEMPLATE_COLUMNS
    assert len(frame) == 3
    assert frame["Source reference"].str.startswith("EXAMPLE").all()
    assert frame["Narrative"].str.contains("Synthetic example").all()
    r = normalise_sharing_form(frame, today=TODAY)
    assert (len(r.rows), len(r.quarantine), r.warnings) == (3, 0, [])
    assert set(r.column_map) >= {"source_ref", "date_observed", "postcode", "narrative", "grading_source"}


def test_terms_outside_the_vocabularies_are_named_in_warnings():
    """A partner's own words for place types, agency types and concerns are read as "other": the person
    importing is told which words, with their rows, most rows first, so a filter by place type does not
    silently miss them."""
    lines = ["Ref,Date observed,Postcode,Place type,Agency type,Concerns"]
    rows = (
        [("chicken shop", "School", "cce")] * 3
        + [("Takeaway", "Skool", "cce; loitering")] * 2
        + [(f"odd place {i}", "school", "cse") for i in range(11)]
        + [("x" * 80, "school", "cce")]
    )
    for i, (place, agency, concern) in enumerate(rows):
        lines.append(f"SYN-{i},03/04/2025,DH1 1AB,{place},{agency},{concern}")
    r = ingest(("\n".join(lines) + "\n").encode(), "own_words.csv", today=TODAY)

    assert r.rows["place_type"].value_counts()["other"] == 15
    said = [w for w in r.warnings if "not a listed" in w]
    assert said[0].startswith(
        '15 rows had a place type that is not a listed place type; read as "Other / unknown": '
        '"chicken shop" (3 rows), "odd place 0" (1 row)'
    )
    # Ten terms named; the other three (two odd places and the long one) counted.
    assert said[0].endswith('"odd place 8" (1 row) and 3 more terms')
    assert said[1] == (
        '2 rows had an agency type that is not a listed agency type; read as "Other": "Skool" (2 rows)'
    )
    assert (
        said[2]
        == '2 rows had concern terms that are not a listed concern; read as "Other": "loitering" (2 rows)'
    )
    assert r.rows["concerns"].iloc[3] == "cce|other"
    assert r.unknown_terms["place_type"].rows_by_term["x" * 80] == 1


def test_a_long_unknown_term_is_shortened_in_the_warning():
    data = "Ref,Date observed,Postcode,Place type\nSYN-1,03/04/2025,DH1 1AB," + "y" * 200 + "\n"
    r = ingest(data.encode(), "long.csv", today=TODAY)
    (said,) = [w for w in r.warnings if "place type" in w]
    assert '"' + "y" * 59 + '…" (1 row)' in said and "y" * 60 not in said


def test_terms_beyond_those_kept_are_said_to_exist_not_counted(monkeypatch):
    """Past the terms kept, a term met again in another chunk cannot be told from a new one: the
    warning says there are others rather than a number that would count it twice."""
    from hoth_geo.intake.parsers import UnknownTerms
    from hoth_geo.intake.sharing_form import vocabulary_warnings

    monkeypatch.setattr(UnknownTerms, "MAX_KEPT", 2)
    whole = UnknownTerms()
    for chunk_terms in (["kebab van", "arcade", "bookies"], ["bookies", "arcade"]):
        chunk = UnknownTerms()
        for term in chunk_terms:
            chunk.n_rows += 1
            chunk.add(term, 1)
        whole.update(chunk)
    (said,) = vocabulary_warnings({"place_type": whole})
    assert said.endswith('"arcade" (2 rows), "kebab van" (1 row) and others')
    assert whole.n_rows == 5
