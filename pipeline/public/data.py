"""Every public table the public-data pack uses, read once (``load_public_data``) into a picklable
``PublicData``: a batch reads it once and hands it to every worker.

Sources (each folder under data/raw/published/ has its source note): DfE's explore-education-statistics files
(dfe/), DfE's children looked after history in every published vintage (cla_history/), placements at 31 March by
type (placements_la/), section 251 spend and LAIT's weekly unit costs (finance/), Ofsted's registered places
(ofsted/). The aggregate projection and its backtest over every authority are computed here once too (they are
the same pooled fits for every authority) and cached on disk beside the processed data, keyed on the input
file and the projection code."""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core.paths import processed_dir, project_root
from pipeline.ingest.parsing import dfe_values
from pipeline.measures.benchmarks import _icpc_within_15, dfe_series
from pipeline.placements import aggregate
from pipeline.public.authorities import _short

PUB = Path("data/raw/published")
DFE = PUB / "dfe"
FILES = {
    "cla": DFE / "cla_number_and_rate_per_10k_children.csv",
    "ceased": DFE / "la_children_who_ceased_during_the_year.csv",
    "stability": DFE / "la_cla_placement_stability.csv",
    "cin": DFE / "b1_children_in_need_2013_to_2025.csv",
    "referrals": DFE / "c1_children_in_need_referrals_and_rereferrals_2013_to_2025.csv",
    "s47": DFE / "c4_children_in_need_section_47s_and_icpcs_2013_to_2025.csv",
    "cpp_subsequent": DFE / "d3_cpps_subsequent_plan_2013_to_2025.csv",
    "cpp_duration": DFE / "d5_cpps_at31march_by_duration_2013_to_2025.csv",
    "workforce": DFE / "csww_indicators_2017_to_2025.csv",
    "ks2": DFE / "ks2_la.csv",
    "ks4": DFE / "ks4_la.csv",
    "population": DFE / "ons_mid-year_population_estimates_2012_to_2024.csv",
    "sn_2025": DFE / "sn_model_2025_wide.csv",
    "sn_2021": DFE / "New_Statistical_Neighbour_Groupings_April_2021.csv",
    "placements": PUB / "placements_la" / "cla_placements_at_31_march_la_2010_2025.csv",
    "finance": PUB / "finance" / "lait_s251_finance_la_2015-16_to_2024-25.csv",
    "ofsted": PUB / "ofsted" / "ofsted_providers_by_la_type_sector_2014_2025.csv",
    "lait": PUB / "lait" / "lait_csc_measures_la_2016_2025.csv",
}

_RETURNED = ("Returned home to live with parents or other person with parental responsibility which was "
             "part of the care planning process")

# Every measure the bundled DfE files give. polarity: higher / lower is better, or "context" (no better
# direction: bands run A lowest to D highest and the direction says rising or falling). per_10k: a count
# divided by the children's population (DfE's denominator, from its children looked after file).
MEASURES: list[dict] = [
    {"key": "cla_rate", "when": "at", "file": "cla", "value": "rate_per_10000", "theme": "Children looked after",
     "filters": {"population_type": "Children looked after on 31 March each year"},
     "title": "Children looked after per 10,000 children", "unit": "rate", "polarity": "context"},
    {"key": "cla_start_rate", "when": "year", "file": "cla", "value": "rate_per_10000", "theme": "Children looked after",
     "filters": {"population_type": "Children starting to be looked after each year"},
     "title": "Children starting to be looked after per 10,000 children", "unit": "rate", "polarity": "context"},
    {"key": "cla_ceased_rate", "when": "year", "file": "cla", "value": "rate_per_10000", "theme": "Children looked after",
     "filters": {"population_type": "Children ceasing to be looked after each year"},
     "title": "Children ceasing to be looked after per 10,000 children", "unit": "rate", "polarity": "context"},
    {"key": "ceased_returned_home", "when": "year", "file": "ceased", "value": "percentage", "theme": "Leaving care",
     "filters": {"cla_group": "Reason episode ceased", "characteristic": _RETURNED},
     "title": "Ceased care: returned home as part of the care plan, %", "unit": "percent", "polarity": "higher"},
    {"key": "ceased_sgo", "when": "year", "file": "ceased", "value": "percentage", "theme": "Leaving care",
     "filters": {"cla_group": "Reason episode ceased", "characteristic": "Special guardianship orders"},
     "title": "Ceased care: special guardianship orders, %", "unit": "percent", "polarity": "higher"},
    {"key": "ceased_adopted", "when": "year", "file": "ceased", "value": "percentage", "theme": "Leaving care",
     "filters": {"cla_group": "Reason episode ceased", "characteristic": "Adopted"},
     "title": "Ceased care: adopted, %", "unit": "percent", "polarity": "higher"},
    {"key": "uasc_rate", "when": "at", "file": "lait", "value": "value", "per_10k": True,
     "theme": "Children looked after", "filters": {"measure": "Unacc_Asylmn_Seek_Childn"},
     "title": "Unaccompanied asylum-seeking children looked after per 10,000 children", "unit": "rate",
     "polarity": "context"},
    {"key": "care_leavers_accommodation", "when": "year", "file": "lait", "value": "value", "theme": "Care leavers",
     "filters": {"measure": "CareLeaverAcc"}, "title": "Care leavers aged 19 to 21 in suitable accommodation, %",
     "unit": "percent", "polarity": "higher"},
    {"key": "care_leavers_eet", "when": "year", "file": "lait", "value": "value", "theme": "Care leavers",
     "filters": {"measure": "CareLeaverEET"}, "title": "Care leavers aged 19 to 21 in education, employment or training, %",
     "unit": "percent", "polarity": "higher"},
    {"key": "care_leavers_not_in_touch", "when": "year", "file": "lait", "value": "value", "theme": "Care leavers",
     "filters": {"measure": "CareLeavers_LA_NotInTouch"},
     "title": "Care leavers aged 19 to 21 the council is not in touch with, %", "unit": "percent", "polarity": "lower"},
    {"key": "staying_put", "when": "year", "file": "lait", "value": "value", "theme": "Care leavers",
     "filters": {"measure": "StayingPut"},
     "title": "Care leavers who left foster care at 18 still living with their former foster carers (staying put), %",
     "unit": "percent", "polarity": "higher"},
    {"key": "missing_pct", "when": "year", "file": "lait", "value": "value", "theme": "Missing from care",
     "filters": {"measure": "Children_missing"}, "title": "Children looked after who went missing in the year, %",
     "unit": "percent", "polarity": "lower"},
    {"key": "away_pct", "when": "year", "file": "lait", "value": "value", "theme": "Missing from care",
     "filters": {"measure": "Children_Away"},
     "title": "Children looked after away from placement without authorisation in the year, %", "unit": "percent",
     "polarity": "lower"},
    {"key": "foster_places_rate", "when": "at", "file": "lait", "value": "value", "per_10k": True,
     "theme": "Fostering places", "filters": {"measure": "Number_Foster_Places(New)"},
     "title": "Places approved with the council's own foster carers per 10,000 children (Ofsted)", "unit": "rate",
     "polarity": "context"},
    {"key": "foster_places_filled", "when": "at", "file": "lait", "value": "value", "theme": "Fostering places",
     "filters": {"measure": "foster_places_filled_pct"},
     "title": "The council's foster places filled, % (Ofsted)", "unit": "percent", "polarity": "context"},
    {"key": "stability_3plus", "when": "at", "file": "stability", "value": "children_percent", "theme": "Placement stability",
     "filters": {"cla_group": "CLA on 31 March", "placement_stability": "With 3 or more placements during the year"},
     "title": "Children looked after with 3 or more placements in the year, %", "unit": "percent",
     "polarity": "lower"},
    {"key": "stability_long_term", "when": "at", "file": "stability", "value": "children_percent", "theme": "Placement stability",
     "filters": {"cla_group": "Children looked after continuously for at least 2.5 years on 31 March aged under 16 years",
                 "placement_stability": "Living with the same carer for at least 2 years"},
     "title": "Looked after 2.5 years or more (under 16): same placement for 2 years, %", "unit": "percent",
     "polarity": "higher"},
    {"key": "cin_rate", "when": "at", "file": "cin", "value": "At31_episodes", "per_10k": True, "theme": "Children in need",
     "title": "Children in need per 10,000 children", "unit": "rate", "polarity": "context"},
    {"key": "referral_rate", "when": "year", "file": "referrals", "value": "referral_count", "per_10k": True,
     "theme": "Children in need", "title": "Referrals per 10,000 children", "unit": "rate", "polarity": "context"},
    {"key": "rereferral_pct", "when": "year", "file": "referrals", "value": "rereferral_percent", "theme": "Children in need",
     "title": "Re-referrals within 12 months, %", "unit": "percent", "polarity": "lower"},
    {"key": "s47_rate", "when": "year", "file": "s47", "value": "Section47", "per_10k": True, "theme": "Child protection",
     "title": "Section 47 enquiries per 10,000 children", "unit": "rate", "polarity": "context"},
    {"key": "icpc_15_days", "when": "year", "file": "s47", "value": "icpc_within_15_days_pct", "theme": "Child protection",
     "title": "Initial child protection conferences within 15 working days, %", "unit": "percent",
     "polarity": "higher"},
    {"key": "cpp_rate", "when": "at", "file": "cpp_duration", "value": "CPP_At31", "per_10k": True, "theme": "Child protection",
     "title": "Child protection plans at 31 March per 10,000 children", "unit": "rate", "polarity": "context"},
    {"key": "cpp_subsequent", "when": "year", "file": "cpp_subsequent", "value": "CPP_subsequent_percent", "theme": "Child protection",
     "title": "Child protection plans that were a second or later plan, %", "unit": "percent", "polarity": "lower"},
    {"key": "cpp_2yrs", "when": "at", "file": "cpp_duration", "value": "2_years_or_more_percent", "theme": "Child protection",
     "title": "Child protection plans open 2 years or more at 31 March, %", "unit": "percent", "polarity": "lower"},
    {"key": "sw_vacancy", "when": "sept", "file": "workforce", "value": "vacancy_rate_fte", "theme": "Workforce",
     "title": "Social worker vacancy rate (full-time equivalent), %", "unit": "percent", "polarity": "lower"},
    {"key": "sw_agency", "when": "sept", "file": "workforce", "value": "agency_rate_fte", "theme": "Workforce",
     "title": "Agency social workers (full-time equivalent), %", "unit": "percent", "polarity": "lower"},
    {"key": "sw_turnover", "when": "sept", "file": "workforce", "value": "turnover_rate_fte", "theme": "Workforce",
     "title": "Social worker turnover (full-time equivalent), %", "unit": "percent", "polarity": "lower"},
    {"key": "sw_caseload", "when": "sept", "file": "workforce", "value": "caseload_fte", "theme": "Workforce",
     "title": "Average caseload per social worker holding cases", "unit": "number", "polarity": "lower"},
    {"key": "ks2_rwm_cla", "when": "academic", "file": "ks2", "value": "pt_rwm_met_expected_standard", "theme": "Education",
     "filters": {"social_care_group": "CLA 12 months at 31 March"}, "academic": True,
     "title": "Looked-after pupils at key stage 2 meeting the expected standard in reading, writing and maths, %",
     "unit": "percent", "polarity": "higher"},
    {"key": "ks4_att8_cla", "when": "academic", "file": "ks4", "value": "avg_att8", "theme": "Education",
     "filters": {"social_care_group": "CLA 12 months at 31 March"}, "academic": True,
     "title": "Looked-after pupils' average Attainment 8 score at key stage 4", "unit": "points", "polarity": "higher"},
]
BY_KEY = {m["key"]: m for m in MEASURES}
# when a measure's period (the year it ends, e.g. 2025) falls: at 31 March, the year to 31 March, the workforce
# census at 30 September, or the school year


def period_words(when: str, period) -> str:
    y = int(period)
    return {"at": f"31 March {y}", "year": f"year to 31 March {y}", "sept": f"30 September {y}",
            "academic": f"{y - 1}-{str(y)[2:]} school year"}[when]


@dataclass
class PublicData:
    """The shared public tables, tidy, read once. Picklable."""
    root: str
    series: dict[str, pd.DataFrame]          # measure key -> dfe_series (period = year ending)
    by_period: dict[str, dict[str, pd.DataFrame]]  # measure key -> period -> rows of that period and the one before
    sn_2025: pd.DataFrame
    sn_2021: pd.DataFrame
    panel: pd.DataFrame                      # aggregate.load_panel
    cla_wide: pd.DataFrame                   # aggregate.as_at(panel, None), reset_index
    projections: pd.DataFrame                # aggregate projection from the latest year, every authority
    backtest: pd.DataFrame                   # aggregate.backtest over every authority
    placements: pd.DataFrame                 # latest release, local authority and England rows
    finance: pd.DataFrame                    # s251 / LAIT per authority, region and England
    ofsted: pd.DataFrame                     # children's home places by authority and year
    population: pd.DataFrame                 # children aged 0-17 by new LA code and period (DfE denominator)
    notes: list[str] = field(default_factory=list)
    ceased: pd.DataFrame | None = None       # every reason children ceased to be looked after: number and % (DfE)


def _ceased_reasons(raw: pd.DataFrame) -> pd.DataFrame:
    """DfE's children ceasing to be looked after by every reason (not the total), tidy: period, level, region
    code, old code, reason, number and percentage as published and as values (markers never read as zero)."""
    d = raw[(raw["cla_group"] == "Reason episode ceased") & (raw["characteristic"] != "Total")]
    out = pd.DataFrame({"period": d["time_period"].to_numpy(), "level": d["geographic_level"].to_numpy(),
                        "region_code": d["region_code"].to_numpy(), "old_la_code": d["old_la_code"].to_numpy(),
                        "reason": d["characteristic"].to_numpy(), "number": d["number"].to_numpy(),
                        "percentage": d["percentage"].to_numpy()})
    out["number_value"] = dfe_values(out["number"])["value"].to_numpy()
    out["pct_value"] = dfe_values(out["percentage"])["value"].to_numpy()
    return out


def _read(root: Path, key: str) -> pd.DataFrame:
    path = root / FILES[key]
    if not path.exists():
        raise FileNotFoundError(f"{FILES[key]}: a public data file the public-data pack needs is missing "
                                "(see data/raw/published/README.md for where it comes from)")
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _academic(d: pd.DataFrame) -> pd.DataFrame:
    """Academic years "202425" -> the year they end ("2025"); the final version where both are published."""
    d = d.copy()
    d["_rank"] = d["version"].map({"Final": 0, "Revised": 1, "Provisional": 2}).fillna(3)
    d = d.sort_values("_rank").drop_duplicates(["time_period", "geographic_level", "old_la_code", "region_code",
                                                 "social_care_group"])
    d["time_period"] = d["time_period"].str[:4].astype(int).add(1).astype(str)
    return d.drop(columns="_rank")


def _population(cla: pd.DataFrame) -> pd.DataFrame:
    d = cla[cla["population_type"] == "Children looked after on 31 March each year"]
    s = dfe_series(d, "population_estimate")
    return s[["period", "level", "code", "old_la_code", "value"]].rename(columns={"value": "population"})


def _measure_series(raw: dict[str, pd.DataFrame], m: dict, pop: pd.DataFrame) -> pd.DataFrame:
    d = raw[m["file"]]
    if m.get("academic"):
        d = _academic(d[d["social_care_group"] == m["filters"]["social_care_group"]])
    if m["key"] == "icpc_15_days":
        d = _icpc_within_15(d)
    s = dfe_series(d, m["value"], {k: v for k, v in m.get("filters", {}).items() if not m.get("academic")})
    if m.get("per_10k"):
        p = pop.set_index(["period", "level", "code"])["population"]
        den = p.reindex(pd.MultiIndex.from_arrays([s["period"], s["level"], s["code"]])).to_numpy()
        s = s.assign(value=np.round(s["value"].to_numpy() / den * 10000, 1))
        s = s[~np.isnan(den)]
    s = s.drop_duplicates(["period", "level", "code", "old_la_code"]).reset_index(drop=True)
    for c in ("period", "level", "code", "old_la_code", "name", "region_code", "marker"):
        s[c] = np.asarray(s[c].astype(str), dtype=object)  # plain strings: many small look-ups per authority
    return s


# LAIT's region numbers -> ONS region codes (987 and 988, Inner and Outer London, are not regions of DfE's files)
LAIT_REGIONS = {"980": "E12000001", "981": "E12000002", "982": "E12000003", "983": "E12000004", "984": "E12000005",
                "985": "E12000006", "986": "E12000007", "989": "E12000008", "990": "E12000009"}


def _lait(raw: pd.DataFrame, cla: pd.DataFrame) -> pd.DataFrame:
    """DfE's Local Authority Interactive Tool measures (one row per measure, year and area, as published) shaped
    as a DfE file for ``dfe_series``: authorities by their old code (new code, region and name from DfE's
    children looked after file; an authority that no longer exists, such as Cumbria, has none and is left out),
    regions by LAIT's region numbers, England as 970. LAIT's "-" (suppressed or not available) becomes DfE's
    "x", never a number. Adds the share of the council's foster places filled (filled / places x 100)."""
    d = raw.copy()
    d["value"] = d["value"].str.strip().replace("-", "x")
    places = d[d["measure"] == "Number_Foster_Places(New)"].set_index(["year", "la_number"])["value"]
    filled = d[d["measure"] == "Number_Foster_Places_Filled(New)"].set_index(["year", "la_number"])["value"]
    p = pd.to_numeric(places, errors="coerce")
    f = pd.to_numeric(filled.reindex(places.index), errors="coerce")
    pct = (f / p * 100).round(1)
    share = pd.DataFrame({"measure": "foster_places_filled_pct", "value": pct.map(
        lambda v: "x" if np.isnan(v) else f"{v:.1f}").to_numpy()}, index=places.index).reset_index()
    share = share.merge(d[["year", "la_number", "area", "region"]].drop_duplicates(["year", "la_number"]),
                        on=["year", "la_number"], how="left")
    d = pd.concat([d, share[d.columns]], ignore_index=True)
    la = cla[cla["geographic_level"] == "Local authority"].drop_duplicates("old_la_code").set_index("old_la_code")
    reg = cla[cla["geographic_level"] == "Regional"].drop_duplicates("region_code").set_index("region_code")
    is_la = d["la_number"].isin(la.index)
    is_reg = d["la_number"].isin(LAIT_REGIONS)
    is_eng = d["la_number"] == "970"
    d = d[is_la | is_reg | is_eng].copy()
    level = np.where(d["la_number"] == "970", "National", np.where(d["la_number"].isin(LAIT_REGIONS), "Regional",
                                                                    "Local authority"))
    rc = np.where(level == "Regional", d["la_number"].map(LAIT_REGIONS),
                  d["la_number"].map(la["region_code"]).fillna(""))
    return pd.DataFrame({
        "time_period": d["year"].to_numpy(), "geographic_level": level, "country_code": "E92000001",
        "country_name": "England", "region_code": np.where(level == "National", "", rc),
        "region_name": np.where(level == "National", "", pd.Series(rc).map(reg["region_name"]).fillna("").to_numpy()),
        "old_la_code": np.where(level == "Local authority", d["la_number"], ""),
        "la_name": np.where(level == "Local authority", d["la_number"].map(la["la_name"]).fillna(""), ""),
        "new_la_code": np.where(level == "Local authority", d["la_number"].map(la["new_la_code"]).fillna(""), ""),
        "measure": d["measure"].to_numpy(), "value": d["value"].to_numpy()})


def _latest_year(panel: pd.DataFrame) -> int:
    return int(panel.loc[panel["measure"] == "cla_at_31_march", "year"].max())


def _aggregate_cached(root: Path, panel: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(projections, backtest, notes), cached on disk keyed on the history file and aggregate's code."""
    h = hashlib.sha256((root / aggregate.DATA_REL).read_bytes())
    for src in sorted(Path(inspect.getfile(aggregate)).parent.glob("aggregate*.py")):  # with its data module
        h.update(src.read_bytes())
    cache = processed_dir(root) / "public" / f"aggregate-{h.hexdigest()[:16]}.pkl"
    if cache.exists():
        try:
            return pickle.loads(cache.read_bytes())
        except Exception:  # a cache from another version or a torn write: made again  # noqa: BLE001
            cache.unlink(missing_ok=True)
    origin = _latest_year(panel)
    notes = []
    proj = aggregate.project_all(panel, origin)  # the pooled fits made once for every authority
    bt = aggregate.backtest(panel)
    out = (proj, bt, notes)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(pickle.dumps(out))
    tmp.replace(cache)
    return out


def _placements(raw: pd.DataFrame) -> pd.DataFrame:
    d = raw[raw["release_year"] == raw["release_year"].max()]
    d = d[d["geographic_level"].isin(["Local authority", "National"])].copy()
    v = dfe_values(d["number"])
    d["number_value"] = v["value"].to_numpy()
    d["pct_value"] = dfe_values(d["percentage"])["value"].to_numpy()
    return d[["time_period", "geographic_level", "old_la_code", "new_la_code", "la_name", "cla_group",
              "characteristic", "number", "number_value", "percentage", "pct_value"]].reset_index(drop=True)


def _finance(raw: pd.DataFrame) -> pd.DataFrame:
    d = raw.copy()
    d["year"] = d["period"].str[:7]
    d["outturn"] = d["period"].str.contains(r"\(OT\)")
    d["old_code"] = d["la_number"].str.replace(r"\.0$", "", regex=True)
    d["value_num"] = pd.to_numeric(d["value"].str.replace(",", ""), errors="coerce")
    # one figure per measure, authority and year: the outturn where both are given
    d = d.sort_values("outturn", ascending=False).drop_duplicates(["measure", "old_code", "year"])
    return d[["measure", "unit", "year", "old_code", "area", "region", "value_num"]].reset_index(drop=True)


CHILDRENS_HOMES = re.compile(r"^(children's home|secure children's home|residential special school \(registered as a "
                             r"children's home\))$", re.IGNORECASE)


def _ofsted(raw: pd.DataFrame) -> pd.DataFrame:
    d = raw[raw["provision_type"].str.strip().str.match(CHILDRENS_HOMES)].copy()
    d["places"] = pd.to_numeric(d["places_total"], errors="coerce")
    d["providers"] = pd.to_numeric(d["n_providers"], errors="coerce")
    d["key"] = d["local_authority"].map(_ofsted_key)
    g = d.groupby(["year", "key", "sector"], as_index=False)[["providers", "places"]].sum(min_count=1)
    return g


def _ofsted_key(name: str) -> str:
    """Ofsted's authority names ("Barking & Dagenham", "Bristol, City of") matched as ``authorities.match`` does."""
    return _short(name)


def load_public_data(root: Path | None = None) -> PublicData:
    """Every shared public table, read once; the aggregate projection and backtest made (or read from the
    cache) once."""
    root = (root or project_root()).resolve()
    raw = {k: _read(root, k) for k in FILES if k not in ("placements", "finance", "ofsted")}
    raw["lait"] = _lait(raw["lait"], raw["cla"])
    pop = _population(raw["cla"])
    series = {m["key"]: _measure_series(raw, m, pop) for m in MEASURES}
    panel = aggregate.load_panel(root)
    proj, bt, notes = _aggregate_cached(root, panel)
    sn21 = raw["sn_2021"]
    sn21 = sn21.loc[:, ~sn21.columns.str.startswith("Unnamed")]
    by_period = {}
    for k, s in series.items():
        parts = {p: g for p, g in s.groupby("period")}
        by_period[k] = {p: pd.concat([g, parts.get(str(int(p) - 1), g.iloc[0:0])], ignore_index=True)
                        for p, g in parts.items()}
    return PublicData(root=str(root), series=series, by_period=by_period, sn_2025=raw["sn_2025"], sn_2021=sn21, panel=panel,
                      cla_wide=aggregate.as_at(panel, None).reset_index(),
                      projections=proj, backtest=bt, placements=_placements(_read(root, "placements")),
                      finance=_finance(_read(root, "finance")), ofsted=_ofsted(_read(root, "ofsted")),
                      population=pop, notes=notes, ceased=_ceased_reasons(raw["ceased"]))
