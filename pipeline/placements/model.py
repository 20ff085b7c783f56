"""Children in care: daily stock, monthly flows, placement days and cost from the cleaned SSDA903
episode history; a stochastic stock-flow projection fitted with statsmodels; baselines, backtests
and scenarios.

Everything is vectorised over episodes (difference arrays, ``np.repeat``), never a row-wise apply.
Time steps are calendar months: a child in care at the start of a month may leave care (discrete-time
hazard by placement category, age band and time in care) or move placement (by category); children
reach 18 on their birthday and leave; new entrants arrive by age band (a count GLM with trend and
month of year)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES, CATEGORY_LABELS, place_category

AGE_BANDS = ["under_1", "1_to_4", "5_to_9", "10_to_15", "16_to_17"]
AGE_EDGES = np.array([0, 1, 5, 10, 16, 18])  # years
DURATION_BANDS = ["under_6m", "6m_to_2y", "2y_plus"]
DURATION_EDGES_DAYS = np.array([0, 183, 730])
REASON_GROUPS = {"returned_home": ("E4A", "E4B", "E13"), "special_guardianship": ("E43", "E44", "E45", "E46", "E47", "E48"),
                 "adoption": ("E11", "E12")}
REASON_LABELS = {"returned_home": "Returned home", "special_guardianship": "Special guardianship order",
                 "adoption": "Adopted", "age_18": "Reached 18", "other": "Other reasons"}
NC = len(CATEGORIES)
MIN_GLM_MONTHS = 24  # the seasonal entrant GLM has 13 parameters (level, trend, 11 months): two years at least
ENTRANT_BAND = (0.25, 4.0)
MAX_SIM_BYTES = 4e9  # simulate refuses a run whose child slots would need more memory than this  # fitted entrants a month against the last year's observed: outside this, a fallback


@contextmanager
def captured_warnings(sink: list[str]):
    """Warnings raised inside (statsmodels' convergence and domain warnings on thin histories) are kept
    in ``sink`` as "Category: message (n times)", once each, instead of reaching the console."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    counts: dict[str, int] = {}
    for w in caught:
        key = f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
        counts[key] = counts.get(key, 0) + 1
    sink.extend(f"{k} ({n} time{'s' if n > 1 else ''})" for k, n in counts.items())


# ---- episodes -> spells ----------------------------------------------------------------------------
def prepare(episodes: pd.DataFrame, header: pd.DataFrame) -> pd.DataFrame:
    """Episodes with dates, placement category, date of birth and the start of the child's period of
    care (a period runs through episodes joined by X1 on the same day). Columns: CHILD, start, end
    (NaT when open), category (index into CATEGORIES), REC, dob, period_start, next_category (the
    category of the continuing episode when the episode ends X1, else -1)."""
    e = episodes[["CHILD", "DECOM", "DEC", "PLACE", "PLACE_PROVIDER", "REC"]].copy()
    # ``ssda903.merge_returns`` output as it is: the parsed DECOM_date / DEC_date beside the text dates
    for col, to in (("DECOM", "start"), ("DEC", "end")):
        e[to] = _dates(episodes[f"{col}_date"] if f"{col}_date" in episodes else episodes[col])
    e["category"] = pd.Categorical(place_category(e["PLACE"], e["PLACE_PROVIDER"]), categories=CATEGORIES).codes
    e["REC"] = e["REC"].fillna("").astype(str)
    dob = _dates(header.drop_duplicates("CHILD", keep="last").set_index("CHILD")["DOB"])
    e["dob"] = e["CHILD"].map(dob)
    no_dob = int(e["dob"].isna().sum())  # no usable header row: counted in the data-quality findings
    e = e[e["dob"].notna()].sort_values(["CHILD", "start"]).reset_index(drop=True)
    prev_same = e["CHILD"].eq(e["CHILD"].shift())
    continues = prev_same & e["REC"].shift().eq("X1") & e["end"].shift().eq(e["start"])
    period_id = (~continues).cumsum()
    e["period_start"] = e.groupby(period_id)["start"].transform("min")
    nxt_cont = continues.shift(-1, fill_value=False)
    e["next_category"] = np.where(nxt_cont, e["category"].shift(-1).fillna(-1), -1).astype(int)
    e["new_period"] = ~continues
    out = e[["CHILD", "start", "end", "category", "REC", "dob", "period_start", "next_category", "new_period"]]
    # ordered by circumstances, never by the (pseudonymised) child code: episodes that differ only in their
    # code are interchangeable to the model, so the fit and the simulation's draws do not depend on the key
    out = out.sort_values(["start", "period_start", "dob", "category", "end", "REC", "next_category", "new_period"],
                          kind="stable", na_position="last").reset_index(drop=True)
    out.attrs["episodes_without_dob"] = no_dob
    return out


def _dates(col: pd.Series) -> pd.Series:
    """Dates as DfE's return files write them (dd/mm/yyyy), ISO (yyyy-mm-dd), or already dates: never
    the month-first guess of ``pd.to_datetime`` without a format (which reads 05/04/2020 as 4 May)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return (col.dt.tz_localize(None) if getattr(col.dt, "tz", None) is not None else col).astype("datetime64[ns]")
    text = col.astype("string").str.strip().replace("", pd.NA)
    out = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    iso = out.isna() & text.notna()
    if iso.any():
        out[iso] = pd.to_datetime(text[iso].str[:10], format="%Y-%m-%d", errors="coerce")
    return out.astype("datetime64[ns]")


def as_at(spells: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """The history as it was known at the end of ``origin`` (a date): episodes starting later are
    removed, later end dates (and reasons) blanked. A backtest fits only on this."""
    s = spells[spells["start"] <= origin].copy()
    late = s["end"] > origin
    s.loc[late, "end"] = pd.NaT
    s.loc[late, "REC"] = ""
    s.loc[late, "next_category"] = -1
    return s


def _days(ts: pd.Series | pd.Timestamp) -> np.ndarray:
    return (pd.to_datetime(ts).to_numpy("datetime64[D]").astype(np.int64)) if not isinstance(ts, pd.Timestamp) \
        else np.int64(ts.to_datetime64().astype("datetime64[D]").astype(np.int64))


def _band_of_years(age: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(AGE_EDGES, age, side="right") - 1, 0, len(AGE_BANDS) - 1)


# ---- daily stock -------------------------------------------------------------------------------------
def daily_stock(spells: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, by: str = "category") -> pd.DataFrame:
    """Children in care on each day from ``start`` to ``end`` (a child counts on the days from its
    episode start up to the day before it ends), by ``category``, ``age_band`` (age on each day, not
    at episode start: each episode is cut at the birthdays where the band changes) or ``both``
    (columns "category|age_band"). Difference arrays: no loop over episodes."""
    first, last = int(_days(start)), int(_days(end))
    n_days = last - first + 1
    s = _days(spells["start"])
    e = np.where(spells["end"].isna(), last + 1, _days(spells["end"].fillna(end)))
    cat = spells["category"].to_numpy()
    if by == "category":
        keys, n_keys, segs = cat, NC, (s, e)
        seg_keys = keys
    else:
        # cut at birthdays 1, 5, 10, 16 (and 18): pieces of at most 6 segments per episode
        dob = spells["dob"]
        cuts = np.stack([_days(dob + pd.DateOffset(years=int(y))) for y in AGE_EDGES[1:]], axis=1)  # (n, 5)
        bounds = np.concatenate([s[:, None], np.clip(cuts, s[:, None], e[:, None]), e[:, None]], axis=1)
        seg_s, seg_e = bounds[:, :-1], bounds[:, 1:]
        band = np.broadcast_to(np.arange(6), seg_s.shape).copy()  # segment j: band j-1 .. (0 before 1st birthday)
        band = np.minimum(band, len(AGE_BANDS) - 1)
        keep = seg_e > seg_s
        # segments after the 18th birthday (j = 5) are not a child's: dropped
        keep &= np.arange(6)[None, :] < 5
        seg_s, seg_e, band = seg_s[keep], seg_e[keep], band[keep]
        seg_cat = np.repeat(cat[:, None], 6, axis=1)[keep]
        segs = (seg_s, seg_e)
        if by == "age_band":
            seg_keys, n_keys = band, len(AGE_BANDS)
        else:
            seg_keys, n_keys = seg_cat * len(AGE_BANDS) + band, NC * len(AGE_BANDS)
    a = np.clip(segs[0] - first, 0, n_days)
    b = np.clip(segs[1] - first, 0, n_days)
    ok = b > a
    diff = np.zeros((n_days + 1, n_keys), dtype=np.int64)
    np.add.at(diff, (a[ok], seg_keys[ok]), 1)
    np.add.at(diff, (b[ok], seg_keys[ok]), -1)
    stock = np.cumsum(diff, axis=0)[:n_days]
    if by == "category":
        cols = CATEGORIES
    elif by == "age_band":
        cols = AGE_BANDS
    else:
        cols = [f"{c}|{b}" for c in CATEGORIES for b in AGE_BANDS]
    return pd.DataFrame(stock, index=pd.date_range(start, end, freq="D"), columns=cols)


# ---- monthly flows --------------------------------------------------------------------------------------
def reason_group(rec: pd.Series, dob: pd.Series, end: pd.Series) -> pd.Series:
    out = pd.Series("other", index=rec.index, dtype=object)
    for g, codes in REASON_GROUPS.items():
        out[rec.isin(codes)] = g
    adult = end >= dob + pd.DateOffset(years=18) - pd.Timedelta(days=1)
    out[adult & ~rec.isin(REASON_GROUPS["adoption"])] = "age_18"
    return out


def monthly_flows(spells: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """By calendar month: children starting a period of care, moves between placement categories
    (an X1 continuation into another category), and periods ceased by reason group."""
    months = pd.period_range(start, end, freq="M")
    idx = pd.PeriodIndex(months)
    s = spells
    starts = s.loc[s["new_period"], "start"].dt.to_period("M").value_counts()
    moved = s[(s["next_category"] >= 0) & (s["next_category"] != s["category"]) & s["end"].notna()]
    moves = moved["end"].dt.to_period("M").value_counts()
    ended = s[s["end"].notna() & (s["REC"] != "X1") & (s["REC"] != "")]
    groups = reason_group(ended["REC"], ended["dob"], ended["end"])
    ceased = pd.crosstab(ended["end"].dt.to_period("M"), groups)
    out = pd.DataFrame(index=idx)
    out["starts"] = starts.reindex(idx, fill_value=0)
    out["moves"] = moves.reindex(idx, fill_value=0)
    for g in REASON_LABELS:
        out[f"ceased_{g}"] = ceased[g].reindex(idx, fill_value=0) if g in ceased else 0
    out["ceased"] = out[[f"ceased_{g}" for g in REASON_LABELS]].sum(axis=1)
    out.index.name = "month"
    return out.astype(int)


# ---- placement days and cost ---------------------------------------------------------------------------
def unit_costs_by_year(costs: pd.DataFrame, years: list[str], inflation: float) -> pd.DataFrame:
    """Weekly unit cost per category for each financial year: the params table's cost for its base
    year, uplifted (or deflated) by ``inflation`` a year. ``costs``: category, weekly_cost_gbp,
    base_year."""
    rows = []
    for r in costs.itertuples():
        base = int(str(r.base_year)[:4])
        for y in years:
            rows.append({"category": r.category, "financial_year": y,
                         "weekly_cost_gbp": float(r.weekly_cost_gbp) * (1 + inflation) ** (int(y[:4]) - base)})
    return pd.DataFrame(rows)


def fy_of(dates: pd.DatetimeIndex) -> np.ndarray:
    y = dates.year - (dates.month < 4)
    return np.array([f"{a}-{(a + 1) % 100:02d}" for a in y])


def days_and_cost(stock: pd.DataFrame, costs: pd.DataFrame, inflation: float) -> pd.DataFrame:
    """Placement days and cost (£m) by financial year, quarter and category from a daily stock by
    category."""
    fy = fy_of(stock.index)
    q = ((stock.index.month - 4) % 12) // 3 + 1
    long = stock.assign(financial_year=fy, quarter=q).groupby(["financial_year", "quarter"]).sum()
    long = long.stack().rename("days").reset_index().rename(columns={"level_2": "category"})
    uc = unit_costs_by_year(costs, sorted(set(fy)), inflation)
    long = long.merge(uc, on=["category", "financial_year"], how="left")
    long["cost_gbpm"] = long["days"] * long["weekly_cost_gbp"] / 7 / 1e6
    return long


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
    out = pd.DataFrame({"month": month, "category": cat, "age_band": _band_of_years(age),
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
    sb = _band_of_years(age0)
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
    for k, (g, codes) in enumerate(REASON_GROUPS.items()):
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
        return "; ".join(parts) or "the fitted rates, unchanged"


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
                   state_counts: np.ndarray) -> pd.DataFrame:
    """Cost (£m) per path and financial year: each month's placement days (the mean of its opening
    and closing stock, by category, times its days) times the weekly cost / 7 for that year."""
    fys = fy_of(months.to_timestamp())
    uc = unit_costs_by_year(costs, sorted(set(fys)), inflation).pivot(index="financial_year", columns="category",
                                                                        values="weekly_cost_gbp")[CATEGORIES]
    opening = np.concatenate([np.broadcast_to(state_counts, (stock.shape[0], 1, NC)), stock[:, :-1]], axis=1)
    days = (opening + stock) / 2 * np.array([m.days_in_month for m in months])[None, :, None]
    daily = uc.loc[fys].to_numpy() / 7  # (H, NC)
    cost = (days * daily[None]).sum(axis=2) / 1e6  # (paths, H)
    df = pd.DataFrame(cost.T, index=fys)
    return df.groupby(level=0).sum().T  # (paths, years)


# ---- baselines and the cross-check ----------------------------------------------------------------------
def monthly_totals(spells: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Children in care at each month end."""
    d = daily_stock(spells, start, end).sum(axis=1)
    return d[d.index.is_month_end]


def markov_forecast(spells: pd.DataFrame, origin: pd.Timestamp, horizon: int, reference_months: int = 12) -> np.ndarray:
    """A deterministic Markov stock-flow model of the kind Social Finance's demand model uses: monthly
    transition rates between (category x age band at episode start) states and out of care, averaged
    over the reference window, constant entrants per month (the window's average): point forecasts of
    total children in care at each of the next ``horizon`` month ends."""
    last = pd.Timestamp(origin).to_period("M")
    first = last - reference_months + 1
    cm = child_months(spells[spells["start"] <= origin], first, last)
    S = NC * 5
    st = cm["category"].to_numpy() * 5 + cm["age_band"].to_numpy()
    T = np.zeros((S, S + 1))
    dest_cat = np.where(cm["move"], cm["dest"], cm["category"]).astype(int)
    to = np.where(cm["exit"], S, dest_cat * 5 + cm["age_band"].to_numpy())
    np.add.at(T, (st, to), 1)
    # ageing: a child in band b leaves it at a rate of one over the band's length in months
    occupied = T.sum(axis=1)
    P = np.divide(T, occupied[:, None], out=np.zeros_like(T), where=occupied[:, None] > 0)
    widths = np.diff(AGE_EDGES) * 12
    for c in range(NC):
        for b in range(5):
            s = c * 5 + b
            up = 1 / widths[b]
            stay = P[s, :S].copy()
            P[s, :S] = stay * (1 - up)
            if b < 4:
                P[s, c * 5 + b + 1] += stay.sum() * up
            else:
                P[s, S] += stay.sum() * up  # leave at 18
    starts = spells[spells["new_period"] & (spells["start"] > first.to_timestamp()) & (spells["start"] <= origin)]
    sb = _band_of_years(((starts["start"] - starts["dob"]).dt.days / 365.25).to_numpy())
    entrants = np.zeros(S)
    np.add.at(entrants, starts["category"].to_numpy() * 5 + sb, 1)
    entrants /= reference_months
    x = np.zeros(S)
    s0 = state_at(spells, pd.Timestamp(origin))
    np.add.at(x, s0["category"].to_numpy() * 5 + _band_of_years(s0["age_days"].to_numpy() / 365.25), 1)
    out = []
    for _ in range(horizon):
        x = x @ P[:, :S] + entrants
        out.append(x.sum())
    return np.array(out)


def ets_forecast(totals: pd.Series, horizon: int) -> pd.DataFrame:
    """Holt's damped-trend exponential smoothing (statsmodels ETS) on the monthly totals, with its
    simulated 80% interval: the aggregate cross-check. Never below zero (a count); with under two years
    of months, or when ETS does not fit, the last total carried forward (said in ``attrs["notes"]``);
    statsmodels' warnings in ``attrs["warnings"]``."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    notes: list[str] = []
    caught: list[str] = []
    values = totals.astype(float).to_numpy()
    last = float(values[-1]) if len(values) else 0.0
    flat = pd.DataFrame({"mean": np.full(horizon, last), "low_80": np.full(horizon, last),
                         "high_80": np.full(horizon, last)})
    if len(values) < MIN_GLM_MONTHS:
        notes.append(f"the cross-check needs two years of month-end totals ({len(values)} held): no change is shown")
        out = flat
    else:
        y = pd.Series(values, index=pd.period_range(end=totals.index[-1].to_period("M"), periods=len(values), freq="M"))
        try:
            with captured_warnings(caught):
                model = ETSModel(y, error="add", trend="add", damped_trend=True).fit(disp=False)
                frame = model.get_prediction(start=len(y), end=len(y) + horizon - 1).summary_frame(alpha=0.2)
            out = pd.DataFrame({"mean": frame["mean"].to_numpy(), "low_80": frame["pi_lower"].to_numpy(),
                                "high_80": frame["pi_upper"].to_numpy()})
            if not np.isfinite(out.to_numpy()).all():
                raise ValueError("not finite")
        except Exception as exc:  # statsmodels fails only on degenerate series
            notes.append(f"the cross-check could not be fitted ({type(exc).__name__}): no change is shown")
            out = flat
    if (out < 0).any().any():
        notes.append("the cross-check's forecast was cut at zero children")
    out = out.clip(lower=0.0)
    out.attrs["notes"], out.attrs["warnings"] = notes, caught
    return out


# ---- backtest ----------------------------------------------------------------------------------------------
def wape(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Weighted absolute % error: sum |f - a| / sum a x 100."""
    actual = np.asarray(actual, dtype=float)
    return float(np.abs(np.asarray(forecast) - actual).sum() / actual.sum() * 100) if actual.sum() else np.nan


def _month_end(origin: pd.Timestamp, h: int) -> pd.Timestamp:
    return (pd.Timestamp(origin).to_period("M") + h).to_timestamp(how="end").normalize()


def backtest(spells: pd.DataFrame, origins: list[pd.Timestamp], data_end: pd.Timestamp, horizons=(3, 6, 12, 24),
             paths: int = 300, seed: int = 2026, window_years: float = 3, ets: bool = False,
             history_start: pd.Timestamp | None = None) -> pd.DataFrame:
    """Rolling origins: at each, the history as known then (``as_at``), the model fitted and simulated,
    and the naive (persistence) and Markov forecasts (and ETS on the month-end totals when ``ets``);
    scored against what happened, at each horizon that has an outcome by ``data_end``. One row per
    origin and horizon, with the model's 80% range (``low_80``, ``high_80``) for calibration."""
    rows = []
    actual_totals = daily_stock(spells, min(pd.Timestamp(o) for o in origins) if origins else data_end, data_end).sum(axis=1) \
        if origins else None
    for origin in origins:
        origin = pd.Timestamp(origin)
        reachable = [h for h in horizons if _month_end(origin, h) <= data_end]
        if not reachable:
            continue
        hmax = max(reachable)
        known = as_at(spells, origin)
        model = fit(known, origin, horizon=hmax, window_years=window_years, history_start=history_start)
        state = state_at(known, origin)
        sim = simulate(model, state, paths=paths, seed=seed)
        total = sim["stock"].sum(axis=2)
        markov = markov_forecast(known, origin, hmax)
        now = len(state)
        if ets:
            h0 = max(pd.Timestamp(history_start) if history_start is not None else known["start"].min(),
                     origin - pd.DateOffset(years=8))
            ets_mean = ets_forecast(monthly_totals(known, h0, origin), hmax)["mean"].to_numpy()
        for h in horizons:
            end = _month_end(origin, h)
            if end > data_end:
                continue
            actual = int(actual_totals.loc[end])
            q = {lv: np.quantile(total[:, h - 1], [(1 - lv) / 2, 1 - (1 - lv) / 2]) for lv in (0.5, 0.8, 0.95)}
            rows.append({"origin": origin.date(), "horizon": h, "actual": actual, "model": float(np.median(total[:, h - 1])),
                         "naive": now, "markov": float(markov[h - 1]),
                         **({"ets": float(ets_mean[h - 1])} if ets else {}),
                         "low_80": float(q[0.8][0]), "high_80": float(q[0.8][1]),
                         **{f"in_{int(lv * 100)}": bool(q[lv][0] <= actual <= q[lv][1]) for lv in q}})
    return pd.DataFrame(rows)


def backtest_summary(bt: pd.DataFrame) -> pd.DataFrame:
    """By horizon: weighted absolute % error of the model, naive persistence and the Markov model, and
    how often the 50/80/95% ranges contained the outcome."""
    out = []
    for h, g in bt.groupby("horizon"):
        out.append({"horizon_months": h, "origins": len(g), "model_wape": wape(g["model"], g["actual"]),
                    "naive_wape": wape(g["naive"], g["actual"]), "markov_wape": wape(g["markov"], g["actual"]),
                    "coverage_50": g["in_50"].mean() * 100, "coverage_80": g["in_80"].mean() * 100,
                    "coverage_95": g["in_95"].mean() * 100})
    return pd.DataFrame(out)


# ---- the forecast used: chosen per horizon by the backtest, ranges calibrated on its residuals --------------
METHODS = ("naive", "markov", "model")  # in order of preference at a tie: no change first
METHOD_NAMES = {"naive": "no change", "markov": "the Markov stock-flow model", "model": "the cspack stock-flow model",
                "ets": "exponential smoothing (ETS)"}
CHOICE_HORIZONS = (3, 6, 12, 24)
MIN_CHOICE_ORIGINS = 3  # fewer backtest origins at a horizon than this: no change is used there, uncalibrated
COVERAGE = 0.8
PRIOR_ORIGINS = 5  # the conformal scale is shrunk toward 1 (the model's own range) as if from this many origins


def conformal_factor(scores: np.ndarray, level: float = COVERAGE) -> float:
    """Split-conformal scale: the ceil((n + 1) x level)-th smallest of the scores |outcome - forecast| /
    (half the model's 80% range), so a range of that many half-widths around the forecast would have
    held the outcome at ``level`` of the backtest's origins (finite-sample corrected; the largest
    score when n is small)."""
    s = np.sort(np.asarray(scores, dtype=float)[np.isfinite(scores)])
    if not len(s):
        return 1.0
    k = min(int(np.ceil((len(s) + 1) * level)), len(s))
    return float(s[k - 1])


def choose(bt: pd.DataFrame, horizons=CHOICE_HORIZONS, methods=METHODS, min_origins: int = MIN_CHOICE_ORIGINS,
           level: float = COVERAGE) -> pd.DataFrame:
    """At each horizon, the method with the lowest weighted absolute % error in the backtest ``bt``
    (rows whose outcome was known: the caller passes only those), no change unless another is strictly
    better; and the conformal scale of the model's range around the chosen forecast. ``bt`` rows need
    ``actual``, the methods' columns, ``low_80`` and ``high_80``. One row per horizon: ``method``,
    ``origins``, each method's WAPE, ``scale`` (1 when not calibrated; shrunk toward 1 by
    ``PRIOR_ORIGINS``) and ``calibrated``."""
    rows = []
    for h in horizons:
        g = bt[bt["horizon"] == h] if len(bt) else bt
        r = {"horizon": h, "origins": int(len(g)), "method": "naive", "scale": 1.0, "calibrated": False}
        for m in methods:
            r[f"{m}_wape"] = wape(g[m], g["actual"]) if len(g) else np.nan
        if len(g) >= min_origins:
            best = min(methods, key=lambda m: (round(r[f"{m}_wape"], 9), methods.index(m)))
            r["method"] = best
            half = np.maximum((g["high_80"] - g["low_80"]).to_numpy() / 2, 1.0)
            k = conformal_factor(np.abs(g["actual"] - g[best]).to_numpy() / half, level)
            # few origins: shrunk toward the model's own range (scale 1), as if it had been seen PRIOR_ORIGINS times
            k = (len(g) * k + PRIOR_ORIGINS) / (len(g) + PRIOR_ORIGINS)
            r["scale"] = float(np.clip(k, 0.25, 6.0))
            r["calibrated"] = True
        rows.append(r)
    return pd.DataFrame(rows)


def horizon_plan(choice: pd.DataFrame, months: int) -> tuple[np.ndarray, np.ndarray]:
    """For months 1..``months`` ahead: the method (from the next evaluated horizon at or beyond it; the
    longest beyond the last) and the range scale (interpolated between evaluated horizons)."""
    hs = choice["horizon"].to_numpy()
    ahead = np.arange(1, months + 1)
    pick = np.minimum(np.searchsorted(hs, ahead, side="left"), len(hs) - 1)
    return choice["method"].to_numpy()[pick], np.interp(ahead, hs, choice["scale"].to_numpy())


def recentre(stock: np.ndarray, point: np.ndarray, scale: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """The simulated paths (paths, months, NC) moved so their median total is ``point`` and their spread
    around it scaled by ``scale`` (each month): total' = point + scale x (total - centre), where
    ``centre`` is the median total (pass the baseline's to move scenario paths by the same amount, path
    by path); categories keep each path's mix. Never below zero."""
    total = stock.sum(axis=2).astype(float)
    c = np.median(total, axis=0) if centre is None else centre
    target = np.maximum(point[None, :] + scale[None, :] * (total - c[None, :]), 0.0)
    return path_shift(stock, target - total)


def path_shift(stock: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Add ``delta`` (paths, months) children to each path's total, spread over categories in the
    path's own mix (the whole category mix of the month's median when a path holds no children)."""
    total = stock.sum(axis=2).astype(float)
    mix = np.divide(stock, total[:, :, None], out=np.zeros(stock.shape), where=total[:, :, None] > 0)
    avg = stock.sum(axis=0).astype(float)
    avg = avg / np.maximum(avg.sum(axis=1, keepdims=True), 1)
    mix = np.where(total[:, :, None] > 0, mix, avg[None])
    return np.maximum(total + delta, 0.0)[:, :, None] * mix


def chosen_in_time(bt: pd.DataFrame, origin: pd.Timestamp, **kw) -> pd.DataFrame:
    """``choose`` as it would have been made at ``origin``: only backtest rows whose outcome month had
    ended by then."""
    if not len(bt):
        return choose(bt, **kw)
    return choose(bt[_outcome_end(bt) <= pd.Timestamp(origin).to_period("M").ordinal], **kw)


def _outcome_end(bt: pd.DataFrame) -> np.ndarray:
    """The month of each backtest row's outcome (origin + horizon months), as a period ordinal."""
    o = pd.PeriodIndex(pd.to_datetime(bt["origin"]), freq="M") + 0
    return np.array((o.asi8 + bt["horizon"].to_numpy()).astype("int64"))


def replay_choice(bt: pd.DataFrame, group: str | None = None) -> pd.DataFrame:
    """The backtest replayed as the pack would have run it: at each origin, the forecast chosen per
    horizon from the rows whose outcome was known then (``chosen_in_time``), with its 80% range (the
    model's half-width times the conformal scale). Adds ``used``, ``used_method``, ``used_calibrated``,
    ``used_low_80``, ``used_high_80`` and ``used_in_80`` to ``bt`` (per ``group``, e.g. authority)."""
    if not len(bt):
        return bt.assign(used=[], used_method=[], used_calibrated=[], used_low_80=[], used_high_80=[], used_in_80=[])
    out = []
    groups = bt.groupby(group) if group else [(None, bt)]
    for _, g in groups:
        ends = _outcome_end(g)
        for o, go in g.groupby("origin"):
            ch = choose(g[ends <= pd.Timestamp(o).to_period("M").ordinal]).set_index("horizon")
            for i, r in go.iterrows():
                c = ch.loc[r["horizon"]] if r["horizon"] in ch.index else None
                m = c["method"] if c is not None else "naive"
                k = float(c["scale"]) if c is not None else 1.0
                point = float(r[m])
                half = max((r["high_80"] - r["low_80"]) / 2, 1.0)
                out.append((i, point, m, bool(c is not None and c["calibrated"]), max(point - k * half, 0.0), point + k * half))
    u = pd.DataFrame(out, columns=["i", "used", "used_method", "used_calibrated", "used_low_80", "used_high_80"]).set_index("i")
    res = bt.join(u)
    res["used_in_80"] = (res["used_low_80"] <= res["actual"]) & (res["actual"] <= res["used_high_80"])
    return res


def category_label(c: str) -> str:
    return CATEGORY_LABELS.get(c, c)
