"""The geocoding gold set (benchmarks/geocode_gold.py) on a smaller sample: the rules, not the speed.

Names the gazetteer holds once are placed at their truth whatever the case, abbreviation, one-letter
typo or town qualifier; names it does not hold, and streets in several towns with no town given,
all go to Review; nothing confident is ever more than a kilometre from the truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_geocode import canonical  # noqa: E402
from geocode_gold import build_gold, score  # noqa: E402

from hoth_geo.intake.gazetteer import load_gazetteer  # noqa: E402
from hoth_geo.intake.geocode import geocode  # noqa: E402


@pytest.fixture(scope="module")
def scored():
    gaz = load_gazetteer()
    gold = build_gold(gaz, seed=7, n_places=60, n_streets=80)
    result = geocode(canonical(gold), gaz)
    figures, rows = score(gold, result.located)
    return figures, rows, result


def test_the_sample_covers_every_kind_of_variant(scored):
    _, rows, _ = scored
    assert len(rows) >= 500
    assert set(rows["variant"]) >= {
        "place exact",
        "place case",
        "place typo",
        "place + town in location",
        "street abbreviation",
        "street typo",
        "street in several towns + town",
        "place type not in that town",
        "street in another town",
        "invented street",
        "street in several towns, named like a town",
    }


def test_unique_names_are_placed_at_their_truth(scored):
    figures, rows, _ = scored
    assert figures.top1_unique >= 0.95
    for variant, group in rows[rows["kind"] == "unique"].groupby("variant"):
        assert group["correct"].mean() >= 0.9, variant


def test_names_that_do_not_exist_or_are_ambiguous_go_to_review_with_a_reason(scored):
    figures, rows, result = scored
    assert figures.review_nonexistent >= 0.95 and figures.review_ambiguous >= 0.95
    reasons = result.quarantine.set_index("row_number")["reason"]
    elsewhere = rows[(rows["variant"] == "street in another town") & ~rows["located"]]
    assert all("is not known in" in reasons[r] for r in elsewhere["row_number"])


def test_no_confident_result_is_more_than_a_kilometre_out(scored):
    figures, _, _ = scored
    assert figures.far_confident == 0
