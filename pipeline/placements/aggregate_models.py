"""Further candidates for the aggregate projection (pipeline/placements/aggregate.py), each tried against "no change"
in its honest backtest (docs/aggregate.md has the measured table; none is the method used):

* `ridge`: a pooled regression across authorities of the log change over the horizon on predictors known at the
  origin (the rate gap to the region, last year's and the year before's change, the region's median change last
  year, England's change last year, the gap of the authority's starters and ceased per child looked after to its
  region's, last year's change in starters and in ceased, the gap to its own five-year level), no intercept (no
  national trend carried forward), with ridge shrinkage whose strength is chosen by nested rolling validation;
* `flow`: the published flows carried forward as rates: next year's stock = stock + k x (starters - ceased), with
  starters and ceased per child looked after shrunk from the authority's own last year (share a) toward its
  region's median; (a, k) chosen by nested rolling validation;
* `damped`: a damped trend shrunk toward the region: log change = h x (phi x own three-year trend + psi x the
  region's median change last year); (phi, psi) chosen by nested rolling validation;
* `average`: the plain average (equal weights, nothing fitted) of no change, the rate-adjusted projection and
  the three above.

"Chosen by nested rolling validation": at origin T, each grid value's forecasts of prior pairs (every pair whose
outcome year is at most T, each forecast made with what was fitted at its own origin) are scored against the
outcomes as published by T; the value with the lowest mean absolute % error is used at T.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RIDGE_TERMS = ["rate_gap_region", "g1", "g1_prev", "reg_g1", "nat_g1", "st_gap", "ce_gap", "flow_gap",
               "d_started", "d_ceased", "level_gap"]
RIDGE_LAMBDAS = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # penalty per pair on standardised predictors
FLOW_GRID = tuple((a, k) for a in (0.0, 0.25, 0.5, 0.75, 1.0) for k in (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0))
DAMPED_GRID = tuple((p, q) for p in (0.0, 0.1, 0.2, 0.3, 0.5) for q in (0.0, 0.1, 0.2, 0.3, 0.5))
FAMILIES = {"ridge": [f"ridge@{lam}" for lam in RIDGE_LAMBDAS],
            "flow": [f"flow@{a},{k}" for a, k in FLOW_GRID],
            "damped": [f"damped@{p},{q}" for p, q in DAMPED_GRID]}
METHODS = ("ridge", "flow", "damped", "average")
AVERAGED = ("naive", "pooled_rate", "ridge", "flow", "damped")
DEFAULT = {"ridge": "ridge@0.3", "flow": "flow@0.0,0.0", "damped": "damped@0.0,0.0"}  # before enough pairs
LABELS = {
    "ridge": "pooled ridge regression on flows, regional and national change (shrinkage chosen by validation)",
    "flow": "starters and ceased carried forward as rates shrunk toward the region's",
    "damped": "damped own trend plus the region's last change",
    "average": "plain average of no change, the rate-adjusted projection and the three above",
}


def _x(t: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.clip(t[c].to_numpy(float), -1.5, 1.5) if c in t else np.zeros(len(t))
                            for c in RIDGE_TERMS])


def fit(train: pd.DataFrame) -> dict:
    """Ridge coefficients for every penalty in the grid, from pairs (one horizon) whose outcome was known."""
    X, d = _x(train), (train["y_log"] - train["naive"]).to_numpy(float)
    sd = X.std(0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    Xs, n, p = X / sd, len(d), X.shape[1]
    out = {}
    for lam in RIDGE_LAMBDAS:
        # least squares (minimum norm where a predictor has no variation yet), shrunk by lam x n on the scaled terms
        A = Xs.T @ Xs + lam * n * np.eye(p)
        out[f"ridge@{lam}"] = np.linalg.lstsq(A, Xs.T @ d, rcond=None)[0] / sd
    return out


def forecasts(t: pd.DataFrame, coefs: dict | None, hyper: dict, h: int) -> pd.DataFrame:
    """Adds every grid member's log forecast and the families' chosen ones (`hyper`: family -> grid column)."""
    nv = t["naive"].to_numpy(float)
    new = {}
    X = _x(t)
    for lam in RIDGE_LAMBDAS:
        b = (coefs or {}).get(f"ridge@{lam}")
        new[f"ridge@{lam}"] = nv + (X @ b if b is not None else 0.0)

    def col(c):
        return t[c].to_numpy(float) if c in t else np.zeros(len(t))

    st, ce, rst, rce = col("st_ratio"), col("ce_ratio"), col("reg_st_ratio"), col("reg_ce_ratio")
    for a, k in FLOW_GRID:
        net = np.exp(a * st + (1 - a) * rst) - np.exp(a * ce + (1 - a) * rce)
        new[f"flow@{a},{k}"] = nv + h * np.log(np.clip(1 + k * net, 0.3, 3.0))
    g3, rg = col("g3"), col("reg_g1")
    for p, q in DAMPED_GRID:
        new[f"damped@{p},{q}"] = nv + h * (p * g3 + q * rg)
    out = pd.concat([t.reset_index(drop=True), pd.DataFrame(new)], axis=1)
    for fam in FAMILIES:
        out[fam] = out[hyper.get(fam, DEFAULT[fam])]
    out["average"] = out[list(AVERAGED)].mean(axis=1)
    return out


def choose(scored: pd.DataFrame, ape) -> dict:
    """Each family's grid member with the lowest mean absolute % error on out-of-sample prior pairs."""
    out = {}
    for fam, cols in FAMILIES.items():
        sc = {c: float(np.mean(ape(scored[c].to_numpy(float), scored["outcome"].to_numpy(float))))
              for c in cols if c in scored}
        if sc:
            out[fam] = min(sc, key=sc.get)
    return out


# ------------------------------------------------------------------------------------------- range calibration
SIZE_POWERS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
SIZE_BANDS = (0, 150, 300, 600, 10**9)  # children looked after at the origin


def choose_size_power(resid: pd.Series, stock: pd.Series, ref: float, level: int = 80) -> float:
    """The power p (errors scaled to an authority of `ref` children by (stock / ref) ** p) whose `level` % ranges,
    set from the scaled quantiles of these prior out-of-sample errors, hold the outcome closest to `level` % in
    every size band (least squares over the bands of the coverage gap). Uses only the errors given."""
    r, s = resid.to_numpy(float), np.maximum(stock.to_numpy(float), 1.0)
    band = np.digitize(s, SIZE_BANDS[1:-1])
    tail = (1 - level / 100) / 2
    best, best_p = np.inf, SIZE_POWERS[0]
    for p in SIZE_POWERS:
        z = r * (s / ref) ** p
        lo, hi = np.quantile(z, tail), np.quantile(z, 1 - tail)
        inside = (z >= lo) & (z <= hi)
        gap = sum((inside[band == b].mean() - level / 100) ** 2 for b in np.unique(band))
        if gap < best - 1e-12:
            best, best_p = gap, p
    return float(best_p)
