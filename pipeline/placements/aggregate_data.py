"""The published panel behind the aggregate projection (pipeline/placements/aggregate.py): DfE's counts of children looked
after in every vintage, ONS's estimates of children aged 0 to 17, the values known at an origin, and the
per-authority predictors computed from them.

Boundary changes are never spliced: Bournemouth, Poole and Dorset county (replaced in April 2019 by
Bournemouth, Christchurch and Poole and Dorset Council), Northamptonshire (replaced in April 2021 by North and
West Northamptonshire) and Cumbria (replaced in April 2023 by Cumberland and Westmorland and Furness) are
separate series: a predecessor's series ends at its last 31 March, a successor's starts at its first, and no
backtest pair spans the change. Code changes with no boundary change (Northumberland, Gateshead,
Buckinghamshire, North Yorkshire, Somerset, Isles of Scilly) are one series under the current code.
"""

from __future__ import annotations

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


# ---------------------------------------------------------------------------------------------- predictors
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
           "region_code": region, **_flow_features(hist)}
    if refs is not None:
        out.update(_rate_gaps(out["lrate"], region, refs))
        out.update(_region_terms(out, refs))
    return out


def _flow_features(hist: pd.DataFrame) -> dict:
    """Predictors from the published flows at the origin (log scale, 0 where a count is missing or zero):
    started and ceased over the stock at the origin (st_ratio, ce_ratio), last year's change in starters and in
    ceased (d_started, d_ceased), and the change in the stock the year before last (g1_prev)."""
    y = hist["cla_at_31_march"].to_numpy(float)

    def col(c):
        return hist[c].to_numpy(float) if c in hist else np.full(len(y), np.nan)

    st, ce = col("cla_started"), col("cla_ceased")

    def lr(a, b):
        return float(np.log(a / b)) if np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0 else 0.0

    n = len(y)
    return {"st_ratio": lr(st[-1], y[-1]), "ce_ratio": lr(ce[-1], y[-1]),
            "d_started": lr(st[-1], st[-2]) if n >= 2 else 0.0, "d_ceased": lr(ce[-1], ce[-2]) if n >= 2 else 0.0,
            "g1_prev": lr(y[-2], y[-3]) if n >= 3 else 0.0}


FLOW_REFS = ("g1", "st_ratio", "ce_ratio")  # regional medians at the origin (authorities with two counts)


def _rate_refs(lrates: pd.DataFrame, nat_lrate: float) -> dict:
    """Reference rates at an origin: median log rate per region over its authorities, and England's; with
    columns g1, st_ratio, ce_ratio (and has_g1: the authority had two consecutive counts), also their regional
    medians (key region_flow)."""
    ok = lrates.dropna(subset=["lrate"])
    ok = ok[ok["region_code"] != ""]
    refs = {"region": ok.groupby("region_code")["lrate"].median().to_dict(), "england": nat_lrate}
    if all(c in lrates for c in FLOW_REFS + ("has_g1",)):
        f = lrates[(lrates["region_code"] != "") & lrates["has_g1"].astype(bool)]
        refs["region_flow"] = f.groupby("region_code")[list(FLOW_REFS)].median().to_dict("index")
    return refs


def _region_terms(feats: dict, refs: dict) -> dict:
    """The region's median change last year (reg_g1) and flows over stock (reg_st_ratio, reg_ce_ratio) at the
    origin, and the authority's gaps to them (st_gap, ce_gap, flow_gap); 0 where the region is unknown."""
    reg = refs.get("region_flow", {}).get(feats.get("region_code", ""), {})
    r = {c: float(reg.get(c, 0.0)) if np.isfinite(reg.get(c, np.nan)) else 0.0 for c in FLOW_REFS}
    return {"reg_g1": r["g1"], "reg_st_ratio": r["st_ratio"], "reg_ce_ratio": r["ce_ratio"],
            "st_gap": feats["st_ratio"] - r["st_ratio"], "ce_gap": feats["ce_ratio"] - r["ce_ratio"],
            "flow_gap": feats["flow"] - (r["st_ratio"] - r["ce_ratio"])}


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
            rows.append(_ref_row(_features(hist, None), len(hist)))
    nat = _contiguous_tail(_series(wide, ENGLAND), origin)
    return _rate_refs(pd.DataFrame(rows, columns=REF_COLS), _log_rate(nat) if len(nat) else np.nan)


REF_COLS = ["lrate", "region_code", *FLOW_REFS, "has_g1"]


def _ref_row(feats: dict, n_years: int) -> dict:
    """What one authority contributes to the references at an origin (`_rate_refs`)."""
    return {**{c: feats[c] for c in ["lrate", "region_code", *FLOW_REFS]}, "has_g1": n_years >= 2}
