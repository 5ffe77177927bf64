"""Sharing rules: policies, resolution limit, small-number suppression (primary and secondary) against a
back-calculation attack, total rounding, formula neutralisation and report-row redaction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hoth_geo import settings
from hoth_geo.access.privacy import (
    AUDIENCES,
    SECONDARY_MARK,
    WITHHELD_TOTAL,
    NotAllowed,
    SharingPolicy,
    check_resolution,
    hide_private_names,
    is_suppressed,
    mask_vehicle_registrations,
    neutralise_formula,
    neutralise_frame,
    policy_for,
    redact_reports,
    resolution_note,
    round_total,
    strip_controls,
    suppress_counts,
)

PARTNER = policy_for("partner")
PUBLIC = policy_for("public")
POLICE = policy_for("police")
PAYLOADS = ['=HYPERLINK("http://example.invalid","click")', "+cmd", "-1+1", "@SUM(A1)", "\t=1", "\r=1"]


# --- Policies ----------------------------------------------------------------------------------------------


def test_standard_policies_share_what_each_audience_may_see():
    assert AUDIENCES == ("police", "partner", "public")
    assert (POLICE.show_rows, POLICE.show_narratives, POLICE.show_grading, POLICE.show_private_names) == (
        True,
        True,
        True,
        True,
    )
    assert (PARTNER.show_rows, PARTNER.show_narratives, PARTNER.show_grading) == (False, False, False)
    assert PARTNER.show_private_names and not PUBLIC.show_private_names
    assert not POLICE.suppresses and PARTNER.suppresses and PUBLIC.suppresses
    assert PARTNER.k == 5 and PARTNER.coarsest_res == 8 and PARTNER.marking == "OFFICIAL-SENSITIVE"
    assert PUBLIC.marking == "OFFICIAL"
    assert POLICE.coarsest_res == settings.FINE_H3_RES
    custom = policy_for("partner", k=10, coarsest_res=7, marking="OFFICIAL")
    assert (custom.k, custom.coarsest_res, custom.marking, custom.small) == (10, 7, "OFFICIAL", "<10")


def test_policy_validation_names_the_argument_and_value():
    with pytest.raises(ValueError, match="audience.*'press'"):
        policy_for("press")
    with pytest.raises(ValueError, match="k must be an integer >= 2, got 1"):
        policy_for("partner", k=1)
    with pytest.raises(ValueError, match="coarsest_res.*got 12"):
        policy_for("public", coarsest_res=12)
    with pytest.raises(ValueError, match="show_narratives=True is not allowed for audience 'partner'"):
        SharingPolicy("partner", show_narratives=True)
    with pytest.raises(ValueError, match="show_private_names"):
        SharingPolicy("public", show_private_names=True)
    # A hand-built policy shares nothing by default.
    bare = SharingPolicy("police")
    assert not (bare.show_rows or bare.show_narratives or bare.show_grading or bare.show_private_names)


def test_partner_resolution_is_coarsened_with_a_note():
    assert check_resolution(10, PARTNER) == 8
    assert check_resolution(7, PARTNER) == 8  # one resolution for partners: no coarser one either
    assert check_resolution(10, POLICE) == 10
    assert "resolution 8, not the 10 requested" in resolution_note(10, PUBLIC)
    assert resolution_note(8, PARTNER) is None
    with pytest.raises(ValueError, match="res must be an H3 resolution 0..11, got 12"):
        check_resolution(12, POLICE)


# --- Primary and secondary suppression -------------------------------------------------------------------


def test_primary_suppression_keeps_zero_and_large_counts():
    table = pd.DataFrame({"hex": list("abcdefg"), "count": [0, 1, 4, 5, 17, 2, 3]})
    out = suppress_counts(table, ["count"], PARTNER, totals={})  # no published total: primary only
    assert out.table["count"].tolist() == [0, "<5", "<5", 5, 17, "<5", "<5"]
    assert table["count"].tolist() == [0, 1, 4, 5, 17, 2, 3]  # the input is not changed
    police = suppress_counts(table, ["count"], POLICE)
    assert police.table["count"].tolist() == table["count"].tolist()
    assert police.totals == {"count": 32}


def test_worked_example_one_small_cell_takes_the_next_smallest_with_it():
    # The example in docs/sharing-and-exports.md.
    table = pd.DataFrame({"place": ["A", "B", "C", "D"], "reports": [12, 9, 3, 7]})
    out = suppress_counts(table, "reports", PARTNER)
    assert out.table["reports"].tolist() == [12, 9, "<5", SECONDARY_MARK]
    assert out.totals == {"reports": 30}  # 31 rounded to the nearest 5
    # The mask says which rows are withheld, for blanking their other columns.
    assert out.suppressed["reports"].tolist() == [False, False, True, True]
    assert out.hidden().tolist() == out.hidden(["reports"]).tolist() == [False, False, True, True]


def test_suppressed_cells_must_sum_to_k():
    # Two suppressed 2s sum to 4 < 5: a reader knowing the total learns they sum to 4, so (1,3), (2,2)
    # or (3,1) — and at k=5 that is too little; the 9 is withheld too.
    table = pd.DataFrame({"n": [2, 2, 9, 30]})
    assert suppress_counts(table, "n", PARTNER).table["n"].tolist() == ["<5", "<5", SECONDARY_MARK, 30]


def test_group_totals_protect_each_group():
    table = pd.DataFrame(
        {"type": ["hotel"] * 3 + ["park"] * 3 + ["shop"] * 2, "n": [20, 3, 8, 11, 12, 13, 0, 6]}
    )
    out = suppress_counts(table, "n", PARTNER, group_cols="type", totals={"n": "groups"})
    # hotel: the 3 alone would be 31 - 20 - 8; with the 8 withheld too they sum to 11, and the 3 could
    # be 1..4 (the 8 being 7..10). park has nothing to protect; shop's 0 is not disclosive.
    assert out.table["n"].tolist() == [20, "<5", SECONDARY_MARK, 11, 12, 13, 0, 6]
    assert out.group_totals["n"] == {"hotel": 30, "park": 35, "shop": 5}
    # The grand total as well (the default with group_cols): nothing more is needed here.
    both = suppress_counts(table, "n", PARTNER, group_cols="type")
    assert both.table["n"].tolist() == out.table["n"].tolist() and both.totals == {"n": 75}


def test_a_group_that_cannot_be_protected_withholds_its_total():
    table = pd.DataFrame({"n": [1, 1, 1, 1, 1]})
    out = suppress_counts(table, "n", PARTNER)
    assert out.table["n"].tolist() == ["<5"] * 5
    # With a total of 5 over five suppressed cells every cell must be 1: the total is withheld.
    assert out.totals == {"n": WITHHELD_TOTAL}


def test_suppress_counts_validation():
    table = pd.DataFrame({"n": [1, 2], "g": ["a", "b"]})
    with pytest.raises(ValueError, match="count_cols: column 'reports' is not in the table"):
        suppress_counts(table, ["reports"], PARTNER)
    with pytest.raises(ValueError, match=r"totals\['n'\] must be one of .*got 'all'"):
        suppress_counts(table, ["n"], PARTNER, totals={"n": "all"})
    with pytest.raises(ValueError, match="needs group_cols"):
        suppress_counts(table, ["n"], PARTNER, totals={"n": "groups"})
    with pytest.raises(ValueError, match="whole numbers >= 0, got -1"):
        suppress_counts(pd.DataFrame({"n": [3, -1]}), ["n"], PARTNER)
    with pytest.raises(ValueError, match="policy must be a SharingPolicy"):
        suppress_counts(table, ["n"], "partner")


def _feasible_values(published: list, total: int, k: int) -> list[set[int]]:
    """The attacker: every value each suppressed cell could hold, given the published cells, the exact
    total and the rule (a '<k' cell is 1..k-1; a '[c]' cell is >= k and no larger than the smallest
    count still shown). Solved by subset sums, independently of the code under test."""
    shown = [v for v in published if not is_suppressed(v)]
    residual = total - sum(shown)
    top = min([v for v in shown if v > 0], default=residual)
    ranges = [range(1, k) if v.startswith("<") else range(k, top + 1) for v in published if is_suppressed(v)]
    feasible = []
    for i, r in enumerate(ranges):
        sums = {0}
        for j, other in enumerate(ranges):
            if j != i:
                sums = {s + v for s in sums for v in other if s + v <= residual}
        feasible.append({v for v in r if residual - v in sums})
    return feasible


def test_back_calculation_by_subtraction_fails_on_random_tables():
    rng = np.random.default_rng(20250403)
    attempts = 0
    for _ in range(400):
        n = int(rng.integers(2, 9))
        # Mostly small counts, as on a fine map or a list of places: where suppression matters.
        counts = np.where(rng.random(n) < 0.5, rng.integers(0, 5, n), rng.integers(5, 25, n))
        table = pd.DataFrame({"n": counts})
        out = suppress_counts(table, "n", PARTNER)
        published = out.table["n"].tolist()
        if out.totals["n"] == WITHHELD_TOTAL or not any(map(is_suppressed, published)):
            continue
        # Worst case: the reader knows the exact total, not just the rounded one.
        feasible = _feasible_values(published, int(counts.sum()), PARTNER.k)
        hidden = [int(c) for c, v in zip(counts, published, strict=True) if is_suppressed(v)]
        for true, values in zip(hidden, feasible, strict=True):
            attempts += 1
            assert true in values, "the attacker model must admit the truth"
            assert len(values) >= 2, (
                f"recovered a suppressed {true} from {published} with total {counts.sum()}"
            )
        assert sum(map(is_suppressed, published)) >= 2
        assert sum(hidden) >= PARTNER.k
    assert attempts > 300


def test_without_secondary_suppression_the_attack_succeeds():
    # The same attacker recovers the value when only primary suppression is applied.
    table = pd.DataFrame({"n": [12, 9, 3, 7]})
    published = suppress_counts(table, "n", PARTNER, totals={}).table["n"].tolist()
    assert _feasible_values(published, 31, 5) == [{3}]


# --- Totals -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(0, 0), (1, "<5"), (4, "<5"), (5, 5), (7, 5), (8, 10), (12, 10), (13, 15), (412, 410)]
)
def test_round_total_for_partners(n, expected):
    assert round_total(n, PARTNER) == expected


def test_round_total_is_exact_for_police_and_validates():
    assert round_total(3, POLICE) == 3 and round_total(412, POLICE) == 412
    with pytest.raises(ValueError, match="n must be a count.*-3"):
        round_total(-3, PARTNER)
    with pytest.raises(ValueError, match="n must be a count.*2.5"):
        round_total(2.5, PARTNER)


# --- Spreadsheet-safe text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payloads_get_an_apostrophe(payload):
    assert neutralise_formula(payload) == "'" + payload


def test_numbers_and_plain_text_are_unchanged():
    for value in (-1, 3.5, 0, None, "Hotel A", "5 reports", "'already"):
        assert neutralise_formula(value) == value


def test_strip_controls_keeps_layout_characters():
    assert strip_controls("a\x00b\x1b[31mc\u202ed\x7f") == "ab[31mcd"
    assert strip_controls("line one\nline two\tcol") == "line one\nline two\tcol"
    assert strip_controls(5) == 5


def test_neutralise_frame_covers_cells_and_headers():
    df = pd.DataFrame({"=bad": PAYLOADS, "n": range(len(PAYLOADS))})
    out = neutralise_frame(df)
    assert list(out.columns) == ["'=bad", "n"]
    assert all(v.startswith("'") for v in out["'=bad"])
    assert out["n"].tolist() == list(range(len(PAYLOADS)))


def test_vehicle_registrations_are_masked_and_postcodes_are_not():
    text = "Silver car AB12 CDE, then ab12cde; older A123 BCD and ABC 123D. Seen near DH1 1AB at 10pm."
    masked = mask_vehicle_registrations(text)
    assert masked.count("[vehicle registration]") == 4
    assert "DH1 1AB" in masked and "10pm" in masked


# --- Rows and names -------------------------------------------------------------------------------------------


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2],
            "narrative": ["SYNTHETIC: seen getting into AB12 CDE", "SYNTHETIC: at the park"],
            "child_ref": ["DEMO-C0001", "DEMO-C0002"],
            "grading_source": ["1", "2"],
            "grading_information": ["A", "B"],
            "grading_handling": ["P", "P"],
            "place_type": ["park", "hotel"],
        }
    )


@pytest.mark.parametrize("audience", ["partner", "public"])
def test_report_rows_are_refused_outside_the_police(audience):
    with pytest.raises(NotAllowed, match=audience):
        redact_reports(_rows(), policy_for(audience))


def test_police_rows_keep_narratives_unless_the_policy_hides_them():
    full = redact_reports(_rows(), POLICE)
    assert full["narrative"].iloc[0] == "SYNTHETIC: seen getting into AB12 CDE"  # police see registrations
    assert "child_ref" in full and "grading_source" in full
    briefing = SharingPolicy("police", show_rows=True)
    lean = redact_reports(_rows(), briefing)
    assert not {"narrative", "child_ref", "grading_source", "grading_information", "grading_handling"} & set(
        lean
    )


def test_public_sees_private_names_withheld():
    places = pd.DataFrame(
        {
            "name": ["Hotel A, Durham (demo)", "Public park (demo)", "Chips (demo)", "Mystery"],
            "place_type": ["hotel", "park", "takeaway", None],
        }
    )
    shown = hide_private_names(places, PUBLIC)["name"].tolist()
    assert shown == [
        "Hotel / B&B (name withheld)",
        "Public park (demo)",
        "Takeaway / fast food (name withheld)",
        "Place (name withheld)",
    ]
    assert hide_private_names(places, PARTNER)["name"].tolist() == places["name"].tolist()


# --- Cell-key perturbation ---------------------------------------------------------------------------------


def test_ptable_rows_are_unbiased_bounded_and_never_cross_the_threshold():
    from hoth_geo.access.privacy import CELL_KEY_MODULUS, PTABLE_MAX_NOISE, ptable

    for count in range(PARTNER.k, PARTNER.k + 40):
        row = ptable(count, PARTNER.k)
        assert len(row) == CELL_KEY_MODULUS
        assert row.mean() == 0
        assert np.abs(row).max() <= PTABLE_MAX_NOISE
        assert (count + row >= PARTNER.k).all()
    assert set(ptable(PARTNER.k, PARTNER.k)) == {0}
    assert ptable(100, PARTNER.k).var() == pytest.approx(1.2109375)


def test_disclose_counts_suppresses_then_perturbs_with_fixed_keys():
    from hoth_geo.access.privacy import disclose_counts, disclose_total

    table = pd.DataFrame({"count": [0, 1, 4, 5, 17, 40, 3, 12]})
    keys = np.array([0, 9, 200, 31, 77, 128, 255, 64])
    first = disclose_counts(table, ["count"], PARTNER, keys=keys)
    again = disclose_counts(table, ["count"], PARTNER, keys=keys)
    assert first.table["count"].tolist() == again.table["count"].tolist()  # the same cell, the same answer
    shown = first.table["count"].tolist()
    assert shown[0] == 0 and shown[1] == shown[2] == shown[6] == "<5"
    for value, true in zip(shown, table["count"], strict=True):
        if not is_suppressed(value) and true:
            assert value >= 5 and abs(value - true) <= 2
    # Another key for one cell can change its noise: the noise follows the records, not the count.
    other = disclose_counts(table, ["count"], PARTNER, keys=(keys + 100) % 256).table["count"].tolist()
    assert other != shown
    assert isinstance(first.totals["count"], int) and first.totals["count"] % 5 == 0
    assert disclose_counts(table, ["count"], POLICE).table["count"].tolist() == table["count"].tolist()
    assert disclose_total(3, 17, PARTNER) == "<5" and disclose_total(0, 17, PARTNER) == 0
    with pytest.raises(ValueError, match="cell keys"):
        disclose_counts(table, ["count"], PARTNER)


def test_record_keys_come_from_the_secret_outside_the_database(monkeypatch, tmp_path):
    from hoth_geo.access import privacy

    frame = pd.DataFrame({"id": [1, 2, 3, 4]})
    monkeypatch.setenv(privacy.DISCLOSURE_KEY_ENV, "one secret")
    one = privacy.record_keys(frame)
    assert ((one >= 0) & (one < 256)).all() and (privacy.record_keys(frame) == one).all()
    monkeypatch.setenv(privacy.DISCLOSURE_KEY_ENV, "another secret")
    assert (privacy.record_keys(frame) != one).any()
    # Without the variable: a 0600 file under var/, made once and then reused.
    monkeypatch.delenv(privacy.DISCLOSURE_KEY_ENV)
    monkeypatch.setattr(settings, "VAR_DIR", tmp_path)
    first = privacy.record_keys(frame)
    path = tmp_path / privacy.DISCLOSURE_KEY_FILE
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    assert (privacy.record_keys(frame) == first).all()


def test_partner_filters_are_whole_months_and_coarse_dimensions():
    from datetime import date

    from hoth_geo.access.privacy import partner_filters
    from hoth_geo.selection import ReportFilter

    f = ReportFilter(date_from=date(2026, 3, 14), date_to=date(2026, 3, 15), concerns=("cse",))
    widened = partner_filters(f, PARTNER)
    assert (widened.date_from, widened.date_to, widened.concerns) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
        ("cse",),
    )
    assert partner_filters(f, POLICE) is f
    for bad in (
        {"indicators": ("unknown_adults",)},
        {"agencies": ("X",)},
        {"agency_types": ("police",)},
        {"grading_information": ("A",)},
    ):
        with pytest.raises(NotAllowed, match=f"filter \\({next(iter(bad))}="):
            partner_filters(ReportFilter(**bad), PUBLIC)
