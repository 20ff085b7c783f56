"""A synthetic authority calibrated to Derbyshire: children looked after, a finance ledger and
quarterly returns, from one seeded stochastic process with explicit rates.

Everything it writes is synthetic and says so in its metadata. The rates it uses are written beside
the output (``oracle/``), so a forecast can be scored against a process that knows them.

The process, month by month from April 2015 (603 children looked after at 31 March 2015):
- entries: in a year with a published target the number of starts is fixed to it and spread over
  the months with seasonal weights (a Poisson process conditioned on its total); beyond the
  published years, Poisson with the trend of the last three years;
- exits: children reach 18 and leave; the other exits of a targeted year are fixed to the published
  figure (31 March count last year + starts - 31 March count this year) and drawn without replacement
  with weights from an explicit hazard by placement category, age band and time in care; beyond the
  published years each child leaves with probability hazard x the last calibrated monthly multiplier;
- moves between placement categories and legal-status changes: monthly probabilities by category
  and age, destinations from a matrix.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES, collection_year_label

AGE_BANDS = ["under_1", "1_to_4", "5_to_9", "10_to_15", "16_to_17"]
AGE_EDGES = np.array([0, 1, 5, 10, 16, 18])  # years
DURATION_BANDS = ["under_6m", "6m_to_2y", "2y_plus"]
FIRST_MONTH = date(2015, 4, 1)
LAST_MONTH = date(2026, 9, 1)  # the last month generated: 2026-27 Q2 ends 30 September 2026

# Derbyshire (E10000007), years ending 31 March. Source: data/raw/published/national/benchmarks_core.csv
# (measure ids cla_31mar_number, cla_starts_number, cla_ceased_number), from DfE's CLA statistics.
PUBLISHED = {
    2015: (603, 253, 280), 2016: (585, 265, 302), 2017: (630, 295, 257), 2018: (709, 338, 265),
    2019: (801, 369, 283), 2020: (862, 394, 336), 2021: (898, 375, 343), 2022: (911, 337, 328),
    2023: (995, 483, 403), 2024: (1056, 485, 428), 2025: (1024, 405, 440),
}
CALIBRATION_SOURCE = ("DfE children looked after in England statistics for Derbyshire (E10000007), as curated in "
                      "data/raw/published/national/benchmarks_core.csv: 31 March counts, starts and ceased, "
                      "years ending 31 March 2015 to 2025")

# seasonal weights for starts and exits, April..March (assumption: a little higher in autumn and March)
SEASON = np.array([1.00, 0.98, 0.97, 0.95, 0.88, 1.05, 1.08, 1.06, 0.90, 1.02, 1.03, 1.08])

# age band shares of children starting to be looked after (England pattern, DfE CLA statistics: assumption)
ENTRY_AGE = np.array([0.19, 0.15, 0.17, 0.37, 0.12])
# age band shares of children looked after at 31 March (initial population, England pattern: assumption)
STOCK_AGE = np.array([0.05, 0.14, 0.19, 0.38, 0.24])

# first placement category by age band at entry (rows: AGE_BANDS; columns: CATEGORIES)
ENTRY_CATEGORY = np.array([
    # inh   agy   kin   ihCH  exCH  sec   supp  par   adop  other
    [0.48, 0.14, 0.22, 0.00, 0.00, 0.00, 0.00, 0.06, 0.00, 0.10],  # under 1 (other: mother and baby units)
    [0.46, 0.18, 0.26, 0.00, 0.00, 0.00, 0.00, 0.07, 0.00, 0.03],
    [0.42, 0.22, 0.24, 0.01, 0.03, 0.00, 0.00, 0.06, 0.00, 0.02],
    [0.30, 0.22, 0.14, 0.03, 0.10, 0.01, 0.03, 0.10, 0.00, 0.07],
    [0.12, 0.12, 0.06, 0.03, 0.11, 0.02, 0.42, 0.04, 0.00, 0.08],
])
# category mix of the initial population by age band
STOCK_CATEGORY = np.array([
    [0.45, 0.15, 0.20, 0.00, 0.00, 0.00, 0.00, 0.05, 0.10, 0.05],
    [0.36, 0.17, 0.22, 0.00, 0.00, 0.00, 0.00, 0.07, 0.16, 0.02],
    [0.38, 0.24, 0.22, 0.02, 0.05, 0.00, 0.00, 0.06, 0.01, 0.02],
    [0.33, 0.26, 0.15, 0.05, 0.12, 0.01, 0.00, 0.05, 0.00, 0.03],
    [0.24, 0.18, 0.10, 0.04, 0.11, 0.01, 0.27, 0.02, 0.00, 0.03],
])
# relative exit hazard by category (placed with parents and for adoption end soonest: assumption)
EXIT_HAZARD = np.array([0.65, 0.55, 0.80, 0.45, 0.45, 0.60, 0.70, 1.20, 3.20, 0.90])
EXIT_AGE = np.array([1.30, 1.20, 0.80, 0.70, 0.90])  # by age band
EXIT_DURATION = np.array([1.40, 1.00, 0.60])  # by time in care band
# monthly probability of a placement move by category (assumption, consistent with about 10% of
# children having three or more placements in a year: DfE placement stability, Derbyshire 2025 11.7%)
MOVE_PROB = np.array([0.020, 0.022, 0.012, 0.030, 0.030, 0.080, 0.025, 0.020, 0.000, 0.060])
# destination of a move (rows: from-category) ; the diagonal is unused
MOVE_DEST = np.array([
    [0.00, 0.30, 0.15, 0.04, 0.16, 0.02, 0.10, 0.15, 0.00, 0.08],
    [0.35, 0.00, 0.10, 0.04, 0.20, 0.02, 0.12, 0.12, 0.00, 0.05],
    [0.40, 0.25, 0.00, 0.02, 0.10, 0.00, 0.08, 0.10, 0.00, 0.05],
    [0.15, 0.15, 0.05, 0.00, 0.40, 0.05, 0.15, 0.02, 0.00, 0.03],
    [0.10, 0.15, 0.05, 0.20, 0.00, 0.05, 0.35, 0.02, 0.00, 0.08],
    [0.05, 0.05, 0.00, 0.20, 0.55, 0.00, 0.10, 0.00, 0.00, 0.05],
    [0.10, 0.10, 0.05, 0.05, 0.30, 0.05, 0.00, 0.10, 0.00, 0.25],
    [0.45, 0.25, 0.20, 0.00, 0.05, 0.00, 0.00, 0.00, 0.00, 0.05],
    [0.70, 0.20, 0.10, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00],
    [0.30, 0.20, 0.10, 0.05, 0.20, 0.05, 0.05, 0.05, 0.00, 0.00],
])
ADOPTION_MOVE_PROB = 0.030  # monthly, children under 5 in fostering
# exit reasons by category (REC codes and probabilities) for exits before 18
EXIT_REASONS = {
    "default": (["E4A", "E4B", "E13", "E41", "E47", "E8", "E3"], [0.32, 0.05, 0.18, 0.08, 0.07, 0.22, 0.08]),
    "kinship_fostering": (["E45", "E41", "E4A", "E13"], [0.62, 0.15, 0.13, 0.10]),
    "in_house_fostering": (["E4A", "E46", "E47", "E13", "E41", "E8"], [0.28, 0.12, 0.08, 0.20, 0.10, 0.22]),
    "agency_fostering": (["E4A", "E46", "E47", "E13", "E41", "E8"], [0.30, 0.10, 0.08, 0.20, 0.10, 0.22]),
    "placed_with_parents": (["E4A", "E41", "E13"], [0.70, 0.15, 0.15]),
    "placed_for_adoption": (["E11", "E12"], [0.55, 0.45]),
    "secure": (["E4A", "E14", "E9", "E8"], [0.30, 0.35, 0.20, 0.15]),
}
AT_18_REASONS = (["E17", "E5", "E6", "E8", "E7"], [0.30, 0.45, 0.12, 0.10, 0.03])
CIN_CODES = (["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"], [0.62, 0.04, 0.04, 0.08, 0.14, 0.02, 0.01, 0.05])
ETHNIC_CODES = (["WBRI", "WOTH", "WIRT", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "APKN", "AOTH", "BCRB", "BAFR",
                 "CHNE", "OOTH", "NOBT"],
                [0.86, 0.03, 0.005, 0.005, 0.03, 0.01, 0.01, 0.015, 0.005, 0.005, 0.005, 0.005, 0.002, 0.008, 0.005])
REASON_CHANGE = (["CARPL", "CHILD", "CREQB", "STAND", "LAREQ", "PLACE", "OTHER", "CLOSE", "ALLEG", "APPRR", "CREQO"],
                 [0.33, 0.10, 0.08, 0.12, 0.10, 0.10, 0.09, 0.03, 0.02, 0.02, 0.01])
PROVIDER = {  # PLACE_PROVIDER by category
    "in_house_fostering": (["PR1"], [1.0]), "agency_fostering": (["PR4", "PR5"], [0.8, 0.2]),
    "kinship_fostering": (["PR1"], [1.0]), "in_house_childrens_home": (["PR1"], [1.0]),
    "external_childrens_home": (["PR4", "PR5", "PR2"], [0.88, 0.06, 0.06]), "secure": (["PR2", "PR3"], [0.8, 0.2]),
    "supported_accommodation": (["PR4", "PR5", "PR1"], [0.6, 0.2, 0.2]), "placed_with_parents": (["PR0"], [1.0]),
    "placed_for_adoption": (["PR1", "PR5"], [0.8, 0.2]), "other": (["PR3", "PR4", "PR1"], [0.4, 0.4, 0.2]),
}
# share of placements over 20 miles from home by category (calibrated to Derbyshire's published
# 29% to 32% of children placed over 20 miles, 2021-2025: benchmarks_core cla_pct_over20miles)
FAR_SHARE = np.array([0.15, 0.45, 0.20, 0.10, 0.75, 0.85, 0.40, 0.02, 0.45, 0.50])
HOME_SECTORS = ["DE4 3", "DE4 4", "DE5 3", "DE7 5", "DE11 0", "DE12 6", "DE21 4", "DE22 1", "DE23 6", "DE24 8",
                "DE55 7", "DE56 1", "DE65 5", "DE73 8", "DE75 7", "S40 1", "S40 4", "S41 7", "S42 6", "S43 3",
                "S44 5", "S45 9", "S18 1", "S21 4", "SK13 8", "SK17 6", "SK22 4", "SK23 0", "NG10 4", "NG16 3"]
FAR_SECTORS = ["NG7 2", "B12 9", "ST4 1", "LE3 5", "M14 5", "S1 2", "WS1 4", "LS6 1", "DN1 3", "HU3 2", "WV2 4",
               "CV2 3", "PE1 5", "LN1 1", "BD8 7", "WF1 2", "OL1 3", "CW1 2", "NN1 4", "TF1 6"]


@dataclass
class Config:
    seed: int = 2026
    scale: float = 1.0


@dataclass
class Simulation:
    """Child-level results: children, events (episode boundaries) and the oracle tables."""
    children: pd.DataFrame
    events: pd.DataFrame
    oracle: dict[str, pd.DataFrame] = field(default_factory=dict)


def month_starts() -> list[date]:
    out, d = [], FIRST_MONTH
    while d <= LAST_MONTH:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


def _days_in_month(d: date) -> int:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return (nxt - d).days


def _age_band(age_years: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(AGE_EDGES, age_years, side="right") - 1, 0, 4)


def _duration_band(days: np.ndarray) -> np.ndarray:
    return np.where(days < 183, 0, np.where(days < 730, 1, 2))


def _choice_rows(rng, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each i, a column index drawn from probs[rows[i]] (vectorised inverse-CDF)."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)[rows]
    u = rng.random(len(rows))[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def targets(scale: float) -> dict[int, dict[str, int]]:
    """Per year ending 31 March (2016-2025): starts and ceased to hit, and the 31 March count."""
    out = {}
    for y in range(2016, 2026):
        stock, starts, ceased_published = PUBLISHED[y]
        prev = PUBLISHED[y - 1][0]
        s = int(round(starts * scale))
        out[y] = {"starts": s, "at_31_march": int(round(stock * scale)),
                  "ceased": int(round(prev * scale)) + s - int(round(stock * scale)),
                  "ceased_published": ceased_published}
    return out


def simulate(cfg: Config) -> Simulation:
    rng = np.random.default_rng(cfg.seed)
    months = month_starts()
    tg = targets(cfg.scale)
    # capacity: initial stock plus every start, with margin for the free-running years
    n0 = int(round(PUBLISHED[2015][0] * cfg.scale))
    cap = n0 + sum(t["starts"] for t in tg.values()) + int(1200 * cfg.scale) + 100
    dob = np.zeros(cap, dtype=np.int64)
    start = np.zeros(cap, dtype=np.int64)
    cat = np.zeros(cap, dtype=np.int64)
    ls = np.zeros(cap, dtype="<U2")
    active = np.zeros(cap, dtype=bool)
    last_event = np.zeros(cap, dtype=np.int64)
    n = 0
    ev_child, ev_day, ev_kind, ev_cat, ev_ls, ev_rec = [], [], [], [], [], []

    def log(idx, day, kind, rec=None):
        ev_child.append(idx)
        ev_day.append(day)
        ev_kind.append(np.full(len(idx), kind))
        ev_cat.append(cat[idx].copy())
        ev_ls.append(ls[idx].copy())
        ev_rec.append(np.full(len(idx), "") if rec is None else rec)
        last_event[idx] = day

    # ---- initial population at 31 March 2015 -------------------------------------------------------
    origin = date(2015, 3, 31).toordinal()
    band = rng.choice(5, size=n0, p=STOCK_AGE)
    age_days = (AGE_EDGES[band] + rng.random(n0) * (AGE_EDGES[band + 1] - AGE_EDGES[band])) * 365.25
    idx = np.arange(n0)
    dob[idx] = origin - age_days.astype(np.int64)
    in_care = np.minimum(age_days - 1, rng.exponential(2.3 * 365.25, n0)).astype(np.int64)
    start[idx] = origin - np.maximum(in_care, 1)
    cat[idx] = _choice_rows(rng, STOCK_CATEGORY, band)
    ls[idx] = np.where(cat[idx] == 8, "E1", rng.choice(["C2", "V2", "C1"], size=n0, p=[0.78, 0.15, 0.07]))
    active[idx] = True
    log(idx, start[idx], "S")
    n = n0

    oracle_entries, oracle_exits = [], []
    calibrated_mults: list[float] = []  # monthly exit multipliers of the calibrated years
    ym_exits_plan: dict[int, np.ndarray] = {}
    done_exits: dict[int, int] = {}
    annual_starts: list[int] = []  # starts in each completed year, for the free-running trend
    starts_this_year = 0
    for mi, m0 in enumerate(months):
        fy_end = m0.year + 1 if m0.month >= 4 else m0.year  # year ending 31 March
        mpos = (m0.month - 4) % 12  # 0 = April
        d0, ndays = m0.toordinal(), _days_in_month(m0)
        target = tg.get(fy_end)
        # ---- entries ---------------------------------------------------------------------------------
        if mpos == 0:
            starts_this_year = 0
        if target is not None:
            if mpos == 0:
                starts_plan = rng.multinomial(target["starts"], SEASON / SEASON.sum())
                ym_exits_plan[fy_end] = np.cumsum(rng.multinomial(target["ceased"], SEASON / SEASON.sum()))
                done_exits[fy_end] = 0
            k = int(starts_plan[mpos])
            expected = target["starts"] * SEASON[mpos] / SEASON.sum()
        else:
            expected = np.mean(annual_starts[-3:]) * SEASON[mpos] / SEASON.sum()
            k = int(rng.poisson(expected))
        for b in range(5):
            oracle_entries.append((m0.isoformat(), AGE_BANDS[b], expected * ENTRY_AGE[b], target is not None))
        starts_this_year += k
        if k:
            new = np.arange(n, n + k)
            n += k
            day = d0 + rng.integers(0, ndays, k)
            b = rng.choice(5, size=k, p=ENTRY_AGE)
            a = (AGE_EDGES[b] + rng.random(k) * (AGE_EDGES[b + 1] - AGE_EDGES[b])) * 365.25
            a = np.minimum(a, 17.9 * 365.25)
            dob[new] = day - a.astype(np.int64)
            start[new] = day
            cat[new] = _choice_rows(rng, ENTRY_CATEGORY, b)
            ls[new] = np.where(b >= 3, rng.choice(["V2", "C1", "L1", "J1"], size=k, p=[0.45, 0.40, 0.10, 0.05]),
                               rng.choice(["V2", "C1", "L2", "L1"], size=k, p=[0.25, 0.60, 0.08, 0.07]))
            active[new] = True
            log(new, day, "S")
        # ---- children reaching 18 this month ------------------------------------------------------------
        act = np.flatnonzero(active[:n])
        eighteen = dob[act] + int(18 * 365.25)
        turning = act[(eighteen >= d0) & (eighteen < d0 + ndays) & (eighteen > last_event[act])]
        if len(turning):
            rec = rng.choice(AT_18_REASONS[0], size=len(turning), p=AT_18_REASONS[1])
            day = dob[turning] + int(18 * 365.25)
            active[turning] = False
            log(turning, day, "E", rec)
        # ---- other exits -------------------------------------------------------------------------------
        elig = np.flatnonzero(active[:n])
        elig = elig[last_event[elig] < d0]
        age_b = _age_band((d0 - dob[elig]) / 365.25)
        dur_b = _duration_band(d0 - start[elig])
        w = EXIT_HAZARD[cat[elig]] * EXIT_AGE[age_b] * EXIT_DURATION[dur_b]
        if target is not None:
            done_exits[fy_end] += len(turning)
            want = int(ym_exits_plan[fy_end][mpos]) - done_exits[fy_end]
            k = int(np.clip(want, 0, len(elig)))
            if k:
                keys = rng.random(len(elig)) ** (1.0 / w)
                leaving = elig[np.argpartition(-keys, k - 1)[:k]]
            else:
                leaving = elig[:0]
            done_exits[fy_end] += k
            month_mult = k / w.sum() if w.sum() else 0.0
            calibrated_mults.append(month_mult)
        else:
            month_mult = float(np.mean(calibrated_mults[-12:]))
            leaving = elig[rng.random(len(elig)) < np.minimum(w * month_mult, 0.9)]
        oracle_exits.append((m0.isoformat(), month_mult, target is not None))
        if len(leaving):
            rec = np.empty(len(leaving), dtype="<U3")
            lc = cat[leaving]
            for ci, name in enumerate(CATEGORIES):
                sel = lc == ci
                if sel.any():
                    codes, p = EXIT_REASONS.get(name, EXIT_REASONS["default"])
                    rec[sel] = rng.choice(codes, size=int(sel.sum()), p=p)
            day = d0 + rng.integers(0, ndays, len(leaving))
            active[leaving] = False
            log(leaving, day, "E", rec)
        # ---- placement moves (one event per child per month) -----------------------------------------
        stay = np.flatnonzero(active[:n])
        stay = stay[last_event[stay] < d0]
        ages = (d0 - dob[stay]) / 365.25
        p_move = MOVE_PROB[cat[stay]] * np.where(ages >= 16, 1.3, 1.0)
        young_fostered = (ages < 5) & np.isin(cat[stay], [0, 1, 2])
        to_adoption = young_fostered & (rng.random(len(stay)) < ADOPTION_MOVE_PROB)
        moving = (rng.random(len(stay)) < p_move) & ~to_adoption
        movers = stay[moving]
        if len(movers):
            dest = MOVE_DEST[cat[movers]].copy()
            a_m = (d0 - dob[movers]) / 365.25
            dest[a_m < 16, 6] = 0.0  # supported accommodation is for 16 and 17 year olds
            dest[a_m >= 16, 8] = 0.0
            cat[movers] = _choice_rows(rng, dest, np.arange(len(movers)))
            kinds = np.where(np.isin(ls[movers], ["L1", "L2"]), "B", "P")
            ls[movers] = np.where(kinds == "B", "C1", ls[movers])
            day = d0 + rng.integers(0, ndays, len(movers))
            for kind in ("P", "B"):
                sel = kinds == kind
                if sel.any():
                    log(movers[sel], day[sel], kind)
        adopters = stay[to_adoption]
        if len(adopters):
            cat[adopters] = 8
            ls[adopters] = "E1"
            log(adopters, d0 + rng.integers(0, ndays, len(adopters)), "B")
        # ---- legal status changes ------------------------------------------------------------------------
        still = np.flatnonzero(active[:n])
        still = still[last_event[still] < d0]
        p_ls = np.select([np.isin(ls[still], ["L1", "L2"]), ls[still] == "C1", ls[still] == "V2", ls[still] == "J1"],
                         [0.85, 0.11, 0.015, 0.25], 0.0)
        change = still[rng.random(len(still)) < p_ls]
        if len(change):
            old = ls[change]
            ls[change] = np.select([np.isin(old, ["L1", "L2", "V2"]), old == "C1", old == "J1"], ["C1", "C2", "V2"], old)
            log(change, d0 + rng.integers(0, ndays, len(change)), "L")
        if mpos == 11:
            annual_starts.append(starts_this_year)
    events = pd.DataFrame({
        "child": np.concatenate(ev_child), "day": np.concatenate(ev_day), "kind": np.concatenate(ev_kind),
        "category": np.concatenate(ev_cat), "ls": np.concatenate(ev_ls), "rec": np.concatenate(ev_rec),
    })
    events = events.sort_values(["child", "day"], kind="stable").reset_index(drop=True)
    children = pd.DataFrame({"child": np.arange(n), "dob": dob[:n], "start": start[:n]})
    oracle = {
        "entries": pd.DataFrame(oracle_entries, columns=["month", "age_band", "expected_starts", "calibrated"]),
        "exit_multiplier": pd.DataFrame(oracle_exits, columns=["month", "monthly_multiplier", "calibrated"]),
    }
    return Simulation(children=children, events=events, oracle=oracle)


# ---- SSDA903 returns ---------------------------------------------------------------------------------
COLLECTION_YEARS = list(range(2019, 2027))  # 2019-20 .. 2026-27 (the last to 30 September 2026)
PLACE_SUBTYPES = {  # category -> (codes, probabilities); year-dependent codes resolved in _place_code
    "in_house_fostering": (["U4", "U6", "U5"], [0.45, 0.50, 0.05]),
    "agency_fostering": (["U4", "U6", "U5"], [0.40, 0.57, 0.03]),
    "kinship_fostering": (["U1", "U3", "U2"], [0.40, 0.57, 0.03]),
    "in_house_childrens_home": (["K2"], [1.0]), "external_childrens_home": (["K2"], [1.0]), "secure": (["K1"], [1.0]),
    "supported_accommodation": (["SUPPORTED"], [1.0]), "placed_with_parents": (["P1"], [1.0]),
    "placed_for_adoption": (["A5", "A6"], [0.3, 0.7]),
    "other": (["S1", "R1", "R2", "R3", "OTHER"], [0.35, 0.15, 0.10, 0.10, 0.30]),
}


def _place_code(sub: pd.Series, collection_year: int) -> pd.Series:
    """Codes that changed between collection years: semi-independent H5 became supported
    accommodation K3 in 2024-25; Z1 was divided into Z11-Z14 in 2025-26."""
    out = sub.copy()
    out[sub == "SUPPORTED"] = "K3" if collection_year >= 2024 else "H5"
    out[sub == "OTHER"] = "Z11" if collection_year >= 2025 else "Z1"
    return out


def _fmt(days: pd.Series) -> pd.Series:
    """Day ordinals -> dd/mm/yyyy text ('' for missing)."""
    out = pd.Series("", index=days.index, dtype=object)
    ok = days.notna()
    dates = pd.to_datetime(days[ok].astype(np.int64) - 719163, unit="D")  # ordinal of 1970-01-01 is 719163
    out[ok] = dates.dt.strftime("%d/%m/%Y")
    return out


def build_episodes(sim: Simulation, cfg: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Episodes (all years, ordinal days, DEC may be NaN) and child attributes (header fields)."""
    rng = np.random.default_rng([cfg.seed, 903])
    ch = sim.children.copy()
    k = len(ch)
    ch["sex"] = rng.choice(["1", "2"], size=k, p=[0.55, 0.45])
    ch["ethnic"] = rng.choice(ETHNIC_CODES[0], size=k, p=np.array(ETHNIC_CODES[1]) / sum(ETHNIC_CODES[1]))
    ch["upn"] = [f"S{cfg.seed % 1000:03d}{i:09d}" for i in range(k)]  # synthetic UPN pattern: never a real one
    ch["home_post"] = rng.choice(HOME_SECTORS, size=k)
    ch["cin"] = rng.choice(CIN_CODES[0], size=k, p=CIN_CODES[1])
    age_at_start = (ch["start"] - ch["dob"]) / 365.25
    ch["uasc"] = (age_at_start >= 14) & (rng.random(k) < 0.06)
    ch.loc[ch["uasc"], "cin"] = "N8"
    ch["child_id"] = [f"{700000 + int(cfg.seed % 97) * 1000000 + i}" for i in range(k)]

    ev = sim.events
    opens = ev[ev["kind"] != "E"].copy()
    nxt = ev.groupby("child")["day"].shift(-1)
    nxt_kind = ev.groupby("child")["kind"].shift(-1)
    nxt_rec = ev.groupby("child")["rec"].shift(-1)
    opens["dec"] = nxt[opens.index]
    opens["rec"] = np.where(nxt_kind[opens.index] == "E", nxt_rec[opens.index],
                            np.where(nxt_kind[opens.index].isna(), "", "X1"))
    placement_change = opens["kind"].isin(["S", "P", "B"])
    n = int(placement_change.sum())
    cats = np.array(CATEGORIES)[opens.loc[placement_change, "category"].to_numpy()]
    sub = np.empty(n, dtype=object)
    prov = np.empty(n, dtype=object)
    for name in CATEGORIES:
        sel = cats == name
        if sel.any():
            codes, p = PLACE_SUBTYPES[name]
            sub[sel] = rng.choice(codes, size=int(sel.sum()), p=p)
            codes, p = PROVIDER[name]
            prov[sel] = rng.choice(codes, size=int(sel.sum()), p=p)
    cat_idx = opens.loc[placement_change, "category"].to_numpy()
    far = rng.random(n) < FAR_SHARE[cat_idx]
    home = ch["home_post"].to_numpy()[opens.loc[placement_change, "child"].to_numpy()]
    pl_post = np.where(far, rng.choice(FAR_SECTORS, size=n), rng.choice(HOME_SECTORS, size=n))
    pl_post = np.where(cats == "placed_with_parents", home, pl_post)
    homes = {"in_house_childrens_home": (100100, 12), "external_childrens_home": (200200, 150), "secure": (300300, 10)}
    urn = np.full(n, "XXXXXXX", dtype=object)
    for name, (base, pool) in homes.items():
        sel = cats == name
        urn[sel] = [f"SC{base + int(x):06d}" for x in rng.integers(0, pool, int(sel.sum()))]
    for col, values in (("sub", sub), ("provider", prov), ("pl_post", pl_post), ("urn", urn), ("far", far)):
        opens[col] = None
        opens.loc[placement_change, col] = values
    opens[["sub", "provider", "pl_post", "urn", "far"]] = opens.groupby("child")[["sub", "provider", "pl_post", "urn", "far"]].ffill()
    opens["reason_change"] = ""
    moves = opens["kind"].isin(["P", "B"])
    opens.loc[moves, "reason_change"] = rng.choice(REASON_CHANGE[0], size=int(moves.sum()), p=REASON_CHANGE[1])
    opens = opens.rename(columns={"kind": "rne"}).reset_index(drop=True)
    return opens, ch


def ssda903_returns(episodes: pd.DataFrame, children: pd.DataFrame, cfg: Config) -> dict[str, dict[str, pd.DataFrame]]:
    """One return per collection year 2019-20 .. 2026-27 in DfE's column layout: an episode open
    across 31 March appears in both years, open (DEC and REC blank) in the earlier one."""
    rng = np.random.default_rng([cfg.seed, 904])
    ch = children.set_index("child")
    out = {}
    for y in COLLECTION_YEARS:
        start = date(y, 4, 1).toordinal()
        end = (date(2026, 9, 30) if y == 2026 else date(y + 1, 3, 31)).toordinal()
        dec = episodes["dec"]
        inc = (episodes["day"] <= end) & (dec.isna() | (dec >= start))
        e = episodes[inc].copy()
        closed = e["dec"].notna() & (e["dec"] <= end)
        c = ch.loc[e["child"]]
        eps = pd.DataFrame({
            "CHILD": c["child_id"].to_numpy(), "DECOM": _fmt(e["day"]).to_numpy(), "RNE": e["rne"].to_numpy(),
            "LS": e["ls"].to_numpy(), "CIN": c["cin"].to_numpy(),
            "PLACE": _place_code(e["sub"], y).to_numpy(), "PLACE_PROVIDER": e["provider"].to_numpy(),
            "DEC": _fmt(e["dec"].where(closed)).to_numpy(), "REC": np.where(closed, e["rec"], ""),
            "REASON_PLACE_CHANGE": e["reason_change"].to_numpy(), "HOME_POST": c["home_post"].to_numpy(),
            "PL_POST": e["pl_post"].to_numpy(), "URN": e["urn"].to_numpy(),
        })
        kids = ch.loc[np.unique(e["child"])]
        female = kids["sex"] == "2"
        age_end = (end - kids["dob"]) / 365.25
        mother = np.where(female & (age_end >= 12), np.where(rng.random(len(kids)) < 0.02, "1", "0"), "")
        mc_dob = np.where(mother == "1", _fmt(pd.Series(np.minimum(end - 30, kids["dob"] + int(16 * 365.25)),
                                                       index=kids.index)), "")
        sex = kids["sex"].map({"1": "M", "2": "F"}) if y >= 2024 else kids["sex"]
        header = pd.DataFrame({"CHILD": kids["child_id"].to_numpy(), "SEX": sex.to_numpy(),
                               "DOB": _fmt(kids["dob"]).to_numpy(), "ETHNIC": kids["ethnic"].to_numpy(),
                               "UPN": kids["upn"].to_numpy(), "MOTHER": mother, "MC_DOB": mc_dob})
        u = kids[kids["uasc"]]
        uasc = pd.DataFrame({"CHILD": u["child_id"].to_numpy(), "SEX": sex[u.index].to_numpy(),
                             "DOB": _fmt(u["dob"]).to_numpy(), "DUC": _fmt(u["dob"] + int(18 * 365.25)).to_numpy()})
        # missing from care: children 12+ in children's homes or supported accommodation
        risky = e["category"].isin([3, 4, 6]).to_numpy()
        lo = np.maximum(e["day"].to_numpy(), start)
        hi = np.minimum(e["dec"].fillna(end).to_numpy(), end)
        age_lo = (lo - c["dob"].to_numpy()) / 365.25
        months = np.clip((hi - lo) / 30.4, 0, None)
        lam = np.where(risky & (age_lo >= 12), 0.12 * months, 0.0)
        count = rng.poisson(lam)
        rows = np.repeat(np.arange(len(e)), count)
        ms = lo[rows] + (rng.random(len(rows)) * np.maximum(hi[rows] - lo[rows], 1)).astype(np.int64)
        me = ms + rng.integers(0, 4, len(rows))
        cc = c.iloc[rows]
        missing = pd.DataFrame({"CHILD": cc["child_id"].to_numpy(), "SEX": sex.reindex(cc.index).to_numpy(),
                                "DOB": _fmt(cc["dob"]).to_numpy(),
                                "MISSING": np.where(rng.random(len(rows)) < 0.85, "M", "A"),
                                "MIS_START": _fmt(pd.Series(ms)).to_numpy(),
                                "MIS_END": _fmt(pd.Series(np.where(me <= end, me, np.nan))).to_numpy()})
        missing = missing.sort_values(["CHILD", "MIS_START"], kind="stable")
        out[collection_year_label(y)] = {"episodes": eps, "header": header, "uasc": uasc, "missing": missing}
    return out


# ---- finance ledger -------------------------------------------------------------------------------
LEDGER_YEARS = list(range(2019, 2027))
# weekly unit cost per placement category in 2021-22 prices, with source or "assumption"
UNIT_COSTS = [
    ("in_house_fostering", 750.0, "PSSRU Unit Costs 2017: LA foster care £646 per child per week in 2016-17 "
     "(benchmarks_core foster_care_cost_per_child_per_week), uplifted to 2021-22"),
    ("agency_fostering", 850.0, "CMA children's social care market study interim report (2021): IFA placement about "
     "£820 per week c.2020 (benchmarks_core ifa_price_per_week), uplifted"),
    ("kinship_fostering", 420.0, "assumption: fostering allowance and support for connected carers"),
    ("in_house_childrens_home", 3100.0, "Derbyshire council-run children's home £3,642 per week c.2024-25 "
     "(benchmarks_core inhouse_childrens_home_cost_per_week, low confidence), deflated to 2021-22"),
    ("external_childrens_home", 5300.0, "NAO Managing children's residential care (2025): £6,106 per place per week "
     "2023-24 (benchmarks_core childrens_home_cost_per_place_per_week_derived), deflated to 2021-22"),
    ("secure", 7500.0, "assumption: secure children's home welfare placement"),
    ("supported_accommodation", 1400.0, "assumption: supported accommodation for 16 and 17 year olds"),
    ("placed_with_parents", 60.0, "assumption: support costs while placed with parents"),
    ("placed_for_adoption", 250.0, "assumption: adoption placement support"),
    ("other", 1200.0, "assumption: residential schools, mother and baby units, health placements"),
]
# uplift applied from each financial year to the next (assumption, close to CPI; children's homes rose faster)
UPLIFT = {2019: 0.02, 2020: 0.02, 2021: 0.0, 2022: 0.09, 2023: 0.07, 2024: 0.045, 2025: 0.035, 2026: 0.03}
PLACEMENT_BUDGET = {2019: 36.0, 2020: 38.5, 2021: 43.072, 2022: 49.0, 2023: 57.252, 2024: 62.0, 2025: 66.5, 2026: 70.0}
PLACEMENT_BUDGET_SOURCE = ("2021-22: seed 004 (£43.072m); 2023-24: seed 001, Early Help & Safeguarding agency and "
                           "contracted services £57.252m; other years: assumption")
# other service lines: seed 004 2021-22 controllable budget (£m), drift of spend against budget in 2021-22
# (seed 004's forecast percentage), division, and subjective split (shares of the budget)
OTHER_LINES = [
    ("disabilities", "Support for Children with Disabilities", 5.397, 0.125, "Early Help & Safeguarding",
     [("Employees", 0.45), ("Agency and contracted services", 0.40), ("Transfer payments", 0.10), ("Supplies and services", 0.05)]),
    ("safeguarding", "Children's Safeguarding services", 32.439, 0.056, "Early Help & Safeguarding",
     [("Employees", 0.78), ("Supplies and services", 0.08), ("Transport", 0.04), ("Agency and contracted services", 0.10)]),
    ("early_help", "Early Help & Preventative Services", 6.891, 0.028, "Early Help & Safeguarding",
     [("Employees", 0.85), ("Premises", 0.05), ("Supplies and services", 0.10)]),
    ("school_transport", "Home to School Transport", 15.915, 0.123, "Schools & Learning", [("Transport", 1.0)]),
    ("education_support", "Education support services", 4.092, 0.457, "Schools & Learning",
     [("Employees", 0.80), ("Supplies and services", 0.25), ("Premises", 0.10), ("Income", -0.15)]),
    ("management_support", "Management, Finance, ICT and other support services", 13.681, -0.032, "Strategic Services",
     [("Employees", 0.75), ("Supplies and services", 0.25)]),
    ("transformation", "Achieving Great Futures", 5.685, 0.0, "Performance, Quality and Partnerships",
     [("Agency and contracted services", 0.60), ("Employees", 0.40)]),
    ("pensions", "Pensions payable to former staff", 4.538, 0.051, "Strategic Services", [("Employees", 1.0)]),
    ("redundancy", "Redundancy", 0.033, 0.0, "Strategic Services", [("Employees", 1.0)]),
    ("grant_income", "Grant income", -2.295, 0.012, "Strategic Services", [("Grants", 1.0)]),
    ("unallocated", "Unallocated budget", 1.788, -0.789, "Strategic Services", [("Supplies and services", 1.0)]),
]
PLACEMENT_SUBJECTIVE = {"in_house_fostering": "Transfer payments", "kinship_fostering": "Transfer payments",
                        "in_house_childrens_home": "Employees", "placed_with_parents": "Transfer payments",
                        "placed_for_adoption": "Transfer payments"}  # others: agency and contracted services
SHORT_NAMES = {"placements": "Placements", "disabilities": "Children with disabilities", "safeguarding": "Safeguarding",
               "early_help": "Early help", "school_transport": "Home to school transport",
               "education_support": "Education support", "management_support": "Management and support",
               "transformation": "Achieving Great Futures", "pensions": "Pensions", "redundancy": "Redundancy",
               "grant_income": "Grant income", "unallocated": "Unallocated budget"}


PLACEMENT_SPEND_2021_22 = 57.833  # £m: seed 004 forecast, placements 53.133 + additional placements expected 4.700


def unit_cost_table(factor: float = 1.0) -> pd.DataFrame:
    """Weekly unit cost by category and financial year: the sourced 2021-22 costs times one
    calibration ``factor`` (so 2021-22 placement spend matches seed 004), uplifted year by year."""
    index = {2021: 1.0}
    for y in range(2022, 2027):
        index[y] = index[y - 1] * (1 + UPLIFT[y])
    for y in (2020, 2019):
        index[y] = index[y + 1] / (1 + UPLIFT[y + 1])
    rows = [(cat, collection_year_label(y), round(cost * factor * index[y], 2), cost, round(factor, 6), src)
            for cat, cost, src in UNIT_COSTS for y in LEDGER_YEARS]
    return pd.DataFrame(rows, columns=["category", "financial_year", "weekly_cost_gbp", "sourced_cost_2021_22",
                                       "calibration_factor", "source"])


def placement_days(episodes_cat: np.ndarray, start_day: np.ndarray, end_day: np.ndarray,
                   first: int, last: int) -> np.ndarray:
    """Occupied days per (day, category) from first to last (inclusive), by difference arrays:
    a child is in a placement from its start day up to the day before it ends (open: to ``last``)."""
    n_days = last - first + 1
    diff = np.zeros((n_days + 1, len(CATEGORIES)), dtype=np.int64)
    s = np.clip(start_day - first, 0, n_days)
    e = np.clip(end_day - first, 0, n_days)
    keep = e > s
    np.add.at(diff, (s[keep], episodes_cat[keep]), 1)
    np.add.at(diff, (e[keep], episodes_cat[keep]), -1)
    return np.cumsum(diff, axis=0)[:n_days]


def monthly_placement_costs(episodes: pd.DataFrame, categories: np.ndarray, costs: pd.DataFrame) -> pd.DataFrame:
    """Placement days and cost (integer pence) by month and category from episodes with ordinal
    ``day`` (start) and ``dec`` (end, NaN if open at 30 September 2026)."""
    first, last = date(LEDGER_YEARS[0], 4, 1).toordinal(), date(2026, 9, 30).toordinal()
    end = episodes["dec"].fillna(last + 1).to_numpy(np.int64)
    occ = placement_days(categories, episodes["day"].to_numpy(np.int64), end, first, last)
    days = pd.DataFrame(occ, columns=CATEGORIES)
    dates = pd.to_datetime(np.arange(first, last + 1) - 719163, unit="D")
    days["month"] = dates.strftime("%Y-%m")
    by_month = days.groupby("month")[CATEGORIES].sum().stack().rename("days").reset_index()
    by_month.columns = ["month", "category", "days"]
    by_month["financial_year"] = [collection_year_label(int(m[:4]) - (int(m[5:]) < 4)) for m in by_month["month"]]
    by_month = by_month.merge(costs[["category", "financial_year", "weekly_cost_gbp"]],
                              on=["category", "financial_year"], how="left")
    # pence, rounded half up once per month and category: days x weekly cost / 7
    by_month["cost_pence"] = np.floor(by_month["days"] * by_month["weekly_cost_gbp"] * 100 / 7 + 0.5).astype(np.int64)
    return by_month


def _money(pence: np.ndarray) -> np.ndarray:
    p = np.asarray(pence, dtype=np.int64)
    sign = np.where(p < 0, "-", "")
    a = np.abs(p)
    return np.char.add(np.char.add(sign, (a // 100).astype(str)), np.char.add(".", np.char.zfill((a % 100).astype(str), 2)))


def calibrated_unit_costs(episodes: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The unit-cost table with the factor that makes 2021-22 placement spend equal seed 004's
    forecast (scaled by ``cfg.scale``)."""
    cats = episodes["category"].to_numpy(np.int64)
    raw = monthly_placement_costs(episodes, cats, unit_cost_table(1.0))
    spend = raw.loc[raw["financial_year"] == "2021-22", "cost_pence"].sum() / 1e8
    return unit_cost_table(PLACEMENT_SPEND_2021_22 * cfg.scale / spend)


def build_ledger(episodes: pd.DataFrame, cfg: Config, costs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly ledger lines 2019-20 to 2026-27 (to September 2026) and the cost-centre mapping."""
    rng = np.random.default_rng([cfg.seed, 101])
    pc = monthly_placement_costs(episodes, episodes["category"].to_numpy(np.int64), costs)
    centres = []
    for i, cat in enumerate(CATEGORIES):
        centres.append((f"CP{101 + i}", f"Placements - {cat.replace('_', ' ')}", "placements",
                        "Placements for Children in Care/unable to remain at home", "Early Help & Safeguarding",
                        PLACEMENT_SUBJECTIVE.get(cat, "Agency and contracted services"), cat))
    for j, (lid, name, _b, _d, division, split) in enumerate(OTHER_LINES):
        for k, (subj, _share) in enumerate(split):
            centres.append((f"C{200 + 10 * j + k}", f"{name} - {subj.lower()}", lid, name, division, subj, ""))
    cc = pd.DataFrame(centres, columns=["cost_centre", "cost_centre_name", "service_line_id", "service_line",
                                        "division", "subjective", "placement_category"])
    months = sorted(pc["month"].unique())
    rows = []
    for fy in LEDGER_YEARS:
        fyl = collection_year_label(fy)
        fy_months = [m for m in months if collection_year_label(int(m[:4]) - (int(m[5:]) < 4)) == fyl]
        # placements: budget split by last year's cost mix, actuals from placement days x unit costs
        prev = pc[pc["financial_year"] == collection_year_label(fy - 1)]
        prev = prev if len(prev) else pc[pc["financial_year"] == fyl]
        mix = prev.groupby("category")["cost_pence"].sum().reindex(CATEGORIES).fillna(0)
        mix = mix / mix.sum()
        for i, cat in enumerate(CATEGORIES):
            budget = PLACEMENT_BUDGET[fy] * cfg.scale * 1e8 * mix[cat]
            actual = pc[(pc["financial_year"] == fyl) & (pc["category"] == cat)].set_index("month")["cost_pence"]
            rows.append((fyl, f"CP{101 + i}", budget, actual.reindex(fy_months).to_numpy(np.int64), True))
        years_from = fy - 2021
        for j, (lid, name, b2021, drift2021, _div, split) in enumerate(OTHER_LINES):
            annual = b2021 * cfg.scale * 1e8 * 1.03 ** years_from
            drift = drift2021 if fy == 2021 else drift2021 * 0.5 + rng.normal(0, 0.02)
            for k, (_subj, share) in enumerate(split):
                noise = rng.normal(0, 0.04, len(fy_months))
                monthly = annual * share / 12 * (1 + drift) * (1 + noise)
                rows.append((fyl, f"C{200 + 10 * j + k}", annual * share, np.round(monthly).astype(np.int64), False))
    out = []
    for fyl, centre, budget, actual, is_placement in rows:
        n = len(actual)
        month_list = [m for m in months if collection_year_label(int(m[:4]) - (int(m[5:]) < 4)) == fyl]
        budget_pence = int(round(budget))
        ytd = np.cumsum(actual)
        period = np.arange(1, n + 1)
        if is_placement:
            month_days = np.array([_days_in_month(date(int(m[:4]), int(m[5:]), 1)) for m in month_list])
            remaining_days = 365 - np.cumsum(month_days)
            run_rate = actual / month_days
            forecast = ytd + np.round(run_rate * remaining_days).astype(np.int64)
            commitment = np.round(actual * 0.5).astype(np.int64)
        else:
            last3 = pd.Series(actual).rolling(3, min_periods=1).mean().to_numpy()
            forecast = ytd + np.round(last3 * (12 - period)).astype(np.int64)
            commitment = np.round(np.abs(budget_pence) / 12 * 0.05 * np.ones(n)).astype(np.int64)
        out.append(pd.DataFrame({
            "financial_year": fyl, "period": period, "month": month_list, "cost_centre": centre,
            "budget_annual": _money(np.full(n, budget_pence)), "budget_month": _money(np.full(n, round(budget_pence / 12))),
            "actual": _money(actual), "commitment": _money(commitment), "forecast_full_year": _money(forecast)}))
    ledger = pd.concat(out, ignore_index=True).merge(cc.drop(columns="placement_category"), on="cost_centre")
    ledger = ledger[["financial_year", "period", "month", "cost_centre", "cost_centre_name", "service_line_id",
                     "service_line", "division", "subjective", "budget_annual", "budget_month", "actual",
                     "commitment", "forecast_full_year"]].sort_values(["month", "cost_centre"], kind="stable")
    return ledger.reset_index(drop=True), cc


# ---- quarterly returns ------------------------------------------------------------------------------
def quarters_generated() -> list[tuple[int, int]]:
    """(financial year start, quarter) from 2019-20 Q1 to 2026-27 Q2."""
    return [(y, q) for y in LEDGER_YEARS for q in (1, 2, 3, 4) if (y, q) <= (2026, 2)]


def _quarter_end_month(y: int, q: int) -> str:
    m = 3 * q + 3
    return f"{y + (m > 12)}-{(m - 1) % 12 + 1:02d}"


def _seed_table(name: str) -> pd.DataFrame:
    from pipeline.core.paths import project_root
    return pd.read_csv(project_root() / "data" / "raw" / "seed004_2021-22-Q1" / f"{name}.csv", dtype=str,
                       keep_default_na=False)


def _perturb(df: pd.DataFrame, cols: list[str], rng, sd: float, scale: float) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        v = pd.to_numeric(out[c]) * scale * np.exp(rng.normal(0, sd, len(out)))
        out[c] = np.round(v, 3)
    return out


SYNTHETIC_SOURCE = "synthetic: cspack synthetic-authority generator (calibrated to Derbyshire); not real data"


def quarterly_returns(ledger: pd.DataFrame, episodes: pd.DataFrame, cfg: Config) -> dict[str, dict[str, pd.DataFrame]]:
    """For each quarter: the service-line budget monitoring summary from the ledger at the quarter's
    last month, and synthetic savings, growth, risks, reserves, aged debt, traded services,
    deliverables and key measures in seed 004's layouts."""
    out = {}
    led = ledger.assign(b=ledger["budget_annual"].astype(float), f=ledger["forecast_full_year"].astype(float))
    seeds = {n: _seed_table(n) for n in ("savings_initiatives", "growth_items", "financial_risks", "earmarked_reserves",
                                         "aged_debt", "traded_fully", "traded_partially", "deliverables")}
    for y, q in quarters_generated():
        label = f"{collection_year_label(y)}-Q{q}"
        rng = np.random.default_rng([cfg.seed, y, q])
        year_rng = np.random.default_rng([cfg.seed, y])
        m = led[led["month"] == _quarter_end_month(y, q)]
        lines = m.groupby(["service_line_id", "service_line"], sort=False)[["b", "f"]].sum().reset_index()
        lines = lines.sort_values("service_line_id", key=lambda s: s.map(list(SHORT_NAMES).index), kind="stable")
        tables = {"budget_lines": pd.DataFrame({
            "line_id": lines["service_line_id"], "service_line": lines["service_line"],
            "short_name": lines["service_line_id"].map(SHORT_NAMES),
            "controllable_budget_gbpm": (lines["b"] / 1e6).round(6), "full_year_forecast_gbpm": (lines["f"] / 1e6).round(6),
            "source": f"{SYNTHETIC_SOURCE}; ledger at {_quarter_end_month(y, q)}"})}
        funding = [("Covid-19 Funding", 4.850 * cfg.scale)] if y == 2021 else []
        tables["additional_funding"] = pd.DataFrame([(f, round(a, 3), SYNTHETIC_SOURCE) for f, a in funding],
                                                    columns=["funding_line", "amount_gbpm", "source"])
        sav = _perturb(seeds["savings_initiatives"], ["budget_reduction_gbpm"], year_rng, 0.3, cfg.scale)
        sav["forecast_achieved_gbpm"] = np.round(sav["budget_reduction_gbpm"] * np.clip(
            rng.beta(2, 2, len(sav)) + q * 0.1, 0, 1), 3)
        sav = sav.drop(columns=["published_shortfall_gbpm", "published_mark"]).assign(source=SYNTHETIC_SOURCE)
        tables["savings_initiatives"] = sav
        identified = float(sav["budget_reduction_gbpm"].sum())
        current = round(identified * float(year_rng.uniform(0.05, 0.3)), 3)
        tables["savings_targets"] = pd.DataFrame(
            [("Prior Year B/f", round(identified * float(year_rng.uniform(0.9, 1.5)), 3), SYNTHETIC_SOURCE),
             ("Current Year", current, SYNTHETIC_SOURCE)], columns=["component", "budget_reduction_gbpm", "source"])
        tables["debt_written_off"] = pd.DataFrame(
            [(f"year to {_quarter_end_month(y, q)}", round(float(rng.uniform(0.002, 0.02)) * cfg.scale * q, 3),
              SYNTHETIC_SOURCE)], columns=["period", "amount_gbpm", "source"])
        tables["growth_items"] = _perturb(seeds["growth_items"], ["amount_gbpm"], year_rng, 0.25, cfg.scale).assign(source=SYNTHETIC_SOURCE)
        risks = _perturb(seeds["financial_risks"], ["sensitivity_gbpm"], rng, 0.2, cfg.scale)
        risks["likelihood"] = np.clip(pd.to_numeric(risks["likelihood"]) + rng.integers(-1, 2, len(risks)), 1, 5)
        tables["financial_risks"] = risks.assign(source=SYNTHETIC_SOURCE)
        res = _perturb(seeds["earmarked_reserves"], ["balance_gbpm"], rng, 0.1, cfg.scale)
        tables["earmarked_reserves"] = res.assign(movement=rng.choice(["increased", "unchanged", "decreased"], len(res)),
                                                  source=SYNTHETIC_SOURCE)
        debt = _perturb(seeds["aged_debt"], ["amount_gbpm"], rng, 0.3, cfg.scale).drop(columns=["published_pct"])
        tables["aged_debt"] = debt.assign(movement=rng.choice(["increased", "unchanged", "decreased"], len(debt)),
                                          source=SYNTHETIC_SOURCE)
        tf = _perturb(seeds["traded_fully"], ["gross_expenditure_gbpm", "gross_income_gbpm"], rng, 0.03, cfg.scale)
        tables["traded_fully"] = tf.drop(columns=["published_contribution_gbpm"]).assign(source=SYNTHETIC_SOURCE)
        tp = _perturb(seeds["traded_partially"], ["income_target_gbpm", "projected_income_gbpm"], rng, 0.1, cfg.scale)
        tables["traded_partially"] = tp.drop(columns=["published_excess_gbpm"]).assign(source=SYNTHETIC_SOURCE)
        d = seeds["deliverables"].copy()
        d["rating"] = rng.choice(["Strong", "Good", "Good", "Good", "Review", "Action"], len(d))
        tables["deliverables"] = d.assign(source=SYNTHETIC_SOURCE)
        tables["measures"] = measure_return(episodes, y, q)
        out[label] = tables
    return out


MEASURES = [  # ref, name, polarity, unit, target as a service plan writes it
    ("cla_number", "Children looked after", "lower", "number", "TBC"),
    ("cla_pct_foster", "Children looked after placed in foster care (including kinship)", "higher", "percent", "70.0%"),
    ("cla_pct_over20miles", "Children looked after placed more than 20 miles from home", "lower", "percent",
     "To remain lower than national average"),
    ("ceased_pct_returned_home", "Children ceasing care who returned home to parents (E4A)", "higher", "percent", "18.0%"),
    ("ceased_pct_sgo", "Children ceasing care through special guardianship orders", "higher", "percent",
     "Increasing annual trend"),
    ("foster_council_number", "Children in care living with council foster carers", "higher", "number",
     "Increasing annual trend"),
]
# measures the SSDA903 return cannot give (conference timeliness, workforce, inspections, audits): a smooth
# path per measure (level in 2024-25, change a year) with a fixed wobble from a hash of the measure and year,
# so they need no random stream of their own and the other generated files stay as they were.
# ref, name, polarity, unit, target, level, change a year, wobble, decimals
OPERATIONAL = [
    ("icpc_15_days", "Initial child protection conferences within 15 days", "higher", "percent",
     "Maintain upper-middle or better national quartile performance", 86.0, 0.8, 2.5, 1),
    ("assessments_45_days", "Children's social work assessments completed within 45 days", "higher", "percent",
     "Maintain upper-middle or better national quartile performance", 90.5, -0.3, 1.5, 1),
    ("sw_vacancy_rate", "Social worker vacancy rate (FTE, before agency cover)", "lower", "percent",
     "To remain lower than national average", 12.5, -0.6, 1.5, 1),
    ("sw_agency_rate", "Social workers who are agency workers (FTE)", "lower", "percent",
     "To remain lower than national average", 9.5, -0.4, 1.2, 1),
    ("sw_caseload", "Average social worker caseload (children and families teams)", "lower", "number", "15-20",
     17.6, 0.3, 0.8, 1),
    ("childrens_homes_good", "Council children's homes rated good or outstanding", "higher", "percent",
     "Maintain performance above 90%", 91.0, 0.5, 4.0, 1),
    ("reflective_reviews_good", "Practice areas in reflective case reviews judged good or better", "higher", "percent",
     "Maintain performance above 70%", 76.0, 1.0, 2.5, 1),
]


def _operational_value(ref: str, year: int, level: float, change: float, wobble: float) -> float:
    u = zlib.crc32(f"{ref}:{year}".encode()) / 0xFFFFFFFF  # in [0, 1], fixed for the measure and year
    return level + change * (year - 2024) + wobble * (2 * u - 1)


def _measure_values(episodes: pd.DataFrame, period_start: int, at: int) -> dict[str, float]:
    dec = episodes["dec"].fillna(10 ** 9)
    open_ = episodes[(episodes["day"] <= at) & (dec > at)]
    ceased = episodes[(dec >= period_start) & (dec <= at) & ~episodes["rec"].isin(["X1", ""])]
    foster = open_["category"].isin([0, 1, 2]).mean() * 100
    far = open_["far"].astype(bool).mean() * 100
    n_ceased = max(len(ceased), 1)
    return {"cla_number": float(open_["child"].nunique()), "cla_pct_foster": foster, "cla_pct_over20miles": far,
            "ceased_pct_returned_home": ceased["rec"].eq("E4A").sum() / n_ceased * 100,
            "ceased_pct_sgo": ceased["rec"].isin(["E45", "E46", "E47", "E48"]).sum() / n_ceased * 100,
            "foster_council_number": float(open_.loc[open_["category"] == 0, "child"].nunique())}


def measure_return(episodes: pd.DataFrame, y: int, q: int) -> pd.DataFrame:
    """Key measures as a service plan table holds them: the two previous years' year-end values,
    this year to date, and the target, with values written as text ("64.0%", "1,080")."""
    qe = date.fromisoformat(_quarter_end_month(y, q) + "-01")
    qe = date(qe.year, qe.month, _days_in_month(qe)).toordinal()
    rows = []
    periods = [(f"{yy}-{yy + 1}", date(yy, 4, 1).toordinal(), date(yy + 1, 3, 31).toordinal()) for yy in (y - 2, y - 1)]
    periods.append((f"{y}-{y + 1}", date(y, 4, 1).toordinal(), qe))
    values = {label: _measure_values(episodes, a, b) for label, a, b in periods}
    for ref, name, polarity, unit, target in MEASURES:
        for label, _a, _b in periods:
            v = values[label][ref]
            rows.append((ref, name, "no", polarity, unit, label, f"{v:,.0f}" if unit == "number" else f"{v:.1f}%"))
        rows.append((ref, name, "no", polarity, unit, "Target", target))
    for ref, name, polarity, unit, target, level, change, wobble, dp in OPERATIONAL:
        for label, _a, _b in periods:
            v = min(_operational_value(ref, int(label[:4]), level, change, wobble), 100.0)
            rows.append((ref, name, "no", polarity, unit, label, f"{v:.{dp}f}%" if unit == "percent" else f"{v:.{dp}f}"))
        rows.append((ref, name, "no", polarity, unit, "Target", target))
    return pd.DataFrame(rows, columns=["measure_ref", "measure_name", "name_inferred", "polarity", "unit", "period",
                                       "value_raw"]).assign(source=SYNTHETIC_SOURCE)


# ---- writing ------------------------------------------------------------------------------------------
def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def oracle_tables(sim: Simulation, costs: pd.DataFrame, returns: dict, cfg: Config) -> dict[str, pd.DataFrame]:
    from pipeline.ingest import ssda903

    hazards = pd.DataFrame([(c, a, d, EXIT_HAZARD[i] * EXIT_AGE[j] * EXIT_DURATION[k])
                            for i, c in enumerate(CATEGORIES) for j, a in enumerate(AGE_BANDS)
                            for k, d in enumerate(DURATION_BANDS)],
                           columns=["category", "age_band", "duration_band", "relative_hazard"])
    moves = pd.DataFrame(MOVE_DEST, index=CATEGORIES, columns=CATEGORIES).rename_axis("from_category").reset_index()
    moves.insert(1, "monthly_move_probability", MOVE_PROB)
    cal = []
    tg = targets(cfg.scale)
    for yl, r in returns.items():
        y = int(yl[:4])
        if y + 1 not in tg:
            continue
        e = r["episodes"].copy()
        for col in ("DECOM", "DEC"):
            e[f"{col}_date"] = pd.to_datetime(e[col].replace("", None), format="%d/%m/%Y")
        got = ssda903.year_counts(e, yl)
        t = tg[y + 1]
        pub = PUBLISHED[y + 1]
        for measure, published, target, achieved in (
                ("children looked after at 31 March", pub[0] * cfg.scale, t["at_31_march"], got["at_end"]),
                ("children starting to be looked after", pub[1] * cfg.scale, t["starts"], got["starts"]),
                ("children ceasing to be looked after", pub[2] * cfg.scale, t["ceased"], got["ceased"])):
            cal.append((yl, measure, published, target, achieved, round(100 * (achieved - published) / published, 2)))
    calibration = pd.DataFrame(cal, columns=["collection_year", "measure", "published_x_scale", "target", "achieved",
                                             "pct_difference_from_published"])
    return {"entry_rates": sim.oracle["entries"], "exit_multiplier": sim.oracle["exit_multiplier"],
            "exit_hazards": hazards, "moves": moves, "unit_costs": costs, "calibration": calibration}


def generate(cfg: Config) -> dict[str, bytes]:
    """Every file of the demo data set as {relative path: bytes}. Deterministic for a seed."""
    sim = simulate(cfg)
    episodes, children = build_episodes(sim, cfg)
    returns = ssda903_returns(episodes, children, cfg)
    costs = calibrated_unit_costs(episodes, cfg)
    ledger, centres = build_ledger(episodes, cfg, costs)
    quarterly = quarterly_returns(ledger, episodes, cfg)
    files: dict[str, bytes] = {}
    for yl, tables in returns.items():
        for name, df in tables.items():
            files[f"ssda903/{yl}/{name}.csv"] = _csv(df)
    for fy, part in ledger.groupby("financial_year", sort=True):
        files[f"ledger/ledger_{fy}.csv"] = _csv(part)
    files["ledger/cost_centres.csv"] = _csv(centres)
    for label, tables in quarterly.items():
        for name, df in tables.items():
            files[f"returns/{label}/{name}.csv"] = _csv(df)
    for name, df in oracle_tables(sim, costs, returns, cfg).items():
        files[f"oracle/{name}.csv"] = _csv(df)
    meta = {
        "synthetic": True,
        "notice": "SYNTHETIC DATA produced by cspack's synthetic-authority generator. Realistic but not real: "
                  "no figure describes a real council or child.",
        "generator": "pipeline.synthetic", "seed": cfg.seed, "scale": cfg.scale,
        "calibrated_to": [CALIBRATION_SOURCE,
                          "Derbyshire placement mix, share placed over 20 miles and ceased-by-reason shares "
                          "(benchmarks_core.csv), approximately: see oracle/calibration.csv and the README",
                          "Seed 004: 2021-22 controllable budget £131.236m by service line and placement spend "
                          f"£{PLACEMENT_SPEND_2021_22}m", PLACEMENT_BUDGET_SOURCE,
                          "Unit costs: oracle/unit_costs.csv names the source of each"],
        "period": "2019-20 Q1 to 2026-27 Q2 (SSDA903 returns 2019-20 to 2026-27, the last to 30 September 2026)",
        "files": {p: {"sha256": __import__("hashlib").sha256(b).hexdigest(), "bytes": len(b)} for p, b in sorted(files.items())},
    }
    files["metadata.json"] = (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    return files


# ---- messy exports -------------------------------------------------------------------------------------
LEDGER_HEADINGS = {"financial_year": "Fin Year", "period": "Period", "month": "Month", "cost_centre": "Cost Centre",
                   "cost_centre_name": "Cost Centre Description", "service_line_id": "Service Line Code",
                   "service_line": "Service Line", "division": "Division", "subjective": "Subjective",
                   "budget_annual": "Annual Budget", "budget_month": "Budget (Month)", "actual": "Actual",
                   "commitment": "Commitments", "forecast_full_year": "Forecast Outturn"}
MONEY = ["budget_annual", "budget_month", "actual", "commitment", "forecast_full_year"]


def _messy_money(values: pd.Series, rng) -> pd.Series:
    """"£1,234.56", "(1,234.56)", "1,234.56-" and "-" for nil, as finance systems print money."""
    v = values.astype(float)
    text = v.abs().map(lambda x: f"{x:,.2f}")
    style = rng.integers(0, 3, len(v))
    neg = np.where(style == 0, "(" + text + ")", np.where(style == 1, text + "-", "-" + text))
    pos = np.where(rng.random(len(v)) < 0.5, "£" + text, text)
    return pd.Series(np.where(v < 0, neg, np.where(v == 0, "-", pos)), index=values.index)


def messy_ledger(df: pd.DataFrame, fy: str, rng) -> bytes:
    """A ledger as a finance system exports it: title rows, human headings in a shuffled order,
    subtotals per service line, a grand total, stray blank rows, money as text, months as "Apr-26",
    cp1252 with a £ sign."""
    d = df.copy()
    for c in MONEY:
        d[c] = _messy_money(df[c], rng)
    d["month"] = pd.to_datetime(df["month"], format="%Y-%m").dt.strftime("%b-%y")  # "Apr-26", as Oracle prints it
    order = list(rng.permutation(list(LEDGER_HEADINGS)))
    parts = []
    for sl, g in d.groupby("service_line", sort=False):
        g = g[order].rename(columns=LEDGER_HEADINGS)
        parts.append(g)
        tot = {LEDGER_HEADINGS[c]: "" for c in order}
        tot[LEDGER_HEADINGS["cost_centre_name"]] = f"Total {sl}"
        for c in ("actual", "budget_month"):
            tot[LEDGER_HEADINGS[c]] = f"{df.loc[g.index, c].astype(float).sum():,.2f}"
        parts.append(pd.DataFrame([tot]))
        if rng.random() < 0.3:
            parts.append(pd.DataFrame([{LEDGER_HEADINGS[c]: "" for c in order}]))
    grand = {LEDGER_HEADINGS[c]: "" for c in order}
    grand[LEDGER_HEADINGS["cost_centre_name"]] = "GRAND TOTAL"
    grand[LEDGER_HEADINGS["actual"]] = f"{df['actual'].astype(float).sum():,.2f}"
    body = pd.concat(parts + [pd.DataFrame([grand])], ignore_index=True).to_csv(index=False, lineterminator="\r\n")
    title = (f"Synthetic County Council (SYNTHETIC DATA),,,\r\nChildren's Services - revenue monitoring extract {fy},,,\r\n"
             f"Report: GL_DETAIL_CS  Amounts in £,,,\r\n,,,\r\n")
    return (title + body).encode("cp1252")


def messy_csv(data: bytes, rng) -> bytes:
    """A return as exported by hand: byte-order mark, CRLF, shuffled columns, stray blank rows."""
    df = pd.read_csv(__import__("io").BytesIO(data), dtype=str, keep_default_na=False)
    df = df[list(rng.permutation(df.columns))]
    text = df.to_csv(index=False, lineterminator="\r\n").split("\r\n")
    out = [text[0]]
    for line in text[1:]:
        out.append(line)
        if line and rng.random() < 0.01:
            out.append("," * (len(df.columns) - 1))
    return ("\ufeff" + "\r\n".join(out)).encode("utf-8")


def messy_return(data: bytes, title: str, rng) -> bytes:
    """A quarterly return as a finance officer saves it from Excel: title rows, human headings
    ("Controllable Budget £m"), money as "£1.234", "(0.500)" or "0.500-", "-" for nil, a stray
    blank row; then the byte-order mark, CRLF and shuffled columns of ``messy_csv``."""
    df = pd.read_csv(__import__("io").BytesIO(data), dtype=str, keep_default_na=False)
    for c in [c for c in df.columns if c.endswith("_gbpm")]:
        v = pd.to_numeric(df[c], errors="coerce")
        text = df[c].str.lstrip("-")
        neg = np.where(rng.random(len(v)) < 0.5, "(" + text + ")", text + "-")
        pos = np.where(rng.random(len(v)) < 0.5, "£" + text, text)
        df[c] = np.where(df[c] == "", "", np.where(v < 0, neg, np.where(v == 0, "-", pos)))
    df.columns = [" ".join(w.capitalize() for w in c.split("_")).replace("Gbpm", "£m") for c in df.columns]
    body = messy_csv(df.to_csv(index=False).encode("utf-8"), rng).decode("utf-8").lstrip("\ufeff")
    width = "," * (len(df.columns) - 1)
    return ("\ufeff" + f"Synthetic County Council (SYNTHETIC DATA){width}\r\n{title}{width}\r\n{width}\r\n"
            + body).encode("utf-8")


def messify(files: dict[str, bytes], cfg: Config) -> dict[str, bytes]:
    """The same content as councils' systems export it; the oracle and metadata stay clean."""
    rng = np.random.default_rng([cfg.seed, 999])
    out = {}
    for path, data in files.items():
        if path.startswith("ledger/ledger_"):
            df = pd.read_csv(__import__("io").BytesIO(data), dtype=str, keep_default_na=False)
            out[path] = messy_ledger(df, path[-11:-4], rng)
        elif path.startswith("returns/") and path.endswith(".csv"):
            out[path] = messy_return(data, f"Children's Services {path.split('/')[1]}: {path.split('/')[-1][:-4]}", rng)
        elif path.startswith("ssda903/") and path.endswith(".csv"):
            out[path] = messy_csv(data, rng)
        else:
            out[path] = data
    return out


def write_demo(out_dir, cfg: Config, messy: bool = False) -> dict[str, bytes]:
    """Generate and write the demo data set; returns the files written. Existing generated files
    in ``out_dir`` are replaced; the folder's README is kept."""
    from pathlib import Path

    files = generate(cfg)
    if messy:
        files = messify(files, cfg)
        meta = json.loads(files["metadata.json"])
        meta["messy"] = True
        files["metadata.json"] = (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    out = Path(out_dir)
    for sub in ("ssda903", "ledger", "returns", "oracle"):
        if (out / sub).exists():
            import shutil
            shutil.rmtree(out / sub)
    for rel, data in files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files
