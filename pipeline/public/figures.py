"""One authority's public-data figures, computed from ``PublicData`` into named tables (numbers apart from
display): benchmarks of every DfE measure (England, region, statistical neighbours, quartile band, rank,
direction) with trends; children looked after 2010 onwards with the aggregate projection and its backtest;
placement mix, spend and sufficiency against neighbours and England."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.measures.benchmarks import benchmark, neighbours
from pipeline.placements import aggregate
from pipeline.public.authorities import PREDECESSORS, Authority
from pipeline.public.data import MEASURES, PublicData, _ofsted_key

TREND_YEARS = 6  # periods shown in each measure's trend


@dataclass
class AuthorityFigures:
    authority: Authority
    year: int                                  # latest year of children looked after data (31 March)
    neighbours: list[str]                      # neighbour names (DfE's 2025 model)
    benchmarks: pd.DataFrame                   # one row per measure, latest period with a value
    trends: pd.DataFrame                       # measure key, period, authority, England, region, neighbours
    cla_history: pd.DataFrame                  # year, children looked after, started, ceased (latest published)
    predecessors: pd.DataFrame                 # predecessor authorities' counts (boundary change), never added in
    projection: pd.DataFrame                   # aggregate projection rows
    backtest: pd.DataFrame                     # this authority's one-year-ahead backtest
    backtest_all: dict                         # errors over every authority
    placements: pd.DataFrame                   # placement type: authority %, neighbours' mean %, England %
    spend: pd.DataFrame                        # spend measures: authority, neighbours' mean, England
    spend_year: str
    sufficiency: dict
    summary: dict
    notes: list[str] = field(default_factory=list)
    ceased_reasons: pd.DataFrame | None = None  # every reason for ceasing care: authority, region, neighbours, England
    local: object = None                       # local.LocalFigures: the authority's own inputs (its profile), if any


def _sn_codes(data: PublicData, a: Authority) -> list[str]:
    return neighbours(data.sn_2025, None, a.old_code, "2025")


def _names(data: PublicData, olds: list[str]) -> list[str]:
    t = data.sn_2025.set_index("old_la_code")["la_name"]
    return [str(t.get(o, o)) for o in olds]


def _benchmarks(data: PublicData, a: Authority) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest benchmark of every measure (``benchmarks.benchmark``) and each measure's trend: the
    authority, England, its region and its neighbours' mean (the neighbour groupings of each year, as
    ``benchmark`` uses them)."""
    rows, trend = [], []
    # only the authority's own neighbour rows: benchmark() looks up nothing else in them
    sn25 = data.sn_2025[data.sn_2025["old_la_code"].astype(str) == a.old_code]
    sn21 = None  # today's ten neighbours (DfE's 2025 model) in every year, so a trend compares like with like
    sn_by_year = {}
    for m in MEASURES:
        s = data.series[m["key"]]
        mine = s[(s["level"] == "Local authority") & (s["old_la_code"] == a.old_code)]
        if not len(mine):
            continue
        have = sorted(mine.loc[mine["value"].notna(), "period"].unique())
        periods = sorted(s["period"].unique())
        polarity = "lower" if m["polarity"] == "context" else m["polarity"]
        latest = have[-1] if have else periods[-1]
        mine_p = sorted(mine["period"].unique())[-TREND_YEARS:]
        region_code = str(mine["region_code"].iloc[0])
        for p in mine_p:
            g = s[s["period"] == p]
            las = g[g["level"] == "Local authority"].set_index("old_la_code")["value"]
            if p not in sn_by_year:
                sn_by_year[p] = neighbours(sn25, sn21, a.old_code, p)
            snv = las.reindex(sn_by_year[p])
            eng = g.loc[g["level"] == "National", "value"]
            reg = g.loc[(g["level"] == "Regional") & (g["code"] == region_code), "value"]
            trend.append({"key": m["key"], "measure": m["title"], "period": p, "authority": las.get(a.old_code, np.nan),
                          "england": eng.iloc[0] if len(eng) else np.nan, "region": reg.iloc[0] if len(reg) else np.nan,
                          "neighbours": snv.mean() if snv.notna().any() else np.nan})
        b = benchmark(data.by_period[m["key"]][latest], a.old_code, latest, polarity, sn25, sn21)
        direction = b.direction
        if m["polarity"] == "context" and direction:
            direction = {"improved": "falling", "worsened": "rising"}.get(direction, direction)
        rows.append({"key": m["key"], "theme": m["theme"], "measure": m["title"], "unit": m["unit"],
                     "polarity": m["polarity"], "when": m["when"], "period": latest, "value": b.value,
                     "previous": b.previous, "england": b.england, "region": b.region, "region_name": b.region_name,
                     "neighbours": b.sn_mean, "neighbours_with_value": b.sn_count, "band": b.band,
                     "rank": b.rank, "of": b.of, "direction": direction, "latest_published": periods[-1]})
    return pd.DataFrame(rows), pd.DataFrame(trend)


def _cla(data: PublicData, a: Authority) -> tuple[pd.DataFrame, pd.DataFrame]:
    wide = data.cla_wide
    mine = wide[wide["la_code"] == a.code][["year", *aggregate.MEASURES]].sort_values("year")
    mine = mine[mine["cla_at_31_march"].notna()]
    preds = []
    for code in PREDECESSORS.get(a.code, ()):
        p = wide[(wide["la_code"] == code) & wide["cla_at_31_march"].notna()][["year", "cla_at_31_march"]]
        preds.append(p.assign(authority=aggregate.names(data.panel).get(code, code)))
    pred = pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(columns=["year", "cla_at_31_march",
                                                                                   "authority"])
    return mine.reset_index(drop=True), pred


def _backtest(data: PublicData, a: Authority) -> tuple[pd.DataFrame, dict]:
    bt = data.backtest
    one = bt[bt["horizon"] == 1]
    mine = one[one["la_code"] == a.code].copy()
    mine["year"] = mine["origin"] + 1
    mine["projected"] = np.exp(mine["chosen"])
    out = mine[["origin", "year", "projected", "low80", "high80", "outcome", "ape_chosen", "ape_naive",
                "in_range80"]].reset_index(drop=True)
    allm = {"mae_chosen": float(one["ape_chosen"].mean()), "mae_naive": float(one["ape_naive"].mean()),
            "coverage80": float(one["in_range80"].mean() * 100), "pairs": len(one),
            "authorities": int(one["la_code"].nunique()), "first": int(one["origin"].min()) + 1,
            "last": int(one["origin"].max()) + 1}
    return out, allm


def _placements(data: PublicData, a: Authority, sn: list[str]) -> pd.DataFrame:
    d = data.placements[data.placements["cla_group"] == "Placement"]
    year = d.loc[d["geographic_level"] == "Local authority", "time_period"].max()
    d = d[(d["time_period"] == year) & (d["characteristic"] != "Total")]
    la = d[d["geographic_level"] == "Local authority"]
    # percentages from the published numbers (DfE rounds its percentages and marks small ones)
    tot = data.placements[(data.placements["cla_group"] == "Placement") & (data.placements["time_period"] == year)
                          & (data.placements["characteristic"] == "Total")]
    tot_by = tot.set_index(["geographic_level", "old_la_code"])["number_value"]

    def pct(rows: pd.DataFrame, level: str) -> pd.Series:
        den = rows["old_la_code"].map(lambda o: tot_by.get((level, o), np.nan))
        return pd.Series((rows["number_value"] / den * 100).to_numpy(), index=rows["characteristic"].to_numpy())

    mine = la[la["old_la_code"] == a.old_code]
    eng = d[d["geographic_level"] == "National"]
    nb = la[la["old_la_code"].isin(sn)]
    nb_pct = (nb.assign(p=(nb["number_value"] / nb["old_la_code"].map(lambda o: tot_by.get(("Local authority", o)))
                           * 100)).groupby("characteristic")["p"].mean())
    out = pd.DataFrame({"placement": mine["characteristic"].to_numpy(), "number": mine["number"].to_numpy(),
                        "number_value": mine["number_value"].to_numpy()})
    out["authority_pct"] = pct(mine, "Local authority").reindex(out["placement"]).to_numpy()
    out["neighbours_pct"] = nb_pct.reindex(out["placement"]).to_numpy()
    out["england_pct"] = pct(eng, "National").reindex(out["placement"]).to_numpy()
    out.attrs["year"] = int(year) if year else None
    return out.sort_values("authority_pct", ascending=False, na_position="last").reset_index(drop=True)


SPEND = [("TotalLACFinance", "per_child_in_care", "Spend on children looked after per child in care, £ a year"),
         ("TotalLACFinance", "per_child", "Spend on children looked after per child in the population, £ a year"),
         ("LACFinance", "unit", "Weekly cost per child looked after, £"),
         ("FosteringFinance", "unit", "Weekly cost of a foster placement, £"),
         ("RescareFinance", "unit", "Weekly cost of a residential placement, £")]


def _spend(data: PublicData, a: Authority, sn: list[str], cla_rate: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    f = data.finance
    year = f.loc[f["measure"] == "TotalLACFinance", "year"].max()
    f = f[f["year"] == year]
    end = str(int(year[:4]) + 1)  # 2024-25 -> 31 March 2025
    cla = data.series["cla_rate"]
    cla_raw = cla[cla["period"] == end]
    # children in care at the year end and the children's population, by old code (England: 921 in DfE, 970 in LAIT)
    counts = data.panel[(data.panel["measure"] == "cla_at_31_march") & (data.panel["year"] == int(end))]
    counts = counts.sort_values("release").groupby("la_code")["value"].last()
    pop = data.population[data.population["period"] == end]
    pop_by_code = pop.set_index("code")["population"]
    old_to_new = cla_raw.set_index("old_la_code")["code"].to_dict()

    def per(measure: str, kind: str, old: str, england: bool = False) -> float:
        r = f[(f["measure"] == measure) & (f["old_code"] == ("970" if england else old))]
        if not len(r):
            return np.nan
        v = float(r["value_num"].iloc[0])
        if kind == "unit":
            return v
        code = "E92000001" if england else old_to_new.get(old)
        den = counts.get(code, np.nan) if kind == "per_child_in_care" else pop_by_code.get(code, np.nan)
        return v / den if den and not np.isnan(den) else np.nan

    rows = []
    for measure, kind, title in SPEND:
        mine = per(measure, kind, a.old_code)
        nbv = [per(measure, kind, o) for o in sn]
        nbv = [v for v in nbv if not np.isnan(v)]
        rows.append({"measure": title, "authority": mine, "neighbours": float(np.mean(nbv)) if nbv else np.nan,
                     "neighbours_with_value": len(nbv), "england": per(measure, kind, "", england=True),
                     "kind": kind, "source": measure})
    return pd.DataFrame(rows), str(year)


def _sufficiency(data: PublicData, a: Authority, placements: pd.DataFrame) -> dict:
    o = data.ofsted
    year = str(o["year"].max())
    mine = o[(o["year"] == year) & (o["key"] == _ofsted_key(a.name))]
    res = placements[placements["placement"] == "Secure homes and children's homes"]
    return {"year": year, "homes": float(mine["providers"].sum()) if len(mine) else np.nan,
            "places": float(mine["places"].sum()) if len(mine) else np.nan,
            "places_la": float(mine.loc[mine["sector"] == "Local Authority", "places"].sum()) if len(mine) else np.nan,
            "children_in_homes": float(res["number_value"].iloc[0]) if len(res) else np.nan,
            "children_in_homes_text": str(res["number"].iloc[0]) if len(res) else "",
            "placements_year": placements.attrs.get("year")}


def _ceased_reasons(data: PublicData, a: Authority, sn: list[str]) -> pd.DataFrame:
    """Every reason children ceased to be looked after in the latest year the authority has a figure: its number
    and percentage, its region's, the mean of its neighbours' percentages (those with one) and England's."""
    d = data.ceased
    if d is None or not len(d):
        return pd.DataFrame()
    la = d[d["level"] == "Local authority"]
    mine = la[la["old_la_code"] == a.old_code]
    if not len(mine):
        return pd.DataFrame()
    year = mine["period"].max()
    mine = mine[mine["period"] == year]
    g = d[d["period"] == year]
    region = mine["region_code"].iloc[0]
    reg = g[(g["level"] == "Regional") & (g["region_code"] == region)].set_index("reason")["pct_value"]
    eng = g[g["level"] == "National"].set_index("reason")["pct_value"]
    nb = la[(la["period"] == year) & la["old_la_code"].isin(sn)].groupby("reason")["pct_value"]
    out = pd.DataFrame({"reason": mine["reason"].to_numpy(), "number": mine["number"].to_numpy(),
                        "number_value": mine["number_value"].to_numpy(), "pct": mine["pct_value"].to_numpy()})
    out["region"] = out["reason"].map(reg).to_numpy()
    out["neighbours"] = out["reason"].map(nb.mean()).to_numpy()
    out["neighbours_with_value"] = out["reason"].map(nb.count()).fillna(0).astype(int).to_numpy()
    out["england"] = out["reason"].map(eng).to_numpy()
    out.attrs["year"] = int(year)
    return out.sort_values("england", ascending=False).reset_index(drop=True)


def compute(data: PublicData, a: Authority) -> AuthorityFigures:
    sn = _sn_codes(data, a)
    bench, trends = _benchmarks(data, a)
    hist, pred = _cla(data, a)
    proj = data.projections[data.projections["la_code"] == a.code].reset_index(drop=True)
    bt, bt_all = _backtest(data, a)
    place = _placements(data, a, sn)
    spend, spend_year = _spend(data, a, sn, bench)
    suff = _sufficiency(data, a, place)
    # the data's latest year (England's); the authority's figures for it only, never an older one in its place
    year = int(data.panel.loc[data.panel["measure"] == "cla_at_31_march", "year"].max())
    cla_row = bench[(bench["key"] == "cla_rate") & (bench["period"] == str(year))] if len(bench) else bench
    rate = float(cla_row["value"].iloc[0]) if len(cla_row) else np.nan
    prev = float(cla_row["previous"].iloc[0]) if len(cla_row) else np.nan
    last = hist[hist["year"] == year]
    p1 = proj[proj["horizon"] == 1]
    spc = spend.loc[spend["kind"] == "per_child_in_care", "authority"]
    summary = {
        "authority": a.name, "code": a.code, "region": a.region, "year": year,
        "cla_rate_per_10k": rate, "cla_rate_change": rate - prev if not np.isnan(prev) else np.nan,
        "cla_number": float(last["cla_at_31_march"].iloc[0]) if len(last) else np.nan,
        "projection_next_year": float(p1["point"].iloc[0]) if len(p1) else np.nan,
        "spend_per_child_in_care": float(spc.iloc[0]) if len(spc) else np.nan,
        "spend_year": spend_year,
        # bands for the latest published year only, like the rate above: an authority whose figure for that
        # year is not published (City of London's 2025 rate) has no band rather than an older year's beside it
        "bands": {r["measure"]: r["band"] for _, r in bench.iterrows()
                  if str(r["period"]) == str(r["latest_published"])},
        "boundary_note": a.boundary_note,
    }
    return AuthorityFigures(a, year, _names(data, sn), bench, trends, hist, pred, proj, bt, bt_all, place, spend,
                            spend_year, suff, summary, ceased_reasons=_ceased_reasons(data, a, sn))
