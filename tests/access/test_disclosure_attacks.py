"""A hostile partner's differencing attacks and message leaks, run on the demo data through the paths a
partner (or a police user making a partner export) really has: the export functions, the export
command and the app's pages. Each attack recovered exact small counts before cell-key perturbation,
one partner resolution, month-level dates and the coarse partner filters; none does now."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hoth_geo.access import privacy
from hoth_geo.access.privacy import NotAllowed, is_suppressed, policy_for
from hoth_geo.analysis.hotspots import TooFewReports, hotspots
from hoth_geo.deliver.exports import export_hexes, shareable_hexes
from hoth_geo.hexes import cells_to_parent
from hoth_geo.selection import ReportFilter, filter_mask, located

PARTNER = policy_for("partner")
K = PARTNER.k
FIXED_KEY = "a fixed disclosure key for the tests"


@pytest.fixture(autouse=True)
def _fixed_disclosure_key(monkeypatch):
    # A known secret, so each run perturbs the same way (a deployment keeps its own in var/).
    monkeypatch.setenv(privacy.DISCLOSURE_KEY_ENV, FIXED_KEY)


@pytest.fixture(scope="module")
def reports(demo_store):
    return demo_store.reports


def _truth(reports, res: int, filters) -> pd.Series:
    """The exact located-report count per hexagon, as only the police may see it."""
    keep = filter_mask(reports, filters) & located(reports, res)
    return pd.Series(cells_to_parent(reports["h3"].to_numpy()[keep], res)).value_counts()


def _shown(table: pd.DataFrame) -> dict[int, object]:
    return dict(zip(table["h3"].astype(np.int64), table["count"], strict=True))


def _small_recovered(guesses: dict[int, int], truth: pd.Series) -> int:
    """How many guesses name a hidden small count (1..k-1) exactly."""
    return sum(1 for cell, guess in guesses.items() if 1 <= truth.get(cell, 0) < K and guess == truth[cell])


# --- 1. Resolution: a res-7 hexagon minus its shown res-8 children -----------------------------------------


def _resolution_attack(coarse: dict, fine: dict) -> dict[int, int]:
    """For each coarse hexagon with one hidden child and a shown count: the child = parent - the rest."""
    children: dict[int, list[int]] = {}
    for cell in fine:
        parent = int(cells_to_parent(np.array([cell], dtype=np.int64), 7)[0]) if cell else 0
        children.setdefault(parent, []).append(cell)
    guesses = {}
    for parent, value in coarse.items():
        kids = children.get(parent, [])
        if is_suppressed(value) or not kids or parent in fine:
            continue
        hidden = [c for c in kids if is_suppressed(fine[c])]
        if len(hidden) == 1:
            guesses[hidden[0]] = int(value) - sum(int(fine[c]) for c in kids if c != hidden[0])
    return guesses


def test_resolution_attack_has_no_input_on_the_export_path(reports):
    coarse = shareable_hexes(reports, 7, None, PARTNER)
    fine = shareable_hexes(reports, 8, None, PARTNER)
    # One partner resolution: asking for res 7 gives res 8 again, so there is no parent to subtract from.
    assert coarse.res == fine.res == 8 and coarse.res_requested == 7
    guesses = _resolution_attack(_shown(coarse.table), _shown(fine.table))
    assert _small_recovered(guesses, _truth(reports, 8, None)) == 0


def test_resolution_attack_on_perturbed_counts_recovers_nothing_certain(reports):
    """Even given a res-7 table (as if another route published one), the perturbed counts do not give the
    hidden child back: most guesses are wrong, and a guess cannot be told from a wrong one."""
    res7 = privacy.hex_counts(reports, 7)
    res8 = privacy.hex_counts(reports, 8)
    coarse = privacy.disclose_counts(res7, ["count"], PARTNER, keys="cell_key").table
    fine = privacy.disclose_counts(res8, ["count"], PARTNER, keys="cell_key").table
    guesses = _resolution_attack(_shown(coarse), _shown(fine))
    truth = _truth(reports, 8, None)
    targets = {c: g for c, g in guesses.items() if 1 <= truth.get(c, 0) < K}
    assert len(targets) >= 20  # the attack has plenty of material on the demo data
    right = _small_recovered(targets, truth)
    assert right / len(targets) < 0.5, (right, len(targets))
    # The guess is the truth plus the noise of the parent and every shown child: its spread is wide.
    errors = [g - truth[c] for c, g in targets.items()]
    assert len(set(errors)) >= 5
    # And guesses outside 1..k-1 show the reader the answer is not exact (a bare subtraction never is).
    assert any(not 1 <= g < K for g in targets.values())


def test_without_perturbation_the_resolution_attack_recovers_hidden_children(reports):
    """The attack is real: on suppression alone (what partners received before) it recovers them all."""
    # Reports precise enough for both resolutions, so that each res-7 count is the sum of its res-8
    # children (a report too coarse for a res-8 hexagon but not for res 7 would spoil a subtraction).
    reports = reports[located(reports, 8)]
    res7 = privacy.hex_counts(reports, 7)
    res8 = privacy.hex_counts(reports, 8)
    coarse = privacy.suppress_counts(res7, ["count"], PARTNER).table
    fine = privacy.suppress_counts(res8, ["count"], PARTNER).table
    guesses = _resolution_attack(_shown(coarse), _shown(fine))
    truth = _truth(reports, 8, None)
    targets = {c: g for c, g in guesses.items() if 1 <= truth.get(c, 0) < K}
    assert len(targets) >= 20 and _small_recovered(targets, truth) == len(targets)


# --- 2. Date shift: the same export with the end date one day later ------------------------------------------


def _day_attack(before: dict, after: dict) -> dict[int, int]:
    return {
        cell: int(after[cell]) - int(before.get(cell, 0))
        for cell in after
        if not is_suppressed(after[cell]) and not is_suppressed(before.get(cell, 0))
    }


@pytest.mark.parametrize("day", [date(2026, 3, 14), date(2026, 7, 9), date(2026, 1, 22)])
def test_shifting_the_end_date_by_a_day_gives_nothing(reports, day):
    start = date(2025, 11, 1)
    before = shareable_hexes(reports, 8, ReportFilter(date_from=start, date_to=day), PARTNER).table
    after = shareable_hexes(
        reports, 8, ReportFilter(date_from=start, date_to=day + timedelta(days=1)), PARTNER
    ).table
    # Dates are whole months for partners: both selections are the same months, so the same answer.
    pd.testing.assert_frame_equal(before, after)
    one_day = ReportFilter(date_from=day + timedelta(days=1), date_to=day + timedelta(days=1))
    truth = _truth(reports, 8, one_day)
    guesses = _day_attack(_shown(before), _shown(after))
    assert _small_recovered(guesses, truth) == 0
    assert all(g == 0 for g in guesses.values())


def test_shifting_by_a_whole_month_gives_perturbed_differences(reports):
    """Across a month boundary the difference is a month of reports, each side perturbed on its own."""
    start = date(2025, 11, 1)
    before = _shown(
        shareable_hexes(reports, 8, ReportFilter(date_from=start, date_to=date(2026, 8, 31)), PARTNER).table
    )
    after = _shown(
        shareable_hexes(reports, 8, ReportFilter(date_from=start, date_to=date(2026, 9, 30)), PARTNER).table
    )
    truth = _truth(reports, 8, ReportFilter(date_from=date(2026, 9, 1), date_to=date(2026, 9, 30)))
    guesses = _day_attack(before, after)
    targets = {c: g for c, g in guesses.items() if 1 <= truth.get(c, 0) < K}
    assert targets
    assert _small_recovered(targets, truth) / len(targets) < 0.6


# --- 3. All reports minus one grading ------------------------------------------------------------------------


def test_grading_is_not_a_partner_filter_so_the_attack_has_no_input(reports):
    graded = ReportFilter(grading_sources=("2", "3"))
    with pytest.raises(NotAllowed, match="grading"):
        shareable_hexes(reports, 8, graded, PARTNER)
    with pytest.raises(NotAllowed, match="grading"):
        export_hexes(reports, 8, graded, PARTNER, fmt="csv")
    with pytest.raises(NotAllowed, match="reporting agency"):
        shareable_hexes(reports, 8, ReportFilter(agencies=("Durham County Council",)), PARTNER)
    with pytest.raises(NotAllowed, match="agency type"):
        shareable_hexes(reports, 8, ReportFilter(agency_types=("education",)), PARTNER)


def test_police_may_still_filter_by_grading(reports):
    police = shareable_hexes(reports, 8, ReportFilter(grading_sources=("2", "3")), policy_for("police")).table
    assert int(police["count"].sum()) < int(
        shareable_hexes(reports, 8, None, policy_for("police")).table["count"].sum()
    )


# --- 4. The message leak -------------------------------------------------------------------------------------


def _tiny_selection(reports) -> tuple[ReportFilter, int]:
    """A one-month, one-place-type selection holding 1..k-1 located reports (as the issue's hotel)."""
    months = reports["observed_at"].dt.to_period("M")
    for month in sorted(months.unique())[::-1]:
        for place_type in ("hotel", "taxi", "petrol_station", "shop", "takeaway"):
            f = ReportFilter(
                date_from=month.start_time.date(), date_to=month.end_time.date(), place_types=(place_type,)
            )
            n = int((filter_mask(reports, f) & located(reports)).sum())
            if 1 <= n < K:
                return f, n
    raise AssertionError("the demo data has no small one-month selection")


def test_too_few_reports_message_never_states_a_small_count(reports):
    f, n = _tiny_selection(reports)
    with pytest.raises(TooFewReports) as caught:
        hotspots(reports, 8, f)
    assert caught.value.n_reports == n  # the police see the exact number
    message = privacy.too_few_message(caught.value, reports, f, PARTNER)
    assert f"fewer than {K}" in message
    assert not re.search(rf"\b{n}\b", message.replace(str(caught.value.minimum), ""))


def test_too_few_reports_message_perturbs_a_larger_count(reports):
    f = ReportFilter(date_from=date(2026, 10, 1), date_to=date(2026, 10, 31), concerns=("weapons",))
    n = int((filter_mask(reports, f) & located(reports)).sum())
    assert K <= n < 30, n
    with pytest.raises(TooFewReports) as caught:
        hotspots(reports, 8, f)
    message = privacy.too_few_message(caught.value, reports, f, PARTNER)
    shown = int(re.search(r"about (\d+) match", message).group(1))
    assert shown % privacy.TOTAL_ROUNDING == 0 and abs(shown - n) <= privacy.PTABLE_MAX_NOISE + 2


def test_export_command_for_partners_does_not_print_the_small_count(reports, demo_store, tmp_path):
    from hoth_geo.cli import app

    f, n = _tiny_selection(reports)
    url = str(demo_store.engine.url)
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--kind",
            "map-png",
            "--map",
            "gistar",
            "--audience",
            "partner",
            "--out",
            str(tmp_path / "m.png"),
            "--from",
            f.date_from.isoformat(),
            "--to",
            f.date_to.isoformat(),
            "--place-type",
            f.place_types[0],
            "--db",
            url,
        ],
    )
    assert result.exit_code == 1, result.output
    assert f"fewer than {K}" in result.output
    assert not re.search(rf"\b{n}\b", result.output.replace("30", "")), result.output
    # A partner export may not select by agency at all (the 'add an agency filter' variant).
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--kind",
            "csv",
            "--audience",
            "partner",
            "--out",
            str(tmp_path / "x.csv"),
            "--agency",
            "Durham County Council",
            "--db",
            url,
        ],
    )
    assert result.exit_code != 0 and "agency" in result.output


def test_the_same_question_always_gets_the_same_answer(reports):
    """Asking again cannot average the noise away: a cell's noise is fixed by its records."""
    f = ReportFilter(concerns=("cce",))
    first = shareable_hexes(reports, 8, f, PARTNER).table
    again = shareable_hexes(reports, 8, f, PARTNER).table
    pd.testing.assert_frame_equal(first, again)
    shown = first["count"][~first["count"].map(is_suppressed)].astype(int)
    truth = _truth(reports, 8, f)
    exact = np.array([truth[c] for c in first["h3"][shown.index]])
    assert (np.abs(shown.to_numpy() - exact) <= privacy.PTABLE_MAX_NOISE).all()
    assert (shown.to_numpy() != exact).mean() > 0.3  # the noise is really there
    assert (shown.to_numpy() >= K).all()


def test_no_module_publishes_a_count_around_the_disclosure_path():
    """suppress_counts and round_total are steps of the path, not outputs: only privacy.py calls them."""
    from pathlib import Path

    package = Path(privacy.__file__).parents[1]  # the whole hoth_geo package
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "privacy.py" and re.search(r"\b(suppress_counts|round_total)\(", path.read_text())
    ]
    assert offenders == []
