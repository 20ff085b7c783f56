"""The forecast used (issue 15): chosen per horizon by the backtest (the average of no change, Markov and
ETS unless one of them is better than the average by more than two standard errors, never on outcomes not
yet known), ranges scaled by the backtest's residuals
(conformal), the simulated paths moved onto the chosen forecast, and the verdict in words."""

import numpy as np
import pandas as pd
import pytest

from pipeline.placements import backtest as pl_backtest
from pipeline.report.sections.placements import horizon_verdict


def rows(origins, horizon, actual, naive, markov, model, half=10.0, ets=None):
    ets = naive if ets is None else ets
    return pd.DataFrame({"origin": [pd.Timestamp(o).date() for o in origins], "horizon": horizon, "actual": actual,
                         "naive": naive, "markov": markov, "ets": ets, "model": model,
                         "combined": (np.asarray(naive, float) + np.asarray(markov, float) + np.asarray(ets, float)) / 3,
                         "low_80": np.asarray(model, float) - half, "high_80": np.asarray(model, float) + half})


def plain_switch(g: pd.DataFrame, m: str) -> tuple[float, float]:
    """Plain numpy: mean and standard error of (|m - actual| - |average - actual|) / mean(actual) x 100,
    whose mean is WAPE(m) - WAPE(average); the error widened by sqrt(h / 3) for forecasts h months ahead
    from consecutive quarter ends, whose windows overlap."""
    a = g["actual"].to_numpy(float)
    d = (np.abs(g[m].to_numpy(float) - a) - np.abs((g["naive"] + g["markov"] + g["ets"]).to_numpy(float) / 3 - a)) / a.mean() * 100
    h = int(g["horizon"].iloc[0])
    return d.mean(), d.std(ddof=1) / np.sqrt(len(d)) * np.sqrt(max(1, h / 3))  # quarter ends: h/3-fold overlap


def test_choice_uses_the_average_unless_one_is_clearly_better_and_needs_three_origins():
    o = pd.date_range("2020-03-31", periods=8, freq="QE")
    a = np.array([100, 102, 104, 106, 108, 110, 112, 114.0])
    wob = np.array([1, -1, 2, -2, 1, -1, 2, -2.0])
    bt = pd.concat([
        rows(o, 3, a, a - 4 + wob, a + wob * 0.1, a - 1, ets=a - 6 - wob),  # Markov clearly better than the average
        rows(o, 6, a, a + 3 * wob, a - 3 * wob, a + 2, ets=a + wob),  # noisy: none clearly better
        rows(o, 12, a, a + 0.2 * wob, a + 9 + wob, a - 9, ets=a + 7 - wob),  # no change clearly better
        rows(o[:2], 24, a[:2], a[:2] + 9, a[:2], a[:2]),  # two origins only: not judged
    ])
    ch = pl_backtest.choose(bt).set_index("horizon")
    assert ch["method"].to_dict() == {3: "markov", 6: "combined", 12: "naive", 24: "combined"}
    assert ch["calibrated"].to_dict() == {3: True, 6: True, 12: True, 24: False}
    # the rule, recomputed in plain numpy: leave the average only when better by more than two standard errors
    for h, want in ((3, "markov"), (6, None), (12, "naive")):
        g = bt[bt["horizon"] == h]
        passed = {m: plain_switch(g, m) for m in ("naive", "markov", "ets")}
        passed = {m: d for m, (d, se) in passed.items() if d < -2 * se}
        assert (min(passed, key=passed.get) if passed else None) == want
        for m in ("naive", "markov", "ets"):
            assert pl_backtest.switch_test(g, m) == pytest.approx(plain_switch(g, m))
            wapes = [np.abs(g[x] - g["actual"]).sum() / g["actual"].sum() * 100 for x in (m, "combined")]
            assert pl_backtest.switch_test(g, m)[0] == pytest.approx(wapes[0] - wapes[1])
    # the WAPEs are the plain-pandas ones, the cspack model's too (shown, not a candidate)
    g = bt[bt["horizon"] == 12]
    assert ch.at[12, "model_wape"] == np.abs(g["model"] - g["actual"]).sum() / g["actual"].sum() * 100
    assert ch.at[12, "combined_wape"] == pytest.approx(np.abs(g["combined"] - g["actual"]).sum() / g["actual"].sum() * 100)
    methods, scale = pl_backtest.horizon_plan(ch.reset_index(), 30)
    assert list(methods[[0, 2, 3, 5, 6, 11, 12, 23, 29]]) == ["markov", "markov", "combined", "combined", "naive",
                                                               "naive", "combined", "combined", "combined"]
    assert scale[23] == ch.at[24, "scale"] == 1.0


def test_with_combined_is_the_mean_of_the_three():
    bt = rows(pd.date_range("2020-03-31", periods=3, freq="QE"), 3, [10, 20, 30], [1, 2, 3], [4, 5, 6], [0, 0, 0],
              ets=[7, 8, 9]).drop(columns="combined")
    assert pl_backtest.with_combined(bt)["combined"].tolist() == [4.0, 5.0, 6.0]


def test_conformal_factor_is_the_finite_sample_quantile():
    s = np.arange(1, 11, dtype=float)[::-1]
    assert pl_backtest.conformal_factor(s, 0.8) == 9.0  # ceil(11 x 0.8) = 9th smallest
    assert pl_backtest.conformal_factor(s[:3], 0.8) == 10.0  # few scores (10, 9, 8): the largest


def test_calibrated_ranges_hold_about_80_percent_where_the_models_own_are_too_narrow():
    rng = np.random.default_rng(5)
    n = 400
    truth = rng.normal(0, 20 / 1.2816, n)  # errors twice as wide as the model's 80% half-width of 10
    o = pd.date_range("2000-03-31", periods=n, freq="QE")
    bt = rows(o, 3, 500 + truth, np.full(n, 500.0), np.full(n, 520.0), np.full(n, 500.0))
    raw = ((bt["low_80"] <= bt["actual"]) & (bt["actual"] <= bt["high_80"])).mean()
    assert raw < 0.6
    rep = pl_backtest.replay_choice(bt)
    later = rep.iloc[40:]  # once enough outcomes are known
    assert 0.7 <= later["used_in_80"].mean() <= 0.9
    assert later["used_calibrated"].all()


def test_replay_never_uses_an_outcome_not_known_at_the_origin():
    o = pd.date_range("2020-03-31", periods=12, freq="QE")
    a = np.full(12, 100.0)
    wob = np.array([0.2, -0.2] * 6)
    bt = rows(o, 6, a, a + 1 + wob, a + 3, a - 2, ets=a + 5)
    base = pl_backtest.replay_choice(bt)
    # the first four origins know fewer than three outcomes (each is known two quarters later): the average,
    # uncalibrated; the fifth knows three
    assert (base["used_method"].iloc[:4] == "combined").all() and not base["used_calibrated"].iloc[:4].any()
    assert base["used_calibrated"].iloc[4] and (base["used_method"].iloc[4:] == "naive").all()  # clearly best here
    # changing outcomes that end after origin k must not change what was used at k
    k = 8
    cutoff = pd.Timestamp(o[k])
    out_end = [pl_backtest._month_end(x, 6) for x in o]
    changed = bt.copy()
    later = np.array([e > cutoff for e in out_end])
    changed.loc[later, "actual"] = 50.0
    rep = pl_backtest.replay_choice(changed)
    # once known, the new outcomes widen the calibrated range; before, nothing changes
    assert (rep["used_high_80"].iloc[k + 3:] > base["used_high_80"].iloc[k + 3:]).all()
    pd.testing.assert_series_equal(rep["used_method"].iloc[:k + 1], base["used_method"].iloc[:k + 1])
    assert rep["used_high_80"].iloc[k] == base["used_high_80"].iloc[k]


def test_recentre_moves_the_median_onto_the_forecast_and_scales_the_spread():
    rng = np.random.default_rng(1)
    stock = rng.poisson(30, size=(1001, 4, 3))
    total = stock.sum(axis=2)
    point = np.array([80.0, 100.0, 120.0, 0.0])
    scale = np.array([1.0, 2.0, 0.5, 1.0])
    new = pl_backtest.recentre(stock, point, scale)
    nt = new.sum(axis=2)
    assert np.allclose(np.median(nt[:, :3], axis=0), point[:3])
    q = lambda x: np.quantile(x, 0.9, axis=0) - np.quantile(x, 0.1, axis=0)  # noqa: E731
    assert np.allclose(q(nt)[:3], scale[:3] * q(total.astype(float))[:3])
    assert (new >= 0).all()  # a point of zero: cut at zero, never negative
    # each path keeps its mix of categories
    i = 7
    assert np.allclose(new[i, 1] / nt[i, 1], stock[i, 1] / total[i, 1])


def test_verdict_in_words_names_the_forecast_used_and_its_errors():
    ch = pd.DataFrame({"horizon": [3, 6, 12, 24], "origins": [12, 11, 9, 2], "method": ["ets", "markov", "naive", "combined"],
                       "scale": 1.0, "calibrated": [True, True, True, False], "naive_wape": [1.0, 2.0, 2.7, 3.9],
                       "markov_wape": [1.2, 1.5, 5.2, 13.7], "ets_wape": [0.7, 1.8, 3.0, 5.0],
                       "combined_wape": [0.9, 1.7, 3.1, 6.0], "model_wape": [0.8, 1.9, 3.7, 9.5]})
    t = horizon_verdict(ch, 10)
    assert t.startswith("At 12 months no change has been clearly more accurate than the average of the three")
    assert "2.7% against 3.1%" in t and "the pack's own model 3.7%" in t
    assert t.endswith("This is 10 months ahead, so it follows the backtest's 12-month result.")
    assert "This is" not in horizon_verdict(ch, 12)  # exactly at a tested distance: no qualifier
    assert "Markov stock-flow model has been clearly more accurate" in horizon_verdict(ch, 5)
    t24 = horizon_verdict(ch, 18)
    assert "too few quarter ends with a known outcome (2)" in t24 and "the average of no change" in t24
    assert "beyond the 24 months" in horizon_verdict(ch, 30)
    mid = ch.assign(method=["combined"] * 4, calibrated=True)
    assert horizon_verdict(mid, 3).startswith("At 3 months none of the simple forecasts has been clearly more accurate")


def test_replayed_ranges_at_50_and_95_percent_hold_about_their_level():
    rng = np.random.default_rng(8)
    n = 600
    truth = rng.normal(0, 20 / 1.2816, n)  # errors twice as wide as the model's 80% half-width of 10
    o = pd.date_range("1900-03-31", periods=n, freq="QE")
    bt = rows(o, 3, 500 + truth, np.full(n, 500.0), np.full(n, 520.0), np.full(n, 500.0))
    rep = pl_backtest.replay_choice(bt, levels=(0.5, 0.8, 0.95))
    later = rep.iloc[60:]
    assert 0.42 <= later["used_in_50"].mean() <= 0.58
    assert 0.72 <= later["used_in_80"].mean() <= 0.88
    assert 0.91 <= later["used_in_95"].mean() <= 0.99
    assert (later["used_high_95"] > later["used_high_80"]).all() and (later["used_high_80"] > later["used_high_50"]).all()
    # before any outcome is known: the model's own ranges, read as normal (50%: 0.674 / 1.282 of the 80% half-width)
    first = rep.iloc[0]
    assert first["used_high_50"] - first["used"] == pytest.approx(10 * 0.67449 / 1.28155, rel=1e-4)
    assert first["used_high_80"] - first["used"] == pytest.approx(10.0)
    # the default (80% only) gives exactly the 80% columns of the three-level replay
    one = pl_backtest.replay_choice(bt)
    assert not any(c.endswith(("_50", "_95")) for c in one.columns)
    pd.testing.assert_frame_equal(one, rep[one.columns])


def test_replay_verdict_names_where_the_forecast_used_lost():
    from pipeline.report.sections.placements import replay_verdict

    t = pd.DataFrame({"horizon_months": [3, 6, 12, 24], "replayed_wape": [1.25, 1.5, 2.0, 3.0],
                      "naive_wape": [1.1, 1.5, 2.5, 2.9], "markov_wape": [1.3, 2.0, 1.9, 9.0]})
    v = replay_verdict(t)
    assert "erred on average by 1.3%, 1.5%, 2.0% and 3.0% at 3, 6, 12 and 24 months ahead" in v
    assert ("It did worse at 3 months (1.3% against 1.1% for no change), at 12 months (2.0% against 1.9% for the "
            "Markov model) and at 24 months (3.0% against 2.9% for no change).") in v
    t2 = t.assign(replayed_wape=[1.0, 1.5, 1.9, 2.9])
    assert replay_verdict(t2).endswith("It did no worse than either at any distance ahead.")


def test_overlap_factor_counts_the_months_forecasts_share():
    q = pd.date_range("2020-03-31", periods=6, freq="QE")
    half = pd.date_range("2020-03-31", periods=6, freq="2QE")
    mk = lambda o, h: pd.DataFrame({"origin": [x.date() for x in o], "horizon": h})  # noqa: E731
    assert pl_backtest.overlap_factor(mk(q, 3)) == 1.0
    assert pl_backtest.overlap_factor(mk(q, 12)) == pytest.approx(2.0)
    assert pl_backtest.overlap_factor(mk(q, 24)) == pytest.approx(np.sqrt(8))
    assert pl_backtest.overlap_factor(mk(half, 24)) == pytest.approx(2.0)  # six months apart
    assert pl_backtest.overlap_factor(mk(half, 3)) == 1.0  # no overlap: never narrower than independent
    # a switch that independent rows would pass but overlapping ones do not: 12 months, 6 quarter ends
    a = np.full(6, 100.0)
    g = rows(q, 12, a, a + np.array([0.0, 8, 0, 8, 1, 7]), a + 9, a, ets=a + 9)
    dd = (np.abs(g["naive"] - a) - np.abs(g["combined"] - a)).to_numpy()  # mean outcome 100: already in %
    d, se = pl_backtest.switch_test(g, "naive")
    assert d == pytest.approx(dd.mean()) and se == pytest.approx(dd.std(ddof=1) / np.sqrt(6) * 2.0)
    assert dd.mean() < -2 * dd.std(ddof=1) / np.sqrt(6)  # as if independent: no change would be chosen
    assert pl_backtest.choose(g, horizons=(12,))["method"].iloc[0] == "combined"  # with the overlap: not


def test_longer_record_in_words_recomputes_the_errors():
    from pipeline.report.sections.placements_backtest import longer_record
    o = pd.date_range("2020-03-31", periods=8, freq="QE")
    a = np.array([100, 102, 104, 106, 108, 110, 112, 114.0])
    lr = pd.concat([rows(o, 3, a, a - 2, a + 1, a).assign(used=a + 1), rows(o[:6], 12, a[:6], a[:6] - 4, a[:6] + 2, a[:6]).assign(used=a[:6] - 1)])
    text = longer_record(lr, 5)
    w = lambda f, y: np.abs(f - y).sum() / y.sum() * 100  # noqa: E731
    want_used = [w(a + 1, a), w(a[:6] - 1, a[:6])]
    assert "the 8 quarter ends since March 2020" in text and "at 3 and 12 months ahead" in text
    assert f"erred by {want_used[0]:.1f}% and {want_used[1]:.1f}%" in text
    assert f"against {w(a - 2, a):.1f}% and {w(a[:6] - 4, a[:6]):.1f}% for no change" in text
    assert longer_record(lr, 8) == "" and longer_record(None, 3) == ""  # no longer than the table: nothing


def test_coverage_reading_says_narrowed_only_when_the_calibration_narrowed():
    from pipeline.report.sections.placements_backtest import coverage_reading
    r = {"origins": 9, "used_coverage_80": 100.0}
    assert "narrows it only part of the way" in coverage_reading(r, 0.78)
    assert "does not narrow it" in coverage_reading(r, 1.2)
    assert coverage_reading(r) == " So the range there is probably wider than it needs to be."
    assert coverage_reading({"origins": 9, "used_coverage_80": 80.0}, 0.9) == ""
    assert "too narrow" in coverage_reading({"origins": 12, "used_coverage_80": 50.0})
