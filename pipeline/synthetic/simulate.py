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

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements.history import AGE_BANDS, AGE_EDGES, DURATION_BANDS, DURATION_EDGES_DAYS
from pipeline.placements.history import band_of_years as _age_band
from pipeline.synthetic.calibration import Config, published_for, targets
from pipeline.synthetic.formats import add_years

__all__ = ["AGE_BANDS", "DURATION_BANDS", "Simulation", "simulate", "month_starts"]

FIRST_MONTH = date(2015, 4, 1)
LAST_MONTH = date(2026, 9, 1)  # the last month generated: 2026-27 Q2 ends 30 September 2026

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
    [0.30, 0.22, 0.14, 0.03, 0.13, 0.01, 0.00, 0.10, 0.00, 0.07],  # no supported accommodation before 16
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


def _duration_band(days: np.ndarray) -> np.ndarray:
    return np.searchsorted(DURATION_EDGES_DAYS, days, side="right") - 1


def _choice_rows(rng, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each i, a column index drawn from probs[rows[i]] (vectorised inverse-CDF)."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)[rows]
    u = rng.random(len(rows))[:, None]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def simulate(cfg: Config) -> Simulation:
    rng = np.random.default_rng(cfg.seed)
    months = month_starts()
    published = published_for(cfg)
    tg = targets(cfg.scale, published)
    # capacity: initial stock plus every start, with margin for the free-running years
    n0 = int(round(published[2015][0] * cfg.scale))
    cap = n0 + sum(t["starts"] for t in tg.values()) + int(1200 * cfg.scale) + 100
    dob = np.zeros(cap, dtype=np.int64)
    b18 = np.zeros(cap, dtype=np.int64)  # the 18th birthday: the same calendar date 18 years on
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
    b18[idx] = add_years(dob[idx], 18)
    cat[idx] = _choice_rows(rng, STOCK_CATEGORY, band)
    # a placement in supported accommodation starts after the 16th birthday
    in_care = np.minimum(age_days - 1 - np.where(cat[idx] == 6, 16 * 365.25, 0),
                         rng.exponential(2.3 * 365.25, n0)).astype(np.int64)
    start[idx] = origin - np.maximum(in_care, 1)
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
    for m0 in months:
        fy_end = m0.year + 1 if m0.month >= 4 else m0.year  # year ending 31 March
        mpos = (m0.month - 4) % 12  # 0 = April
        d0, ndays = m0.toordinal(), _days_in_month(m0)
        target = tg.get(fy_end)
        # ---- entries ---------------------------------------------------------------------------------
        if mpos == 0:
            starts_this_year = 0
        pinned = target is not None and cfg.pinned
        if target is not None:
            if mpos == 0:
                starts_plan = rng.multinomial(target["starts"], SEASON / SEASON.sum())
                ym_exits_plan[fy_end] = np.cumsum(rng.multinomial(target["ceased"], SEASON / SEASON.sum()))
                done_exits[fy_end] = 0
            expected = target["starts"] * SEASON[mpos] / SEASON.sum()
            k = int(starts_plan[mpos]) if pinned else int(rng.poisson(expected))
        else:
            expected = np.mean(annual_starts[-3:]) * SEASON[mpos] / SEASON.sum()
            k = int(rng.poisson(expected))
        for b in range(5):
            oracle_entries.append((m0.isoformat(), AGE_BANDS[b], expected * ENTRY_AGE[b], pinned))
        starts_this_year += k
        if k:
            new = np.arange(n, n + k)
            n += k
            day = d0 + rng.integers(0, ndays, k)
            b = rng.choice(5, size=k, p=ENTRY_AGE)
            a = (AGE_EDGES[b] + rng.random(k) * (AGE_EDGES[b + 1] - AGE_EDGES[b])) * 365.25
            a = np.minimum(a, 17.9 * 365.25)
            dob[new] = day - a.astype(np.int64)
            b18[new] = add_years(dob[new], 18)
            start[new] = day
            cat[new] = _choice_rows(rng, ENTRY_CATEGORY, b)
            ls[new] = np.where(b >= 3, rng.choice(["V2", "C1", "L1", "J1"], size=k, p=[0.45, 0.40, 0.10, 0.05]),
                               rng.choice(["V2", "C1", "L2", "L1"], size=k, p=[0.25, 0.60, 0.08, 0.07]))
            ls[new] = np.where((cat[new] == 7) & np.isin(ls[new], ["V2", "J1"]), "C1", ls[new])  # not P1 under s20
            active[new] = True
            log(new, day, "S")
            # police protection lasts at most 72 hours, an emergency protection order at most 8 days here
            # (DfE: 21 days): then an interim care order, or accommodation under section 20
            prot = new[np.isin(ls[new], ["L1", "L2"])]
            if len(prot):
                days = np.where(ls[prot] == "L1", rng.integers(1, 4, len(prot)), rng.integers(1, 9, len(prot)))
                nxt = np.where((ls[prot] == "L1") & (cat[prot] != 7) & (rng.random(len(prot)) < 0.35), "V2", "C1")
                ls[prot] = nxt
                log(prot, start[prot] + days, "L")
        # ---- children reaching 18 this month ------------------------------------------------------------
        act = np.flatnonzero(active[:n])
        eighteen = b18[act]
        turning = act[(eighteen >= d0) & (eighteen < d0 + ndays) & (eighteen > last_event[act])]
        if len(turning):
            rec = rng.choice(AT_18_REASONS[0], size=len(turning), p=AT_18_REASONS[1])
            day = b18[turning]
            active[turning] = False
            log(turning, day, "E", rec)
        # ---- other exits -------------------------------------------------------------------------------
        elig = np.flatnonzero(active[:n])
        elig = elig[last_event[elig] < d0]
        age_b = _age_band((d0 - dob[elig]) / 365.25)
        dur_b = _duration_band(d0 - start[elig])
        w = EXIT_HAZARD[cat[elig]] * EXIT_AGE[age_b] * EXIT_DURATION[dur_b]
        if pinned:
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
            if target is not None:  # unpinned: the published flow is the expectation, not the count
                want = target["ceased"] * SEASON[mpos] / SEASON.sum() - len(turning)
                month_mult = max(want, 0.0) / w.sum() if w.sum() else 0.0
            else:
                month_mult = float(np.mean(calibrated_mults[-12:])) if calibrated_mults else 0.0
            if target is not None:
                calibrated_mults.append(month_mult)
            leaving = elig[rng.random(len(elig)) < np.minimum(w * month_mult, 0.9)]
        oracle_exits.append((m0.isoformat(), month_mult, pinned))
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
            # placed with parents is never under section 20 (DfE rule 378): the move comes with a care order
            kinds = np.where((cat[movers] == 7) & (ls[movers] == "V2"), "B", "P")
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
        p_ls = np.select([ls[still] == "C1", ls[still] == "V2", ls[still] == "J1"], [0.11, 0.015, 0.25], 0.0)
        change = still[rng.random(len(still)) < p_ls]
        if len(change):
            old = ls[change]
            ls[change] = np.select([old == "V2", old == "C1", (old == "J1") & (cat[change] == 7), old == "J1"],
                                   ["C1", "C2", "C1", "V2"], old)
            log(change, d0 + rng.integers(0, ndays, len(change)), "L")
        if mpos == 11:
            annual_starts.append(starts_this_year)
    events = pd.DataFrame({
        "child": np.concatenate(ev_child), "day": np.concatenate(ev_day), "kind": np.concatenate(ev_kind),
        "category": np.concatenate(ev_cat), "ls": np.concatenate(ev_ls), "rec": np.concatenate(ev_rec),
    })
    events = events.sort_values(["child", "day"], kind="stable").reset_index(drop=True)
    children = pd.DataFrame({"child": np.arange(n), "dob": dob[:n], "start": start[:n], "b18": b18[:n]})
    oracle = {
        "entries": pd.DataFrame(oracle_entries, columns=["month", "age_band", "expected_starts", "calibrated"]),
        "exit_multiplier": pd.DataFrame(oracle_exits, columns=["month", "monthly_multiplier", "calibrated"]),
    }
    return Simulation(children=children, events=events, oracle=oracle)
