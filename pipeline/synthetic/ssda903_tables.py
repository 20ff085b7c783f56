"""The SSDA903 episodes, header, UASC and missing tables of each collection year in DfE's layout, from the
simulated events (the other tables are in ``child_tables``). Realistic formats: full postcodes (home
inside the authority, placements whose distance and authority fit the placement), UPNs with DfE's check
letter (or UN1/UN2), URNs where DfE expects them, placement types and providers only in combinations
DfE allows, reason for a placement change on the episode the move ends, MOTHER consistent over time."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES, collection_year_label
from pipeline.synthetic.calibration import LA_NUMBER, Config
from pipeline.synthetic.child_tables import other_tables
from pipeline.synthetic.formats import MILES, add_years, placement_postcodes, postcodes, upns
from pipeline.synthetic.formats import fmt_days as _fmt
from pipeline.synthetic.simulate import LAST_MONTH, Simulation

COLLECTION_YEARS = list(range(2019, 2027))  # 2019-20 .. 2026-27 (the last to 30 September 2026)
DATA_END = date(LAST_MONTH.year, LAST_MONTH.month, 30).toordinal()  # 30 September 2026
CIN_CODES = (["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"], [0.62, 0.04, 0.04, 0.08, 0.14, 0.02, 0.01, 0.05])
ETHNIC_CODES = (["WBRI", "WOTH", "WIRT", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "APKN", "AOTH", "BCRB", "BAFR",
                 "CHNE", "OOTH", "NOBT"],
                [0.86, 0.03, 0.005, 0.005, 0.03, 0.01, 0.01, 0.015, 0.005, 0.005, 0.005, 0.005, 0.002, 0.008, 0.005])
REASON_CHANGE = (["CARPL", "CHILD", "CREQB", "STAND", "LAREQ", "PLACE", "OTHER", "CLOSE", "ALLEG", "APPRR", "CREQO"],
                 [0.33, 0.10, 0.08, 0.12, 0.10, 0.10, 0.09, 0.03, 0.02, 0.02, 0.01])
# placement type by category (year-dependent codes resolved in _place_code), then provider by category
# (or by placement type for "other"), only in combinations DfE allows (rules 178, 213, 373, 527-531, 550)
PLACE_SUBTYPES = {
    "in_house_fostering": (["U4", "U6", "U5"], [0.45, 0.50, 0.05]),
    "agency_fostering": (["U4", "U6", "U5"], [0.40, 0.57, 0.03]),
    "kinship_fostering": (["U1", "U3", "U2"], [0.40, 0.57, 0.03]),
    "in_house_childrens_home": (["K2"], [1.0]), "external_childrens_home": (["K2"], [1.0]), "secure": (["K1"], [1.0]),
    "supported_accommodation": (["SUPPORTED"], [1.0]), "placed_with_parents": (["P1"], [1.0]),
    "placed_for_adoption": (["A6", "A5"], [0.6, 0.4]),  # A5 (with current foster carers) only on a new period
    "other": (["S1", "R1", "R2", "R3", "OTHER"], [0.35, 0.15, 0.10, 0.10, 0.30]),
    "other_under_4": (["R3", "R2", "OTHER"], [0.55, 0.15, 0.30]),  # no residential school before 4 (rule 373)
}
PROVIDER = {
    "in_house_fostering": (["PR1"], [1.0]), "agency_fostering": (["PR4", "PR5"], [0.8, 0.2]),
    "kinship_fostering": (["PR1"], [1.0]), "in_house_childrens_home": (["PR1"], [1.0]),
    "external_childrens_home": (["PR4", "PR5", "PR2"], [0.88, 0.06, 0.06]), "secure": (["PR2", "PR5"], [0.85, 0.15]),
    "supported_accommodation": (["PR4", "PR5", "PR1"], [0.6, 0.2, 0.2]), "placed_with_parents": (["PR0"], [1.0]),
    "placed_for_adoption": (["PR1", "PR5"], [0.8, 0.2]),
    "S1": (["PR4", "PR5", "PR1"], [0.5, 0.2, 0.3]), "R1": (["PR4", "PR5"], [0.8, 0.2]), "R2": (["PR3"], [1.0]),
    "R3": (["PR4", "PR5"], [0.7, 0.3]), "OTHER": ([""], [1.0]),  # Z1/Z11: no provider
}
# share of placements over 20 miles from home by category (calibrated to Derbyshire's published
# 29% to 32% of children placed over 20 miles, 2021-2025: benchmarks_core cla_pct_over20miles)
FAR_SHARE = np.array([0.15, 0.45, 0.20, 0.10, 0.75, 0.85, 0.40, 0.0, 0.45, 0.50])
# placement types that own provision (PR1) may have outside the authority (rule 1015)
OWN_PROVISION_ANYWHERE = ["A3", "A4", "A5", "A6", "U1", "U2", "U3", "U4", "U5", "U6"]
MOTHER_SHARE = 0.06  # girls looked after at 15 or over who have a first child before 18 (assumption)


def _pick(rng, table: dict, keys: np.ndarray) -> np.ndarray:
    out = np.empty(len(keys), dtype=object)
    for k in sorted(pd.unique(keys)):
        sel = keys == k
        codes, p = table[k]
        out[sel] = rng.choice(codes, size=int(sel.sum()), p=p)
    return out


def _urns(rng, sub: np.ndarray, cats: np.ndarray, provider: np.ndarray) -> np.ndarray:
    """Synthetic Ofsted URNs where DfE expects one (rules 218, 222, 242): children's homes, secure homes,
    supported accommodation, schools and family centres by establishment; fostering by service (the
    authority's own, or one of 40 agencies); "XXXXXXX" for regional adoption agencies. Never a real
    URN: SC9xxxxx and 19xxxx are not ranges Ofsted issues."""
    urn = np.full(len(sub), "", dtype=object)
    pools = {"in_house_childrens_home": (900100, 12), "external_childrens_home": (900200, 150), "secure": (900400, 10),
             "supported_accommodation": (900600, 60)}
    for name, (base, size) in pools.items():
        sel = cats == name
        urn[sel] = [f"SC{base + int(x):06d}" for x in rng.integers(0, size, int(sel.sum()))]
    fost = np.isin(sub, ["U1", "U2", "U3", "U4", "U5", "U6"])
    urn[fost & (provider == "PR1")] = "SC900001"
    agency = fost & (provider != "PR1")
    urn[agency] = [f"SC{900010 + int(x):06d}" for x in rng.integers(0, 40, int(agency.sum()))]
    urn[np.isin(sub, ["A5", "A6"])] = "XXXXXXX"
    school = sub == "S1"
    urn[school] = [f"19{int(x):04d}" for x in rng.integers(0, 300, int(school.sum()))]
    fam = sub == "R3"
    urn[fam] = [f"SC{900800 + int(x):06d}" for x in rng.integers(0, 20, int(fam.sum()))]
    return urn


def _place_code(sub: pd.Series, collection_year: int) -> pd.Series:
    """Codes that changed between collection years: semi-independent H5 became supported
    accommodation K3 in 2024-25; Z1 was divided into Z11-Z14 in 2025-26."""
    out = sub.copy()
    out[sub == "SUPPORTED"] = "K3" if collection_year >= 2024 else "H5"
    out[sub == "OTHER"] = "Z11" if collection_year >= 2025 else "Z1"
    return out


def year_bounds(y: int) -> tuple[int, int]:
    """First and last day (ordinals) of collection year ``y`` (2026-27: to 30 September 2026)."""
    return date(y, 4, 1).toordinal(), min(date(y + 1, 3, 31).toordinal(), DATA_END)


def build_episodes(sim: Simulation, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Episodes (all years, ordinal days, DEC may be NaN) and child attributes (header fields, home
    postcode, UPN, UASC, first child's date of birth, end of care)."""
    rng = np.random.default_rng([cfg.seed, 903])
    ch = sim.children.copy()
    k = len(ch)
    dob = ch["dob"].to_numpy()
    ch["sex"] = rng.choice(["1", "2"], size=k, p=[0.55, 0.45])
    ch["ethnic"] = rng.choice(ETHNIC_CODES[0], size=k, p=np.array(ETHNIC_CODES[1]) / sum(ETHNIC_CODES[1]))
    ch["cin"] = rng.choice(CIN_CODES[0], size=k, p=CIN_CODES[1])
    age_at_start = (ch["start"] - ch["dob"]) / 365.25
    ch["uasc"] = (age_at_start >= 14) & (rng.random(k) < 0.06)
    ch.loc[ch["uasc"], "cin"] = "N8"
    ch["child_id"] = [f"{700000 + int(cfg.seed % 97) * 1000000 + i}" for i in range(k)]
    ev = sim.events
    ends = ev[ev["kind"] == "E"].groupby("child")["day"].max()
    ch["care_end"] = ends.reindex(ch["child"]).fillna(DATA_END + 1).to_numpy(np.int64)
    ch["rec_end"] = ev[ev["kind"] == "E"].groupby("child")["rec"].last().reindex(ch["child"]).fillna("").to_numpy()
    # UPN: DfE's format with its check letter; UN1 for children under 5 throughout their time in the
    # data (never of school age: rule 209), UN2 for asylum-seeking children new to England
    # (UN1 only while a child is not of school age, 4 by 31 August before the collection year: rule 209)
    last = pd.to_datetime(np.minimum(ch["care_end"].to_numpy(), DATA_END) - 719163, unit="D")
    last_year = last.year - (last.month < 4)
    school_ref = (pd.to_datetime({"year": last_year - 1, "month": 8, "day": 31})).to_numpy("datetime64[D]").astype(np.int64) + 719163
    birth_year = pd.to_datetime(dob - 719163, unit="D").year.to_numpy()
    upn = upns(rng, k, LA_NUMBER, birth_year)
    ch["upn"] = np.where(ch["uasc"], "UN2", np.where(add_years(dob, 4) > school_ref, "UN1", upn))
    # home: a real postcode inside the authority; not recorded for asylum-seeking children (rule 406)
    pc = postcodes()
    home_rows = np.flatnonzero((pc["pool"] == "home").to_numpy())
    ch["home_idx"] = rng.choice(home_rows, size=k)
    ch["home_post"] = np.where(ch["uasc"], "", pc["postcode"].to_numpy()[ch["home_idx"]])
    # mothers: a first child born between 14 1/2 and 18, while in care; fixed for the child, so MOTHER
    # never goes back from 1 to 0 and MC_DOB never changes (rules 207, 624-626)
    first = ch["dob"].to_numpy() + (14.5 * 365.25 + rng.random(k) * 3.4 * 365.25).astype(np.int64)
    mother = ((ch["sex"] == "2").to_numpy() & (rng.random(k) < MOTHER_SHARE) & (first >= ch["start"].to_numpy())
              & (first < np.minimum(ch["care_end"].to_numpy(), ch["b18"].to_numpy())))
    ch["mc_dob"] = np.where(mother, first, 0)

    opens = ev[ev["kind"] != "E"].copy()
    g = ev.groupby("child")
    nxt, nxt_kind, nxt_rec = g["day"].shift(-1), g["kind"].shift(-1), g["rec"].shift(-1)
    opens["dec"] = nxt[opens.index]
    opens["next_kind"] = nxt_kind[opens.index].fillna("")
    opens["rec"] = np.where(opens["next_kind"] == "E", nxt_rec[opens.index],
                            np.where(opens["next_kind"] == "", "", "X1"))
    placement = opens["kind"].isin(["S", "P", "B"]).to_numpy()
    pe = opens[placement]
    n = len(pe)
    child = pe["child"].to_numpy()
    cat_idx = pe["category"].to_numpy()
    cats = np.array(CATEGORIES)[cat_idx]
    age_at = (pe["day"].to_numpy() - dob[child]) / 365.25
    sub = _pick(rng, PLACE_SUBTYPES, np.where((cats == "other") & (age_at < 4), "other_under_4", cats))
    sub[(sub == "A5") & (pe["kind"].to_numpy() != "S")] = "A6"  # rule 217
    prov = _pick(rng, PROVIDER, np.where(cats == "other", sub, cats))
    urn = _urns(rng, sub, cats, prov)
    # supported accommodation registers with Ofsted from 2023: placements made before April 2023 keep no URN
    # for as long as they last (so a placement's URN never changes between returns: rule 503F)
    urn[(sub == "SUPPORTED") & (pe["day"].to_numpy() < date(2023, 4, 1).toordinal())] = ""
    # own homes and schools are in the authority (rule 1015), and registered supported accommodation
    # with them (rule 241: DfE expects K3 placements with a URN inside the placing authority)
    must_stay = ((prov == "PR1") & ~np.isin(sub, OWN_PROVISION_ANYWHERE)) | (sub == "SUPPORTED")
    in_auth = must_stay | ((prov == "PR1") & (rng.random(n) < 0.85))
    far = rng.random(n) < FAR_SHARE[cat_idx]
    home_idx = ch["home_idx"].to_numpy()[child]
    pl_idx = placement_postcodes(rng, home_idx, far, in_auth, cfg.authority)
    pl_idx = np.where(sub == "P1", home_idx, pl_idx)  # placed with parents: at home
    miles = np.hypot(pc["easting"].to_numpy()[pl_idx] - pc["easting"].to_numpy()[home_idx],
                     pc["northing"].to_numpy()[pl_idx] - pc["northing"].to_numpy()[home_idx]) / MILES
    values = {"sub": sub, "provider": prov, "pl_post": pc["postcode"].to_numpy()[pl_idx], "urn": urn,
              "far": miles > 20, "pl_authority": pc["authority"].to_numpy()[pl_idx]}
    cols = list(values)
    for col, v in values.items():
        opens[col] = None
        opens.loc[placement, col] = v
    opens[cols] = opens.groupby("child")[cols].ffill()
    # the reason for a placement change is recorded on the episode the move ends (rule 225)
    opens["reason_change"] = ""
    ends_move = (opens["rec"] == "X1") & opens["next_kind"].isin(["P", "B"])
    opens.loc[ends_move, "reason_change"] = rng.choice(REASON_CHANGE[0], size=int(ends_move.sum()), p=REASON_CHANGE[1])
    opens = opens.drop(columns="next_kind").rename(columns={"kind": "rne"}).reset_index(drop=True)
    return opens, ch


def missing_periods(episodes: pd.DataFrame, children: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Missing (M) and away without authorisation (A) periods over the whole history, for children 12+ in
    children's homes or supported accommodation: never overlapping, never after care ends; a period
    open at 31 March carries into the next year with the same start (rules 574, 576)."""
    rng = np.random.default_rng([cfg.seed, 905])
    ch = children.set_index("child")
    e = episodes
    lo = e["day"].to_numpy()
    hi = e["dec"].fillna(DATA_END + 1).to_numpy(np.int64)
    dob = ch.loc[e["child"], "dob"].to_numpy()
    risky = e["category"].isin([3, 4, 6]).to_numpy() & ((lo - dob) / 365.25 >= 12)
    lam = np.where(risky, 0.12 * np.clip((hi - lo) / 30.4, 0, None), 0.0)
    rows = np.repeat(np.arange(len(e)), rng.poisson(lam))
    ms = lo[rows] + (rng.random(len(rows)) * np.maximum(hi[rows] - lo[rows] - 1, 1)).astype(np.int64)
    me = np.minimum(ms + rng.integers(0, 4, len(rows)), hi[rows] - 1)
    out = pd.DataFrame({"child": e["child"].to_numpy()[rows], "start": ms, "end": np.maximum(me, ms),
                        "kind": np.where(rng.random(len(rows)) < 0.85, "M", "A")})
    out = out.sort_values(["child", "start"], kind="stable")
    prev_end = out.groupby("child")["end"].transform(lambda s: s.cummax().shift(1)).fillna(-1)
    return out[out["start"] > prev_end].reset_index(drop=True)


def ssda903_returns(episodes: pd.DataFrame, children: pd.DataFrame, cfg: Config) -> dict[str, dict[str, pd.DataFrame]]:
    """Episodes, header, UASC and missing for each collection year 2019-20 .. 2026-27 in DfE's column
    layout: an episode open across 31 March appears in both years, open (DEC, REC and reason for
    placement change blank) in the earlier one."""
    ch = children.set_index("child")
    missing_all = missing_periods(episodes, children, cfg)
    out = {}
    for y in COLLECTION_YEARS:
        start, end = year_bounds(y)
        dec = episodes["dec"]
        inc = (episodes["day"] <= end) & (dec.isna() | (dec >= start))
        e = episodes[inc]
        closed = (e["dec"].notna() & (e["dec"] <= end)).to_numpy()
        c = ch.loc[e["child"]]
        eps = pd.DataFrame({
            "CHILD": c["child_id"].to_numpy(), "DECOM": _fmt(e["day"]).to_numpy(), "RNE": e["rne"].to_numpy(),
            "LS": e["ls"].to_numpy(), "CIN": c["cin"].to_numpy(),
            "PLACE": _place_code(e["sub"], y).to_numpy(), "PLACE_PROVIDER": e["provider"].to_numpy(),
            "DEC": _fmt(e["dec"].where(closed)).to_numpy(), "REC": np.where(closed, e["rec"], ""),
            "REASON_PLACE_CHANGE": np.where(closed, e["reason_change"], ""), "HOME_POST": c["home_post"].to_numpy(),
            "PL_POST": e["pl_post"].to_numpy(), "URN": e["urn"].to_numpy(),
        })
        kids = ch.loc[np.unique(e["child"])]
        female = (kids["sex"] == "2").to_numpy()
        is_mother = female & (kids["mc_dob"] > 0).to_numpy() & (kids["mc_dob"] <= end).to_numpy()
        sex = kids["sex"].map({"1": "M", "2": "F"}) if y >= 2024 else kids["sex"]
        header = pd.DataFrame({"CHILD": kids["child_id"].to_numpy(), "SEX": sex.to_numpy(),
                               "DOB": _fmt(kids["dob"]).to_numpy(), "ETHNIC": kids["ethnic"].to_numpy(),
                               "UPN": kids["upn"].to_numpy(), "MOTHER": np.where(female, np.where(is_mother, "1", "0"), ""),
                               "MC_DOB": np.where(is_mother, _fmt(kids["mc_dob"]).to_numpy(), "")})
        u = kids[kids["uasc"]]
        uasc = pd.DataFrame({"CHILD": u["child_id"].to_numpy(), "SEX": sex[u.index].to_numpy(),
                             "DOB": _fmt(u["dob"]).to_numpy(),
                             "DUC": _fmt(u["b18"]).to_numpy()})  # the 18th birthday, as DfE expects (205B)
        m = missing_all[(missing_all["start"] <= end) & (missing_all["end"] >= start)]
        mk = ch.loc[m["child"]]
        missing = pd.DataFrame({"CHILD": mk["child_id"].to_numpy(), "DOB": _fmt(mk["dob"]).to_numpy(),
                                "MISSING": m["kind"].to_numpy(), "MIS_START": _fmt(m["start"]).to_numpy(),
                                "MIS_END": np.where(m["end"] <= end, _fmt(m["end"]).to_numpy(), "")})
        tables = {"episodes": eps, "header": header, "uasc": uasc, "missing": missing}
        tables.update(other_tables(y, start, end, e, episodes, ch, cfg))
        # care leavers in OC3 have a header row too (DfE's header lists every child in the return), without
        # motherhood details, which are not collected for care leavers (rule 628)
        leavers = ch.loc[ch["child_id"].isin(tables["oc3"]["CHILD"]) & ~ch.index.isin(kids.index)]
        if len(leavers):
            lsex = leavers["sex"].map({"1": "M", "2": "F"}) if y >= 2024 else leavers["sex"]
            extra = pd.DataFrame({"CHILD": leavers["child_id"].to_numpy(), "SEX": lsex.to_numpy(),
                                  "DOB": _fmt(leavers["dob"]).to_numpy(), "ETHNIC": leavers["ethnic"].to_numpy(),
                                  "UPN": leavers["upn"].to_numpy(), "MOTHER": "", "MC_DOB": ""})
            tables["header"] = pd.concat([header, extra], ignore_index=True)
        out[collection_year_label(y)] = tables
    return out
