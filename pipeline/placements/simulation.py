"""Simulating the fitted model forward (paths of children in care by category), scenarios, the fan
of the projection and its projected cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements.history import AGE_EDGES, DURATION_EDGES_DAYS, NC, fy_of, unit_costs_by_year
from pipeline.placements.model import Fitted

MAX_SIM_BYTES = 4e9  # simulate refuses a run whose child slots would need more memory than this  # fitted entrants a month against the last year's observed: outside this, a fallback



# ---- scenarios ------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    name: str = "Baseline"
    step_down_share: float = 0.0  # share of children in external children's homes stepped down to fostering in year 1
    in_house_carers: int = 0  # extra in-house fostering placements: agency placements shifted, over the first year
    returns_home_uplift: float = 0.0  # relative rise in the hazard of returning home (0.2 = +20%)
    sgo_uplift: float = 0.0  # relative rise in the hazard of leaving on a special guardianship order
    inflation: float | None = None  # annual unit-cost inflation (None: the params value)

    def describe(self) -> str:
        parts = []
        if self.step_down_share:
            parts.append(f"{self.step_down_share:.0%} of children in external children's homes step down to fostering over a year")
        if self.in_house_carers:
            parts.append(f"{self.in_house_carers} more in-house fostering placements instead of agency ones")
        if self.returns_home_uplift:
            parts.append(f"returns home {self.returns_home_uplift:+.0%}")
        if self.sgo_uplift:
            parts.append(f"special guardianship orders {self.sgo_uplift:+.0%}")
        if self.inflation is not None:
            parts.append(f"unit-cost inflation {self.inflation:.1%} a year")
        return "; ".join(parts) or "the projection above: no change to policy or prices"



def state_at(spells: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """Children in care on ``day``: category, age in days, days in care."""
    s = spells[(spells["start"] <= day) & (spells["end"].isna() | (spells["end"] > day))]
    s = s.drop_duplicates("CHILD", keep="last")
    return pd.DataFrame({"category": s["category"].to_numpy(),
                         "age_days": (day - s["dob"]).dt.days.to_numpy(),
                         "care_days": (day - s["period_start"]).dt.days.to_numpy()})



def _uniform(idx: np.ndarray, h: int, stream: int, seed: int) -> np.ndarray:
    """Uniform numbers in [0, 1) fixed by (child slot, month, stream, seed): a counter-based generator
    (the splitmix64 finaliser), so a scenario run meets the same chance events as the baseline for the
    same child and month (common random numbers), whatever else the scenario changes."""
    with np.errstate(over="ignore"):
        x = (idx.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             + np.uint64((h + 1) * 0xBF58476D1CE4E5B9 % (1 << 64))
             + np.uint64((stream * 0x94D049BB133111EB + seed * 0x2545F4914F6CDD1D) % (1 << 64)))
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)



def simulate(model: Fitted, state: pd.DataFrame, paths: int = 1000, seed: int = 2026,
             scenario: Scenario | None = None) -> dict[str, np.ndarray]:
    """Monte Carlo over ``paths`` futures, month by month, all paths at once. Returns ``stock``
    (paths, months, NC): children in care at each month end by category; ``exits`` (paths, months, 5):
    returned home, SGO, adoption, other, reached 18; ``starts`` (paths, months)."""
    sc = scenario or Scenario()
    H = len(model.months)
    n0 = len(state)
    mean_total = model.entry_mean.sum(axis=1)
    if not np.all(np.isfinite(mean_total)) or mean_total.min() < 0:
        raise ValueError("simulate: the entrant means are not finite non-negative numbers (a model that did not fit)")
    cap = n0 + int(np.ceil(mean_total.sum() * 1.6 + 10 * np.sqrt(mean_total.sum()) + 20))
    if paths * cap * 10 > MAX_SIM_BYTES:
        raise ValueError(f"simulate: {paths} paths of {cap:,} children need about {paths * cap * 10 / 1e9:.1f} GB; "
                         f"the fitted model expects {mean_total.sum():,.0f} entrants against {n0:,} children in care now, "
                         "so it is not run (check the model's notes)")
    cat = np.full((paths, cap), -1, dtype=np.int16)
    age = np.zeros((paths, cap), dtype=np.int32)
    care = np.zeros((paths, cap), dtype=np.int32)
    cat[:, :n0] = state["category"].to_numpy()
    age[:, :n0] = state["age_days"].to_numpy()
    care[:, :n0] = state["care_days"].to_numpy()
    used = np.full(paths, n0)
    stock = np.zeros((paths, H, NC), dtype=np.int32)
    exits = np.zeros((paths, H, 5), dtype=np.int32)
    starts = np.zeros((paths, H), dtype=np.int32)
    exit_table = model.exit_table.copy()
    mix = model.reason_mix.copy()
    # scenario: more returns home / SGOs raise the exit hazard by the share those reasons make up
    if sc.returns_home_uplift or sc.sgo_uplift:
        factor = 1 + mix[:, 0] * sc.returns_home_uplift + mix[:, 1] * sc.sgo_uplift
        exit_table = np.minimum(exit_table * factor[:, None, None], 0.95)
        mix = mix * np.array([1 + sc.returns_home_uplift, 1 + sc.sgo_uplift, 1, 1])[None, :]
        mix /= mix.sum(axis=1, keepdims=True)
    ext, agency, inhouse = CATEGORIES.index("external_childrens_home"), CATEGORIES.index("agency_fostering"), \
        CATEGORIES.index("in_house_fostering")
    band_days = (AGE_EDGES[1:-1] * 365.25).astype(np.int64)  # 1st, 5th, 10th, 16th birthdays in days
    d18, d16 = int(18 * 365.25), int(16 * 365.25)
    fc, fa, fr = cat.reshape(-1), age.reshape(-1), care.reshape(-1)  # flat views: work on active slots only
    sa, ad = CATEGORIES.index("supported_accommodation"), CATEGORIES.index("placed_for_adoption")
    # each path's rates drift as a random walk with the history's year-to-year variation. Every random
    # draw is tied to its path (and child slot), so path p is the same future in a run of any size and
    # under any scenario: separate streams per purpose, rows drawn path by path
    steps = np.sqrt(1 / 12)
    entry_mult = np.exp(np.cumsum(np.random.default_rng([seed, 1]).normal(0, model.entry_sd * steps, (paths, H)), axis=1))
    exit_mult = np.exp(np.cumsum(np.random.default_rng([seed, 2]).normal(0, model.exit_sd * steps, (paths, H)), axis=1))
    band_p = np.cumsum(model.entry_mean / model.entry_mean.sum(axis=1, keepdims=True), axis=1)
    for h, m in enumerate(model.months):
        days = m.days_in_month
        # entrants: gamma-Poisson (negative binomial) around the GLM mean
        g = np.random.default_rng([seed, 100 + h])
        mu = mean_total[h] * entry_mult[:, h]
        lam = g.gamma(1 / model.entry_alpha, mu * model.entry_alpha, paths) if model.entry_alpha > 0 else mu
        k = np.minimum(np.random.default_rng([seed, 1000 + h]).poisson(lam), cap - used)
        starts[:, h] = k
        if k.sum():
            pi = np.repeat(np.arange(paths), k)
            si = used[pi] + (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))
            slot = pi * cap + si
            band = (_uniform(slot, h, 8, seed)[:, None] > band_p[h][None, :]).sum(1).clip(0, 4)
            first_cat = (_uniform(slot, h, 9, seed)[:, None] > np.cumsum(model.entry_category[band], axis=1)).sum(1)
            a_days = ((AGE_EDGES[band] + _uniform(slot, h, 10, seed) * (AGE_EDGES[band + 1] - AGE_EDGES[band])) * 365.25)
            cat[pi, si] = np.minimum(first_cat, NC - 1)
            age[pi, si] = np.minimum(a_days, 17.9 * 365.25).astype(np.int32)
            care[pi, si] = 0
            used += k
        act = np.flatnonzero(fc >= 0)
        a_act = fa[act]
        # reaching 18 this month
        turning = a_act + days >= d18
        t_idx = act[turning]
        exits[:, h, 4] = np.bincount(t_idx // cap, minlength=paths)
        fc[t_idx] = -1
        keep = ~turning
        act, a_act = act[keep], a_act[keep]
        c_act, r_act = fc[act], fr[act]
        # exits by hazard: category x age band x time-in-care band
        ab = sum((a_act >= x).astype(np.int8) for x in band_days)
        db = (r_act >= DURATION_EDGES_DAYS[1]).astype(np.int8) + (r_act >= DURATION_EDGES_DAYS[2])
        leaving = _uniform(act, h, 1, seed) < np.minimum(exit_table[c_act, ab, db] * exit_mult[act // cap, h], 0.95)
        if leaving.any():
            l_idx = act[leaving]
            reason = (_uniform(l_idx, h, 2, seed)[:, None] > np.cumsum(mix[c_act[leaving]], axis=1)).sum(1).clip(0, 3)
            np.add.at(exits, (l_idx // cap, h, reason), 1)
            fc[l_idx] = -1
            keep = ~leaving
            act, a_act, c_act = act[keep], a_act[keep], c_act[keep]
        # moves: by category, under 16 / 16 and over; destinations by origin category
        older = a_act >= d16
        ab_m = sum((a_act >= x).astype(np.int8) for x in band_days)
        r_m = fr[act]
        db_m = (r_m >= DURATION_EDGES_DAYS[1]).astype(np.int8) + (r_m >= DURATION_EDGES_DAYS[2])
        moving = _uniform(act, h, 3, seed) < model.move_prob[c_act, ab_m, db_m]
        if moving.any():
            m_idx = act[moving]
            d = model.move_dest[fc[m_idx]].copy()
            young = ~older[moving]
            d[young, sa] = 0
            d[~young, ad] = 0
            d /= d.sum(axis=1, keepdims=True)
            fc[m_idx] = (_uniform(m_idx, h, 4, seed)[:, None] > np.cumsum(d, axis=1)).sum(1).clip(0, NC - 1)
        # scenarios that shift placements, spread over the first year
        if sc.step_down_share and h < 12:
            e_idx = act[fc[act] == ext]
            now = e_idx[_uniform(e_idx, h, 5, seed) < 1 - (1 - sc.step_down_share) ** (1 / 12)]
            fc[now] = np.where(_uniform(now, h, 6, seed) < 0.5, agency, inhouse)
        if sc.in_house_carers and h < 12:
            want = int(round(sc.in_house_carers / 12 * (h + 1))) - int(round(sc.in_house_carers / 12 * h))
            a_idx = act[fc[act] == agency]
            if want and len(a_idx):
                order = np.lexsort((_uniform(a_idx, h, 7, seed), a_idx // cap))
                a_sorted = a_idx[order]
                path_of = a_sorted // cap
                rank = np.arange(len(a_sorted)) - np.searchsorted(path_of, path_of)
                fc[a_sorted[rank < want]] = inhouse
        fa[act] += days
        fr[act] += days
        stock[:, h, :] = np.bincount((act // cap) * NC + fc[act], minlength=paths * NC).reshape(paths, NC)
    return {"stock": stock, "exits": exits, "starts": starts}



def fan(stock: np.ndarray, months: pd.PeriodIndex, levels=(0.5, 0.8, 0.95)) -> pd.DataFrame:
    """Median and central ranges of total children in care by month."""
    total = stock.sum(axis=2)
    out = pd.DataFrame({"month": months.to_timestamp(how="end").normalize(), "median": np.median(total, axis=0)})
    for lv in levels:
        lo, hi = (1 - lv) / 2, 1 - (1 - lv) / 2
        out[f"low_{int(lv * 100)}"] = np.quantile(total, lo, axis=0)
        out[f"high_{int(lv * 100)}"] = np.quantile(total, hi, axis=0)
    return out



def projected_cost(stock: np.ndarray, months: pd.PeriodIndex, costs: pd.DataFrame, inflation: float,
                   state_counts: np.ndarray, factors: np.ndarray | None = None) -> pd.DataFrame:
    """Cost (£m) per path and financial year: each month's placement days (the mean of its opening
    and closing stock, by category, times its days) times the weekly cost / 7 for that year. ``factors``
    (paths, NC), when given, multiply each path's unit cost per category (``unit_costs.draw_factors``:
    the unit-cost uncertainty, one draw per path held over the whole horizon)."""
    fys = fy_of(months.to_timestamp())
    missing = [c for c in CATEGORIES if c not in set(costs["category"])]
    if missing:
        raise ValueError(f"projected_cost: no weekly unit cost for {', '.join(missing)} (the unit-cost table "
                         "placement_unit_costs needs a row for every placement category)")
    uc = unit_costs_by_year(costs, sorted(set(fys)), inflation).pivot(index="financial_year", columns="category",
                                                                        values="weekly_cost_gbp")[CATEGORIES]
    opening = np.concatenate([np.broadcast_to(state_counts, (stock.shape[0], 1, NC)), stock[:, :-1]], axis=1)
    days = (opening + stock) / 2 * np.array([m.days_in_month for m in months])[None, :, None]
    daily = uc.loc[fys].to_numpy() / 7  # (H, NC)
    if factors is not None:
        days = days * np.asarray(factors)[: stock.shape[0], None, :]
    cost = (days * daily[None]).sum(axis=2) / 1e6  # (paths, H)
    df = pd.DataFrame(cost.T, index=fys)
    return df.groupby(level=0).sum().T  # (paths, years)
