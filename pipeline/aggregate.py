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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DATA_REL = Path("data/raw/published/cla_history/cla_la_all_vintages_long.csv")
# ONS mid-year estimates of children aged 0 to 17 by authority (DfE's copy; see data/raw/published/README.md)
POP_REL = Path("data/raw/published/dfe/ons_mid-year_population_estimates_2012_to_2024.csv")
MEASURES = ("cla_at_31_march", "cla_started", "cla_ceased")
POP = "child_population"  # panel measure: children aged 0 to 17 (mid-year); year Y counted as known from Y + 1
ENGLAND = "E92000001"
# Authorities abolished before the population file's geography (all in the South West region)
REGION_EXTRA = {"E06000028": "E12000009", "E06000029": "E12000009", "E10000009": "E12000009"}

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
def load_population(root: str | Path) -> pd.DataFrame:
    """ONS mid-year estimates of children aged 0 to 17: la_code (as in the panel; England E92000001), year,
    population, region_code. One vintage (the estimates as revised to 2024), so earlier years are as revised,
    not as first published; an estimate for mid-year Y is treated as known from 31 March Y + 1."""
    path = Path(root) / POP_REL
    if not path.exists():
        raise AggregateError(f"{path}: ONS population estimates of children aged 0 to 17 are missing (the "
                             "aggregate projection uses them for each authority's rate per 10,000 children)")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = ["time_period", "geographic_level", "region_code", "new_la_code", "age_group", "population_estimate"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise AggregateError(f"{path}: columns {missing} missing; expected {need}")
    d = raw[raw["geographic_level"].isin(["Local authority", "National"])
            & raw["age_group"].str.contains("0 to 17")].copy()
    bad = ~d["time_period"].str.fullmatch(r"\d{4}")
    if bad.any():
        i = d.index[bad][0]
        raise AggregateError(f"{path}: row {i + 2}, column time_period: expected a year, found "
                             f"{d.at[i, 'time_period']!r}")
    code = d["new_la_code"].where(d["geographic_level"] != "National", ENGLAND).replace(CODE_CHANGES)
    out = pd.DataFrame({"la_code": code.values, "la_name": d["la_name"].values,
                        "year": d["time_period"].astype(int).values,
                        "population": pd.to_numeric(d["population_estimate"], errors="coerce").values,
                        "region_code": d["region_code"].values})
    return out[out["la_code"] != ""].drop_duplicates(["la_code", "year"]).reset_index(drop=True)


def load_panel(root: str | Path) -> pd.DataFrame:
    """Tidy panel: one row per (release, year, authority, measure) with the value as published in that release.

    Columns: level (Local authority / National), la_code (current code of an unchanged area; England is
    E92000001), la_name, release, year, measure, value (float; NaN where DfE suppressed or the authority did not
    exist), raw (the value exactly as published), boundary_note, region_code. Rows read = rows kept + rows
    dropped (regional rows and rate measures), checked here. ONS estimates of children aged 0 to 17 are added as
    measure `child_population`, release year + 1 (attrs rows_population)."""
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
    # A code-changed area appears twice in a release only if both codes were published: keep the numeric one.
    n_kept = len(out)
    out = (out.sort_values(["la_code", "year", "measure", "release", "value"])
              .drop_duplicates(["la_code", "year", "measure", "release"], keep="first"))
    n_dup = n_kept - len(out)
    pop = load_population(root)
    pop = pop[pop["la_code"].isin(set(out["la_code"]))]
    out = pd.concat([out, pd.DataFrame({
        "level": np.where(pop["la_code"] == ENGLAND, "National", "Local authority"), "la_code": pop["la_code"],
        "la_name": pop["la_name"], "release": pop["year"] + 1, "year": pop["year"], "measure": POP,
        "value": pop["population"], "raw": pop["population"].astype(str)})], ignore_index=True)
    region = {**pop.dropna(subset=["population"]).groupby("la_code")["region_code"].last().to_dict(),
              **REGION_EXTRA, ENGLAND: ""}
    out["region_code"] = out["la_code"].map(region).fillna("")
    out["boundary_note"] = out["la_code"].map(BOUNDARY_CHANGES).fillna("")
    out = out.sort_values(["la_code", "year", "measure", "release"]).reset_index(drop=True)
    out.attrs["rows_read"] = n_read
    out.attrs["rows_duplicate_code_dropped"] = n_dup
    out.attrs["rows_dropped_by_rule"] = n_dropped
    out.attrs["rows_population"] = len(pop)
    return out


def names(panel: pd.DataFrame) -> pd.Series:
    """Latest published name of each authority code (DfE's spelling)."""
    p = panel[panel["measure"].isin(MEASURES)]
    return p.sort_values("release").groupby("la_code")["la_name"].last()


def as_at(panel: pd.DataFrame, origin: int | None) -> pd.DataFrame:
    """Wide table (la_code, year) x measure of the values known at `origin` (None = latest published).

    Each year's value comes from the latest release no later than `origin`; a year with no such release (2020
    and 2021, whose releases were not found) takes its earliest available release, flagged in column
    `first_release_missing`. The child population of mid-year Y counts as published with release Y + 1 (never
    taken early). Column region_code: the authority's region (blank for England)."""
    p = panel
    if origin is not None:
        p = p[p["year"] <= origin]
        known = p[p["release"] <= origin]
        late = p[~p.set_index(["la_code", "year", "measure"]).index.isin(
            known.set_index(["la_code", "year", "measure"]).index) & (p["measure"] != POP)]
        known = known.sort_values("release").groupby(["la_code", "year", "measure"]).tail(1)
        late = late.sort_values("release").groupby(["la_code", "year", "measure"]).head(1)
        p = pd.concat([known.assign(_late=False), late.assign(_late=True)])
    else:
        p = p.sort_values("release").groupby(["la_code", "year", "measure"]).tail(1).assign(_late=False)
    wide = p.pivot_table(index=["la_code", "year"], columns="measure", values="value", aggfunc="first",
                         dropna=False)
    wide = wide.reindex(columns=list(MEASURES) + [POP])
    flag = p[p["measure"] != POP].groupby(["la_code", "year"])["_late"].any()
    wide["first_release_missing"] = flag.reindex(wide.index).fillna(False).astype(bool)
    if "region_code" in panel:
        region = panel.groupby("la_code")["region_code"].first()
        wide["region_code"] = region.reindex(wide.index.get_level_values("la_code")).fillna("").to_numpy()
    wide.attrs = {}  # the panel's row counts do not describe this table (and pandas would copy them at every step)
    return wide.sort_index()


def _series(wide: pd.DataFrame, code: str) -> pd.DataFrame:
    try:
        s = wide.xs(code, level="la_code")
    except KeyError:
        return pd.DataFrame(columns=list(MEASURES))
    return s if s.index.is_monotonic_increasing else s.sort_index()


def _contiguous_tail(s: pd.DataFrame, origin: int) -> pd.DataFrame:
    """The authority's history up to `origin`, cut at the last gap (a missing or suppressed stock)."""
    years = s.index.to_numpy()
    s = s.iloc[:int(np.searchsorted(years, origin, side="right"))]
    v = s["cla_at_31_march"].to_numpy(float)
    ok = np.isfinite(v) & (v > 0)
    years = years[:len(s)]
    if s.empty or not ok[-1] or years[-1] != origin:
        return s.iloc[0:0]
    start = len(years) - 1
    while start > 0 and ok[start - 1] and years[start - 1] == years[start] - 1:
        start -= 1
    return s.iloc[start:]


# ------------------------------------------------------------------------------------------------------ methods
def _growth(hist: pd.DataFrame, k: int) -> float:
    y = np.log(hist["cla_at_31_march"].to_numpy(float))
    k = min(k, len(y) - 1)
    return (y[-1] - y[-1 - k]) / k if k >= 1 else 0.0


def _last(hist: pd.DataFrame, col: str) -> float:
    """The column's value at the origin (NaN if absent)."""
    return float(hist[col].to_numpy(float)[-1]) if col in hist else np.nan


def _log_rate(hist: pd.DataFrame) -> float:
    """Log of children looked after per child aged 0 to 17 at the origin, with the latest population estimate
    known then (mid-year before the origin); NaN when none is known (origins before 2013, abolished areas)."""
    if POP not in hist:
        return np.nan
    pop = hist[POP].to_numpy(float)
    pop = pop[np.isfinite(pop) & (pop > 0)]
    if not len(pop):
        return np.nan
    return float(np.log(hist["cla_at_31_march"].to_numpy(float)[-1]) - np.log(pop[-1]))


def _features(hist: pd.DataFrame, nat: pd.DataFrame | None, refs: dict | None = None) -> dict:
    """Predictors known at the origin for the pooled methods (all on the log scale). With `refs` (the regional
    and England rates at the origin, `_rate_refs`), also the gap of the authority's rate per child to its
    region's median and to England's."""
    y = hist["cla_at_31_march"].to_numpy(float)
    ly = np.log(y)
    g1 = ly[-1] - ly[-2] if len(y) >= 2 else 0.0
    k = min(3, len(y) - 1)
    g3 = (ly[-1] - ly[-1 - k]) / k if k >= 1 else 0.0
    st, ce = (_last(hist, c) for c in ("cla_started", "cla_ceased"))
    flow = np.log(st / ce) if (np.isfinite(st) and np.isfinite(ce) and st > 0 and ce > 0) else 0.0
    lvl = np.log(y[-1]) - np.log(y[-5:]).mean()
    ng = 0.0
    if nat is not None and len(nat) >= 2:
        ng = _growth(nat, 1)
    region = str(hist["region_code"].to_numpy()[-1] or "") if "region_code" in hist else ""
    out = {"g1": g1, "g3": g3, "flow": flow, "level_gap": lvl, "nat_g1": ng, "lrate": _log_rate(hist),
           "region_code": region}
    if refs is not None:
        out.update(_rate_gaps(out["lrate"], region, refs))
    return out


def _rate_refs(lrates: pd.DataFrame, nat_lrate: float) -> dict:
    """Reference rates at an origin: median log rate per region over its authorities, and England's."""
    ok = lrates.dropna(subset=["lrate"])
    ok = ok[ok["region_code"] != ""]
    return {"region": ok.groupby("region_code")["lrate"].median().to_dict(), "england": nat_lrate}


def _rate_gaps(lrate: float, region: str, refs: dict) -> dict:
    """Gap of an authority's log rate to its region's median and to England (0 where either is unknown:
    the rate terms then add nothing)."""
    reg = refs.get("region", {}).get(region, np.nan)
    gr = lrate - reg if np.isfinite(lrate) and np.isfinite(reg) else 0.0
    eng = refs.get("england", np.nan)
    ge = lrate - eng if np.isfinite(lrate) and eng is not None and np.isfinite(eng) else 0.0
    return {"rate_gap_region": float(np.clip(gr, -1.5, 1.5)), "rate_gap_england": float(np.clip(ge, -1.5, 1.5))}


def _refs_at(wide: pd.DataFrame, origin: int) -> dict:
    """`_rate_refs` at `origin` from a wide as-at table (every authority with a count at the origin)."""
    rows = []
    for code in wide.index.get_level_values("la_code").unique():
        if code == ENGLAND:
            continue
        hist = _contiguous_tail(_series(wide, code), origin)
        if len(hist):
            rows.append({"lrate": _log_rate(hist), "region_code": str(hist["region_code"].iloc[-1])
                         if "region_code" in hist else ""})
    nat = _contiguous_tail(_series(wide, ENGLAND), origin)
    return _rate_refs(pd.DataFrame(rows, columns=["lrate", "region_code"]), _log_rate(nat) if len(nat) else np.nan)


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
POOLED_METHODS = ("shrink_growth", "pooled_lad", "pooled_rate", "pooled_rate_trend")
COMBO = "combination"
WEIGHTED = "weighted"
# A candidate replaces "no change" only if its pooled out-of-sample error on the prior pairs is lower by at least
# this share. 0: the plain choice by prior backtest. (The first version scored the pooled methods on the pairs they
# were fitted on, with a 2% margin, and lost at two years: docs/aggregate.md reports every rule tried.)
CHOICE_MARGIN = 0.0
CHOICE_WINDOW = None  # score candidates on all prior origins (None) or on the latest N
ALL_METHODS = BASE_METHODS + POOLED_METHODS + (COMBO, WEIGHTED)
# The candidates the choice may pick (damped exponential smoothing is measured only: slow and far behind).
PREVIOUS_CANDIDATES = ("naive", "drift3", "drift5", "netflow", "shrink_growth", "pooled_lad", COMBO)
# The rule used: always the weighted combination of no change and the rate-adjusted projection (its weight per
# horizon learned at each origin from prior out-of-sample errors). Choosing freely among all candidates won on
# origins 2014-2019 but lost to no change on 2020-2023 (it picked the pooled average change, which carried the
# growth to 2019 past the national turn); docs/aggregate.md has every rule's figures and says this rule was
# settled after seeing 2020-2023. Set CANDIDATES to several methods to choose among them at each origin.
CANDIDATES = (WEIGHTED,)
LEVELS = (50, 80, 95)  # central range levels (%), from out-of-sample residual quantiles (conformal style)
LABELS = {
    "naive": "no change",
    "drift3": "three-year trend",
    "drift5": "five-year trend",
    "netflow": "last year's net flow carried forward",
    "ets_damped": "damped-trend exponential smoothing",
    "shrink_growth": "no change plus a fitted share of recent growth",
    "pooled_lad": "pooled median regression across authorities",
    "pooled_rate": "no change adjusted toward the regional rate per child and for last year's change",
    "pooled_rate_trend": "the same with the pooled average change added",
    "combination": "average of no change, the fitted share of growth and the pooled regression",
    "weighted": "no change and the rate-adjusted projection, weighted by past accuracy",
}


def _base_forecasts(hist: pd.DataFrame, horizons, with_ets: bool = False) -> dict[str, dict[int, float]]:
    """Log-scale point forecasts from the methods that need no pooled fit."""
    y = hist["cla_at_31_march"].to_numpy(float)
    ly = np.log(y[-1])
    out = {"naive": {h: ly for h in horizons}}
    for k in (3, 5):
        g = _growth(hist, k) if len(y) > k else 0.0
        out[f"drift{k}"] = {h: ly + h * g for h in horizons}
    st, ce = _last(hist, "cla_started"), _last(hist, "cla_ceased")
    net = st - ce if np.isfinite(st) and np.isfinite(ce) else 0.0
    out["netflow"] = {h: np.log(max(y[-1] + h * net, 1.0)) for h in horizons}
    if with_ets:
        out["ets_damped"] = _ets_log(hist, horizons)
    return out


# ------------------------------------------------------------------------------------------------ the backtest
@dataclass
class _Fits:
    phi: dict          # horizon -> shrinkage weight on three-year growth
    lad: dict          # horizon -> coefficient Series of the pooled median regression
    quantiles: dict    # (method, horizon) -> (q10, q90) of log(outcome / forecast): the 80% range
    choice: dict       # horizon -> chosen method
    score: dict        # (method, horizon) -> pooled MAE % on the prior pairs
    rate: dict = field(default_factory=dict)    # (method, horizon) -> coefficient Series (pooled_rate[_trend])
    weight: dict = field(default_factory=dict)  # horizon -> weight on pooled_rate in the weighted combination
    ranges: dict = field(default_factory=dict)  # (method, horizon) -> {level: (low, high) log quantiles}
    refs: dict = field(default_factory=dict)    # regional and England log rates at the origin


LAD_TERMS = ["const", "g1", "g3", "flow", "level_gap"]
RATE_TERMS = ["rate_gap_region", "g1"]


def _design(t: pd.DataFrame) -> pd.DataFrame:
    return t.assign(const=1.0)[LAD_TERMS]


def _rate_design(t: pd.DataFrame, trend: bool) -> np.ndarray:
    X = np.column_stack([t["rate_gap_region"].to_numpy(float), np.clip(t["g1"].to_numpy(float), -0.5, 0.5)])
    return np.column_stack([X, np.ones(len(t))]) if trend else X


def _pairs(panel: pd.DataFrame, origins, horizons, with_ets: bool = False) -> pd.DataFrame:
    """Every (authority, origin, horizon) with inputs as known at the origin: features and base forecasts.

    Outcome columns are filled later against a chosen vintage."""
    rows = []
    for o in origins:
        wide = as_at(panel, o)
        nat = _contiguous_tail(_series(wide, ENGLAND), o)
        codes = wide.index.get_level_values("la_code").unique()
        at_o = []
        for code in codes:
            if code == ENGLAND:
                continue
            hist = _contiguous_tail(_series(wide, code), o)
            if len(hist) < 1:
                continue
            feats = _features(hist, nat)
            at_o.append({"lrate": feats["lrate"], "region_code": feats["region_code"]})
            if len(hist) < 2:
                continue
            base = _base_forecasts(hist, horizons, with_ets)
            for h in horizons:
                r = {"la_code": code, "origin": o, "horizon": h, "stock_origin": _last(hist, "cla_at_31_march"),
                     "inputs_first_release_missing": bool(hist["first_release_missing"].to_numpy()[-1]), **feats}
                for m, f in base.items():
                    r[m] = f[h]
                rows.append(r)
        refs = _rate_refs(pd.DataFrame(at_o, columns=["lrate", "region_code"]),
                          _log_rate(nat) if len(nat) else np.nan)
        for r in rows:
            if r["origin"] == o:
                r.update(_rate_gaps(r["lrate"], r["region_code"], refs))
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
    """The pooled methods' parameters (growth share, median regression, rate regressions), from pairs known at
    the origin."""
    import statsmodels.api as sm
    phi, lad, rate = {}, {}, {}
    grid = np.round(np.arange(-0.5, 1.51, 0.05), 2)
    for h in horizons:
        t = train[train["horizon"] == h] if len(train) else train
        if len(t) < min_pairs:
            phi[h], lad[h] = 0.0, None
            continue
        nv, g3, yl = (t[c].to_numpy(float) for c in ("naive", "g3", "y_log"))
        errs = [np.mean(np.abs(np.exp(nv + h * p * g3 - yl) - 1)) for p in grid]
        phi[h] = float(grid[int(np.argmin(errs))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.QuantReg(t["y_log"] - t["naive"], _design(t)).fit(q=0.5, max_iter=5000)
        lad[h] = res.params
        # least squares of the log change on the rate gap and last year's change (with and without the pooled
        # average change): minimum-norm, so a term with no information yet (no population known) gets 0
        d = (t["y_log"] - t["naive"]).to_numpy(float)
        for m, trend in (("pooled_rate", False), ("pooled_rate_trend", True)):
            rate[(m, h)] = np.linalg.lstsq(_rate_design(t, trend), d, rcond=None)[0]
    return _Fits(phi, lad, {}, {}, {}, rate=rate)


def _pooled_forecasts(t: pd.DataFrame, fits: _Fits, h: int) -> pd.DataFrame:
    t = t.copy()
    if "rate_gap_region" not in t:  # rows from `_features` without refs: gaps from the fits' origin
        gaps = [_rate_gaps(lr, rg, fits.refs) for lr, rg in zip(t.get("lrate", np.nan * np.ones(len(t))),
                                                                t.get("region_code", [""] * len(t)))]
        t["rate_gap_region"] = [g["rate_gap_region"] for g in gaps]
        t["rate_gap_england"] = [g["rate_gap_england"] for g in gaps]
    t["shrink_growth"] = t["naive"] + h * fits.phi.get(h, 0.0) * t["g3"]
    coef = fits.lad.get(h)
    if coef is not None:
        X = _design(t)
        t["pooled_lad"] = t["naive"] + X.to_numpy() @ coef.to_numpy()
    else:
        t["pooled_lad"] = t["naive"]
    for m, trend in (("pooled_rate", False), ("pooled_rate_trend", True)):
        b = fits.rate.get((m, h))
        t[m] = t["naive"] + (_rate_design(t, trend) @ b if b is not None else 0.0)
    t[COMBO] = t[["naive", "shrink_growth", "pooled_lad"]].mean(axis=1)
    w = fits.weight.get(h, 0.0)
    t[WEIGHTED] = w * t["pooled_rate"] + (1 - w) * t["naive"]
    return t


def _choose(fits: _Fits, scored_pairs: pd.DataFrame, horizons, min_pairs: int = 100) -> _Fits:
    """Score every method on prior pairs whose forecasts were made out of sample (each with the parameters
    fitted at its own origin) and whose outcomes were known at the origin; fit the combination weight on them;
    choose, and set the ranges from the chosen method's residuals there."""
    for h in horizons:
        t = scored_pairs[scored_pairs["horizon"] == h] if len(scored_pairs) else scored_pairs
        if CHOICE_WINDOW and len(t):
            t = t[t["origin"] > t["origin"].max() - CHOICE_WINDOW]
        if len(t) >= min_pairs:
            grid = np.round(np.arange(0, 1.01, 0.05), 2)
            pr, nv, out = (t[c].to_numpy(float) for c in ("pooled_rate", "naive", "outcome"))
            errs = [_ape(w * pr + (1 - w) * nv, out).mean() for w in grid]
            fits.weight[h] = float(grid[int(np.argmin(errs))])
        for m in ALL_METHODS:
            if m not in t or len(t) < min_pairs or t[m].isna().all():
                continue
            resid = t["y_log"] - t[m]
            fits.ranges[(m, h)] = {lv: (float(resid.quantile((1 - lv / 100) / 2)),
                                        float(resid.quantile(1 - (1 - lv / 100) / 2))) for lv in LEVELS}
            fits.quantiles[(m, h)] = fits.ranges[(m, h)][80]
            fits.score[(m, h)] = float(_ape(t[m], t["outcome"]).mean())
        # No change unless a candidate beat it on the prior pairs by at least CHOICE_MARGIN (relative).
        scored = {m: v for (m, hh), v in fits.score.items() if hh == h and m in CANDIDATES}
        best = min(scored, key=scored.get) if scored else "naive"
        if "naive" in scored and scored[best] > scored["naive"] * (1 - CHOICE_MARGIN):
            best = "naive"
        fits.choice[h] = best
    return fits


def _fits_at(panel: pd.DataFrame, pairs: pd.DataFrame, origin: int, horizons, cache: dict | None = None,
             first_training_origin: int = 2011, with_refs: bool = True) -> _Fits:
    """Everything the projection uses at `origin`, learned only from what was published by then.

    Parameters at each earlier origin o are fitted on pairs known at o; the combination weight, the choice and
    the ranges at `origin` come from out-of-sample forecasts of prior pairs (each made with everything fitted
    at its own origin o, including o's own weight), scored against outcomes known at `origin`. With
    `with_refs`, also the regional and England rates at `origin` (needed to project rows made by `_features`
    without them; the backtest's pairs carry their own)."""
    cache = {} if cache is None else cache
    known_at = cache.setdefault("_wide", {})

    def wide(o):
        if o not in known_at:
            known_at[o] = as_at(panel, o)
        return known_at[o]

    def params(o):
        if ("params", o) not in cache:
            train = _attach_outcomes(pairs[pairs["origin"] + pairs["horizon"] <= o], wide(o))
            cache[("params", o)] = _fit_params(train, horizons)
        return cache[("params", o)]

    def full(o):
        if ("fits", o) in cache:
            return cache[("fits", o)]
        oos = []
        for oo in range(first_training_origin, o):
            prior = pairs[(pairs["origin"] == oo) & (pairs["origin"] + pairs["horizon"] <= o)]
            if prior.empty:
                continue
            f = full(oo)
            for h in horizons:
                oos.append(_pooled_forecasts(prior[prior["horizon"] == h], f, h))
        scored = _attach_outcomes(pd.concat(oos, ignore_index=True), wide(o)) if oos else pairs.iloc[0:0]
        p = params(o)
        fits = _Fits(dict(p.phi), dict(p.lad), {}, {}, {}, rate=dict(p.rate))
        fits = _choose(fits, scored, horizons)
        cache[("fits", o)] = fits
        return fits

    fits = full(origin)
    if with_refs and not fits.refs:
        fits.refs = _refs_at(wide(origin), origin)
    return fits


def _add_ranges(t: pd.DataFrame, fits: _Fits, h: int) -> pd.DataFrame:
    ch = fits.choice[h]
    t["chosen_method"] = ch
    t["chosen"] = t[ch]
    for lv in LEVELS:
        lo, hi = fits.ranges.get((ch, h), {}).get(lv, (np.nan, np.nan))
        t[f"low{lv}"] = np.exp(t["chosen"] + lo)
        t[f"high{lv}"] = np.exp(t["chosen"] + hi)
    return t


def interval_score(low, high, y, level: int):
    """Interval score (Gneiting and Raftery) of a central range at `level` %, as % of the outcome: width plus
    2/alpha times the distance by which the outcome falls outside. Lower is better."""
    a = 1 - level / 100
    low, high, y = (np.asarray(v, float) for v in (low, high, y))
    return ((high - low) + 2 / a * np.maximum(low - y, 0) + 2 / a * np.maximum(y - high, 0)) / y * 100


def backtest(panel: pd.DataFrame, origins=range(2014, 2024), horizons=(1, 2), first_training_origin: int = 2011,
             with_ets: bool = False, _pairs_cache: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rolling-origin backtest: one row per (authority, origin, horizon) with every method's forecast, the chosen
    method (chosen at each origin from prior pairs only), the 50/80/95% ranges, whether each held the outcome,
    their interval scores (% of the outcome) and the absolute % errors.

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
        fits = _fits_at(panel, pairs, o, horizons, cache, first_training_origin, with_refs=False)
        test = _attach_outcomes(pairs[pairs["origin"] == o], latest)
        for h in horizons:
            t = _add_ranges(_pooled_forecasts(test[test["horizon"] == h], fits, h), fits, h)
            for m in ALL_METHODS + ("chosen",):
                if m in t:
                    t[f"ape_{m}"] = _ape(t[m], t["outcome"])
            for lv in LEVELS:
                t[f"in_range{lv}"] = (t["outcome"] >= t[f"low{lv}"]) & (t["outcome"] <= t[f"high{lv}"])
                t[f"interval_score{lv}"] = interval_score(t[f"low{lv}"], t[f"high{lv}"], t["outcome"], lv)
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


def _project_rows(panel: pd.DataFrame, wide: pd.DataFrame, fits: _Fits, code: str, origin_year: int,
                  horizons, nm: pd.Series | None = None) -> list[dict]:
    nm = names(panel) if nm is None else nm
    hist = _contiguous_tail(_series(wide, code), origin_year)
    if len(hist) < 2:
        raise AggregateError(f"{nm[code]} ({code}): fewer than two consecutive published counts at "
                             f"31 March up to {origin_year}; no projection (a new authority after a boundary "
                             "change, or suppressed counts)")
    nat = _contiguous_tail(_series(wide, ENGLAND), origin_year)
    feats = _features(hist, nat, fits.refs)
    base = _base_forecasts(hist, horizons, False)
    rows = []
    for h in horizons:
        r = pd.DataFrame([{**feats, **{m: f[h] for m, f in base.items()}}])
        r = _add_ranges(_pooled_forecasts(r, fits, h), fits, h)
        m = fits.choice[h]
        point = float(np.exp(r["chosen"].iloc[0]))
        row = {"la_code": code, "la_name": nm[code], "origin_year": origin_year,
               "year": origin_year + h, "horizon": h, "point": point}
        for lv in LEVELS:
            row[f"low{lv}"], row[f"high{lv}"] = float(r[f"low{lv}"].iloc[0]), float(r[f"high{lv}"].iloc[0])
        row.update({"method": m, "method_label": LABELS[m],
                    "no_change": float(np.exp(r["naive"].iloc[0])),
                    "stock_at_origin": float(hist["cla_at_31_march"].iloc[-1]),
                    "inputs_first_release_missing": bool(hist["first_release_missing"].iloc[-1]),
                    "boundary_note": BOUNDARY_CHANGES.get(code, "")})
        rows.append(row)
    return rows


def project(panel: pd.DataFrame, authority_code: str, origin_year: int, horizons=(1, 2),
            first_training_origin: int = 2011, with_ets: bool = False) -> pd.DataFrame:
    """Projection of children looked after at 31 March for one authority from `origin_year`'s published counts.

    One row per horizon: year, point, low50/high50, low80/high80, low95/high95 (ranges from the chosen method's
    out-of-sample errors), method (the one the backtest up to the origin chose), method_label, no_change (the
    count at the origin carried forward), stock_at_origin, inputs_first_release_missing (the origin's count is
    as revised later, its own release not having been found), boundary_note (the authority was created or
    abolished by a boundary change). Uses only what was published by the origin year's release. For many
    authorities at once use `project_all` (the pooled fits are made once)."""
    code = resolve(panel, authority_code)
    horizons = tuple(horizons)
    wide = as_at(panel, origin_year)
    hist = _contiguous_tail(_series(wide, code), origin_year)
    if len(hist) < 2:
        _project_rows(panel, wide, _Fits({}, {}, {}, {}, {}), code, origin_year, horizons)  # raises the error
    pairs = _pairs(panel, range(first_training_origin, origin_year), horizons, with_ets)
    fits = _fits_at(panel, pairs, origin_year, horizons, None, first_training_origin)
    return pd.DataFrame(_project_rows(panel, wide, fits, code, origin_year, horizons))


def project_all(panel: pd.DataFrame, origin_year: int, horizons=(1, 2),
                first_training_origin: int = 2011) -> pd.DataFrame:
    """`project` for every authority (not England) with two consecutive counts up to `origin_year`, the pooled
    fits made once: the same rows `project` gives, one call."""
    horizons = tuple(horizons)
    wide = as_at(panel, origin_year)
    pairs = _pairs(panel, range(first_training_origin, origin_year), horizons, False)
    fits = _fits_at(panel, pairs, origin_year, horizons, None, first_training_origin)
    rows, nm = [], names(panel)
    for code in wide.index.get_level_values("la_code").unique():
        if code == ENGLAND or len(_contiguous_tail(_series(wide, code), origin_year)) < 2:
            continue
        rows.extend(_project_rows(panel, wide, fits, code, origin_year, horizons, nm))
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
