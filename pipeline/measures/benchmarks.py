"""Benchmarks for any authority from DfE's published files: England, the authority's region, the mean
of its ten statistical neighbours (DfE's 2025 model; the April 2021 groupings for earlier years), its
quartile band among all authorities (A best to D, following the measure's polarity), its rank, and its
direction of travel. Suppressed or missing values (DfE markers c, x, z, ...) stay missing and are
counted, never treated as zero."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.ingest.parsing import dfe_values


def dfe_series(df: pd.DataFrame, value_col: str, filters: dict[str, str] | None = None) -> pd.DataFrame:
    """A DfE explore-education-statistics file as a tidy series: period, level (National / Regional /
    Local authority), code (new LA code, region code or country code), old_la_code, name, region_code,
    value (NaN for markers), marker."""
    d = df
    for col, val in (filters or {}).items():
        d = d[d[col].astype(str) == val]
    v = dfe_values(d[value_col].astype(str))
    level = d["geographic_level"].astype(str)
    code = np.where(level == "National", d.get("country_code", ""), np.where(level == "Regional", d.get("region_code", ""),
                                                                             d.get("new_la_code", "")))
    name = np.where(level == "National", d.get("country_name", ""), np.where(level == "Regional", d.get("region_name", ""),
                                                                             d.get("la_name", "")))
    return pd.DataFrame({"period": d["time_period"].astype(str).to_numpy(), "level": level.to_numpy(), "code": code,
                         "old_la_code": d.get("old_la_code", pd.Series("", index=d.index)).astype(str).to_numpy(),
                         "name": name, "region_code": d.get("region_code", pd.Series("", index=d.index)).astype(str).to_numpy(),
                         "value": v["value"].to_numpy(), "marker": v["marker"].to_numpy()})


def neighbours(sn_2025: pd.DataFrame, sn_2021: pd.DataFrame | None, old_la_code: str, period: str) -> list[str]:
    """The ten statistical neighbours' old LA codes: the 2025 model from 2025 on (and where the 2021
    groupings have no row), else the April 2021 groupings."""
    use_2021 = sn_2021 is not None and int(str(period)[:4]) < 2025
    if use_2021:
        t = sn_2021.rename(columns={sn_2021.columns[0]: "old_la_code"})
        row = t[t["old_la_code"].astype(str) == str(old_la_code)]
        if len(row):
            cols = [c for c in t.columns if str(c).startswith("SN") and str(c)[2:].isdigit()]
            return [str(x) for x in row.iloc[0][cols].tolist() if str(x) not in ("", "nan")]
    row = sn_2025[sn_2025["old_la_code"].astype(str) == str(old_la_code)]
    if not len(row):
        return []
    cols = [f"SN_{i}" for i in range(1, 11)]
    return [str(x) for x in row.iloc[0][cols].tolist() if str(x) not in ("", "nan")]


@dataclass
class Benchmark:
    authority: str
    period: str
    value: float
    england: float
    region: float
    region_name: str
    sn_mean: float
    sn_count: int  # neighbours with a value
    sn_missing: int  # neighbours suppressed or missing
    band: str  # A best .. D, or "" when not available
    rank: int  # 1 = best
    of: int
    previous: float
    direction: str  # improved / worsened / unchanged / ""
    notes: list[str] = field(default_factory=list)

    def sentence(self, unit: str = "") -> str:
        if np.isnan(self.value):
            return f"{self.authority}: no published value for {self.period} (suppressed or missing)."
        s = (f"{self.authority} {self.value:g}{unit} in {self.period}: England {self.england:g}{unit}, "
             f"{self.region_name} {self.region:g}{unit}, statistical neighbours' mean {self.sn_mean:.1f}{unit}"
             f" ({self.sn_count} of 10 with a value); quartile band {self.band or 'not available'} (A best), "
             f"ranked {self.rank} of {self.of}")
        if self.direction:
            s += f"; {self.direction} since {int(self.period) - 1 if str(self.period).isdigit() else 'last period'}"
        return s + "."


def bands(values: pd.Series, higher_better: bool) -> pd.Series:
    """Quartile bands A (best quarter) to D among the authorities with a value."""
    v = values.dropna()
    ranked = v.rank(ascending=not higher_better, method="min")
    q = np.ceil(ranked / len(v) * 4).clip(1, 4).astype(int)
    return pd.Series(np.array(list("ABCD"))[q - 1], index=v.index).reindex(values.index).fillna("")


def benchmark(series: pd.DataFrame, authority: str, period: str, polarity: str, sn_2025: pd.DataFrame,
              sn_2021: pd.DataFrame | None = None, value: float | None = None) -> Benchmark:
    """Benchmark ``authority`` (new code such as E10000007, old code such as 830, or its name) for
    ``period`` in a ``dfe_series``. ``value``: the figure to place among all authorities instead of the
    authority's published one (its own more recent return, or a synthetic authority calibrated to it);
    the band and rank are then among the other authorities with this value in the authority's place."""
    higher = polarity != "lower"
    p = series[series["period"] == str(period)]
    las = p[p["level"] == "Local authority"].set_index("old_la_code")
    hit = las[(las.index == str(authority)) | (las["code"] == str(authority)) | (las["name"] == str(authority))]
    if not len(hit):
        raise KeyError(f"no local authority {authority!r} in the series for {period}")
    me = hit.iloc[0].copy()
    old = hit.index[0]
    if value is not None and not np.isnan(value):
        las = las.copy()
        las.loc[old, "value"] = value
        me["value"] = value
    eng = p.loc[p["level"] == "National", "value"]
    reg = p[(p["level"] == "Regional") & (p["code"] == me["region_code"])]
    sns = neighbours(sn_2025, sn_2021, old, period)
    sn_vals = las.reindex(sns)["value"]
    b = bands(las["value"], higher)
    ranked = las["value"].rank(ascending=not higher, method="min")
    prev = series[(series["period"] == str(int(period) - 1)) & (series["level"] == "Local authority")
                  & (series["old_la_code"] == old)]["value"] if str(period).isdigit() else pd.Series(dtype=float)
    pv = float(prev.iloc[0]) if len(prev) else np.nan
    direction = ""
    if not np.isnan(pv) and not np.isnan(me["value"]):
        d = me["value"] - pv
        direction = "unchanged" if d == 0 else ("improved" if (d > 0) == higher else "worsened")
    return Benchmark(str(me["name"]), str(period), float(me["value"]), float(eng.iloc[0]) if len(eng) else np.nan,
                     float(reg["value"].iloc[0]) if len(reg) else np.nan, str(reg["name"].iloc[0]) if len(reg) else "",
                     float(sn_vals.mean()) if sn_vals.notna().any() else np.nan, int(sn_vals.notna().sum()),
                     int(sn_vals.isna().sum()), str(b.get(old, "")), int(ranked.get(old, 0)) if not np.isnan(ranked.get(old, np.nan)) else 0,
                     int(las["value"].notna().sum()), pv, direction)


# ---- DfE series behind the catalogue's ``benchmark`` keys --------------------------------------------
# input: the params input key of the DfE file; basis: how a financial year maps to DfE's time_period
# ("march": the year ending 31 March, 2021-22 -> 2022; "september": the workforce census at 30 September
# of the year's first half, 2021-22 -> 2021).
_RETURNED_PLANNED = ("Returned home to live with parents or other person with parental responsibility which was "
                     "part of the care planning process")
SERIES: dict[str, dict] = {
    "cla_rate": {"input": "cla_number_and_rate", "value": "rate_per_10000", "basis": "march",
                 "filters": {"population_type": "Children looked after on 31 March each year"},
                 "title": "Children looked after per 10,000 children"},
    "ceased_returned_home_planned": {"input": "dfe_ceased", "value": "percentage", "basis": "march",
                                     "filters": {"cla_group": "Reason episode ceased", "characteristic": _RETURNED_PLANNED},
                                     "title": "Ceased care: returned home as part of the care plan, %"},
    "ceased_sgo": {"input": "dfe_ceased", "value": "percentage", "basis": "march",
                   "filters": {"cla_group": "Reason episode ceased", "characteristic": "Special guardianship orders"},
                   "title": "Ceased care: special guardianship orders, %"},
    "icpc_15_days": {"input": "dfe_icpc", "value": "icpc_within_15_days_pct", "basis": "march",
                     "title": "Initial child protection conferences within 15 working days, %"},
    "sw_vacancy_rate": {"input": "dfe_workforce", "value": "vacancy_rate_fte", "basis": "september",
                        "title": "Social worker vacancy rate (FTE), %"},
    "sw_agency_rate": {"input": "dfe_workforce", "value": "agency_rate_fte", "basis": "september",
                       "title": "Agency social workers (FTE), %"},
    "sw_caseload": {"input": "dfe_workforce", "value": "caseload_fte", "basis": "september",
                    "title": "Average caseload per FTE case holder"},
}


def _icpc_within_15(raw: pd.DataFrame) -> pd.DataFrame:
    """ICPCs within 15 working days as a percentage of all ICPCs (DfE's two duration bands 0-10 and 11-15
    days); a marker in any part leaves the value missing."""
    parts = [dfe_values(raw[c].astype(str))["value"] for c in ("Duration_0-10_days", "Duration_11-15_days", "ICPC")]
    pct = (parts[0] + parts[1]) / parts[2] * 100
    out = raw.copy()
    out["icpc_within_15_days_pct"] = pct.round(1).map(lambda v: "x" if pd.isna(v) else f"{v:.1f}").to_numpy()
    return out


def series_for(key: str, raw: pd.DataFrame) -> pd.DataFrame:
    """The tidy series (``dfe_series``) for a catalogue benchmark key from its DfE file."""
    spec = SERIES[key]
    if key == "icpc_15_days":
        raw = _icpc_within_15(raw)
    return dfe_series(raw, spec["value"], spec.get("filters"))


def dfe_period(period: str, basis: str) -> str:
    """The DfE time_period matching a measure's financial-year period ("2021-2022" or "2021-22")."""
    m = re.match(r"^(\d{4})-(\d{2}|\d{4})", str(period))
    if not m:
        return ""
    y0 = int(m.group(1))
    return str(y0 + 1 if basis == "march" else y0)
