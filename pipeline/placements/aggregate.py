"""Aggregate projection of children looked after at 31 March from DfE's published annual counts.

For authorities with no child-level data: the only inputs are DfE's published counts per authority and year
(children looked after at 31 March, children who started and who ceased to be looked after in the year), in
every published vintage. The projection is backtested honestly over the real panel of every authority:

* inputs at an origin year T are the values as published by DfE's release of year T (each year's value from the
  latest release no later than T; DfE's 2020 and 2021 releases were not found, so those two years' values are
  as first available, in the 2022 release, and flagged);
* outcomes are the latest published values;
* every parameter (shrinkage weights, pooled regressions, range quantiles, the choice of method) is fitted at
  origin T only on backtest pairs whose outcome year is at most T, with outcomes as published by release T.

Boundary changes are never spliced: Bournemouth, Poole and Dorset county (replaced in April 2019 by
Bournemouth, Christchurch and Poole and Dorset Council), Northamptonshire (replaced in April 2021 by North and
West Northamptonshire) and Cumbria (replaced in April 2023 by Cumberland and Westmorland and Furness) are
separate series: a predecessor's series ends at its last 31 March, a successor's starts at its first, and no
backtest pair spans the change. Code changes with no boundary change (Northumberland, Gateshead,
Buckinghamshire, North Yorkshire, Somerset, Isles of Scilly) are one series under the current code.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA_REL = Path("data/raw/published/cla_history/cla_la_all_vintages_long.csv")
MEASURES = ("cla_at_31_march", "cla_started", "cla_ceased")
ENGLAND = "E92000001"

# Same area, new ONS code: one series under the current code.
CODE_CHANGES = {
    "E06000048": "E06000057",  # Northumberland (2014 code)
    "E08000020": "E08000037",  # Gateshead (2014 code)
    "E10000002": "E06000060",  # Buckinghamshire (unitary from April 2020, same area)
    "E10000023": "E06000065",  # North Yorkshire (unitary from April 2023, same area)
    "E10000027": "E06000066",  # Somerset (unitary from April 2023, same area)
}
OLD_CODE_FALLBACK = {"420": "E06000053"}  # Isles of Scilly published without an ONS code in 2010

# Boundary changes: separate series, never spliced.
BOUNDARY_CHANGES = {
    "E06000028": "Bournemouth: abolished April 2019 (Bournemouth, Christchurch and Poole)",
    "E06000029": "Poole: abolished April 2019 (Bournemouth, Christchurch and Poole)",
    "E10000009": "Dorset county: abolished April 2019 (Dorset Council and, for Christchurch, BCP)",
    "E06000058": "Bournemouth, Christchurch and Poole: created April 2019 (first count 31 March 2020)",
    "E06000059": "Dorset Council: created April 2019 (first count 31 March 2020)",
    "E10000021": "Northamptonshire: abolished April 2021",
    "E06000061": "North Northamptonshire: created April 2021 (first count 31 March 2022)",
    "E06000062": "West Northamptonshire: created April 2021 (first count 31 March 2022)",
    "E10000006": "Cumbria: abolished April 2023",
    "E06000063": "Cumberland: created April 2023 (first count 31 March 2024)",
    "E06000064": "Westmorland and Furness: created April 2023 (first count 31 March 2024)",
}

# Excluded from error statistics: too few children for a percentage error to mean anything.
MIN_STOCK_FOR_ERROR = 20

FIRST_RELEASE_MISSING = (2020, 2021)  # years whose first release was not found


class AggregateError(ValueError):
    """A clear, user-facing error about the aggregate projection's input or request."""


# --------------------------------------------------------------------------------------------------------- data
def load_panel(root: str | Path) -> pd.DataFrame:
    """Tidy panel: one row per (release, year, authority, measure) with the value as published in that release.

    Columns: level (Local authority / National), la_code (current code of an unchanged area; England is
    E92000001), la_name, release, year, measure, value (float; NaN where DfE suppressed or the authority did not
    exist), raw (the value exactly as published), boundary_note. Rows read = rows kept + rows dropped (regional
    rows and rate measures), checked here."""
    path = Path(root) / DATA_REL
    if not path.exists():
        raise AggregateError(f"{path}: the DfE children looked after history is missing (expected the long "
                             "all-vintages file described in its SOURCE.md)")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = ["release_year", "time_period", "geographic_level", "old_la_code", "new_la_code", "la_name",
            "measure", "value"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise AggregateError(f"{path}: columns {missing} missing; expected {need}")
    n_read = len(raw)
    keep = raw["geographic_level"].isin(["Local authority", "National"]) & raw["measure"].isin(MEASURES)
    df = raw[keep].copy()
    n_dropped = int((~keep).sum())
    assert len(df) + n_dropped == n_read
    for col in ("release_year", "time_period"):
        bad = ~df[col].str.fullmatch(r"\d{4}")
        if bad.any():
            i = df.index[bad][0]
            raise AggregateError(f"{path}: row {i + 2}, column {col}: expected a year, found {df.at[i, col]!r}")
    code = df["new_la_code"].where(df["new_la_code"] != "", df["old_la_code"].map(OLD_CODE_FALLBACK))
    code = code.where(df["geographic_level"] != "National", ENGLAND)
    if code.isna().any():
        i = df.index[code.isna()][0]
        raise AggregateError(f"{path}: row {i + 2}, column new_la_code: no authority code for "
                             f"{df.at[i, 'la_name']!r}")
    code = code.replace(CODE_CHANGES)
    value = pd.to_numeric(df["value"].str.replace(",", ""), errors="coerce")
    odd = value.isna() & ~df["value"].str.strip().isin(["z", "x", "c", "..", "-", ":", "", "k", "low"])
    if odd.any():
        i = df.index[odd][0]
        raise AggregateError(f"{path}: row {i + 2}, column value: expected a count or a DfE suppression "
                             f"marker, found {df.at[i, 'value']!r}")
    out = pd.DataFrame({
        "level": df["geographic_level"].values, "la_code": code.values, "la_name": df["la_name"].values,
        "release": df["release_year"].astype(int).values, "year": df["time_period"].astype(int).values,
        "measure": df["measure"].values, "value": value.values, "raw": df["value"].values,
    })
    out["boundary_note"] = out["la_code"].map(BOUNDARY_CHANGES).fillna("")
    # A code-changed area appears twice in a release only if both codes were published: keep the numeric one.
    n_kept = len(out)
    out = (out.sort_values(["la_code", "year", "measure", "release", "value"])
              .drop_duplicates(["la_code", "year", "measure", "release"], keep="first")
              .reset_index(drop=True))
    out.attrs["rows_read"] = n_read
    out.attrs["rows_duplicate_code_dropped"] = n_kept - len(out)
    out.attrs["rows_dropped_by_rule"] = n_dropped
    return out


def names(panel: pd.DataFrame) -> pd.Series:
    """Latest published name of each authority code."""
    return panel.sort_values("release").groupby("la_code")["la_name"].last()


def as_at(panel: pd.DataFrame, origin: int | None) -> pd.DataFrame:
    """Wide table (la_code, year) x measure of the values known at `origin` (None = latest published).

    Each year's value comes from the latest release no later than `origin`; a year with no such release (2020
    and 2021, whose releases were not found) takes its earliest available release, flagged in column
    `first_release_missing`."""
    p = panel
    if origin is not None:
        p = p[p["year"] <= origin]
        known = p[p["release"] <= origin]
        late = p[~p.set_index(["la_code", "year", "measure"]).index.isin(
            known.set_index(["la_code", "year", "measure"]).index)]
        known = known.sort_values("release").groupby(["la_code", "year", "measure"]).tail(1)
        late = late.sort_values("release").groupby(["la_code", "year", "measure"]).head(1)
        p = pd.concat([known.assign(_late=False), late.assign(_late=True)])
    else:
        p = p.sort_values("release").groupby(["la_code", "year", "measure"]).tail(1).assign(_late=False)
    wide = p.pivot_table(index=["la_code", "year"], columns="measure", values="value", aggfunc="first",
                         dropna=False)
    wide = wide.reindex(columns=list(MEASURES))
    flag = p.groupby(["la_code", "year"])["_late"].any()
    wide["first_release_missing"] = flag.reindex(wide.index).fillna(False).astype(bool)
    return wide.sort_index()


def _series(wide: pd.DataFrame, code: str) -> pd.DataFrame:
    try:
        s = wide.xs(code, level="la_code")
    except KeyError:
        return pd.DataFrame(columns=list(MEASURES))
    return s.sort_index()


def _contiguous_tail(s: pd.DataFrame, origin: int) -> pd.DataFrame:
    """The authority's history up to `origin`, cut at the last gap (a missing or suppressed stock)."""
    s = s[s.index <= origin]
    ok = s["cla_at_31_march"].notna() & (s["cla_at_31_march"] > 0)
    if s.empty or not ok.iloc[-1] or s.index[-1] != origin:
        return s.iloc[0:0]
    years = list(s.index)
    start = len(years) - 1
    while start > 0 and ok.iloc[start - 1] and years[start - 1] == years[start] - 1:
        start -= 1
    return s.iloc[start:]


# ------------------------------------------------------------------------------------------------------ methods
def _growth(hist: pd.DataFrame, k: int) -> float:
    y = np.log(hist["cla_at_31_march"].to_numpy(float))
    k = min(k, len(y) - 1)
    return (y[-1] - y[-1 - k]) / k if k >= 1 else 0.0


def _features(hist: pd.DataFrame, nat: pd.DataFrame | None) -> dict:
    """Predictors known at the origin for the pooled methods (all on the log scale)."""
    y = hist["cla_at_31_march"].to_numpy(float)
    last = hist.iloc[-1]
    g1 = _growth(hist, 1)
    g3 = _growth(hist, 3)
    st, ce = last.get("cla_started"), last.get("cla_ceased")
    flow = np.log(st / ce) if (pd.notna(st) and pd.notna(ce) and st > 0 and ce > 0) else 0.0
    lvl = np.log(y[-1]) - np.log(y[-5:]).mean()
    ng = 0.0
    if nat is not None and len(nat) >= 2:
        ng = _growth(nat, 1)
    return {"g1": g1, "g3": g3, "flow": flow, "level_gap": lvl, "nat_g1": ng}


def _ets_log(hist: pd.DataFrame, horizons) -> dict[int, float]:
    y = np.log(hist["cla_at_31_march"].to_numpy(float))
    if len(y) < 5:
        return {h: y[-1] for h in horizons}
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(y, trend="add", damped_trend=True, initialization_method="estimated").fit()
    fc = fit.forecast(max(horizons))
    return {h: float(fc[h - 1]) for h in horizons}


BASE_METHODS = ("naive", "drift3", "drift5", "netflow", "ets_damped")
POOLED_METHODS = ("shrink_growth", "pooled_lad")
COMBO = "combination"
# A candidate replaces "no change" only if its pooled out-of-sample error on the prior pairs is lower by at least
# this share. 0: the plain choice by prior backtest. (The first version scored the pooled methods on the pairs they
# were fitted on, with a 2% margin, and lost at two years: docs/aggregate.md reports every rule tried.)
CHOICE_MARGIN = 0.0
CHOICE_WINDOW = None  # score candidates on all prior origins (None) or on the latest N
ALL_METHODS = BASE_METHODS + POOLED_METHODS + (COMBO,)
LABELS = {
    "naive": "no change",
    "drift3": "three-year trend",
    "drift5": "five-year trend",
    "netflow": "last year's net flow carried forward",
    "ets_damped": "damped-trend exponential smoothing",
    "shrink_growth": "no change plus a fitted share of recent growth",
    "pooled_lad": "pooled median regression across authorities",
    "combination": "average of no change, the fitted share of growth and the pooled regression",
}


def _base_forecasts(hist: pd.DataFrame, horizons, with_ets: bool = False) -> dict[str, dict[int, float]]:
    """Log-scale point forecasts from the methods that need no pooled fit."""
    y = hist["cla_at_31_march"].to_numpy(float)
    ly = np.log(y[-1])
    out = {"naive": {h: ly for h in horizons}}
    for k in (3, 5):
        g = _growth(hist, k) if len(y) > k else 0.0
        out[f"drift{k}"] = {h: ly + h * g for h in horizons}
    last = hist.iloc[-1]
    net = (last["cla_started"] - last["cla_ceased"]) if pd.notna(last["cla_started"]) and pd.notna(
        last["cla_ceased"]) else 0.0
    out["netflow"] = {h: np.log(max(y[-1] + h * net, 1.0)) for h in horizons}
    if with_ets:
        out["ets_damped"] = _ets_log(hist, horizons)
    return out


# ------------------------------------------------------------------------------------------------ the backtest
@dataclass
class _Fits:
    phi: dict          # horizon -> shrinkage weight on three-year growth
    lad: dict          # horizon -> coefficient Series of the pooled median regression
    quantiles: dict    # (method, horizon) -> (q10, q90) of log(outcome / forecast)
    choice: dict       # horizon -> chosen method
    score: dict        # (method, horizon) -> pooled MAE % on the prior pairs


LAD_TERMS = ["const", "g1", "g3", "flow", "level_gap"]


def _design(t: pd.DataFrame) -> pd.DataFrame:
    return t.assign(const=1.0)[LAD_TERMS]


def _pairs(panel: pd.DataFrame, origins, horizons, with_ets: bool = False) -> pd.DataFrame:
    """Every (authority, origin, horizon) with inputs as known at the origin: features and base forecasts.

    Outcome columns are filled later against a chosen vintage."""
    rows = []
    for o in origins:
        wide = as_at(panel, o)
        nat = _contiguous_tail(_series(wide, ENGLAND), o)
        codes = wide.index.get_level_values("la_code").unique()
        for code in codes:
            if code == ENGLAND:
                continue
            hist = _contiguous_tail(_series(wide, code), o)
            if len(hist) < 2:
                continue
            feats = _features(hist, nat)
            base = _base_forecasts(hist, horizons, with_ets)
            for h in horizons:
                r = {"la_code": code, "origin": o, "horizon": h, "stock_origin": hist["cla_at_31_march"].iloc[-1],
                     "inputs_first_release_missing": bool(hist["first_release_missing"].iloc[-1]), **feats}
                for m, f in base.items():
                    r[m] = f[h]
                rows.append(r)
    return pd.DataFrame(rows)


def _attach_outcomes(pairs: pd.DataFrame, wide: pd.DataFrame) -> pd.DataFrame:
    st = wide["cla_at_31_march"]
    if pairs.empty:
        return pairs.assign(outcome=pd.Series(dtype=float), y_log=pd.Series(dtype=float))
    key = pd.MultiIndex.from_arrays([pairs["la_code"], pairs["origin"] + pairs["horizon"]])
    out = pairs.copy()
    out["outcome"] = st.reindex(key).to_numpy()
    # no pair spans a gap (a boundary change or a missing year): every year between origin and outcome exists
    ok = out["outcome"].notna() & (out["outcome"] > 0)
    for step in range(1, int(out["horizon"].max())):
        mid = pd.MultiIndex.from_arrays([out["la_code"], out["origin"] + step])
        ok &= ~((out["horizon"] > step) & st.reindex(mid).isna().to_numpy())
    out = out[ok & (out["stock_origin"] >= MIN_STOCK_FOR_ERROR)].copy()
    out["y_log"] = np.log(out["outcome"])
    return out


def _ape(logf, outcome):
    return np.abs(np.exp(logf) - outcome) / outcome * 100


def _fit_params(train: pd.DataFrame, horizons, min_pairs: int = 100) -> _Fits:
    """The pooled methods' parameters (growth share, median regression), from pairs known at the origin."""
    import statsmodels.api as sm
    phi, lad = {}, {}
    grid = np.round(np.arange(-0.5, 1.51, 0.05), 2)
    for h in horizons:
        t = train[train["horizon"] == h]
        if len(t) < min_pairs:
            phi[h], lad[h] = 0.0, None
            continue
        errs = [np.mean(np.abs(np.exp(t["naive"] + h * p * t["g3"] - t["y_log"]) - 1)) for p in grid]
        phi[h] = float(grid[int(np.argmin(errs))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.QuantReg(t["y_log"] - t["naive"], _design(t)).fit(q=0.5, max_iter=5000)
        lad[h] = res.params
    return _Fits(phi, lad, {}, {}, {})


def _choose(fits: _Fits, scored_pairs: pd.DataFrame, horizons, min_pairs: int = 100) -> _Fits:
    """Score every method on prior pairs whose forecasts were made out of sample (each with the parameters
    fitted at its own origin) and whose outcomes were known at the origin; choose, and set the range quantiles
    from the chosen method's residuals there."""
    for h in horizons:
        t = scored_pairs[scored_pairs["horizon"] == h]
        if CHOICE_WINDOW and len(t):
            t = t[t["origin"] > t["origin"].max() - CHOICE_WINDOW]
        for m in ALL_METHODS:
            if m not in t or len(t) < min_pairs or t[m].isna().all():
                continue
            resid = t["y_log"] - t[m]
            fits.quantiles[(m, h)] = (float(resid.quantile(0.10)), float(resid.quantile(0.90)))
            fits.score[(m, h)] = float(_ape(t[m], t["outcome"]).mean())
        # No change unless a candidate beat it on the prior pairs by at least CHOICE_MARGIN (relative).
        scored = {m: v for (m, hh), v in fits.score.items() if hh == h and m != "ets_damped"}
        best = min(scored, key=scored.get) if scored else "naive"
        if "naive" in scored and scored[best] > scored["naive"] * (1 - CHOICE_MARGIN):
            best = "naive"
        fits.choice[h] = best
    return fits


def _fits_at(panel: pd.DataFrame, pairs: pd.DataFrame, origin: int, horizons, cache: dict | None = None,
             first_training_origin: int = 2011) -> _Fits:
    """Everything the projection uses at `origin`, learned only from what was published by then.

    Parameters at each earlier origin o are fitted on pairs known at o (cached); the choice and ranges at
    `origin` come from those out-of-sample forecasts of prior pairs, scored against outcomes known at `origin`."""
    cache = {} if cache is None else cache
    known_at = {}

    def params(o):
        if o not in cache:
            wide = known_at.setdefault(o, as_at(panel, o))
            train = _attach_outcomes(pairs[pairs["origin"] + pairs["horizon"] <= o], wide)
            cache[o] = _fit_params(train, horizons)
        return cache[o]

    wide_t = known_at.setdefault(origin, as_at(panel, origin))
    oos = []
    for o in range(first_training_origin, origin):
        prior = pairs[(pairs["origin"] == o) & (pairs["origin"] + pairs["horizon"] <= origin)]
        if prior.empty:
            continue
        p = params(o)
        for h in horizons:
            oos.append(_pooled_forecasts(prior[prior["horizon"] == h], p, h))
    scored = _attach_outcomes(pd.concat(oos, ignore_index=True), wide_t) if oos else pairs.iloc[0:0]
    p = params(origin)
    fits = _Fits(dict(p.phi), dict(p.lad), {}, {}, {})
    return _choose(fits, scored, horizons)


def _pooled_forecasts(t: pd.DataFrame, fits: _Fits, h: int) -> pd.DataFrame:
    t = t.copy()
    t["shrink_growth"] = t["naive"] + h * fits.phi.get(h, 0.0) * t["g3"]
    coef = fits.lad.get(h)
    if coef is not None:
        X = _design(t)
        t["pooled_lad"] = t["naive"] + X.to_numpy() @ coef.to_numpy()
    else:
        t["pooled_lad"] = t["naive"]
    t[COMBO] = t[["naive", "shrink_growth", "pooled_lad"]].mean(axis=1)
    return t


def backtest(panel: pd.DataFrame, origins=range(2014, 2024), horizons=(1, 2), first_training_origin: int = 2011,
             with_ets: bool = False, _pairs_cache: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rolling-origin backtest: one row per (authority, origin, horizon) with every method's forecast, the chosen
    method (chosen at each origin from prior pairs only), the 80% range and the absolute % errors.

    Inputs are as published at the origin, outcomes as latest published. Pairs with fewer than
    MIN_STOCK_FOR_ERROR children at the origin are left out of the error statistics (Isles of Scilly, City of
    London); pairs spanning a boundary change cannot occur (the series are separate)."""
    origins = list(origins)
    horizons = tuple(horizons)
    all_origins = list(range(first_training_origin, max(origins) + 1))
    pairs = _pairs_cache if _pairs_cache is not None else _pairs(panel, all_origins, horizons, with_ets)
    latest = as_at(panel, None)
    out = []
    cache: dict = {}
    for o in origins:
        fits = _fits_at(panel, pairs, o, horizons, cache, first_training_origin)
        test = _attach_outcomes(pairs[pairs["origin"] == o], latest)
        for h in horizons:
            t = _pooled_forecasts(test[test["horizon"] == h], fits, h)
            ch = fits.choice[h]
            t["chosen_method"] = ch
            t["chosen"] = t[ch]
            lo, hi = fits.quantiles.get((ch, h), (np.nan, np.nan))
            t["low80"] = np.exp(t["chosen"] + lo)
            t["high80"] = np.exp(t["chosen"] + hi)
            for m in ALL_METHODS + ("chosen",):
                if m in t:
                    t[f"ape_{m}"] = _ape(t[m], t["outcome"])
            t["in_range80"] = (t["outcome"] >= t["low80"]) & (t["outcome"] <= t["high80"])
            out.append(t)
    res = pd.concat(out, ignore_index=True)
    res["la_name"] = res["la_code"].map(names(panel))
    return res


def chosen_at(panel: pd.DataFrame, origin: int, horizons=(1, 2), first_training_origin: int = 2011,
              with_ets: bool = False) -> dict[int, str]:
    """The method the projection would use at `origin`, per horizon (from pairs known at the origin only)."""
    pairs = _pairs(panel, range(first_training_origin, origin), horizons, with_ets)
    return _fits_at(panel, pairs, origin, tuple(horizons), None, first_training_origin).choice


# ---------------------------------------------------------------------------------------------- the projection
def resolve(panel: pd.DataFrame, authority: str) -> str:
    """An authority code from a code or a name; unknown gives a clear error listing the nearest names."""
    nm = names(panel)
    if authority in nm.index:
        return authority
    by_name = {n.lower(): c for c, n in nm.items()}
    if str(authority).lower() in by_name:
        return by_name[str(authority).lower()]
    near = difflib.get_close_matches(str(authority).lower(), list(by_name), n=5, cutoff=0.4)
    hint = ", ".join(f"{nm[by_name[n]]} ({by_name[n]})" for n in near) or "none close"
    raise AggregateError(f"no authority {authority!r} in DfE's published children looked after counts; "
                         f"nearest names: {hint}")


def project(panel: pd.DataFrame, authority_code: str, origin_year: int, horizons=(1, 2),
            first_training_origin: int = 2011, with_ets: bool = False) -> pd.DataFrame:
    """Projection of children looked after at 31 March for one authority from `origin_year`'s published counts.

    One row per horizon: year, point, low80, high80, method (the one the backtest up to the origin chose),
    method_label, stock_at_origin, inputs_first_release_missing (the origin's count is as revised later, its
    own release not having been found), boundary_note (the authority was created or abolished by a boundary
    change). Uses only what was published by the origin year's release."""
    code = resolve(panel, authority_code)
    horizons = tuple(horizons)
    wide = as_at(panel, origin_year)
    hist = _contiguous_tail(_series(wide, code), origin_year)
    if len(hist) < 2:
        raise AggregateError(f"{names(panel)[code]} ({code}): fewer than two consecutive published counts at "
                             f"31 March up to {origin_year}; no projection (a new authority after a boundary "
                             "change, or suppressed counts)")
    pairs = _pairs(panel, range(first_training_origin, origin_year), horizons, with_ets)
    fits = _fits_at(panel, pairs, origin_year, horizons, None, first_training_origin)
    nat = _contiguous_tail(_series(wide, ENGLAND), origin_year)
    feats = _features(hist, nat)
    base = _base_forecasts(hist, horizons, with_ets)
    rows = []
    for h in horizons:
        r = pd.DataFrame([{**feats, **{m: f[h] for m, f in base.items()}}])
        r = _pooled_forecasts(r, fits, h)
        m = fits.choice[h]
        lo, hi = fits.quantiles.get((m, h), (np.nan, np.nan))
        point = float(np.exp(r[m].iloc[0]))
        rows.append({"la_code": code, "la_name": names(panel)[code], "origin_year": origin_year,
                     "year": origin_year + h, "horizon": h, "point": point, "low80": point * np.exp(lo),
                     "high80": point * np.exp(hi), "method": m, "method_label": LABELS[m],
                     "stock_at_origin": float(hist["cla_at_31_march"].iloc[-1]),
                     "inputs_first_release_missing": bool(hist["first_release_missing"].iloc[-1]),
                     "boundary_note": BOUNDARY_CHANGES.get(code, "")})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------- summaries
def bootstrap_mae(errors: pd.DataFrame, col: str, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean absolute % error with a 95% interval from resampling authorities (all their origins together)."""
    g = errors.groupby("la_code")[col].agg(["sum", "count"])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(g), size=(n_boot, len(g)))
    s, c = g["sum"].to_numpy()[idx].sum(1), g["count"].to_numpy()[idx].sum(1)
    est = g["sum"].sum() / g["count"].sum()
    lo, hi = np.percentile(s / c, [2.5, 97.5])
    return float(est), float(lo), float(hi)


def bootstrap_diff(errors: pd.DataFrame, col: str, base: str = "ape_naive", n_boot: int = 2000,
                   seed: int = 0) -> tuple[float, float, float]:
    """Difference in mean absolute % error (col minus base, percentage points) with a paired 95% interval."""
    e = errors.assign(_d=errors[col] - errors[base])
    return bootstrap_mae(e, "_d", n_boot, seed)
