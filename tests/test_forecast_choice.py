"""The forecast used (issue 15): chosen per horizon by the backtest (no change unless another method is
strictly better, never on outcomes not yet known), ranges scaled by the backtest's residuals
(conformal), the simulated paths moved onto the chosen forecast, and the verdict in words."""

import numpy as np
import pandas as pd
import pytest

from pipeline.placements import backtest as pl_backtest
from pipeline.report.sections.placements import horizon_verdict


def rows(origins, horizon, actual, naive, markov, model, half=10.0):
    return pd.DataFrame({"origin": [pd.Timestamp(o).date() for o in origins], "horizon": horizon, "actual": actual,
                         "naive": naive, "markov": markov, "model": model,
                         "low_80": np.asarray(model, float) - half, "high_80": np.asarray(model, float) + half})


def test_choice_per_horizon_prefers_no_change_at_a_tie_and_needs_three_origins():
    o = pd.date_range("2020-03-31", periods=6, freq="QE")
    a = np.array([100, 102, 104, 106, 108, 110.0])
    bt = pd.concat([
        rows(o, 3, a, a - 4, a - 3, a - 1),  # the model best at 3 months
        rows(o, 6, a, a + 2, a + 2, a + 2),  # a tie: no change
        rows(o, 12, a, a + 1, a + 5, a - 9),  # no change best at 12
        rows(o[:2], 24, a[:2], a[:2] + 9, a[:2], a[:2]),  # two origins only: not judged
    ])
    ch = pl_backtest.choose(bt).set_index("horizon")
    assert ch["method"].to_dict() == {3: "model", 6: "naive", 12: "naive", 24: "naive"}
    assert ch["calibrated"].to_dict() == {3: True, 6: True, 12: True, 24: False}
    # the WAPEs are the plain-pandas ones
    g = bt[bt["horizon"] == 12]
    assert ch.at[12, "model_wape"] == np.abs(g["model"] - g["actual"]).sum() / g["actual"].sum() * 100
    methods, scale = pl_backtest.horizon_plan(ch.reset_index(), 30)
    assert list(methods[[0, 2, 3, 5, 6, 11, 12, 23, 29]]) == ["model", "model", "naive", "naive", "naive", "naive",
                                                               "naive", "naive", "naive"]
    assert scale[23] == ch.at[24, "scale"] == 1.0


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
    bt = rows(o, 6, a, a + 1, a + 3, a - 2)
    base = pl_backtest.replay_choice(bt)
    # the first four origins know fewer than three outcomes (each is known two quarters later): no change,
    # uncalibrated; the fifth knows three
    assert (base["used_method"].iloc[:4] == "naive").all() and not base["used_calibrated"].iloc[:4].any()
    assert base["used_calibrated"].iloc[4] and (base["used_method"] == "naive").all()  # no change is best here
    # changing outcomes that end after origin k must not change what was used at k
    k = 8
    cutoff = pd.Timestamp(o[k])
    out_end = [pl_backtest._month_end(x, 6) for x in o]
    changed = bt.copy()
    later = np.array([e > cutoff for e in out_end])
    changed.loc[later, "actual"] = 50.0
    rep = pl_backtest.replay_choice(changed)
    assert (rep["used_method"].iloc[k + 3:] == "model").all()  # once known, the new outcomes favour the model
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


def test_verdict_in_words_says_when_the_model_lost_to_no_change():
    ch = pd.DataFrame({"horizon": [3, 6, 12, 24], "origins": [12, 11, 9, 5], "method": ["model", "markov", "naive", "naive"],
                       "scale": 1.0, "calibrated": [True, True, True, True], "naive_wape": [1.0, 2.0, 2.7, 3.9],
                       "markov_wape": [1.2, 1.5, 5.2, 13.7], "model_wape": [0.8, 1.9, 3.7, 9.5]})
    t = horizon_verdict(ch, 18)
    assert t.startswith("At 24 months the model has been less accurate than assuming no change")
    assert "9.5%" in t and "3.9%" in t
    assert "Markov stock-flow model has been the most accurate" in horizon_verdict(ch, 5)
    assert "beyond the 24 months" in horizon_verdict(ch, 30)


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
