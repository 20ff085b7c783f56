"""The stochastic stock-flow model, fitted with statsmodels. Time steps are calendar months: a child in
care at the start of a month may leave care (discrete-time hazard by placement category, age band and time
in care) or move placement (by category); children reach 18 on their birthday and leave; new entrants
arrive by age band (a count GLM with trend and month of year)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.placements.history import (
    DURATION_EDGES_DAYS,
    NC,
    REASON_GROUPS,
    band_of_years,
    captured_warnings,
    daily_stock,
)

MIN_GLM_MONTHS = 24  # the seasonal entrant GLM has 13 parameters (level, trend, 11 months): two years at least



ENTRANT_BAND = (0.25, 4.0)



# ---- the model ---------------------------------------------------------------------------------------------
@dataclass
class Fitted:
    origin: pd.Timestamp
    entry_params: pd.DataFrame  # GLM coefficients per age band (for the record)
    entry_mean: np.ndarray  # (horizon, 5): expected entrants per month and age band
    entry_alpha: float  # negative binomial dispersion (0: Poisson)
    entry_category: np.ndarray  # (5, NC): first category by age band
    exit_table: np.ndarray  # (NC, 5, 3): monthly exit probability
    move_prob: np.ndarray  # (NC, 5, 3): monthly move probability by category, age band and time-in-care band
    move_dest: np.ndarray  # (NC, NC)
    reason_mix: np.ndarray  # (NC, 4): returned home, SGO, adoption, other among exits before 18
    months: pd.PeriodIndex  # the projected months
    window: tuple[pd.Timestamp, pd.Timestamp]
    notes: list[str] = field(default_factory=list)  # reader-facing notes: guards that changed the model
    entry_sd: float = 0.0  # year-to-year sd of log entrants (rates drift by this much a year on each path)
    exit_sd: float = 0.0  # year-to-year sd of the log exit rate
    warnings: list[str] = field(default_factory=list)  # statsmodels' warnings while fitting (for the build log)



def child_months(spells: pd.DataFrame, first: pd.Period, last: pd.Period) -> pd.DataFrame:
    """One row per episode and month it covers the first day of (from ``first`` to ``last``): the
    child's category, age band and time-in-care band on that day, and what happened in the month:
    ``exit`` (the period of care ended, not at 18), ``move`` (continued in another category) or
    nothing. The at-risk population of the hazard models."""
    s = spells
    m0 = s["start"].dt.to_period("M")
    # first month start covered: the month after the start, or the start month when it starts on the 1st
    first_cov = np.where(s["start"].dt.day == 1, m0.astype("int64"), m0.astype("int64") + 1)
    end_m = s["end"].dt.to_period("M")
    last_open = last.ordinal
    # covers the first day of month k if start <= day1(k) < end
    last_cov = np.where(s["end"].isna(), last_open,
                        np.where(s["end"].dt.day == 1, end_m.astype("int64") - 1, end_m.astype("int64")))
    lo = np.maximum(first_cov, first.ordinal)
    hi = np.minimum(last_cov, last.ordinal)
    n = np.clip(hi - lo + 1, 0, None)
    rows = np.repeat(np.arange(len(s)), n)
    month = lo[rows] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    day1 = pd.PeriodIndex.from_ordinals(month, freq="M").to_timestamp()
    dob = s["dob"].to_numpy()[rows]
    age = (day1.to_numpy() - dob).astype("timedelta64[D]").astype(np.int64) / 365.25
    dur = (day1.to_numpy() - s["period_start"].to_numpy()[rows]).astype("timedelta64[D]").astype(np.int64)
    ends_here = (last_cov[rows] == month) & s["end"].notna().to_numpy()[rows]
    rec = s["REC"].to_numpy()[rows]
    nxt = s["next_category"].to_numpy()[rows]
    cat = s["category"].to_numpy()[rows]
    # an exit at 18 is deterministic in the simulation: not a hazard event
    at18 = ends_here & (s["end"].to_numpy()[rows] >= (pd.to_datetime(dob) + pd.DateOffset(years=18)).to_numpy()
                        - np.timedelta64(1, "D"))
    out = pd.DataFrame({"month": month, "category": cat, "age_band": band_of_years(age),
                        "duration_band": np.searchsorted(DURATION_EDGES_DAYS, dur, side="right") - 1,
                        "exit": ends_here & (rec != "X1") & (rec != "") & ~at18,
                        "move": ends_here & (rec == "X1") & (nxt >= 0) & (nxt != cat),
                        "dest": np.where(ends_here & (rec == "X1"), nxt, -1),
                        "rec": np.where(ends_here, rec, ""), "age": age})
    return out[out["age"] < 18]



def fit(spells: pd.DataFrame, origin: pd.Timestamp, horizon: int = 36, window_years: float = 3,
        trend_weight: float = 0.0, history_start: pd.Timestamp | None = None) -> Fitted:
    """See ``_fit``. Guards: a window shorter than the entrant GLM needs (``MIN_GLM_MONTHS``) is widened
    when the history allows, else the entrant model drops its month-of-year terms; fitted entrants
    outside ``ENTRANT_BAND`` times the last year's observed fall back to the observed level; either is
    said in ``notes``. statsmodels' warnings are kept in ``warnings``, not printed."""
    caught: list[str] = []
    with captured_warnings(caught):
        model = _fit(spells, origin, horizon, window_years, trend_weight, history_start)
    model.warnings = caught
    return model



def _fit(spells: pd.DataFrame, origin: pd.Timestamp, horizon: int, window_years: float, trend_weight: float,
         history_start: pd.Timestamp | None) -> Fitted:
    """Fit the models on the ``window_years`` before ``origin`` (month ends): entrants as a negative
    binomial GLM (log link) with a linear trend and month of year, shared between age bands by their
    observed shares; exits and moves as discrete-time logistic hazards on placement category, age band
    and time-in-care band; move destinations, first placements and exit reasons as observed shares in
    the window (with a small prior where a cell is thin)."""
    import statsmodels.api as sm

    origin = pd.Timestamp(origin)
    last = origin.to_period("M")
    notes = []
    # the window: the months asked for, widened to what the entrant GLM needs, within the history held
    h0 = pd.Timestamp(history_start) if history_start is not None else spells["start"].min()
    held = (last - h0.to_period("M")).n + 1 if pd.notna(h0) else 1
    asked = max(int(round(12 * window_years)), 1)
    n_months = asked
    if asked < MIN_GLM_MONTHS:
        n_months = max(asked, min(MIN_GLM_MONTHS, held))
        if n_months > asked:
            notes.append(f"the {asked}-month window asked for is too short to fit the entrant model (13 parameters), "
                         f"so {n_months} months are used")
    if n_months > held:
        n_months = max(held, 1)
    first = last - n_months + 1
    seasonal = n_months >= MIN_GLM_MONTHS
    if not seasonal:
        notes.append(f"only {n_months} months of history before the quarter end: entrants are projected at the "
                     "observed average, with no month-of-year pattern")
    # entries -----------------------------------------------------------------------------------------
    starts = spells[spells["new_period"] & (spells["start"] >= first.to_timestamp()) & (spells["start"] <= origin)]
    age0 = ((starts["start"] - starts["dob"]).dt.days / 365.25).to_numpy()
    sb = band_of_years(age0)
    months = pd.period_range(first, last, freq="M")
    counts = pd.crosstab(starts["start"].dt.to_period("M"), sb).reindex(index=months, columns=range(5), fill_value=0)
    future = pd.period_range(last + 1, periods=horizon, freq="M")

    def design(ms, t0):
        t = (np.array([m.ordinal for m in ms]) - t0) / 12.0
        moy = np.array([m.month for m in ms])
        X = pd.get_dummies(pd.Categorical(moy, categories=range(1, 13)), prefix="m", drop_first=True, dtype=float)
        X.insert(0, "trend", t)
        return sm.add_constant(X, has_constant="add")

    Xh = design(months, last.ordinal)
    Xf = design(future, last.ordinal)
    mean = np.zeros((horizon, 5))
    params = {}
    total = counts.sum(axis=1).to_numpy()
    # one model on the total with age-band shares: more stable than five thin models
    recent = total[-min(12, len(total)):]
    observed = float(recent.mean()) if len(recent) else 0.0
    try:
        if not seasonal:
            raise _Simple()
        glm = sm.GLM(total, Xh, family=sm.families.NegativeBinomial(alpha=0.05)).fit()
        # dispersion from Pearson chi2 (method of moments), then refit
        mu = glm.mu
        alpha = max(float(((total - mu) ** 2 - mu).sum() / (mu ** 2).sum()), 1e-4)
        glm = sm.GLM(total, Xh, family=sm.families.NegativeBinomial(alpha=alpha)).fit()
        # the fitted trend is reported, not extrapolated: the level is carried forward with the seasonal
        # pattern (backtests on the synthetic authority: extrapolating a three-year trend doubled the
        # 12-month error); trend_weight 1 extrapolates it
        beta = glm.params.copy()
        params = beta.to_dict()
        season = np.exp(Xf.drop(columns=["const", "trend"]).to_numpy() @ beta.drop(["const", "trend"]).to_numpy())
        season_hist = np.exp(Xh.drop(columns=["const", "trend"]).to_numpy() @ beta.drop(["const", "trend"]).to_numpy())
        # the level: the last twelve months' entrants, seasonally adjusted
        level = float((total[-12:] / season_hist[-12:]).mean())
        pred = level * season * np.exp(beta["trend"] * trend_weight * (np.arange(1, horizon + 1) / 12.0))
        lo, hi = ENTRANT_BAND
        ratio = float(np.mean(pred)) / observed if observed > 0 else (np.inf if np.mean(pred) > 1 else 1.0)
        if not np.all(np.isfinite(pred)) or not lo <= ratio <= hi:
            notes.append(f"the entrant model projected {np.mean(pred):,.1f} entrants a month against "
                         f"{observed:,.1f} observed in the last year (outside {lo:g} to {hi:g} times): the observed "
                         "average is used instead")
            raise _Simple()
    except _Simple:
        alpha = 0.0
        pred = np.full(horizon, observed)
    except Exception as exc:  # statsmodels fails only on degenerate data
        alpha = 0.0
        pred = np.full(horizon, observed)
        notes.append(f"the entrant model could not be fitted ({type(exc).__name__}); the last year's average is used")
    share = counts.sum(axis=0).to_numpy() / max(counts.to_numpy().sum(), 1)
    mean = pred[:, None] * share[None, :]
    ent_cat = np.ones((5, NC)) * 0.01
    np.add.at(ent_cat, (sb, starts["category"].to_numpy()), 1)
    ent_cat /= ent_cat.sum(axis=1, keepdims=True)
    # exits and moves -------------------------------------------------------------------------------
    cm = child_months(spells[spells["start"] <= origin], first, last)
    y = cm["exit"].astype(float).to_numpy()
    Xe = pd.get_dummies(cm[["category", "age_band", "duration_band"]].astype(str), drop_first=False, dtype=float)
    Xe = Xe.drop(columns=[c for c in ("category_0", "age_band_3", "duration_band_1") if c in Xe])
    Xe = sm.add_constant(Xe, has_constant="add")
    grid = pd.DataFrame([(c, a, d) for c in range(NC) for a in range(5) for d in range(3)],
                        columns=["category", "age_band", "duration_band"])
    Xg = pd.get_dummies(grid.astype(str), drop_first=False, dtype=float).reindex(columns=Xe.columns, fill_value=0.0)
    Xg["const"] = 1.0
    Xg = Xg[Xe.columns]

    def hazard(outcome: np.ndarray, rows: np.ndarray, what: str) -> np.ndarray:
        try:
            res = sm.GLM(outcome[rows], Xe[rows], family=sm.families.Binomial()).fit()
            return res.predict(Xg).to_numpy().reshape(NC, 5, 3)
        except Exception as exc:  # pragma: no cover - only on degenerate data
            notes.append(f"{what} model did not fit ({exc}); one rate is used")
            rate = outcome[rows].mean() if rows.any() else 0.02
            return np.full((NC, 5, 3), rate)

    everyone = np.ones(len(y), dtype=bool)
    exit_table = hazard(y, everyone, "exit")
    # moves: among child-months that did not end in leaving care, the same covariates
    move_prob = hazard(cm["move"].astype(float).to_numpy(), ~cm["exit"].to_numpy(), "move")
    dest = np.ones((NC, NC)) * 0.05
    mv = cm[cm["move"]]
    np.add.at(dest, (mv["category"].to_numpy(), mv["dest"].to_numpy()), 1)
    np.fill_diagonal(dest, 0)
    dest /= dest.sum(axis=1, keepdims=True)
    ex = cm[cm["exit"]]
    grp = pd.Series("other", index=ex.index)
    for _k, (g, codes) in enumerate(REASON_GROUPS.items()):
        grp[ex["rec"].isin(codes)] = g
    gi = grp.map({"returned_home": 0, "special_guardianship": 1, "adoption": 2, "other": 3}).to_numpy(dtype=np.int64)
    mix = np.ones((NC, 4)) * 0.05
    np.add.at(mix, (ex["category"].to_numpy(), gi), 1)
    mix /= mix.sum(axis=1, keepdims=True)
    entry_sd, exit_sd = year_to_year_variation(spells, origin)
    return Fitted(origin, pd.DataFrame([params]), mean, alpha, ent_cat, exit_table, move_prob, dest, mix, future,
                  (first.to_timestamp(), origin), notes, entry_sd, exit_sd)



class _Simple(Exception):
    """Use the observed average for entrants (a guard in ``fit``)."""



def year_to_year_variation(spells: pd.DataFrame, origin: pd.Timestamp, floor: float = 0.03) -> tuple[float, float]:
    """How much the yearly number of entrants and the yearly exit rate (periods ended before 18 per
    child in care) moved from one year to the next in the history before ``origin``: the standard
    deviation of their log year-on-year changes (at least ``floor``). The simulation lets each path's
    rates drift by as much, so its ranges carry the uncertainty of future rates, not only chance."""
    o = pd.Timestamp(origin)
    first = max(spells["start"].min(), pd.Timestamp(2000, 1, 1), o - pd.DateOffset(years=15))
    daily = daily_stock(spells, first, o).sum(axis=1)
    ended_all = spells[spells["end"].notna() & ~spells["REC"].isin(["X1", ""])]
    adult_all = ended_all["end"] >= ended_all["dob"] + pd.DateOffset(years=18) - pd.Timedelta(days=1)
    ended_all = ended_all[~adult_all]
    years = []
    k = 0
    while True:
        hi = o - pd.DateOffset(years=k)
        lo = hi - pd.DateOffset(years=1)
        if lo < first:
            break
        ent = int((spells["new_period"] & (spells["start"] > lo) & (spells["start"] <= hi)).sum())
        n_end = int(((ended_all["end"] > lo) & (ended_all["end"] <= hi)).sum())
        stock = float(daily[(daily.index > lo) & (daily.index <= hi)].mean())
        years.append((ent, n_end / max(stock, 1)))
        k += 1
    years = [y for y in years if y[0] > 0 and y[1] > 0]
    if len(years) < 3:
        return 0.10, 0.10  # too little history to say: a wide default, stated in the method note
    e = np.diff(np.log([y[0] for y in years]))
    x = np.diff(np.log([y[1] for y in years]))
    return max(float(np.std(e, ddof=1)), floor), max(float(np.std(x, ddof=1)), floor)
