"""Time analysis: steps, the space-time cube, Gi* per step, Mann-Kendall, emerging hot spot categories,
period change and time profiles. Statistics are checked against esda, scipy, hotspots.gi_star and direct
O(n^2) references written out here."""

from __future__ import annotations

import itertools
import json
import warnings
from collections import Counter
from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hoth_geo import settings
from hoth_geo.analysis import hotspots, temporal
from hoth_geo.hexes import cells_to_parent
from hoth_geo.selection import ReportFilter

PARK_RES8 = h3.str_to_int("88194650c9fffff")


# --- helpers -----------------------------------------------------------------------------------------
def _disk(cell: int, k: int) -> np.ndarray:
    return np.sort(np.array([h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(cell), k)], dtype=np.int64))


def _fine(cell: int) -> int:
    """A res-11 cell inside ``cell``, as the analysis frame stores one per report."""
    return h3.str_to_int(h3.cell_to_center_child(h3.int_to_str(int(cell)), settings.FINE_H3_RES))


def _frame(
    cells, times, *, time_known=None, time_in_words=None, approx=None, place_id=None, online=None
) -> pd.DataFrame:
    """A minimal analysis frame (the columns temporal reads) from report cells and timestamps."""
    n = len(cells)
    return pd.DataFrame(
        {
            "observed_at": pd.to_datetime(pd.Series(times), format="ISO8601"),
            "time_known": np.ones(n, bool) if time_known is None else np.asarray(time_known, bool),
            "time_in_words": np.zeros(n, bool) if time_in_words is None else np.asarray(time_in_words, bool),
            "date_approximate": np.zeros(n, bool) if approx is None else np.asarray(approx, bool),
            "online": np.zeros(n, bool) if online is None else np.asarray(online, bool),
            "h3": np.array([_fine(c) if c else 0 for c in cells], dtype=np.int64),
            "place_id": pd.Series([None] * n if place_id is None else list(place_id), dtype=object),
        }
    )


def _cube_frame(cube: dict[int, list[int]], starts: pd.DatetimeIndex) -> pd.DataFrame:
    """Reports realising a count cube: counts[t] reports in cell c on day 3 of step t."""
    cells, times = [], []
    for c, series in cube.items():
        for t, n in enumerate(series):
            cells += [c] * int(n)
            times += [starts[t] + pd.Timedelta(days=3, hours=10)] * int(n)
    return _frame(cells, times)


@pytest.fixture(scope="module")
def demo_reports(demo_store) -> pd.DataFrame:
    return demo_store.reports


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((settings.DEMO_DIR / "planted_truth.json").read_text())


# --- time steps -------------------------------------------------------------------------------------
def test_choose_time_step_keeps_10_to_30_steps_for_every_range_of_10_days_or_more():
    start = pd.Timestamp("2020-01-17")
    for days in list(range(10, 400)) + list(range(400, 365 * 29, 37)):
        end = start + pd.Timedelta(days=days - 1)
        step = temporal.choose_time_step(start, end)
        n = len(temporal.step_starts(start, end, step))
        assert temporal.MIN_STEPS <= n <= temporal.MAX_STEPS, (days, step, n)
        # The shortest such step: the previous rung of the ladder would give too many.
        i = temporal.STEP_LADDER.index(step)
        if i:
            assert len(temporal.step_starts(start, end, temporal.STEP_LADDER[i - 1])) > temporal.MAX_STEPS


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [
        ("2024-11-01", "2026-10-31", "MS"),  # the demo: 24 calendar months
        ("2025-01-01", "2025-01-05", "1D"),
        ("2025-01-01", "2025-03-31", "3D"),
        ("2025-01-01", "2025-06-30", "7D"),
        ("2025-01-01", "2025-12-31", "14D"),
        ("2020-01-01", "2026-12-31", "QS"),
        ("2012-01-01", "2026-12-31", "6MS"),
    ],
)
def test_choose_time_step_examples(start, end, step):
    assert temporal.choose_time_step(start, end) == step


def test_step_starts_fixed_steps_end_on_the_last_day_and_calendar_steps_on_month_starts():
    s = temporal.step_starts("2025-01-01", "2025-01-20", "7D")
    assert list(s) == list(pd.to_datetime(["2024-12-31", "2025-01-07", "2025-01-14"]))  # last: 14th..20th
    m = temporal.step_starts("2024-11-15", "2025-02-03", "MS")
    assert list(m) == list(pd.to_datetime(["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01"]))
    q = temporal.step_starts("2024-11-15", "2025-05-03", "QS")
    assert list(q) == list(pd.to_datetime(["2024-10-01", "2025-01-01", "2025-04-01"]))


def test_part_steps_names_the_steps_a_range_covers_only_in_part():
    whole = temporal.part_steps("2024-11-01", "2026-10-31", "MS")
    assert whole == []
    # From the 5th to the 15th: the first and last months are parts, with the days they hold.
    part = temporal.part_steps("2024-11-05", "2026-10-15", "MS")
    assert [(a.date(), b.date(), c.date()) for a, b, c in part] == [
        (date(2024, 11, 1), date(2024, 11, 5), date(2024, 11, 30)),
        (date(2026, 10, 1), date(2026, 10, 1), date(2026, 10, 15)),
    ]
    # Quarters start on Jan/Apr/Jul/Oct: November to October leaves both end quarters in part.
    assert len(temporal.part_steps("2024-11-01", "2026-10-31", "QS")) == 2
    # Fixed-length steps end on the last day: only the first can be a part.
    (only,) = temporal.part_steps("2024-11-05", "2026-10-15", "28D")
    assert only[2].date() < date(2024, 12, 1) and only[1].date() == date(2024, 11, 5)
    assert temporal.part_steps("2024-11-05", "2026-10-15", "28D") == [only]


@pytest.mark.parametrize("step", ["7", "W", "0D", "-1D", "2QS", 7])
def test_step_validation_names_the_argument(step):
    with pytest.raises(ValueError, match="step"):
        temporal.step_starts("2025-01-01", "2025-02-01", step)


def test_range_validation():
    with pytest.raises(ValueError, match="end 2025-01-01 is before start 2025-02-01"):
        temporal.choose_time_step("2025-02-01", "2025-01-01")
    with pytest.raises(ValueError, match="start must be a date"):
        temporal.choose_time_step("not a date", "2025-01-01")


# --- space-time cube --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_reports() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    grid = _disk(PARK_RES8, 3)
    n = 3_000
    cells = rng.choice(grid, n)
    times = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, n), unit="min")
    online = rng.random(n) < 0.05
    cells[online] = 0
    return _frame(cells, times, online=online)


def test_space_time_cube_matches_a_pandas_reference(random_reports):
    cube = temporal.space_time_cube(random_reports, 8, "MS")
    loc = random_reports[random_reports["h3"] != 0]
    ref = pd.crosstab(
        cells_to_parent(loc["h3"].to_numpy(), 8), loc["observed_at"].dt.to_period("M").dt.to_timestamp()
    )
    assert list(cube.step_starts) == list(ref.columns)
    np.testing.assert_array_equal(cube.cells, ref.index.to_numpy())
    np.testing.assert_array_equal(cube.counts, ref.to_numpy())
    assert cube.counts.dtype == np.int64


def test_space_time_cube_zero_fills_the_grid_and_drops_reports_outside_it(random_reports):
    grid = _disk(PARK_RES8, 5)  # wider than the data
    cube = temporal.space_time_cube(random_reports, 8, "14D", grid_cells=grid)
    assert cube.counts.shape == (grid.size, len(cube.step_starts))
    assert cube.counts.sum() == (random_reports["h3"] != 0).sum()
    assert (cube.counts[~np.isin(cube.cells, _disk(PARK_RES8, 3))] == 0).all()
    small = _disk(PARK_RES8, 1)
    inner = temporal.space_time_cube(random_reports, 8, "14D", grid_cells=small)
    parents = cells_to_parent(random_reports["h3"].to_numpy(), 8)
    assert inner.counts.sum() == np.isin(parents, small).sum()


def test_space_time_cube_honours_filter_dates(random_reports):
    f = ReportFilter(date_from=date(2025, 3, 1), date_to=date(2025, 5, 31))
    cube = temporal.space_time_cube(random_reports, 8, "MS", f)
    assert list(cube.step_starts) == list(pd.to_datetime(["2025-03-01", "2025-04-01", "2025-05-01"]))
    t = random_reports["observed_at"]
    expected = ((t >= "2025-03-01") & (t < "2025-06-01") & (random_reports["h3"] != 0)).sum()
    assert cube.counts.sum() == expected


def test_space_time_cube_validation(random_reports):
    with pytest.raises(ValueError, match="grid_cells must all be at res=8"):
        temporal.space_time_cube(
            random_reports, 8, "MS", grid_cells=_disk(PARK_RES8, 1) * 0 + _fine(PARK_RES8)
        )
    with pytest.raises(ValueError, match="res must be"):
        temporal.space_time_cube(random_reports, 16, "MS")
    with pytest.raises(ValueError, match="no located report"):
        temporal.space_time_cube(random_reports.iloc[:0], 8, "MS")


# --- Gi* per step -----------------------------------------------------------------------------------
def _gi_reference(x: np.ndarray, cells: np.ndarray, k: int, window: int, global_window: str) -> np.ndarray:
    """Getis-Ord Gi* written out bin by bin over explicit space-time neighbour lists."""
    n_cells, n_steps = x.shape
    pos = {int(c): i for i, c in enumerate(cells)}
    z = np.zeros_like(x, dtype=float)
    for i, t in itertools.product(range(n_cells), range(n_steps)):
        space = [pos[c] for c in _disk(cells[i], k).tolist() if c in pos]
        steps = [s for s in range(t - window + 1, t + 1) if s >= 0]
        nbrs = [x[j, s] for j in space for s in steps]
        pool = x.ravel() if global_window == "cube" else x[:, steps].ravel()
        n = pool.size
        mean = pool.sum() / n
        sd = np.sqrt((pool**2).sum() / n - mean**2)
        sw = len(nbrs)
        z[i, t] = (sum(nbrs) - mean * sw) / (sd * np.sqrt((n * sw - sw**2) / (n - 1)))
    return z


@pytest.mark.parametrize(("k", "window", "global_window"), [(1, 1, "cube"), (1, 3, "cube"), (2, 2, "window")])
def test_gi_star_steps_matches_a_direct_reference(k, window, global_window):
    rng = np.random.default_rng(5)
    cells = _disk(PARK_RES8, 3)
    x = rng.poisson(1.5, (cells.size, 6))
    w = hotspots.neighbour_graph(cells, k)
    got = temporal.gi_star_steps(x, w, time_window=window, global_window=global_window, fdr=False)
    np.testing.assert_allclose(got.z, _gi_reference(x, cells, k, window, global_window), atol=1e-10)
    np.testing.assert_allclose(got.p, 2 * stats.norm.sf(np.abs(got.z)))


def test_gi_star_steps_equals_esda_and_hotspots_gi_star_on_each_time_slice():
    from esda.getisord import G_Local
    from libpysal.weights import W

    rng = np.random.default_rng(11)
    cells = _disk(PARK_RES8, 4)
    x = rng.poisson(0.8, (cells.size, 5))
    graph = hotspots.neighbour_graph(cells, 1)
    got = temporal.gi_star_steps(x, graph, time_window=1, global_window="window", fdr=True)
    neighbours = {i: [int(j) for j in graph[i].indices if j != i] for i in range(cells.size)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = W(neighbours)
    w.transform = "B"
    for t in range(x.shape[1]):
        ref = G_Local(x[:, t].astype(float), w, transform="B", star=True, permutations=0)
        np.testing.assert_allclose(got.z[:, t], ref.Zs, atol=1e-10)
        single = hotspots.gi_star(
            pd.DataFrame({"h3": cells, "count": x[:, t]}), cells, k=1, min_reports=0
        ).table
        np.testing.assert_allclose(got.z[:, t], single["z"].to_numpy(), atol=1e-10)
        np.testing.assert_allclose(got.p_fdr[:, t], single["p_fdr"].to_numpy(), atol=1e-12)
        np.testing.assert_allclose(got.p_fdr[:, t], stats.false_discovery_control(got.p[:, t]), atol=1e-12)


def test_gi_star_steps_without_variation_gives_zero_and_validates():
    cells = _disk(PARK_RES8, 1)
    w = hotspots.neighbour_graph(cells, 1)
    flat = temporal.gi_star_steps(np.full((7, 4), 2), w)
    assert (flat.z == 0).all() and (flat.p == 1).all()
    with pytest.raises(ValueError, match="time_window must be a positive"):
        temporal.gi_star_steps(np.zeros((7, 4)), w, time_window=0)
    with pytest.raises(ValueError, match="global_window must be 'cube' or 'window'"):
        temporal.gi_star_steps(np.zeros((7, 4)), w, global_window="slice")
    with pytest.raises(ValueError, match=r"weights must be \(3 x 3\)"):
        temporal.gi_star_steps(np.zeros((3, 4)), w)


# --- Mann-Kendall -----------------------------------------------------------------------------------
def _mk_reference(x: list[float]) -> tuple[float, float, float, float]:
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    ties = sum(t * (t - 1) * (2 * t + 5) for t in Counter(x).values())
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18
    z = 0.0 if s == 0 or var == 0 else (s - np.sign(s)) / np.sqrt(var)
    return s, var, z, 2 * stats.norm.sf(abs(z))


def test_mann_kendall_matches_the_direct_formula_with_ties():
    rng = np.random.default_rng(2)
    x = np.vstack(
        [
            rng.normal(size=(40, 24)),
            rng.poisson(1.0, (40, 24)),  # many ties
            np.arange(24) + rng.normal(0, 3, (20, 24)),  # trending
            np.zeros((1, 24)),  # constant: Var(S) = 0
        ]
    )
    got = temporal.mann_kendall(x, chunk_elements=5_000)  # several chunks
    for r, row in enumerate(x):
        s, var, z, p = _mk_reference(row.tolist())
        assert got.s[r] == s
        assert got.var_s[r] == pytest.approx(var)
        assert got.z[r] == pytest.approx(z)
        assert got.p[r] == pytest.approx(p)
    assert got.p[-1] == 1.0


def test_mann_kendall_agrees_with_scipy_kendalltau_on_time_vs_series():
    rng = np.random.default_rng(9)
    x = np.vstack([rng.poisson(2.0, (30, 18)), np.arange(18) * 0.3 + rng.normal(0, 1, (30, 18))])
    got = temporal.mann_kendall(x)
    t = np.arange(x.shape[1])
    n0 = len(t) * (len(t) - 1) / 2
    for r, row in enumerate(x):
        res = stats.kendalltau(t, row, method="asymptotic")
        ties_y = sum(c * (c - 1) / 2 for c in Counter(row.tolist()).values())
        # tau_b = S / sqrt(n0 (n0 - n_ties_y)) when time has no ties.
        assert got.s[r] == pytest.approx(res.statistic * np.sqrt(n0 * (n0 - ties_y)))
        # scipy's asymptotic test is the tie-corrected normal score without the continuity correction.
        if got.s[r] != 0:
            assert got.s[r] / np.sqrt(got.var_s[r]) == pytest.approx(
                np.sign(got.s[r]) * stats.norm.isf(res.pvalue / 2), rel=1e-6
            )


def test_mann_kendall_validation():
    with pytest.raises(ValueError, match="x must be a"):
        temporal.mann_kendall(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        temporal.mann_kendall(np.array([[1.0, np.nan, 2.0]]))


# --- emerging categories from constructed z / p series ---------------------------------------------
_BIN = {"H": (3.0, 0.01), "C": (-3.0, 0.01), ".": (0.5, 0.6)}


def _series(rows: list[str]) -> tuple[np.ndarray, np.ndarray]:
    z = np.array([[_BIN[ch][0] for ch in r] for r in rows])
    p = np.array([[_BIN[ch][1] for ch in r] for r in rows])
    return z, p


def _mirror(pattern: str) -> str:
    return pattern.translate(str.maketrans("HC", "CH"))


# (bins over 10 steps, trend p, trend sign, expected hot category); each is mirrored for cold.
HOT_CASES = [
    (".........H", 0.5, 0, "new_hot"),
    (".......HHH", 0.5, 0, "consecutive_hot"),
    ("HHHHHHHHHH", 0.01, 1, "intensifying_hot"),
    ("HHHHHHHHHH", 0.5, 1, "persistent_hot"),
    (".HHHHHHHHH", 0.2, -1, "persistent_hot"),  # 90 % exactly, no significant trend
    ("HHHHHHHHHH", 0.01, -1, "diminishing_hot"),
    ("H..H.....H", 0.5, 0, "sporadic_hot"),
    ("H.C......H", 0.5, 0, "oscillating_hot"),
    ("HHHHHHHHH.", 0.5, 0, "historical_hot"),
    ("HHHHHHHHH.", 0.01, -1, "historical_hot"),  # the trend does not matter once the final step is not hot
]


@pytest.mark.parametrize(("bins", "trend_p", "sign", "expected"), HOT_CASES)
def test_classify_emerging_hot_and_mirrored_cold(bins, trend_p, sign, expected):
    z, p = _series([bins, _mirror(bins)])
    got = temporal.classify_emerging(z, p, np.array([trend_p] * 2), np.array([sign, -sign]))
    assert list(got) == [expected, expected.replace("_hot", "_cold")]


@pytest.mark.parametrize(
    ("bins", "expected"),
    [
        ("..........", "no_pattern"),
        ("H.........", "no_pattern"),  # hot long ago, not now, not 90 %
        ("CCCCCCCCCH", "new_hot"),  # historical cold and new hot both fit: the final step wins
        ("CCC....HHH", "consecutive_hot"),  # consecutive is defined by hot history only
        ("C........H", "new_hot"),
        ("..HHHHHHHH", "consecutive_hot"),  # an 8-step run: 80 % < 90 %
        ("H..HHHHHHH", "sporadic_hot"),  # hot before the final run, 8 of 10 < 90 %
        ("HHHHHHHH.H", "persistent_hot"),  # 9 of 10 hot incl. final = 90 %
    ],
)
def test_classify_emerging_precedence_and_boundaries(bins, expected):
    z, p = _series([bins])
    assert temporal.classify_emerging(z, p, np.array([0.5]), np.array([0]))[0] == expected


def test_classify_emerging_covers_all_17_categories_and_uses_alpha():
    rows = [b for b, *_ in HOT_CASES] + [_mirror(b) for b, *_ in HOT_CASES] + [".........."]
    tp = np.array([c[1] for c in HOT_CASES] * 2 + [0.5])
    sign = np.array([c[2] for c in HOT_CASES] + [-c[2] for c in HOT_CASES] + [0])
    z, p = _series(rows)
    got = temporal.classify_emerging(z, p, tp, sign)
    assert set(got) == set(temporal.EMERGING_CATEGORIES) and len(temporal.EMERGING_CATEGORIES) == 17
    # At alpha 0.005 no bin (p = 0.01) is significant and no trend (p >= 0.01) either.
    assert set(temporal.classify_emerging(z, p, tp, sign, alpha=0.005)) == {"no_pattern"}


def test_classify_emerging_validation():
    z, p = _series(["H.H"])
    with pytest.raises(ValueError, match="z and p must be matrices"):
        temporal.classify_emerging(z, p[:, :2], np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError, match="trend_p and trend_sign must have one value per row"):
        temporal.classify_emerging(z, p, np.array([0.5, 0.5]), np.array([0]))
    with pytest.raises(ValueError, match="alpha must lie strictly between 0 and 1, got 1.5"):
        temporal.classify_emerging(z, p, np.array([0.5]), np.array([0]), alpha=1.5)


# --- emerging hot spots end to end on a constructed count cube -------------------------------------
def _far_apart(grid: np.ndarray, n: int, min_distance: int) -> list[int]:
    chosen: list[int] = []
    for c in grid[len(grid) // 3 :].tolist():
        if all(h3.grid_distance(h3.int_to_str(c), h3.int_to_str(o)) >= min_distance for o in chosen):
            chosen.append(c)
        if len(chosen) == n:
            return chosen
    raise AssertionError("grid too small for the planted cells")


def test_emerging_hotspots_end_to_end_on_a_constructed_cube():
    grid = _disk(PARK_RES8, 20)  # big enough for planted bins to stand out of the cube-wide spread
    starts = pd.date_range("2024-11-01", periods=24, freq="MS")
    rng = np.random.default_rng(4)
    cube = {int(c): rng.poisson(0.2, 24).tolist() for c in grid}
    a, b, c, d, e, f, g = _far_apart(grid, 7, 4)
    t = np.arange(24)
    cube[a] = [0] * 21 + [15, 15, 15]  # consecutive
    cube[b] = [0] * 23 + [20]  # new
    cube[c] = (16 + t).tolist()  # intensifying
    cube[d] = [15] * 24  # persistent
    cube[e] = (40 - t).tolist()  # diminishing
    cube[f] = [15] * 23 + [0]  # historical
    cube[g] = [20 if i in (3, 10, 17, 23) else 0 for i in t]  # sporadic
    reports = _cube_frame(cube, starts)
    result = temporal.emerging_hotspots(reports, 8, grid_cells=grid, end="2026-10-31")
    assert result.step == "MS" and len(result.step_starts) == 24
    assert (result.k, result.time_window, result.alpha, result.fdr) == (1, 1, 0.10, True)
    out = result.table.set_index("h3")
    expected = {
        a: "consecutive_hot",
        b: "new_hot",
        c: "intensifying_hot",
        d: "persistent_hot",
        e: "diminishing_hot",
        f: "historical_hot",
        g: "sporadic_hot",
    }
    assert {cell: out.loc[cell, "category"] for cell in expected} == expected
    assert out.loc[a, "n_hot_steps"] == 3 and out.loc[b, "final_count"] == 20
    assert out.loc[c, "count_trend_z"] > 0 > out.loc[e, "count_trend_z"]
    assert out.loc[c, "label"] == "Intensifying hot spot"
    # Far from every planted cell, background noise makes no pattern.
    planted = np.concatenate([_disk(x, 1) for x in expected])
    assert (out.loc[~out.index.isin(planted), "category"] == "no_pattern").mean() > 0.95


def test_emerging_hotspots_needs_ten_steps(random_reports):
    with pytest.raises(ValueError, match=r"step='QS' gives 4 time steps .* at least 10"):
        temporal.emerging_hotspots(random_reports, 8, step="QS")


# --- the demo: the planted emerging park -----------------------------------------------------------
def test_demo_default_step_is_monthly_and_the_park_is_a_consecutive_hot_spot(demo_reports, truth):
    t = demo_reports["observed_at"]
    assert temporal.choose_time_step(t.min(), t.max()) == "MS"
    out = temporal.emerging_hotspots(demo_reports, 8).table
    park = out.set_index("h3").loc[h3.str_to_int(truth["emerging_park"]["h3_res8"])]
    # Hot in exactly the six months since the window opened (2026-05 .. 2026-10) and never before.
    assert park["category"] == "consecutive_hot"
    assert park["n_hot_steps"] == 6
    assert park["trend_z"] > 0 and park["trend_p"] < 0.01
    assert park["final_count"] == truth["emerging_park"]["monthly_counts"]["2026-10"]


def test_demo_period_change_flags_the_park_as_up(demo_reports, truth):
    out = temporal.period_change(
        demo_reports, 8, before=("2025-11-01", "2026-04-30"), after=("2026-05-01", "2026-10-31")
    ).table.set_index("h3")
    park = out.loc[PARK_RES8]
    assert park["after"] == truth["emerging_park"]["count_recent"]
    assert park["direction"] == "up" and park["p_fdr"] < 1e-10


def test_demo_taxi_rank_hours_with_unknown_times_kept_apart(demo_reports, truth):
    ranks = [r["place_id"] for r in truth["taxi_ranks"]["ranks"]]
    mask = demo_reports["place_id"].isin(ranks).to_numpy()
    prof = temporal.time_profile(demo_reports, mask=mask)
    assert prof.total == truth["taxi_ranks"]["count"]
    assert int(prof.table.to_numpy().sum()) == truth["taxi_ranks"]["time_known"]
    assert prof.unknown_time == prof.total - truth["taxi_ranks"]["time_known"]
    assert prof.table.loc[:, 4:21].to_numpy().sum() == 0  # all known times fall 22:00-04:00


# --- period change ----------------------------------------------------------------------------------
def test_period_change_against_scipy_binomtest_and_bh():
    a, b, c = _disk(PARK_RES8, 3)[[0, 10, 20]]
    before_day, after_day = pd.Timestamp("2025-01-10"), pd.Timestamp("2025-03-15")
    cells = [a] * 2 + [a] * 12 + [b] * 5 + [c, c] + [a] * 3
    times = [before_day] * 2 + [after_day] * 12 + [before_day] * 5 + [before_day, after_day]
    times += [pd.Timestamp("2024-06-01")] * 3  # outside both periods
    reports = _frame(cells, times)
    result = temporal.period_change(
        reports, 8, before=("2025-01-01", "2025-01-30"), after=("2025-02-01", "2025-04-01")
    )
    out = result.table.set_index("h3")
    share = 60 / 90
    assert (result.before_days, result.after_days, result.alpha) == (30, 60, 0.05)
    assert result.expected_after_share == pytest.approx(share)
    expected = {
        a: (2, 12, stats.binomtest(12, 14, share).pvalue),
        b: (5, 0, stats.binomtest(0, 5, share).pvalue),
        c: (1, 1, stats.binomtest(1, 2, share).pvalue),
    }
    p_ref = np.array([v[2] for v in expected.values()])
    bh = dict(zip(expected, stats.false_discovery_control(p_ref), strict=True))
    for cell, (nb, na, p) in expected.items():
        row = out.loc[cell]
        assert (row["before"], row["after"], row["difference"]) == (nb, na, na - nb)
        assert row["p"] == pytest.approx(p, rel=1e-12)
        assert row["p_fdr"] == pytest.approx(bh[cell], rel=1e-12)
    assert out.loc[a, "ratio"] == pytest.approx((12 / 60) / (2 / 30))
    assert out.loc[b, "ratio"] == 0
    assert out.loc[b, "direction"] == "down"  # 0 of 5 where 2/3 were expected: p = 0.004


@pytest.mark.parametrize("prob", [0.5, 2 / 3, 0.1, 0.93])
def test_binom_two_sided_equals_scipy_binomtest(prob):
    pairs = [(k, n) for n in range(1, 41) for k in range(n + 1)] + [(k, 400) for k in range(0, 401, 13)]
    k, n = np.array(pairs).T
    got = temporal.binom_two_sided(k, n, prob)
    ref = np.array([stats.binomtest(int(a), int(b), prob).pvalue for a, b in pairs])
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-300)


def test_period_change_ignores_filter_dates_and_validates():
    reports = _frame([PARK_RES8] * 4, ["2025-01-05", "2025-01-06", "2025-02-05", "2025-02-06"])
    f = ReportFilter(date_from=date(2025, 1, 6))
    out = temporal.period_change(
        reports, 8, f, before=("2025-01-01", "2025-01-31"), after=("2025-02-01", "2025-02-28")
    ).table
    assert (out["before"].iloc[0], out["after"].iloc[0]) == (2, 2)
    after_only = temporal.period_change(
        reports, 8, before=("2024-01-01", "2024-01-31"), after=("2025-01-01", "2025-02-28")
    ).table
    assert np.isinf(after_only["ratio"].iloc[0]) and after_only["direction"].iloc[0] == "no change"
    with pytest.raises(ValueError, match="overlap"):
        temporal.period_change(
            reports, 8, before=("2025-01-01", "2025-02-10"), after=("2025-02-01", "2025-02-28")
        )
    with pytest.raises(ValueError, match="before must be a"):
        temporal.period_change(reports, 8, before="2025-01", after=("2025-02-01", "2025-02-28"))
    with pytest.raises(ValueError, match="after: end 2025-01-01 is before start"):
        temporal.period_change(
            reports, 8, before=("2024-01-01", "2024-02-01"), after=("2025-02-01", "2025-01-01")
        )


# --- profiles ---------------------------------------------------------------------------------------
def test_time_profile_counts_known_times_and_keeps_unknown_and_approximate_apart():
    other = _disk(PARK_RES8, 2)[0]
    times = [
        "2025-03-03 21:30",
        "2025-03-03 21:59",
        "2025-03-09 00:10",
        "2025-03-04 00:00",
        "2025-03-05 14:00",
    ]
    reports = _frame(
        [PARK_RES8, PARK_RES8, PARK_RES8, PARK_RES8, other],
        times,
        time_known=[True, True, True, False, True],
        time_in_words=[False, False, False, True, False],  # "after school"
        approx=[False, False, False, False, True],
        place_id=["p1", "p1", "p2", "p1", None],
    )
    prof = temporal.time_profile(reports)
    assert prof.table.shape == (7, 24) and list(prof.table.index) == list(temporal.WEEKDAYS)
    assert prof.table.loc["Mon", 21] == 2 and prof.table.loc["Sun", 0] == 1  # 2025-03-03 is a Monday
    assert prof.table.to_numpy().sum() == 3
    assert (prof.unknown_time, prof.time_in_words, prof.approximate_dates, prof.total) == (1, 1, 1, 5)
    assert prof.table.loc["Tue", 0] == 0  # the unknown-time report is never put at midnight
    pd.testing.assert_frame_equal(temporal.day_hour_table(reports), prof.table)
    by_place = temporal.time_profile(reports, mask=temporal.area_mask(reports, place_id="p1"))
    assert (by_place.table.to_numpy().sum(), by_place.unknown_time) == (2, 1)
    by_hex = temporal.time_profile(reports, mask=temporal.area_mask(reports, cell=other))
    assert (by_hex.table.to_numpy().sum(), by_hex.approximate_dates) == (0, 1)
    coarse = int(cells_to_parent(np.array([PARK_RES8]), 6)[0])
    in_coarse = cells_to_parent(reports["h3"].to_numpy(), 6) == coarse
    np.testing.assert_array_equal(temporal.area_mask(reports, cell=coarse), in_coarse)
    assert in_coarse[:4].all()  # a coarser cell holds the finer one's reports
    with pytest.raises(ValueError, match="mask must be a boolean array with one value per report"):
        temporal.time_profile(reports, mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="reports is missing column 'time_in_words'"):
        temporal.time_profile(reports.drop(columns="time_in_words"))


def test_monthly_trend_zero_fills():
    reports = _frame([PARK_RES8] * 3, ["2025-01-31 23:00", "2025-04-01", "2025-04-20"])
    got = temporal.monthly_trend(reports)
    assert got["month"].dt.strftime("%Y-%m").tolist() == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert got["count"].tolist() == [1, 0, 0, 2]
    f = ReportFilter(date_from=date(2024, 12, 5), date_to=date(2025, 5, 2))
    assert temporal.monthly_trend(reports, f)["count"].tolist() == [0, 1, 0, 0, 2, 0]
    assert temporal.monthly_trend(reports.iloc[:0]).empty


def test_monthly_trend_marks_the_months_the_span_only_partly_covers():
    reports = _frame([PARK_RES8] * 3, ["2025-01-31 23:00", "2025-04-01", "2025-04-20"])
    # Dates chosen from 5 Dec to 2 May: December and May are parts of months, and say which days.
    f = ReportFilter(date_from=date(2024, 12, 5), date_to=date(2025, 5, 2))
    got = temporal.monthly_trend(reports, f)
    assert got["partial"].tolist() == [True, False, False, False, False, True]
    assert got[["first_day", "last_day"]].values.tolist() == [
        [5, 31],
        [1, 31],
        [1, 28],
        [1, 31],
        [1, 30],
        [1, 2],
    ]
    # No dates chosen: the reports' own first and last day bound the span (data ending on 20 April).
    got = temporal.monthly_trend(reports)
    assert got["partial"].tolist() == [True, False, False, True]
    assert got[["first_day", "last_day"]].values.tolist() == [[31, 31], [1, 28], [1, 31], [1, 20]]
    # For an output that must not publish the day of a report: only a date chosen ends a part month.
    got = temporal.monthly_trend(reports, days_from_data=False)
    assert not got["partial"].any() and got["last_day"].tolist() == [31, 28, 31, 30]
    got = temporal.monthly_trend(reports, ReportFilter(date_to=date(2025, 4, 25)), days_from_data=False)
    assert got["partial"].tolist() == [False, False, False, True] and got["last_day"].iloc[-1] == 25
    # Whole months are not marked; a leap year's February is whole at 29 days.
    whole = ReportFilter(date_from=date(2024, 2, 1), date_to=date(2024, 2, 29))
    leap = temporal.monthly_trend(_frame([PARK_RES8], ["2024-02-10"]), whole)
    assert leap["partial"].tolist() == [False] and leap["last_day"].tolist() == [29]


def test_emerging_with_an_area_runs_on_the_area_grid(demo_reports):
    from shapely.geometry import box

    from hoth_geo.intake.gazetteer import load_study_area

    area = load_study_area().intersection(box(-1.75, 54.70, -1.45, 54.90))
    _counts, grid, _warning = hotspots.count_grid(demo_reports, 8, area=area)
    with_area = temporal.emerging_hotspots(demo_reports, 8, area=area).table
    assert set(with_area["h3"]) == set(grid.tolist())
    same = temporal.emerging_hotspots(demo_reports, 8, grid_cells=grid).table
    pd.testing.assert_frame_equal(with_area, same)
    assert (with_area["total_count"] == 0).any(), "the area's empty hexagons are in the analysis"
    # Without an area: the deployment's area, as Gi* (not only the hexagons that hold reports).
    without = temporal.emerging_hotspots(demo_reports, 8).table
    gi_grid = hotspots.hotspots(demo_reports, 8).table["h3"]
    assert without["h3"].tolist() == sorted(gi_grid.tolist())
    assert (without["total_count"] == 0).any()
