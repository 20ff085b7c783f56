"""The aggregate projection's backtest: no peeking past the origin, ranges scored correctly, boundary changes
never spliced, and the benchmark's naive error equal to one computed independently with plain pandas from the
published CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.placements import aggregate as A

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / A.DATA_REL
FORECAST_COLS = ["naive", "pooled_rate", "weighted", "ridge", "flow", "damped", "average", "chosen", "low50",
                 "high50", "low80", "high80", "low95", "high95"]


@pytest.fixture(scope="module")
def panel():
    return A.load_panel(ROOT)


def test_population_is_only_known_the_year_after(panel):
    # mid-2018 estimate published with release 2019: not in the inputs at 2018, in them at 2019
    assert np.isnan(A.as_at(panel, 2018).loc[("E10000007", 2018), A.POP])
    assert A.as_at(panel, 2019).loc[("E10000007", 2018), A.POP] > 100000
    # and never used as a "late" first release (the fallback is only for DfE's missing 2020/2021 releases)
    with_pop = A.as_at(panel, 2018)["first_release_missing"]
    without = A.as_at(panel[panel["measure"] != A.POP], 2018)["first_release_missing"]
    pd.testing.assert_series_equal(with_pop.reindex(without.index), without)


def test_backtest_forecasts_at_an_origin_ignore_every_later_value(panel):
    """Scramble everything published after 2018 (values of later years, later releases, later population):
    the forecasts and ranges made at origin 2018 must not move; only the outcomes they are scored against do."""
    origin = 2018
    p = panel.copy()
    fut = (p["release"] > origin) | (p["year"] > origin)
    rng = np.random.default_rng(3)
    p.loc[fut, "value"] = p.loc[fut, "value"].to_numpy() * rng.uniform(0.5, 2.0, fut.sum())
    a = A.backtest(panel, origins=[origin])
    b = A.backtest(p, origins=[origin])
    key = ["la_code", "horizon"]
    a, b = a.sort_values(key).set_index(key), b.sort_values(key).set_index(key)
    common = a.index.intersection(b.index)
    assert len(common) > 250
    pd.testing.assert_frame_equal(a.loc[common, FORECAST_COLS], b.loc[common, FORECAST_COLS])
    # the test can fail: the outcomes (published after the origin) did change
    assert not np.allclose(a.loc[common, "outcome"], b.loc[common, "outcome"])


def test_interval_score_and_coverage_on_a_constructed_example():
    low, high = np.array([90.0, 90.0, 90.0]), np.array([110.0, 110.0, 110.0])
    y = np.array([100.0, 80.0, 120.0])
    # 80%: alpha 0.2, penalty 2 / 0.2 = 10 per unit outside; width 20
    got = A.interval_score(low, high, y, 80)
    np.testing.assert_allclose(got, [20 / 100 * 100, (20 + 10 * 10) / 80 * 100, (20 + 10 * 10) / 120 * 100])
    # 50%: penalty 2 / 0.5 = 4 per unit outside
    np.testing.assert_allclose(A.interval_score(low, high, y, 50)[1], (20 + 4 * 10) / 80 * 100)


def test_backtest_coverage_columns_match_their_ranges(panel):
    bt = A.backtest(panel, origins=[2022, 2023])
    for lv in A.LEVELS:
        inside = (bt["outcome"] >= bt[f"low{lv}"]) & (bt["outcome"] <= bt[f"high{lv}"])
        assert (bt[f"in_range{lv}"] == inside).all()
        np.testing.assert_allclose(bt[f"interval_score{lv}"],
                                   A.interval_score(bt[f"low{lv}"], bt[f"high{lv}"], bt["outcome"], lv))
    # nested ranges: the 50% inside the 80% inside the 95%
    assert (bt["low95"] <= bt["low80"]).all() and (bt["low80"] <= bt["low50"]).all()
    assert (bt["high50"] <= bt["high80"]).all() and (bt["high80"] <= bt["high95"]).all()
    cov = bt.groupby("horizon")[["in_range50", "in_range95"]].mean()
    assert cov["in_range50"].between(0.3, 0.7).all() and cov["in_range95"].between(0.85, 1.0).all()


def test_boundary_changed_authorities_are_never_spliced(panel):
    # BCP's projection from 2021 rests on BCP's own counts (2020, 2021), never on Bournemouth's and Poole's
    latest = A.as_at(panel, None)
    bcp = A.project(panel, "E06000058", 2021)
    assert bcp["stock_at_origin"].iloc[0] == A.as_at(panel, 2021).loc[("E06000058", 2021), "cla_at_31_march"]
    assert "created April 2019" in bcp["boundary_note"].iloc[0]
    with pytest.raises(A.AggregateError, match="fewer than two consecutive"):
        A.project(panel, "E06000058", 2020)  # one count only: no history borrowed from the predecessors
    # predecessors end at their last count: no value after it, so no pair reaches past it
    for code, last in [("E06000028", 2019), ("E10000021", 2021), ("E10000006", 2023)]:
        s = latest.xs(code, level="la_code")["cla_at_31_march"].dropna()
        assert s.index.max() == last
    # successors have no value before their first count
    for code, first in [("E06000059", 2020), ("E06000062", 2022), ("E06000064", 2024)]:
        s = latest.xs(code, level="la_code")["cla_at_31_march"].dropna()
        assert s.index.min() == first


def _plain_naive_pairs() -> pd.DataFrame:
    """Plain pandas from the CSV, for every authority: the stock at the origin as published in the origin's
    release (2020 and 2021: their earliest release), the outcome as last published; pairs kept when the
    authority had counts at the origin and the year before (as known then), every year up to the outcome, and at
    least 20 children at the origin."""
    d = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    d = d[(d["measure"] == "cla_at_31_march") & (d["geographic_level"] == "Local authority")].copy()
    same_area = {"E06000048": "E06000057", "E08000020": "E08000037", "E10000002": "E06000060",
                 "E10000023": "E06000065", "E10000027": "E06000066"}
    d["code"] = d["new_la_code"].replace(same_area)
    d.loc[d["code"] == "", "code"] = np.where(d.loc[d["code"] == "", "old_la_code"] == "420", "E06000053", "")
    d["rel"] = d["release_year"].astype(int)
    d["yr"] = d["time_period"].astype(int)
    d["v"] = pd.to_numeric(d["value"], errors="coerce")
    d = d.sort_values(["code", "yr", "rel", "v"]).drop_duplicates(["code", "yr", "rel"])

    def known(o):
        x = d[d["yr"] <= o]
        k = x[x["rel"] <= o].groupby(["code", "yr"])["v"].last()
        e = x.groupby(["code", "yr"])["v"].first()  # earliest release (used when none by the origin)
        return k.combine_first(e)

    latest = d.groupby(["code", "yr"])["v"].last()
    rows = []
    for o in range(2014, 2024):
        kn = known(o)
        for code in d["code"].unique():
            s0, s1 = kn.get((code, o), np.nan), kn.get((code, o - 1), np.nan)
            if not (s0 > 0 and s1 > 0) or s0 < 20:
                continue
            for h in (1, 2):
                path = [latest.get((code, o + k), np.nan) for k in range(1, h + 1)]
                if all(pd.notna(v) and v > 0 for v in path):
                    rows.append({"la_code": code, "origin": o, "horizon": h,
                                 "ape": abs(s0 - path[-1]) / path[-1] * 100})
    return pd.DataFrame(rows)


def test_benchmark_naive_mae_equals_a_plain_pandas_recomputation(panel):
    bt = A.backtest(panel)
    plain = _plain_naive_pairs()
    assert len(plain) == len(bt)
    for h in (1, 2):
        assert bt.loc[bt["horizon"] == h, "ape_naive"].mean() == pytest.approx(
            plain.loc[plain["horizon"] == h, "ape"].mean(), rel=1e-12)
    # the new projection is at or below no change over all origins (within the paired interval)
    for h in (1, 2):
        d, lo, hi = A.bootstrap_diff(bt[bt["horizon"] == h], "ape_chosen")
        assert d < 0 and lo <= d <= hi


def test_project_all_gives_the_rows_project_gives(panel):
    every = A.project_all(panel, 2025)
    assert every["la_code"].nunique() >= 150 and A.ENGLAND not in set(every["la_code"])
    # Cumbria (abolished 2023) is not projected; its successors are, from their own two counts (2024, 2025)
    assert "E10000006" not in set(every["la_code"])
    cumberland = every[every["la_code"] == "E06000063"]
    assert len(cumberland) == 2 and (cumberland["stock_at_origin"] == 458).all()
    for code in ("E10000007", "E06000058"):
        one = A.project(panel, code, 2025)
        pd.testing.assert_frame_equal(every[every["la_code"] == code].reset_index(drop=True), one)
    # ranges nested around the point, method named
    assert (every["low95"] <= every["low80"]).all() and (every["low80"] <= every["point"]).all()
    assert (every["point"] <= every["high80"]).all() and (every["high80"] <= every["high95"]).all()
    assert every["method_label"].str.len().gt(0).all()
