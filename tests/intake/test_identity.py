"""Report identity: distinct reports are never merged, every row of a file is accounted for.

The four cases of issue 8 section 2 on realistic rows, plus re-imports, analyst merges and
resubmissions with their audit entries. People, agencies and narratives are synthetic.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from forms import SCHOOL_001, as_quarantined_before_0010, templated, write_form

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.analysis import aggregate
from hoth_geo.intake import identity, pipeline, review
from hoth_geo.schema import GRADING_COLUMNS


@pytest.fixture()
def engine(tmp_path):
    return store.connect(f"sqlite:///{tmp_path / 'identity.sqlite'}")


def count(engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


HOUSING_001 = {
    "Source reference": "001",
    "Date received": "20/03/2025",
    "Date observed": "18/03/2025",
    "Time observed": "22:10",
    "Reporting agency": "Wearside Homes (synthetic)",
    "Agency type": "housing",
    "Postcode": "DL1 5QG",
    "Place type": "residential street",
    "Concerns": "CSE",
    "Narrative": "Neighbour reports young people (synthetic) visiting a flat late at night.",
    "Child reference": "WH-0457",
}


def test_two_agencies_with_the_same_reference_are_two_reports(engine, tmp_path):
    first = pipeline.import_file(engine, write_form(tmp_path / "school.csv", [SCHOOL_001]))
    second = pipeline.import_file(engine, write_form(tmp_path / "housing.csv", [HOUSING_001]))
    assert (first.n_accepted, second.n_accepted, second.n_duplicates) == (1, 1, 0)
    assert "imported before" not in second.describe() and "nothing new" not in second.describe()
    details = store.report_details(engine, store.load_reports(engine)["id"])
    assert sorted(details["agency"]) == ["Hillside Academy (synthetic)", "Wearside Homes (synthetic)"]
    assert details["identity"].is_unique
    # The same agency and reference again, same content (re-keyed case, extra spaces): a duplicate.
    again = dict(SCHOOL_001, **{"Reporting agency": "  HILLSIDE academy  (synthetic)"})
    third = pipeline.import_file(engine, write_form(tmp_path / "school-again.csv", [again]))
    assert (third.n_accepted, third.n_duplicates) == (0, 1)
    row = third.rows.iloc[0]
    assert (
        row["outcome"] == "duplicate"
        and row["report_id"] == details.loc[details["agency"].str.startswith("Hill"), "id"].iloc[0]
    )


def test_templated_reports_with_different_references_are_all_stored_and_flagged(engine, tmp_path):
    path = write_form(
        tmp_path / "school.csv", [templated("MS-101"), templated("MS-102"), templated("MS-103")]
    )
    summary = pipeline.import_file(engine, path)
    assert (summary.n_accepted, summary.n_duplicates, summary.n_possible_duplicates) == (3, 0, 2)
    reports = store.load_reports(engine)
    assert len(reports) == 3 and aggregate.aggregate_hexes(reports, 8)["count"].sum() == 3
    rows = summary.rows.set_index("row_number")
    first_id = int(rows.loc[2, "report_id"])
    assert rows["outcome"].tolist() == ["stored", "possible_duplicate", "possible_duplicate"]
    assert rows.loc[[3, 4], "resembles_report_id"].tolist() == [first_id, first_id]
    flags = identity.load_possible_duplicates(engine)
    assert sorted(flags["source_ref"]) == ["MS-102", "MS-103"]
    assert set(flags["resembles_report_id"]) == {first_id}

    # An analyst merges one: it counts once everywhere; the merge is audited and reversible.
    flag = flags[flags["source_ref"] == "MS-102"].iloc[0]
    assert identity.merge(engine, int(flag["id"]), actor="analyst.one") == first_id
    assert len(store.load_reports(engine)) == 2 and store.counts(engine)["reports"] == 2
    assert aggregate.aggregate_hexes(store.load_reports(engine), 8)["count"].sum() == 2
    assert len(identity.load_possible_duplicates(engine)) == 1
    identity.unmerge(engine, int(flag["id"]), actor="analyst.two")
    assert len(store.load_reports(engine)) == 3 and len(identity.load_possible_duplicates(engine)) == 2
    identity.keep_distinct(engine, int(flag["id"]), actor="analyst.two")
    assert len(identity.load_possible_duplicates(engine)) == 1 and len(store.load_reports(engine)) == 3
    log = audit.load_audit(engine)
    assert log["event"].tolist() == [
        "import",
        "reports_merged",
        "reports_unmerged",
        "duplicate_kept_distinct",
    ]
    assert json.loads(log["details"].iloc[1])["merged_into"] == first_id
    assert audit.verify_chain(engine).ok
    with pytest.raises(ValueError, match="already distinct"):
        identity.merge(engine, int(flag["id"]), actor="analyst.one")
    with pytest.raises(ValueError, match=f"possible-duplicate flag {int(flag['id'])} is already distinct"):
        identity.keep_distinct(engine, int(flag["id"]), actor="analyst.one")
    kept = log[log["event"] == "duplicate_kept_distinct"].iloc[0]
    assert kept["actor"] == "analyst.two" and kept["target"] == f"report:{int(flag['report_id'])}"
    assert json.loads(kept["details"]) == {"flag_id": int(flag["id"]), "resembles_report_id": first_id}
    assert len(audit.load_audit(engine)) == len(log), "a refused decision records nothing"

    # Re-importing the same file adds nothing and says so; the flags are not raised twice.
    again = pipeline.import_file(engine, path)
    assert (again.n_accepted, again.n_duplicates, again.already_imported) == (0, 3, True)
    assert "this file was imported before: nothing new added" in again.describe()
    assert count(engine, store.duplicate_flags) == 2

    # A fourth templated report from another file is stored and flagged against the first.
    later = pipeline.import_file(engine, write_form(tmp_path / "later.csv", [templated("MS-104")]))
    assert (later.n_accepted, later.n_possible_duplicates) == (1, 1)
    assert later.rows["resembles_report_id"].iloc[0] == first_id


def test_identical_rows_without_a_reference_are_each_stored(engine, tmp_path):
    row = {k: v for k, v in templated("").items() if k != "Source reference"}
    path = write_form(tmp_path / "noref.csv", [row, row])
    summary = pipeline.import_file(engine, path)
    assert (summary.n_accepted, summary.n_possible_duplicates, summary.n_duplicates) == (2, 1, 0)
    again = pipeline.import_file(engine, path)
    assert (again.n_accepted, again.n_duplicates) == (0, 2) and again.already_imported


UNLOCATABLE = {
    "Date observed": "14/06/2025",
    "Reporting agency": "Youth Outreach (synthetic)",
    "Agency type": "vcs",
    "Location": "the usual place behind the shops",
    "Concerns": "CCE",
    "Narrative": "Group of young people (synthetic) seen with an older male.",
}


def test_rows_identical_to_a_quarantined_row_are_quarantined_not_dropped(engine, tmp_path):
    # Twice in one file, without a reference: two reports, both need a location.
    path = write_form(tmp_path / "outreach.csv", [UNLOCATABLE, UNLOCATABLE])
    summary = pipeline.import_file(engine, path)
    assert (summary.n_quarantined, summary.n_duplicates) == (2, 0)
    assert summary.rows["outcome"].tolist() == ["quarantined", "quarantined"]
    assert summary.rows["quarantine_id"].notna().all()
    # Identical content under other references, in another file: quarantined in their own right.
    refs = [dict(UNLOCATABLE, **{"Source reference": r}) for r in ("YO-1", "YO-2")]
    other = pipeline.import_file(engine, write_form(tmp_path / "outreach-refs.csv", refs))
    assert (other.n_quarantined, other.n_duplicates) == (2, 0)
    assert len(store.load_quarantine(engine)) == 4
    # The same rows of the same file again are duplicates of their quarantine entries.
    again = pipeline.import_file(engine, path)
    assert (again.n_quarantined, again.n_duplicates) == (0, 2) and again.already_imported
    first_ids = summary.rows["quarantine_id"].tolist()
    assert again.rows["quarantine_id"].tolist() == first_ids
    assert len(store.load_quarantine(engine)) == 4


def test_policeuk_rows_without_crime_id_are_never_duplicates_of_each_other(engine, shared_data):
    path = shared_data / "policeuk_durham" / "2018-10-durham-street.csv"
    raw = pd.read_csv(path, dtype=str)
    asb = raw[raw["Crime ID"].isna()]
    keys = ["Month", "Longitude", "Latitude", "Crime type", "LSOA code"]
    shared = asb.groupby(keys)["Location"].transform("size")
    assert (shared > 1).sum() > 500  # real rows sharing month, map point and type

    summary = pipeline.import_file(engine, path)
    assert summary.n_duplicates == 0 and summary.reconciles
    rows = summary.rows.set_index("row_number")
    outside = rows.index[rows["outcome"] == "outside_area"]
    asb_rows = np.setdiff1d(asb.index.to_numpy() + 2, outside)  # file row numbers: header is row 1
    stored = rows.loc[asb_rows, "outcome"] == "stored"
    quarantined = rows.loc[asb_rows, "outcome"] == "quarantined"
    assert (stored | quarantined).all() and stored.mean() > 0.95
    context = store.load_context(engine)
    assert context["crime_id"].isna().sum() == stored.sum()

    again = pipeline.import_file(engine, path)
    assert (again.n_accepted, again.n_quarantined) == (0, 0)
    assert again.n_duplicates == summary.n_read - summary.n_out_of_area
    assert again.already_imported and len(store.load_context(engine)) == len(context)
    assert set(again.rows["outcome"]) <= {"duplicate", "outside_area"}
    assert (
        again.rows.loc[again.rows["outcome"] == "duplicate", ["report_id", "quarantine_id"]]
        .notna()
        .any(axis=1)
        .all()
    )


def test_policeuk_repeated_crime_ids_point_at_the_stored_row(engine, shared_data):
    path = shared_data / "policeuk_durham" / "2019-01-durham-street.csv"
    summary = pipeline.import_file(engine, path)
    raw = pd.read_csv(path, dtype=str)
    with_coords = raw["Longitude"].notna()
    repeats = raw[with_coords & raw["Crime ID"].notna() & raw["Crime ID"].duplicated()]
    assert len(repeats) > 0 and summary.n_duplicates == len(repeats)
    dups = summary.rows[summary.rows["outcome"] == "duplicate"]
    assert dups["duplicate_of_row"].notna().all()
    context = store.load_context(engine).set_index("id")
    for _, d in dups.iterrows():
        assert context.loc[int(d["report_id"]), "row_number"] == d["duplicate_of_row"]


def test_a_changed_resubmission_waits_for_an_analyst(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "v1.csv", [SCHOOL_001, HOUSING_001]))
    report_id = int(
        store.report_details(engine, store.load_reports(engine)["id"])
        .query("agency.str.startswith('Hill')")["id"]
        .iloc[0]
    )
    changed = dict(SCHOOL_001, **{"Postcode": "DH8 6NH", "Narrative": "Corrected: seen with one older male."})
    path = write_form(tmp_path / "v2.csv", [changed, HOUSING_001])
    summary = pipeline.import_file(engine, path)
    assert (summary.n_accepted, summary.n_resubmitted, summary.n_duplicates) == (0, 1, 1)
    assert summary.reconciles and "changed resubmissions" in summary.describe()
    assert "nothing new" not in summary.describe()
    row = summary.rows.set_index("row_number").loc[2]
    assert row["outcome"] == "resubmission" and row["report_id"] == report_id
    stored = store.report_details(engine, [report_id]).iloc[0]
    assert stored["postcode"] == "DH8 6LQ"  # the stored report is kept until an analyst decides

    pending = identity.load_resubmissions(engine)
    assert pending["report_id"].tolist() == [report_id]
    diff = identity.resubmission_differences(engine, int(pending["id"].iloc[0])).set_index("field")
    assert diff.loc["postcode", "stored"] == "DH8 6LQ" and diff.loc["postcode", "resubmitted"] == "DH8 6NH"
    assert "narrative" in diff.index and "agency" not in diff.index

    # Re-importing the resubmission adds nothing; rejecting keeps the stored report.
    again = pipeline.import_file(engine, path)
    assert (again.n_resubmitted, again.n_duplicates, again.already_imported) == (0, 2, True)
    identity.reject_resubmission(engine, int(pending["id"].iloc[0]), actor="analyst.one")
    assert identity.load_resubmissions(engine).empty
    with pytest.raises(ValueError, match=f"resubmission {int(pending['id'].iloc[0])} is already rejected"):
        identity.reject_resubmission(engine, int(pending["id"].iloc[0]), actor="analyst.two")
    rejected = audit.load_audit(engine, event="resubmission_rejected")
    assert len(rejected) == 1 and rejected["target"].iloc[0] == f"report:{report_id}"
    assert json.loads(rejected["details"].iloc[0]) == {
        "resubmission_id": int(pending["id"].iloc[0]),
        "import_id": int(pending["import_id"].iloc[0]),
        "row_number": 2,
    }
    assert store.report_details(engine, [report_id]).iloc[0]["postcode"] == "DH8 6LQ"

    # A further change is accepted: the stored report takes the new content, in place.
    third = dict(changed, **{"Narrative": "Second correction (synthetic)."})
    pipeline.import_file(engine, write_form(tmp_path / "v3.csv", [third]))
    entry = identity.load_resubmissions(engine).iloc[0]
    fields = identity.accept_resubmission(engine, int(entry["id"]), actor="analyst.two")
    assert set(fields) >= {"postcode", "narrative"}
    now = store.report_details(engine, [report_id]).iloc[0]
    assert (now["postcode"], now["narrative"]) == ("DH8 6NH", "Second correction (synthetic).")
    assert len(store.load_reports(engine)) == 2
    log = audit.load_audit(engine)
    decisions = log[log["event"].str.startswith("resubmission")]
    assert decisions["event"].tolist() == ["resubmission_rejected", "resubmission_accepted"]
    assert decisions["actor"].tolist() == ["analyst.one", "analyst.two"]
    details = json.loads(log["details"].iloc[-1])
    assert details["resubmission_id"] == int(entry["id"]) and "postcode" in details["fields_changed"]
    assert "Second correction" not in log["details"].iloc[-1]  # narratives never enter the audit log
    assert audit.verify_chain(engine).ok
    # The original file again: its content is the replaced one, so nothing new.
    old = pipeline.import_file(engine, tmp_path / "v1.csv")
    assert (old.n_accepted, old.n_resubmitted, old.n_duplicates) == (0, 0, 2)


def test_every_row_is_accounted_for_by_row_number(engine, tmp_path):
    rows = [
        SCHOOL_001,
        dict(SCHOOL_001),  # the same report twice in one file
        HOUSING_001,
        UNLOCATABLE,
        {"Date observed": "not a date", "Postcode": "DH8 6LQ", "Reporting agency": "X (synthetic)"},
        templated("MS-201"),
        templated("MS-202"),
    ]
    summary = pipeline.import_file(engine, write_form(tmp_path / "mixed.csv", rows))
    out = summary.rows.set_index("row_number")
    assert list(out.index) == list(range(2, 2 + len(rows)))
    assert out["outcome"].tolist() == [
        "stored",
        "duplicate",
        "stored",
        "quarantined",
        "quarantined",
        "stored",
        "possible_duplicate",
    ]
    assert out.loc[3, "duplicate_of_row"] == 2 and out.loc[3, "report_id"] == out.loc[2, "report_id"]
    assert "repeats row 2" in out.loc[3, "detail"]
    assert "needs a location" in out.loc[5, "detail"] and out.loc[5, "quarantine_id"] > 0
    assert "not a date" in out.loc[6, "detail"] or "date" in out.loc[6, "detail"]
    assert out.loc[8, "resembles_report_id"] == out.loc[7, "report_id"]
    assert summary.n_read == len(rows) == len(out)


def test_all_rows_known_from_another_file_does_not_claim_the_file_was_imported(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "a.csv", [SCHOOL_001, HOUSING_001]))
    resaved = pipeline.import_file(engine, write_form(tmp_path / "b.csv", [HOUSING_001, SCHOOL_001]))
    assert resaved.n_duplicates == 2 and not resaved.already_imported
    assert "imported before" not in resaved.describe()
    assert "every row was already stored or quarantined" in resaved.describe()


def test_resolving_a_quarantined_row_whose_report_arrived_meanwhile_stores_no_second_report(engine, tmp_path):
    from hoth_geo.intake.geocode import locate_manually

    waiting = dict(UNLOCATABLE, **{"Source reference": "YO-9"})
    pipeline.import_file(engine, write_form(tmp_path / "first.csv", [waiting]))
    as_quarantined_before_0010(engine)  # else the report arriving below supersedes the entry
    located = dict(waiting, **{"Postcode": "DL1 5QG", "Location": ""})
    pipeline.import_file(engine, write_form(tmp_path / "second.csv", [located]))
    assert len(store.load_reports(engine)) == 1
    entry = store.load_quarantine(engine).iloc[0]
    payload, import_id = store.quarantine_payload(engine, int(entry["id"]))
    row = pd.DataFrame([payload]).assign(
        observed_at=lambda t: pd.to_datetime(t["observed_at"]),
        date_received=lambda t: pd.to_datetime(t["date_received"]),
    )
    with engine.begin() as conn:
        rid = review.resolve_quarantined(
            conn, int(entry["id"]), locate_manually(row, 54.52, -1.55), import_id=import_id, resolved_by="a"
        )
    assert len(store.load_reports(engine)) == 1 and rid == int(store.load_reports(engine)["id"].iloc[0])
    assert len(identity.load_resubmissions(engine)) == 1  # its content differs: the analyst decides


def test_cli_ingest_prints_the_accounting_and_writes_every_row(tmp_path):
    from typer.testing import CliRunner

    from hoth_geo.cli import app

    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    school = write_form(tmp_path / "school.csv", [SCHOOL_001])
    mixed = write_form(
        tmp_path / "mixed.csv", [HOUSING_001, UNLOCATABLE, templated("MS-1"), templated("MS-2"), SCHOOL_001]
    )
    out = tmp_path / "rows.csv"
    result = runner.invoke(app, ["ingest", str(school), str(mixed), "--rows-out", str(out), "--db", url])
    assert result.exit_code == 0, result.output
    assert "mixed.csv: read 5 rows = 3 accepted + 1 quarantined + 1 duplicates" in result.output
    assert "row 3: quarantined: row 3: needs a location" in result.output
    assert "row 5: possible duplicate (stored, to review): the same content as report" in result.output
    assert "row 6: duplicate: same agency, source reference and content as report 1" in result.output
    rows = pd.read_csv(out)
    assert len(rows) == 6 and rows.groupby("file").size().to_dict() == {"mixed.csv": 5, "school.csv": 1}
    assert rows.loc[rows["file"] == "mixed.csv", "outcome"].tolist() == [
        "stored",
        "quarantined",
        "stored",
        "possible_duplicate",
        "duplicate",
    ]
    again = runner.invoke(app, ["ingest", str(mixed), "--db", url])
    assert "this file was imported before: nothing new added" in again.output
    bad = runner.invoke(app, ["ingest", str(mixed), "--rows-out", str(tmp_path / "rows.xlsx"), "--db", url])
    assert bad.exit_code != 0 and "--rows-out must end in .csv" in bad.output


def test_review_page_merges_and_decides_resubmissions(tmp_path, monkeypatch):
    from apptest_support import app_as, ensure_user

    url = f"sqlite:///{tmp_path / 'review.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    engine = store.connect(url)
    pipeline.import_file(
        engine, write_form(tmp_path / "a.csv", [templated("MS-1"), templated("MS-2"), SCHOOL_001])
    )
    changed = dict(SCHOOL_001, **{"Postcode": "DH8 6NH", "Narrative": "Corrected (synthetic)."})
    pipeline.import_file(engine, write_form(tmp_path / "b.csv", [changed]))
    analyst = ensure_user(url, "analyst")

    at = app_as(analyst, "review").run()
    assert not at.exception, at.exception
    headers = [h.value for h in at.header][:3]
    assert headers == ["Rows that need a location", "Possible duplicates", "Changed resubmissions"]
    at.button(key="resub_show").click().run()
    diff = at.dataframe[-1].value.set_index("field")
    assert diff.loc["Postcode", "resubmitted"] == "DH8 6NH"  # the field as the sharing form names it
    at.button(key="dup_merge").click().run()
    assert not at.exception, at.exception
    assert len(store.load_reports(engine)) == 2
    at.button(key="resub_accept").click().run()
    assert not at.exception, at.exception
    assert identity.load_resubmissions(engine).empty
    assert "DH8 6NH" in store.report_details(engine, store.load_reports(engine)["id"])["postcode"].tolist()
    at.button(key="dup_unmerge").click().run()
    assert len(store.load_reports(engine)) == 3
    events = audit.load_audit(engine)["event"].tolist()
    assert {
        "report_viewed",
        "narrative_viewed",
        "reports_merged",
        "resubmission_accepted",
        "reports_unmerged",
    } <= set(events)


def test_import_page_lists_every_row(tmp_path, monkeypatch):
    from apptest_support import app_as, ensure_user

    url = f"sqlite:///{tmp_path / 'import.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    engine = store.connect(url)
    summary = pipeline.import_file(
        engine,
        write_form(tmp_path / "a.csv", [templated("MS-1"), templated("MS-2"), UNLOCATABLE, SCHOOL_001]),
    )
    analyst = ensure_user(url, "analyst")
    at = app_as(analyst, "import")
    at.session_state["last_import"] = summary
    at.run()
    assert not at.exception, at.exception
    assert any("Review page" in i.value for i in at.info)
    shown = at.dataframe[0].value
    assert shown["Outcome"].tolist() == ["Stored, possible duplicate (Review)", "Quarantined"]
    assert shown["Row"].tolist() == [3, 4]
    at.multiselect(key="import_rows_show").select("Stored").run()
    assert len(at.dataframe[0].value) == 4


def test_a_changed_download_of_a_stored_month_warns_about_rows_without_crime_id(
    engine, shared_data, tmp_path
):
    path = shared_data / "policeuk_durham" / "2018-12-durham-street.csv"
    first = pipeline.import_file(engine, path)
    assert not any("counted twice" in w for w in first.warnings)
    redownload = tmp_path / "2018-12-durham-street.csv"
    redownload.write_bytes(path.read_bytes().rstrip(b"\r\n") + b"\n\n")  # other bytes, same rows
    again = pipeline.import_file(engine, redownload)
    raw = pd.read_csv(path, dtype=str)
    # Rows outside the area are skipped both times; of the others, every row with a Crime ID is
    # recognised (stored or quarantined before) and the rows without one are new rows.
    outside = again.rows.loc[again.rows["outcome"] == "outside_area", "row_number"]
    inside = raw[~(raw.index.to_series() + 2).isin(outside).to_numpy()]  # file rows: header is row 1
    assert again.n_out_of_area == len(outside) == first.n_out_of_area
    assert again.n_duplicates == inside["Crime ID"].notna().sum()
    assert again.n_accepted + again.n_quarantined == inside["Crime ID"].isna().sum()
    assert not again.already_imported
    assert any("counted twice" in w for w in again.warnings)


def test_identical_quarantined_policeuk_rows_are_not_counted_as_duplicates(engine, shared_data):
    # Northumbria's rows lie outside the default (County Durham) area: many anti-social behaviour rows
    # share a month, map point and type, so their raw rows are identical. None is a duplicate.
    path = shared_data / "policeuk_neighbours" / "2019-01-northumbria-street.csv"
    raw = pd.read_csv(path, dtype=str)
    assert raw[raw["Crime ID"].isna()].duplicated().sum() > 1000
    summary = pipeline.import_file(engine, path)
    assert summary.n_duplicates == raw["Crime ID"].dropna().duplicated().sum() == 0
    assert summary.reconciles and len(summary.rows) == len(raw)


def test_retention_purges_resubmissions_and_flags_with_their_reports(engine, tmp_path):
    from datetime import date

    from hoth_geo.intake import retention

    pipeline.import_file(
        engine, write_form(tmp_path / "a.csv", [templated("MS-1"), templated("MS-2"), SCHOOL_001])
    )
    changed = dict(SCHOOL_001, **{"Narrative": "Corrected (synthetic)."})
    pipeline.import_file(engine, write_form(tmp_path / "b.csv", [changed]))
    assert (count(engine, store.duplicate_flags), count(engine, store.resubmissions)) == (1, 1)
    done = retention.purge_older_than(engine, date(2026, 1, 1), actor="police.one")
    assert (done["reports"], done["resubmissions"], done["duplicate_flags"]) == (3, 1, 1)
    assert count(engine, store.resubmissions) == count(engine, store.duplicate_flags) == 0


def test_backfill_gives_rows_stored_before_the_rules_their_identity(engine, tmp_path, shared_data):
    import hashlib

    from hoth_geo.intake import files, policeuk

    form = write_form(tmp_path / "form.csv", [SCHOOL_001, HOUSING_001, UNLOCATABLE, templated("")])
    police = shared_data / "policeuk_durham" / "2018-11-durham-street.csv"
    pipeline.import_file(engine, form)
    pipeline.import_file(engine, police)
    # As the previous release stored them: no identity, content-hashed police rows and quarantine.
    old_keys = policeuk.normalise_policeuk(files.read_table(police)).rows.set_index("row_number")[
        "fingerprint"
    ]
    with engine.begin() as conn:
        conn.execute(store.reports.update().values(identity=None))
        for rid, rn in conn.execute(
            sa.select(store.police_context.c.id, store.police_context.c.row_number).where(
                store.police_context.c.crime_id.is_(None)
            )
        ).all():
            conn.execute(
                store.police_context.update()
                .where(store.police_context.c.id == rid)
                .values(fingerprint=old_keys[rn])
            )
        for qid, raw in conn.execute(sa.select(store.quarantine.c.id, store.quarantine.c.raw)).all():
            conn.execute(
                store.quarantine.update()
                .where(store.quarantine.c.id == qid)
                .values(raw_fingerprint=hashlib.sha1(raw.encode()).hexdigest())
            )
    with engine.begin() as conn:
        done = identity.backfill(conn)
    assert done["reports"] == 3 and done["police_context"] > 1000 and done["quarantine"] > 0
    with engine.begin() as conn:
        assert identity.backfill(conn) == {"reports": 0, "police_context": 0, "quarantine": 0}
    for path in (form, police):
        again = pipeline.import_file(engine, path)
        assert (again.n_accepted, again.n_quarantined, again.already_imported) == (0, 0, True), (
            again.describe()
        )


GRADED = dict(SCHOOL_001, **{"Source grading": "1", "Information grading": "A", "Handling code": "P"})
# The same report, its grading revised by the school: the information is now untested and the handling
# code restricts onward sharing. What was seen is unchanged.
REGRADED = dict(GRADED, **{"Information grading": "C", "Handling code": "C"})


def _grading(engine, report_id: int) -> tuple:
    row = store.report_details(engine, [report_id]).iloc[0]
    return tuple(row[c] for c in GRADING_COLUMNS)


def test_a_regraded_report_is_a_changed_resubmission_not_a_duplicate(db_url, tmp_path):
    """The fingerprint leaves the grading out (look-alikes are found by what was seen), but an agency
    that re-grades a report sends a change: it waits in Review, and accepting it stores the new grading.
    Counting it as a duplicate would drop the new handling code without anyone deciding."""
    engine = store.connect(db_url)
    pipeline.import_file(engine, write_form(tmp_path / "graded.csv", [GRADED]))
    report_id = int(store.load_reports(engine)["id"].iloc[0])
    stored_grading = _grading(engine, report_id)

    summary = pipeline.import_file(engine, write_form(tmp_path / "regraded.csv", [REGRADED]))

    assert (summary.n_accepted, summary.n_duplicates, summary.n_resubmitted) == (0, 0, 1)
    assert "nothing new" not in summary.describe()
    assert _grading(engine, report_id) == stored_grading, "kept until an analyst decides"
    entry = identity.load_resubmissions(engine).iloc[0]
    diff = identity.resubmission_differences(engine, int(entry["id"])).set_index("field")
    assert set(diff.index) == {"grading_information", "grading_handling"}, "only the grading changed"
    assert diff.loc["grading_handling", "resubmitted"] != diff.loc["grading_handling", "stored"]

    # The same re-graded file again adds nothing: that grading was received already.
    again = pipeline.import_file(engine, write_form(tmp_path / "regraded-again.csv", [REGRADED]))
    assert (again.n_duplicates, again.n_resubmitted) == (1, 0)

    identity.accept_resubmission(engine, int(entry["id"]), actor="analyst.one")
    new_grading = _grading(engine, report_id)
    assert new_grading != stored_grading and new_grading[0] == stored_grading[0]
    # Both gradings are now known for this report: neither file brings a change any more.
    for name, row in (("first-again.csv", GRADED), ("regraded-third.csv", REGRADED)):
        later = pipeline.import_file(engine, write_form(tmp_path / name, [row]))
        assert (later.n_duplicates, later.n_resubmitted) == (1, 0), name
    assert len(store.load_reports(engine)) == 1
    engine.dispose()


# The school's report placed by a phone's fix (synthetic point on a Consett street), and the same report
# sent again with the accuracy the phone reported corrected: the fix was within 400 m, not 15 m.
FIXED = dict(
    SCHOOL_001,
    **{"Postcode": "", "Latitude": "54.85212", "Longitude": "-1.83154", "Location accuracy (m)": "15"},
)
FIX_CORRECTED = dict(FIXED, **{"Location accuracy (m)": "400"})


def test_a_corrected_location_accuracy_is_a_changed_resubmission_not_a_duplicate(db_url, tmp_path):
    """The stated accuracy is the radius a report is mapped at, and like the grading it is left out of the
    fingerprint. A source that corrects it sends a change: it waits in Review, and accepting it states the
    report as wide as the source now says. As a duplicate, the map would keep the 15 m circle."""
    engine = store.connect(db_url)
    pipeline.import_file(engine, write_form(tmp_path / "fixed.csv", [FIXED]))
    report_id = int(store.load_reports(engine)["id"].iloc[0])
    kept = store.report_details(engine, [report_id], ["location_accuracy_m", "precision_m"]).iloc[0]
    assert (kept["location_accuracy_m"], kept["precision_m"]) == (15.0, 15.0)

    summary = pipeline.import_file(engine, write_form(tmp_path / "corrected.csv", [FIX_CORRECTED]))

    assert (summary.n_accepted, summary.n_duplicates, summary.n_resubmitted) == (0, 0, 1)
    entry = identity.load_resubmissions(engine).iloc[0]
    diff = identity.resubmission_differences(engine, int(entry["id"])).set_index("field")
    # Only the accuracy, the radius it states, and the place beside the point: a 400 m circle is too wide
    # to say the report was at that place.
    assert set(diff.index) == {"location_accuracy_m", "precision_m", "place_id"}
    assert float(diff.loc["location_accuracy_m", "resubmitted"]) == 400.0
    assert pd.notna(diff.loc["place_id", "stored"]) and pd.isna(diff.loc["place_id", "resubmitted"])
    again = pipeline.import_file(engine, write_form(tmp_path / "corrected-again.csv", [FIX_CORRECTED]))
    assert (again.n_duplicates, again.n_resubmitted) == (1, 0), "that accuracy was received already"

    identity.accept_resubmission(engine, int(entry["id"]), actor="analyst.one")
    now = store.report_details(engine, [report_id], ["location_accuracy_m", "precision_m"]).iloc[0]
    assert (now["location_accuracy_m"], now["precision_m"]) == (400.0, 400.0)
    for name, row in (("fixed-again.csv", FIXED), ("corrected-third.csv", FIX_CORRECTED)):
        later = pipeline.import_file(engine, write_form(tmp_path / name, [row]))
        assert (later.n_duplicates, later.n_resubmitted) == (1, 0), name
    assert len(store.load_reports(engine)) == 1
    engine.dispose()


def test_regrading_within_one_file_and_look_alikes_by_content(engine, tmp_path):
    """In one file, a later row of the same identity with another grading is a changed resubmission of
    the earlier row; a row of another reference with the same content is a possible duplicate, whatever
    its grading (the grading is not what was seen)."""
    rekeyed = dict(REGRADED, **{"Source reference": "002"})
    summary = pipeline.import_file(engine, write_form(tmp_path / "both.csv", [GRADED, REGRADED, rekeyed]))
    outcome = summary.rows.set_index("row_number")["outcome"]
    assert outcome.to_dict() == {2: "stored", 3: "resubmission", 4: "possible_duplicate"}
    first = int(summary.rows.set_index("row_number").loc[2, "report_id"])
    assert int(summary.rows.set_index("row_number").loc[4, "resembles_report_id"]) == first


def test_a_located_row_with_a_stored_identity_and_a_new_grading_is_a_resubmission(engine, tmp_path):
    """Review: a row that waited for a location and has the identity of a report stored meanwhile is
    compared by content and grading, as an import compares it."""
    unplaced = {"Postcode": "", "Location": "behind the shops (synthetic)"}
    # Both versions arrive without a place that can be found; the first version is located first.
    pipeline.import_file(engine, write_form(tmp_path / "regraded.csv", [dict(REGRADED, **unplaced)]))
    pipeline.import_file(engine, write_form(tmp_path / "graded.csv", [dict(GRADED, **unplaced)]))
    waiting = review.needs_location(engine).set_index("filename")["id"]
    at = {"latitude": 54.8571, "longitude": -1.8342, "precision_m": 100.0}
    report_id = review.resolve_with_location(engine, int(waiting["graded.csv"]), **at, actor="analyst.one")
    stored_grading = _grading(engine, report_id)

    assert (
        review.resolve_with_location(engine, int(waiting["regraded.csv"]), **at, actor="analyst.one")
        == report_id
    )

    assert _grading(engine, report_id) == stored_grading and len(store.load_reports(engine)) == 1
    pending = identity.load_resubmissions(engine)
    assert pending["report_id"].tolist() == [report_id]
    diff = identity.resubmission_differences(engine, int(pending["id"].iloc[0]))
    assert set(diff["field"]) == {"grading_information", "grading_handling"}
