"""The Share information form's library: checks, the import path, receipts, ownership and roles.

One database per module holds the synthetic demo set (so place names, the gazetteer and duplicate
rules are the real ones); every test sends forms with fresh tokens from its own synthetic accounts.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from hoth_geo import store
from hoth_geo.access import audit, auth, casework
from hoth_geo.intake import geocode, pipeline, review
from hoth_geo.intake import submission as sm
from hoth_geo.intake.gazetteer import load_gazetteer

PASSWORD = "synthetic-test-passphrase"
TODAY = date(2026, 11, 25)
DEMO_PLACE = "Bus station, Darlington town centre (demo)"
DEMO_PLACE_ID = "demo:bus-station-darlington-town-centre"
DURHAM = (54.77613, -1.57329)  # inside the study area


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    engine = store.connect(f"sqlite:///{tmp_path_factory.mktemp('share') / 'share.sqlite'}")
    pipeline.load_demo_data(engine)
    gaz = load_gazetteer()
    for name, role in (
        ("school.lead", "contributor"),
        ("youth.worker", "contributor"),
        ("no.agency", "contributor"),
        ("pc.one", "police"),
        ("partner.one", "partner"),
        ("analyst.one", "analyst"),
    ):
        auth.add_user(engine, name, PASSWORD, role, actor="admin.test")
    sm.set_account_agency(
        engine, "school.lead", "Example Academy (fictional)", "school", "01234 000001", actor="admin.test"
    )
    sm.set_account_agency(engine, "youth.worker", "Example Youth Project (fictional)", "youth_service")
    users = {n: auth.get_user(engine, n) for n in ("school.lead", "youth.worker", "no.agency", "pc.one")}
    users["partner.one"] = auth.get_user(engine, "partner.one")
    users["analyst.one"] = auth.get_user(engine, "analyst.one")
    return {"engine": engine, "gaz": gaz, "users": users, "index": sm.gazetteer_index(engine, gaz)}


_serial = itertools.count(1)


def form(**over) -> sm.Submission:
    """A complete synthetic form; each one's words differ, so none is a duplicate of another."""
    base = {
        "token": sm.new_token(),
        "observed_on": date(2026, 11, 20),
        "observed_time": "21:30",
        "place_name": DEMO_PLACE,
        "location_text": "Central",
        "postcode": "DL1",
        "place_type": "transport_hub",
        "concerns": ("cce", "people_of_concern"),
        "indicators": ("unknown_adults", "unexplained_money_items"),
        "what_was_seen": f"Synthetic {next(_serial)}: a pupil was met by two older males and given a phone.",
        "people_of_concern": "Two males, twenties, one with a red jacket (synthetic)",
        "vehicles": "Grey hatchback, partial plate AB12 (synthetic)",
        "child_ref": "SYN-CHILD-7",
        "grading_source": "2",
        "grading_information": "B",
        "grading_handling": "P",
    }
    base.update(over)
    return sm.Submission(**base)


def send(env, user="school.lead", **over) -> tuple[sm.Submission, sm.Receipt]:
    s = form(**over)
    return s, sm.submit(env["engine"], env["users"][user], s, gazetteer=env["gaz"], today=TODAY)


def report_by_ref(engine, reference: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(store.reports).where(store.reports.c.source_ref == reference), conn)


# --- Checks -----------------------------------------------------------------------------------------------


def test_an_empty_form_gets_a_plain_message_for_every_missing_field():
    errors = sm.validate(sm.Submission(token=sm.new_token()), today=TODAY)
    assert set(errors) == {
        "observed_on",
        "where",
        "place_type",
        "concerns",
        "what_was_seen",
        "grading_source",
        "grading_information",
        "grading_handling",
    }
    assert errors["observed_on"].startswith("When it was seen:")
    assert "click the map" in errors["where"] and "Online" in errors["where"]
    assert (
        errors["grading_source"] == "Source grading: choose one of 1, 2, 3 (see the explanation beside it)."
    )


@pytest.mark.parametrize(
    ("over", "field", "words"),
    [
        ({"observed_on": TODAY + timedelta(days=1)}, "observed_on", "26/11/2026 is in the future"),
        ({"observed_on": date(1999, 12, 31)}, "observed_on", "check the year"),
        ({"observed_time": "9.30pm"}, "observed_time", "'9.30pm' is not a time"),
        (
            {
                "place_name": None,
                "location_text": None,
                "postcode": None,
                "latitude": 51.5,
                "longitude": -0.12,
            },
            "where",
            "outside the area this system covers",
        ),  # fmt: skip
        ({"concerns": ("cce", "gangs")}, "concerns", "'gangs' is not a listed concern"),
        ({"indicators": ("tattoos",)}, "indicators", "Possible signs: 'tattoos'"),
        ({"what_was_seen": "x" * 10_001}, "what_was_seen", "10,001 characters"),
        ({"child_ref": "A" * 65}, "child_ref", "never a name"),
        ({"grading_information": "F"}, "grading_information", "'F' is not one of A, B, C, D, E"),
        ({"token": "short"}, "token", "reload the page"),
    ],
)
def test_each_bad_field_is_named_with_what_to_do(env, over, field, words):
    errors = sm.validate(form(**over), study_area=env["gaz"].study_area, today=TODAY)
    assert list(errors) == [field]
    assert words in errors[field]


def test_a_time_known_only_roughly_is_sent_in_words_and_kept(env):
    """A practitioner who knows only that it was after school says so: the report is stored with the
    time of day unknown and the words kept, as a file's row would be; a slip with digits is refused."""
    s, receipt = send(env, observed_time="after school")
    stored = report_by_ref(env["engine"], receipt.reference).iloc[0]
    assert (bool(stored["time_known"]), stored["time_text"]) == (False, "after school")
    errors = sm.validate(form(observed_time="after 3"), today=TODAY)
    assert "in words if you only know roughly" in errors["observed_time"]
    # A clock time in words is a time the practitioner knows: asked for as a time, am or pm.
    errors = sm.validate(form(observed_time="quarter past ten"), today=TODAY)
    assert "write it as 24-hour HH:MM (e.g. 21:30 for half past nine" in errors["observed_time"]


def test_a_form_that_fails_its_checks_stores_nothing(env):
    before = store.counts(env["engine"])
    with pytest.raises(sm.SubmissionInvalid) as err:
        send(env, what_was_seen="  ", observed_time="25:00")
    assert set(err.value.errors) == {"what_was_seen", "observed_time"}
    assert store.counts(env["engine"]) == before


def test_an_account_without_an_agency_is_told_who_sets_it(env):
    with pytest.raises(sm.SubmissionInvalid) as err:
        send(env, user="no.agency")
    assert list(err.value.errors) == ["agency"]
    assert "administrator" in err.value.errors["agency"] and "draft is kept" in err.value.errors["agency"]


# --- One path into the data --------------------------------------------------------------------------


def test_a_form_is_stored_through_the_import_pipeline_with_a_receipt(env):
    engine = env["engine"]
    s, receipt = send(env)
    assert receipt.reference == sm.reference_for(s.token) and receipt.reference.startswith("SHR-")
    assert receipt.status == "located" and not receipt.already_received
    assert "Reference SHR-" in sm.receipt_text(receipt)

    imports = store.load_imports(engine).set_index("id")
    record = imports.loc[receipt.import_id]
    assert (record["format"], record["filename"], record["imported_by"]) == (
        "form",
        receipt.reference,
        "school.lead",
    )
    assert (record["n_read"], record["n_accepted"], record["n_quarantined"], record["n_duplicates"]) == (
        1,
        1,
        0,
        0,
    )

    row = report_by_ref(engine, receipt.reference).iloc[0]
    assert int(row["id"]) == receipt.report_id
    assert row["agency"] == "Example Academy (fictional)" and row["agency_type"] == "school"
    assert (row["geocode_method"], row["place_id"]) == ("place_name", DEMO_PLACE_ID)
    assert pd.Timestamp(row["observed_at"]) == pd.Timestamp("2026-11-20 21:30") and bool(row["time_known"])
    assert row["concerns"] == "cce|people_of_concern"
    assert row["indicators"] == "unexplained_money_items|unknown_adults"
    assert (row["grading_source"], row["grading_information"], row["grading_handling"]) == ("2", "B", "P")
    assert row["child_ref"] == "SYN-CHILD-7"
    assert (
        "People of concern: Two males" in row["narrative"] and "Vehicles: Grey hatchback" in row["narrative"]
    )
    assert "Reporter contact: 01234 000001" in row["narrative"]

    # The analysis frame police and analysts read picks it up like any imported report.
    frame = store.load_reports(engine)
    assert receipt.report_id in set(frame["id"])

    log = audit.load_audit(engine, event="import")
    entries = log[log["target"] == receipt.reference]
    assert len(entries) == 1 and entries["actor"].iloc[0] == "school.lead"
    details = json.loads(entries["details"].iloc[0])
    assert (
        details["format"] == "form" and details["accepted"] == 1 and details["import_id"] == receipt.import_id
    )


def test_the_preview_shows_where_the_pipeline_then_puts_it(env):
    engine, user = env["engine"], env["users"]["school.lead"]
    s = form()
    seen = sm.preview(user, s, engine=engine, gazetteer=env["gaz"], today=TODAY)
    assert seen.located and seen.method == "place_name" and seen.place_id == DEMO_PLACE_ID
    assert seen.place_label == DEMO_PLACE
    assert seen.confidence == pytest.approx(geocode.CONFIDENCE["place_name"])
    assert seen.precision_m == pytest.approx(30.0)
    receipt = sm.submit(engine, user, s, gazetteer=env["gaz"], today=TODAY)
    row = report_by_ref(engine, receipt.reference).iloc[0]
    assert (row["latitude"], row["longitude"]) == pytest.approx((seen.latitude, seen.longitude))
    assert row["precision_m"] == seen.precision_m and row["geocode_confidence"] == seen.confidence

    click = sm.preview(
        user,
        form(place_name=None, location_text=None, postcode=None, latitude=DURHAM[0], longitude=DURHAM[1]),
        gazetteer=env["gaz"],
        today=TODAY,
    )
    assert (click.method, click.precision_m) == ("coordinates_wgs84", 10.0)
    postcode = sm.preview(
        user, form(place_name=None, location_text=None, postcode="DH1 1AB"), gazetteer=env["gaz"], today=TODAY
    )
    assert (postcode.method, postcode.precision_m) == ("postcode", 100.0)
    online = sm.preview(user, form(online=True), gazetteer=env["gaz"])
    assert online.online and not online.located


def test_a_map_click_is_stored_as_precise_as_the_zoom_it_was_made_at(env):
    """A click on the map of the whole county (zoom 10) is stored within the 880 m ten pixels cover there,
    not the 10 m its six decimals would claim; one made on a street (zoom 17) keeps the 10 m."""
    engine, user = env["engine"], env["users"]["school.lead"]
    county, street = geocode.map_click_radius_m(DURHAM[0], 10), geocode.map_click_radius_m(DURHAM[0], 17)
    assert county > 800 and street == 10
    for accuracy in (county, street):
        s = form(
            place_name=None,
            location_text=None,
            postcode=None,
            latitude=DURHAM[0],
            longitude=DURHAM[1],
            accuracy_m=accuracy,
        )
        seen = sm.preview(user, s, engine=engine, gazetteer=env["gaz"], today=TODAY)
        assert (seen.method, seen.precision_m) == ("coordinates_wgs84", accuracy)
        assert f"within about {accuracy:,.0f} m" in seen.message
        receipt = sm.submit(engine, user, s, gazetteer=env["gaz"], today=TODAY)
        row = report_by_ref(engine, receipt.reference).iloc[0]
        assert row["precision_m"] == accuracy
        assert (row["latitude"], row["longitude"]) == pytest.approx(DURHAM, abs=1e-6)

    # Written to the form in whole metres, rounded up: never tighter than the click.
    frame = sm.to_form_frame(
        form(latitude=DURHAM[0], longitude=DURHAM[1], accuracy_m=27.2), sm.AccountAgency("A", "school")
    )
    assert frame["Location accuracy (m)"].tolist() == ["28"]

    wrong = form(
        place_name=None,
        location_text=None,
        postcode=None,
        latitude=DURHAM[0],
        longitude=DURHAM[1],
        accuracy_m=-5.0,
    )
    with pytest.raises(sm.SubmissionInvalid, match="accuracy"):
        sm.submit(engine, user, wrong, gazetteer=env["gaz"], today=TODAY)


def test_an_unresolvable_place_is_kept_and_goes_to_review(env):
    engine = env["engine"]
    where = sm.where_from_text("behind the old quarry huts (synthetic)")
    s = form(**{"place_name": None, "location_text": None, "postcode": None, **where})
    seen = sm.preview(env["users"]["school.lead"], s, engine=engine, gazetteer=env["gaz"], today=TODAY)
    assert not seen.located and seen.message.startswith("Will go to Review")
    receipt = sm.submit(engine, env["users"]["school.lead"], s, gazetteer=env["gaz"], today=TODAY)
    assert receipt.status == "needs_location" and receipt.report_id is None
    q = store.load_quarantine(engine)
    entry = q[q["import_id"] == receipt.import_id]
    assert len(entry) == 1 and entry["payload"].notna().all()
    assert "Review" in entry["reason"].iloc[0]
    assert report_by_ref(engine, receipt.reference).empty

    # An analyst places it in Review: the reporter's list then shows it as located.
    payload, import_id = store.quarantine_payload(engine, int(entry["id"].iloc[0]))
    row = pd.DataFrame([payload])
    for c in ("observed_at", "date_received"):
        row[c] = pd.to_datetime(row[c])
    from hoth_geo.intake import geocode

    located = geocode.locate_manually(row, DURHAM[0], DURHAM[1], None)
    with engine.begin() as conn:
        review.resolve_quarantined(
            conn, int(entry["id"].iloc[0]), located, import_id=import_id, resolved_by="x"
        )
    mine = sm.my_submissions(engine, env["users"]["school.lead"]).set_index("reference")
    assert mine.loc[receipt.reference, "status"] == "located"


def test_a_reporter_sees_what_review_decided_about_their_report(env):
    """A form that waits in Review shows the reporter, in their own list, that it was marked online (not
    'placed on the map'), or that it was set aside; restored, it waits for a location again."""
    engine, user = env["engine"], env["users"]["school.lead"]
    where = sm.where_from_text("in the group chat (synthetic)")
    receipts = [
        sm.submit(
            engine,
            user,
            form(**{"place_name": None, "location_text": None, "postcode": None, **where}),
            gazetteer=env["gaz"],
            today=TODAY,
        )
        for _ in range(2)
    ]
    q = store.load_quarantine(engine).set_index("import_id")["id"]
    online_entry, aside_entry = (int(q[r.import_id]) for r in receipts)
    review.resolve_as_online(engine, online_entry, actor="analyst.one")
    review.set_aside(engine, aside_entry, why="sent twice by mistake (synthetic)", actor="analyst.one")
    mine = sm.my_submissions(engine, user).set_index("reference")["status"]
    assert (mine[receipts[0].reference], mine[receipts[1].reference]) == ("online", "set_aside")
    review.restore(engine, aside_entry, actor="analyst.one")
    assert sm.my_submissions(engine, user).set_index("reference")["status"][receipts[1].reference] == (
        "needs_location"
    )


def test_an_online_report_is_received_and_counted_not_mapped(env):
    _s, receipt = send(env, online=True, place_type="online", concerns=("online_harm",))
    assert receipt.status == "online"
    row = report_by_ref(env["engine"], receipt.reference).iloc[0]
    assert bool(row["online"]) and row["geocode_method"] == "online"


def test_the_same_form_sent_twice_is_stored_once(env):
    engine = env["engine"]
    s, first = send(env)
    before = store.counts(engine)
    second = sm.submit(engine, env["users"]["school.lead"], s, gazetteer=env["gaz"], today=TODAY)
    assert second.already_received and (second.reference, second.report_id) == (
        first.reference,
        first.report_id,
    )
    assert store.counts(engine) == before
    assert len(report_by_ref(engine, first.reference)) == 1


def test_two_clicks_arriving_together_store_one_report(env):
    engine, user = env["engine"], env["users"]["school.lead"]
    s = form(what_was_seen="Synthetic: sent by two clicks at once.")
    receipts: list[sm.Receipt] = []
    threads = [
        threading.Thread(
            target=lambda: receipts.append(sm.submit(engine, user, s, gazetteer=env["gaz"], today=TODAY))
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.already_received for r in receipts) == [False, True]
    assert len(report_by_ref(engine, s.reference)) == 1
    assert (store.load_imports(engine)["filename"] == s.reference).sum() == 1


def test_the_same_words_on_a_new_form_are_a_second_report_flagged_for_review(env):
    # A new form is a new report (its own reference): identical content is flagged for an analyst to
    # merge or keep apart, never merged without a person deciding.
    s, first = send(env, what_was_seen="Synthetic: the same words twice.")
    again = replace(s, token=sm.new_token())
    receipt = sm.submit(env["engine"], env["users"]["school.lead"], again, gazetteer=env["gaz"], today=TODAY)
    assert receipt.status == "located" and receipt.reference != first.reference
    second = report_by_ref(env["engine"], receipt.reference)
    assert len(second) == 1
    with env["engine"].connect() as conn:
        flags = pd.read_sql(sa.select(store.duplicate_flags), conn)
    pair = (flags["report_id"] == int(second["id"].iloc[0])) & (
        flags["resembles_report_id"] == first.report_id
    )
    assert pair.sum() == 1 and (flags.loc[pair, "status"] == "open").all()


# --- Who sees what -------------------------------------------------------------------------------------


def test_a_contributor_lists_only_their_own_submissions(env):
    engine = env["engine"]
    _s, mine = send(env, user="school.lead")
    _t, theirs = send(env, user="youth.worker", what_was_seen="Synthetic: from the youth project.")
    school = sm.my_submissions(engine, env["users"]["school.lead"])
    youth = sm.my_submissions(engine, env["users"]["youth.worker"])
    assert mine.reference in set(school["reference"]) and theirs.reference not in set(school["reference"])
    assert set(youth["reference"]) == {theirs.reference}
    assert (
        youth.iloc[0]["status"] == "located" and youth.iloc[0]["status_label"] == sm.STATUS_LABELS["located"]
    )
    assert list(youth.columns) == [
        "reference",
        "sent_at",
        "seen_on",
        "place_type",
        "concerns",
        "status",
        "status_label",
    ]

    # Another account's form token cannot be used to read its receipt.
    other = form(token=_t.token)
    with pytest.raises(sm.SubmissionInvalid) as err:
        sm.submit(engine, env["users"]["school.lead"], other, gazetteer=env["gaz"], today=TODAY)
    assert list(err.value.errors) == ["token"]


def test_the_contributor_role_grants_submitting_and_nothing_else(env):
    contributor = env["users"]["school.lead"]
    assert auth.parse_roles("contributor") == ("contributor", False)
    assert auth.parse_roles("admin,contributor") == ("contributor", True)
    with pytest.raises(ValueError, match="only one data role"):
        auth.parse_roles("contributor,partner")
    assert [c for c in auth.CAPABILITIES if contributor.can(c)] == ["submit"]
    for capability in ("view_map", "view_aggregates", "view_reports", "view_narratives", "export_partner"):
        with pytest.raises(auth.NotPermitted, match="may not"):
            auth.require(contributor, capability)
    with pytest.raises(PermissionError):
        casework.view_reports(env["engine"], [1, 2], contributor, target="h3:test")
    for role in ("police", "analyst"):
        assert auth.can(role, "submit")
    # SSO: a person in a contributor group and a partner group gets the smaller role.
    mapping = auth.validate_sso_mapping({"groups": {"g-partner": "partner", "g-share": "contributor"}})
    assert (
        auth.role_from_claims(
            {"preferred_username": "x@example.org", "groups": ["g-partner", "g-share"]}, mapping
        )
        == "contributor"
    )


def test_accounts_without_submit_are_refused_by_every_entry_point(env):
    engine, partner = env["engine"], env["users"]["partner.one"]
    for call in (
        lambda u: sm.submit(engine, u, form(), gazetteer=env["gaz"], today=TODAY),
        lambda u: sm.my_submissions(engine, u),
        lambda u: sm.preview(u, form(), gazetteer=env["gaz"]),
        lambda u: sm.search_places(u, env["index"], "bus station"),
        lambda u: sm.save_draft(engine, u, {"what": "x"}),
        lambda u: sm.load_draft(engine, u),
    ):
        with pytest.raises(auth.NotPermitted):
            call(partner)
        with pytest.raises(auth.NotPermitted, match="sign in first"):
            call(None)


def test_police_can_share_and_carry_their_own_agency(env):
    _s, receipt = send(env, user="pc.one", what_was_seen="Synthetic: seen on patrol.")
    row = report_by_ref(env["engine"], receipt.reference).iloc[0]
    assert (row["agency"], row["agency_type"]) == ("Police", "police")


# --- Type-ahead and drafts ----------------------------------------------------------------------------


def test_typing_part_of_a_name_finds_the_place_first(env):
    user = env["users"]["school.lead"]
    options = sm.search_places(user, env["index"], "bus stat darl")
    assert options[0].kind == "place" and options[0].label.startswith(DEMO_PLACE)
    assert "Transport hub" in options[0].label
    assert options[0].fields["place_name"] == DEMO_PLACE and options[0].place_type == "transport_hub"
    postcodes = sm.search_places(user, env["index"], "dh1 1a")
    assert postcodes and all(
        o.kind == "postcode" and o.fields["postcode"].startswith("DH1 1A") for o in postcodes
    )
    streets = sm.search_places(user, env["index"], "north road")
    assert streets[0].kind == "street" and streets[0].label.startswith("North Road, ")
    assert sm.search_places(user, env["index"], "a") == []
    # One slip is forgiven; words that start nothing in the area find nothing (no wild guesses).
    assert sm.search_places(user, env["index"], "Darlingtn bus")[0].label.startswith(DEMO_PLACE)
    assert sm.search_places(user, env["index"], "behind the old quarry huts") == []


def test_places_analysts_added_are_not_offered_to_reporters(env, tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'places.sqlite'}")
    secret = {
        "place_id": "user:flat-above-shop",
        "name": "Flat above the synthetic vape shop",
        "place_type": "residential_street",
        "latitude": DURHAM[0],
        "longitude": DURHAM[1],
        "locality": "Elvet",
        "postcode_district": "DH1",
        "source": "analyst",
    }
    with engine.begin() as conn:
        store.upsert_places(conn, pd.DataFrame([secret]))
    index = sm.gazetteer_index(engine, env["gaz"])
    labels = [o.label for o in sm.search_places(env["users"]["school.lead"], index, "flat above synthetic")]
    assert not any("vape" in label for label in labels)


def test_a_draft_is_kept_per_account_until_the_form_is_sent(env):
    engine = env["engine"]
    school, youth = env["users"]["school.lead"], env["users"]["youth.worker"]
    draft = {"token": sm.new_token(), "what_was_seen": "Synthetic half-typed note", "concerns": ["cse"]}
    sm.save_draft(engine, school, draft)
    assert sm.load_draft(engine, school) == draft
    assert sm.load_draft(engine, youth) is None
    sm.save_draft(engine, school, {**draft, "what_was_seen": "changed"})
    assert sm.load_draft(engine, school)["what_was_seen"] == "changed"
    send(env, user="school.lead")
    assert sm.load_draft(engine, school) is None


def test_a_text_typed_without_choosing_a_suggestion_still_goes_through_the_cascade():
    assert sm.where_from_text("dh1 1ab") == {"postcode": "DH1 1AB", "location_text": "dh1 1ab"}
    assert sm.where_from_text("Wharton Park") == {
        "place_name": "Wharton Park",
        "location_text": "Wharton Park",
    }
    assert sm.where_from_text("  ") == {}


def test_an_administrator_sets_the_agency_from_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from hoth_geo.cli import app

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    engine = store.connect(url)
    auth.add_user(engine, "nurse.one", PASSWORD, "contributor")
    runner = CliRunner()
    args = ["users", "set-agency", "nurse.one", "--agency", "Example School Nursing (fictional)"]
    ok = runner.invoke(app, [*args, "--agency-type", "health", "--contact", "07700 900000", "--db", url])
    assert ok.exit_code == 0, ok.output
    assert "nurse.one shares as Example School Nursing (fictional) (health)" in ok.output
    user = auth.get_user(engine, "nurse.one")
    assert sm.account_agency(engine, user) == sm.AccountAgency(
        "Example School Nursing (fictional)", "health", "07700 900000"
    )
    bad = runner.invoke(app, [*args, "--agency-type", "nursing", "--db", url])
    assert bad.exit_code == 2 and "agency_type must be one of school, health" in bad.output
    missing = runner.invoke(
        app, ["users", "set-agency", "nobody", "--agency", "X", "--agency-type", "health", "--db", url]
    )
    assert missing.exit_code == 2 and "'nobody' does not exist" in missing.output
    assert audit.load_audit(engine, event="account_agency_set")["target"].tolist() == ["nurse.one"]


def test_a_typed_grid_reference_is_offered_and_placed_as_the_square_it_names(env):
    """An officer who types an OS grid reference is offered it, as wide as its square, and the report is
    placed where the preview said: the same square the import reads from a file."""
    user = env["users"]["school.lead"]
    (option, *_rest) = sm.search_places(user, env["index"], "nz27374209")
    assert option.kind == "grid reference" and option.label == "NZ 2737 4209 — grid reference, within 10 m"
    assert option.fields == {"location_text": "NZ 2737 4209"}
    kilometre = sm.search_places(user, env["index"], "NZ 27 42")[0]
    assert kilometre.label.endswith("within 707 m")
    assert sm.where_from_text("nz 2737 4209") == {"location_text": "NZ 2737 4209"}
    assert sm.where_from_text("54.77630, -1.57540") == {"location_text": "54.77630, -1.57540"}
    assert all(o.kind != "grid reference" for o in sm.search_places(user, env["index"], "DL1 4"))

    s = form(place_name=None, postcode=None, location_text="NZ 2737 4209")
    seen = sm.preview(user, s, engine=env["engine"], gazetteer=env["gaz"], today=TODAY)
    assert (seen.method, seen.precision_m) == ("coordinates_bng", 10.0)
    assert (seen.latitude, seen.longitude) == pytest.approx((option.latitude, option.longitude))
    receipt = sm.submit(env["engine"], user, s, gazetteer=env["gaz"], today=TODAY)
    row = report_by_ref(env["engine"], receipt.reference).iloc[0]
    assert (row["easting"], row["northing"], row["precision_m"]) == (427370.0, 542090.0, 10.0)
