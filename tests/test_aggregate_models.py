"""The aggregate projection's further candidates (pipeline/placements/aggregate_models.py): each checked against an
independent computation on constructed data, the nested choice of grid values, the range size power, and the
regional predictors against a plain pandas read of DfE's published file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.placements import aggregate as A
from pipeline.placements import aggregate_models as M

ROOT = Path(__file__).resolve().parents[1]


def _constructed(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({c: rng.normal(0, 0.1, n) for c in M.RIDGE_TERMS})
    t["naive"] = np.log(rng.uniform(100, 900, n))
    t["pooled_rate"] = t["naive"]
    t["y_log"] = t["naive"] + 0.3 * t["g1"] - 0.05 * t["rate_gap_region"] + rng.normal(0, 0.02, n)
    return t


def test_ridge_without_penalty_is_least_squares_and_the_penalty_shrinks():
    t = _constructed()
    coefs = M.fit(t)
    X = t[M.RIDGE_TERMS].to_numpy()
    ols = np.linalg.lstsq(X, (t["y_log"] - t["naive"]).to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(coefs["ridge@0.0"], ols, rtol=1e-6, atol=1e-9)
    assert coefs["ridge@0.0"][M.RIDGE_TERMS.index("g1")] == pytest.approx(0.3, abs=0.03)
    norms = [np.linalg.norm(coefs[f"ridge@{lam}"]) for lam in M.RIDGE_LAMBDAS]
    assert all(a >= b for a, b in zip(norms, norms[1:])) and norms[-1] < 0.5 * norms[0]
    # the forecast is no change plus the fitted change
    f = M.forecasts(t.head(3), coefs, {"ridge": "ridge@0.0"}, 1)
    np.testing.assert_allclose(f["ridge"], t["naive"].head(3) + X[:3] @ ols, rtol=1e-9)


def test_flow_and_damped_forecasts_match_a_hand_computation():
    row = pd.DataFrame([{"naive": np.log(100.0), "st_ratio": np.log(0.5), "ce_ratio": np.log(0.4),
                         "reg_st_ratio": np.log(0.3), "reg_ce_ratio": np.log(0.3), "g3": 0.05, "reg_g1": 0.02,
                         "pooled_rate": np.log(101.0)}])
    f = M.forecasts(row, None, {"flow": "flow@1.0,1.0", "damped": "damped@0.2,0.5"}, 2)
    # own rates, whole net flow: 100 + 50 - 40 = 110 a year, kept as a rate for two years
    assert np.exp(f["flow"].iloc[0]) == pytest.approx(100 * 1.1 ** 2)
    # the region's rates (equal): no change
    assert np.exp(f["flow@0.0,1.0"].iloc[0]) == pytest.approx(100.0)
    # half of each: starters exp((log .5 + log .3) / 2), ceased exp((log .4 + log .3) / 2), a fifth of the net
    net = np.sqrt(0.5 * 0.3) - np.sqrt(0.4 * 0.3)
    assert np.exp(f["flow@0.5,0.2"].iloc[0]) == pytest.approx(100 * (1 + 0.2 * net) ** 2)
    assert f["damped"].iloc[0] == pytest.approx(np.log(100.0) + 2 * (0.2 * 0.05 + 0.5 * 0.02))
    # the plain average of its five members, in logs
    members = [np.log(100.0), np.log(101.0), f["ridge"].iloc[0], f["flow"].iloc[0], f["damped"].iloc[0]]
    assert f["average"].iloc[0] == pytest.approx(np.mean(members))


def test_choose_picks_the_grid_value_with_the_lowest_error():
    t = _constructed(200)
    f = M.forecasts(t, M.fit(t), {}, 1).assign(outcome=np.exp(t["y_log"]))
    f["ridge@0.1"] = t["y_log"]  # a perfect member
    f["damped@0.3,0.0"] = t["y_log"] + 0.001
    got = M.choose(f, A._ape)
    assert got["ridge"] == "ridge@0.1" and got["damped"] == "damped@0.3,0.0"
    # the flow family's pick, recomputed here: the grid member whose mean |exp(forecast) - outcome| / outcome
    # is lowest (members absent from the frame are not candidates)
    cols = [c for c in M.FAMILIES["flow"] if c in f]
    err = {c: float((np.abs(np.exp(f[c]) - f["outcome"]) / f["outcome"]).mean()) for c in cols}
    assert len(cols) > 1 and got["flow"] == min(err, key=err.get)


@pytest.mark.parametrize("true_power, allowed", [(0.5, (0.4, 0.6)), (0.0, (0.0, 0.1))])
def test_size_power_recovers_how_errors_shrink_with_size(true_power, allowed):
    rng = np.random.default_rng(1)
    stock = pd.Series(np.exp(rng.uniform(np.log(40), np.log(3000), 4000)))
    resid = pd.Series(rng.normal(0, 0.06, len(stock)) * (stock / 400) ** -true_power)
    got = M.choose_size_power(resid, stock, 400)
    assert allowed[0] <= got <= allowed[1]


def test_regional_change_is_the_median_over_the_region_as_published_at_the_origin():
    """reg_g1 at origin 2019 for the East Midlands: the median over its authorities of log(count 2019 / count 2018),
    both as published by DfE's 2019 release, recomputed here from the CSV with plain pandas."""
    panel = A.load_panel(ROOT)
    pairs = A._pairs(panel, [2019], (1,))
    d = pd.read_csv(ROOT / A.DATA_REL, dtype=str, keep_default_na=False)
    d = d[(d["measure"] == "cla_at_31_march") & (d["geographic_level"] == "Local authority")
          & (d["release_year"].astype(int) <= 2019) & d["time_period"].isin(["2018", "2019"])].copy()
    d["v"] = pd.to_numeric(d["value"], errors="coerce")
    latest = d.sort_values("release_year").groupby(["new_la_code", "time_period"])["v"].last().unstack()
    pop = pd.read_csv(ROOT / A.POP_REL, dtype=str)
    em = set(pop.loc[pop["region_code"] == "E12000004", "new_la_code"])
    x = latest[latest.index.isin(em)].dropna()
    x = x[(x["2018"] > 0) & (x["2019"] > 0)]
    want = np.median(np.log(x["2019"] / x["2018"]))
    got = pairs[pairs["region_code"] == "E12000004"]["reg_g1"]
    assert len(x) >= 9 and got.nunique() == 1
    assert got.iloc[0] == pytest.approx(want, rel=1e-12)
    # and each authority's own change and its gaps are computed from the same published values
    derby = pairs[pairs["la_code"] == "E10000007"].iloc[0]
    assert derby["g1"] == pytest.approx(np.log(x.loc["E10000007", "2019"] / x.loc["E10000007", "2018"]))
