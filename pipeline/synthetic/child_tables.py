"""The SSDA903 tables beyond episodes and header, per collection year in DfE's layout: OC2 (outcomes of
children looked after for 12 months), OC3 (care leavers), AD1 (adoptions), placed for adoption,
previous permanence, reviews and, from 2023-24, social worker episodes. Values are drawn from DfE's
published national figures where they exist (named beside each distribution) and are synthetic."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipeline.synthetic.calibration import LA_NUMBER, Config
from pipeline.synthetic.formats import add_years, fmt_days

SW_FROM = 2023  # social worker episodes are collected from 2023-24
# OC2, DfE "Outcomes for children in need, including children looked after", England 2024 (children
# looked after continuously for 12 months at 31 March): immunisations up to date 82%, teeth checked
# 77%, annual health assessment 90%, development assessments (under 5) 88%, SDQ score for 75% of those
# aged 5-16 (average score 14), substance misuse problem 3%, convicted 2% of those aged 10+.
OC2_RATES = {"IMMUNISATIONS": 0.82, "TEETH_CHECK": 0.77, "HEALTH_ASSESSMENT": 0.90, "HEALTH_CHECK": 0.88,
             "SUBSTANCE_MISUSE": 0.03, "CONVICTED": 0.02, "SDQ": 0.75}
SDQ_REASONS = (["SDQ1", "SDQ2", "SDQ3", "SDQ4", "SDQ5"], [0.35, 0.25, 0.15, 0.15, 0.10])
# OC3, DfE "Children looked after in England including adoptions", care leavers aged 19-21, England
# 2024: in touch 91%; in education 28% (higher education 7%), training or employment 26%, not in
# education, employment or training 38%; accommodation suitable 88%.
IN_TOUCH = (["YES", "NO", "REFU", "NREQ"], [0.91, 0.05, 0.03, 0.01])
ACTIV = (["F1", "P1", "F2", "P2", "F4", "P4", "G4", "G5", "G6"],
         [0.06, 0.01, 0.17, 0.04, 0.18, 0.08, 0.10, 0.28, 0.08])
ACCOM = (["U", "D", "E", "Z", "B", "K", "T", "C", "Y", "S", "X"],  # suitability 1 or 2 added
         [0.37, 0.15, 0.06, 0.09, 0.13, 0.04, 0.03, 0.03, 0.05, 0.02, 0.03])
# AD1: DfE adoptions 2024: 13% single adopters, 10% same-sex couples; 12% adopted by their foster carers
ADOPTERS = (["L11:MF:2", "L3:MF:2", "L12:FF:2", "L12:MM:2", "L2:FF:2", "L4:MM:2", "L0:F1:1", "L0:M1:1"],
            [0.60, 0.17, 0.03, 0.03, 0.02, 0.02, 0.11, 0.02])
REVIEW_CODES = (["PN1", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7"], [0.45, 0.06, 0.04, 0.12, 0.20, 0.08, 0.05])
SW_REASONS = (["MANAGE", "LEFTRL", "ORGRST", "ABSENC", "CHCHAN", "OTHERS"], [0.25, 0.35, 0.12, 0.08, 0.10, 0.10])
PREV_PERM = (["Z1", "P1", "P2", "P3"], [0.92, 0.02, 0.04, 0.02])


def _fmt(days) -> np.ndarray:
    return fmt_days(np.asarray(days, dtype=float)).to_numpy()


def _rng(cfg: Config, y: int, table: int):
    return np.random.default_rng([cfg.seed, 906, y, table])


def periods(episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per child's period of care: start (the S episode), end (its last DEC, NaN if open)."""
    e = episodes.sort_values(["child", "day"], kind="stable")
    s = e[e["rne"] == "S"][["child", "day"]].rename(columns={"day": "period_start"})
    last = e.groupby("child").tail(1).set_index("child")[["dec", "rec"]].rename(columns={"dec": "period_end"})
    return s.merge(last, left_on="child", right_index=True)


def other_tables(y: int, start: int, end: int, year_eps: pd.DataFrame, episodes: pd.DataFrame,
                 children: pd.DataFrame, cfg: Config) -> dict[str, pd.DataFrame]:
    """``year_eps``: this year's episodes (ordinal days); ``children`` indexed by child."""
    per = periods(episodes).set_index("child")
    kids = children.loc[np.unique(year_eps["child"])]
    out = {"oc2": oc2(y, start, end, kids, per, cfg), "oc3": oc3(y, start, end, children, per, episodes, cfg)}
    out.update(adoption_tables(y, start, end, year_eps, children, episodes, per, cfg))
    out["previous_permanence"] = previous_permanence(y, start, year_eps, children, cfg)
    out["reviews"] = reviews(y, start, end, kids, per, cfg)
    if y >= SW_FROM:
        out["sw_episodes"] = sw_episodes(y, start, end, kids, per, cfg)
    return out


def oc2(y, start, end, kids, per, cfg) -> pd.DataFrame:
    """Children looked after continuously through the year (DfE: for 12 months at 31 March)."""
    rng = _rng(cfg, y, 2)
    p = per.loc[kids.index]
    year_end = date(y + 1, 3, 31).toordinal()  # for the part year 2026-27: still in care at the data's end
    cont = (p["period_start"] < start).to_numpy() & (p["period_end"].isna() | (p["period_end"] >= year_end)).to_numpy()
    k = kids[cont]
    n = len(k)
    end = date(y + 1, 3, 31).toordinal()  # ages at the collection year's own end (2026-27 too)
    dob = k["dob"].to_numpy()
    age_end = (end - dob) / 365.25

    def flag(rate, applies=None):
        v = np.where(rng.random(n) < rate, "1", "0")
        return v if applies is None else np.where(applies, v, "")

    # SDQ: due from the year a child turns 4 to the year they turn 17 (rules 188, 189, 197B); SDQ1 (too young
    # or too old) only in those two edge years (rule 157)
    b4, b16, b17 = add_years(dob, 4), add_years(dob, 16), add_years(dob, 17)
    sdq_due = (b4 <= end) & (b17 >= start)
    core = (b4 <= start) & (b16 >= end)
    has_sdq = sdq_due & (rng.random(n) < np.where(core, OC2_RATES["SDQ"], 0.5))
    score = np.clip(np.round(rng.normal(14, 6.5, n)), 0, 40).astype(int).astype(str)
    reason = np.where(core, rng.choice(SDQ_REASONS[0][1:], n, p=np.array(SDQ_REASONS[1][1:]) / sum(SDQ_REASONS[1][1:])),
                      "SDQ1")
    misuse = flag(OC2_RATES["SUBSTANCE_MISUSE"])
    received = np.where(misuse == "1", np.where(rng.random(n) < 0.55, "1", "0"), "")
    offered = np.where(received == "0", np.where(rng.random(n) < 0.6, "1", "0"), "")
    return pd.DataFrame({
        "CHILD": k["child_id"].to_numpy(), "DOB": _fmt(k["dob"]),
        "SDQ_SCORE": np.where(has_sdq, score, ""),
        "SDQ_REASON": np.where(sdq_due & ~has_sdq, reason, ""),
        "CONVICTED": flag(OC2_RATES["CONVICTED"], age_end >= 10),
        "HEALTH_CHECK": flag(OC2_RATES["HEALTH_CHECK"], add_years(dob, 5) > end),
        "IMMUNISATIONS": flag(OC2_RATES["IMMUNISATIONS"]), "TEETH_CHECK": flag(OC2_RATES["TEETH_CHECK"]),
        "HEALTH_ASSESSMENT": flag(OC2_RATES["HEALTH_ASSESSMENT"]), "SUBSTANCE_MISUSE": misuse,
        "INTERVENTION_RECEIVED": received, "INTERVENTION_OFFERED": offered})


def oc3(y, start, end, children, per, episodes, cfg) -> pd.DataFrame:
    """Care leavers in the year of their 19th birthday who left care at 18 after at least 13 weeks in
    care from their 14th birthday (former relevant children). DfE collects 17-21 year olds; those of 20
    and 21 left care more than a year before and appear in neither this return's episodes nor the
    last, so DfE's validator (which sees two years) could not tell them from strangers: not generated."""
    rng = _rng(cfg, y, 3)
    c = children
    b19 = add_years(c["dob"].to_numpy(), 19)
    left_at_18 = (c["care_end"] == c["b18"]).to_numpy()
    k = c[(b19 >= start) & (b19 <= end) & left_at_18]
    # former relevant: 13 weeks in care from the 14th birthday, counted (as DfE's validator can) in the
    # episodes of this year and the last
    e = episodes[episodes["child"].isin(k.index) & (episodes["dec"].fillna(10 ** 7) >= date(y - 1, 4, 1).toordinal())]
    d14 = add_years(c.loc[e["child"], "dob"].to_numpy(), 14)
    after14 = np.clip(e["dec"].fillna(end).to_numpy() - np.maximum(e["day"].to_numpy(), d14), 0, None)
    total = pd.Series(after14, index=e["child"].to_numpy()).groupby(level=0).sum()
    k = k[total.reindex(k.index).fillna(0).to_numpy() >= 91]
    n = len(k)
    touch = rng.choice(IN_TOUCH[0], n, p=IN_TOUCH[1])
    yes = touch == "YES"
    accom = rng.choice(ACCOM[0], n, p=ACCOM[1])
    suitable = np.where(np.isin(accom, ["S", "X"]), "2", np.where(rng.random(n) < 0.93, "1", "2"))
    return pd.DataFrame({"CHILD": k["child_id"].to_numpy(), "DOB": _fmt(k["dob"]), "IN_TOUCH": touch,
                         "ACTIV": np.where(yes, rng.choice(ACTIV[0], n, p=ACTIV[1]), "0"),
                         "ACCOM": np.where(yes, np.char.add(accom.astype(str), suitable.astype(str)), "0")})


def adoption_tables(y, start, end, year_eps, children, episodes, per, cfg) -> dict[str, pd.DataFrame]:
    """Placed for adoption (every child with a placement order or an adoption placement this year, with
    the date of the decision that they should be placed) and AD1 (children adopted this year)."""
    rng = _rng(cfg, y, 4)
    e = episodes
    adopt_eps = e[(e["ls"] == "E1") | (e["sub"].isin(["A5", "A6"]))]
    first_adopt = adopt_eps.groupby("child")["day"].min()
    # the decision: 1 to 6 months before the placement order or placement, never before care starts
    drng = np.random.default_rng([cfg.seed, 907])
    gap = drng.integers(30, 180, len(first_adopt))
    pstart = per.reindex(first_adopt.index)["period_start"].to_numpy()
    decision = pd.Series(np.maximum(first_adopt.to_numpy() - gap, pstart), index=first_adopt.index)
    # every child in this year's return after the decision (a decision in an earlier year is carried: rule 559)
    here = np.unique(year_eps["child"])
    in_year = decision.index[decision.index.isin(here) & (decision.to_numpy() <= end)].to_numpy()
    k = children.loc[in_year]
    placed = pd.DataFrame({"CHILD": k["child_id"].to_numpy(), "DOB": _fmt(k["dob"]),
                           "DATE_PLACED": _fmt(decision.loc[in_year].to_numpy()),
                           "DATE_PLACED_CEASED": "", "REASON_PLACED_CEASED": ""})
    adopted = children[children["rec_end"].isin(["E11", "E12"]) & (children["care_end"] >= start)
                       & (children["care_end"] <= end)]
    n = len(adopted)
    a6 = e[e["sub"].isin(["A5", "A6"])].groupby("child")["day"].min().reindex(adopted.index)
    match = np.maximum(a6.fillna(adopted["care_end"] - 200).to_numpy() - rng.integers(7, 60, n),
                       decision.reindex(adopted.index).fillna(0).to_numpy())
    foster = e[e["sub"] == "A5"]["child"].unique()
    who = np.array([s.split(":") for s in rng.choice(ADOPTERS[0], n, p=ADOPTERS[1])]).reshape(n, 3)
    ad1 = pd.DataFrame({"CHILD": adopted["child_id"].to_numpy(), "DOB": _fmt(adopted["dob"]),
                        "DATE_INT": _fmt(decision.reindex(adopted.index).to_numpy()), "DATE_MATCH": _fmt(match),
                        "FOSTER_CARE": np.where(adopted.index.isin(foster), "1", "0"),
                        "NB_ADOPTR": who[:, 2], "SEX_ADOPTR": who[:, 1], "LS_ADOPTR": who[:, 0]})
    return {"ad1": ad1, "placed_for_adoption": placed}


def previous_permanence(y, start, year_eps, children, cfg) -> pd.DataFrame:
    """Every child starting a period of care this year: any permanence order before it (DfE: about 8%
    of starters had been adopted, or had a special guardianship or child arrangements order)."""
    rng = _rng(cfg, y, 5)
    s = year_eps[(year_eps["rne"] == "S") & (year_eps["day"] >= start)]
    k = children.loc[s["child"].to_numpy()]
    n = len(k)
    perm = rng.choice(PREV_PERM[0], n, p=PREV_PERM[1])
    when = k["dob"].to_numpy() + ((s["day"].to_numpy() - k["dob"].to_numpy()) * rng.uniform(0.2, 0.8, n)).astype(np.int64)
    return pd.DataFrame({"CHILD": k["child_id"].to_numpy(), "DOB": _fmt(k["dob"]), "PREV_PERM": perm,
                         "LA_PERM": np.where(perm == "Z1", "", str(LA_NUMBER)),
                         "DATE_PERM": np.where(perm == "Z1", "", _fmt(when))})


def _review_days(pstart: np.ndarray, pend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Statutory reviews of each period: within 20 working days of the start (here day 25), then
    three months later, then every six months while in care. Returns (period row, day)."""
    offsets = np.concatenate([[25, 25 + 91], 25 + 91 + 182 * np.arange(1, 40)])
    rows = np.repeat(np.arange(len(pstart)), len(offsets))
    days = pstart[rows] + np.tile(offsets, len(pstart))
    keep = days < pend[rows]
    return rows[keep], days[keep]


def reviews(y, start, end, kids, per, cfg) -> pd.DataFrame:
    rng = _rng(cfg, y, 6)
    p = per.loc[kids.index]
    rows, days = _review_days(p["period_start"].to_numpy(), p["period_end"].fillna(10 ** 7).to_numpy())
    keep = (days >= start) & (days <= end)
    rows, days = rows[keep], days[keep]
    k = kids.iloc[rows]
    under4 = days < add_years(k["dob"].to_numpy(), 4)
    code = np.where(under4, "PN0", rng.choice(REVIEW_CODES[0], len(rows), p=REVIEW_CODES[1]))
    return pd.DataFrame({"CHILD": k["child_id"].to_numpy(), "DOB": _fmt(k["dob"]), "REVIEW": _fmt(days),
                         "REVIEW_CODE": code})


def sw_episodes(y, start, end, kids, per, cfg) -> pd.DataFrame:
    """Each period of care has a chain of social workers, the first from the day care starts (reason
    FCONTA), each changing after 6 to 18 months for a reason drawn from SW_REASONS (synthetic: no
    published distribution). The chains are drawn once for every period, so each year's return agrees
    with the last."""
    rng = np.random.default_rng([cfg.seed, 908])
    m, depth = len(per), 25
    dur = rng.integers(180, 540, (m, depth))
    ids = rng.integers(100000, 999999, (m, depth))
    why = rng.choice(SW_REASONS[0], (m, depth), p=SW_REASONS[1])
    why[:, 0] = "FCONTA"
    bounds = per["period_start"].to_numpy()[:, None] + np.cumsum(dur, axis=1)
    # no handover in the last five days of March: DfE's validator (rule SW11bSTG2) reads one there as a
    # worker leaving with nobody after them, so the handover waits for 1 April
    when = pd.to_datetime(bounds.ravel() - 719163, unit="D")
    late = np.asarray((when.month == 3) & (when.day >= 26)).reshape(bounds.shape)
    bounds = np.where(late, bounds + 32 - np.asarray(when.day).reshape(bounds.shape), bounds)
    d0 = np.concatenate([per["period_start"].to_numpy()[:, None], bounds[:, :-1]], axis=1)
    pend = per["period_end"].fillna(10 ** 7).to_numpy()[:, None]
    # the social worker at the end of care stays (the child is still a child in need): never closed
    d1 = np.where(bounds > pend, 10 ** 7, bounds)
    keep = (d0 <= np.minimum(pend, end)) & (d1 >= start) & per.index.isin(kids.index)[:, None]
    r, c = np.nonzero(keep)
    k = kids.loc[per.index.to_numpy()[r]]
    ended = d1[r, c]
    return pd.DataFrame({"CHILD": k["child_id"].to_numpy(), "DOB": _fmt(k["dob"]),
                         "SW_ID": np.char.add("SW", ids[r, c].astype(str)), "SW_DECOM": _fmt(d0[r, c]),
                         "SW_DEC": _fmt(np.where((ended <= end) & (ended < 10 ** 7), ended, 0)),
                         "SW_REASON": why[r, c]})
