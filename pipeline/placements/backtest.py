"""The backtest of the projection and its baselines, and the forecast used: chosen per horizon by the
backtest, its ranges calibrated on the backtest's residuals (conformal)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements.baselines import ets_forecast, markov_forecast, monthly_totals
from pipeline.placements.history import NC, as_at, daily_stock
from pipeline.placements.model import fit
from pipeline.placements.simulation import simulate, state_at


# ---- backtest ----------------------------------------------------------------------------------------------
def wape(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Weighted absolute % error: sum |f - a| / sum a x 100."""
    actual = np.asarray(actual, dtype=float)
    return float(np.abs(np.asarray(forecast) - actual).sum() / actual.sum() * 100) if actual.sum() else np.nan



def _month_end(origin: pd.Timestamp, h: int) -> pd.Timestamp:
    return (pd.Timestamp(origin).to_period("M") + h).to_timestamp(how="end").normalize()



def baseline_points(spells: pd.DataFrame, origin: pd.Timestamp, horizon: int,
                    history_start: pd.Timestamp | None = None) -> dict:
    """The simple forecasts of children in care at each of the next ``horizon`` month ends, from the
    history as given (the caller cuts it to what was known at ``origin``): no change, the Markov
    stock-flow model, ETS on the month-end totals (up to eight years, from ``history_start``) and
    ``combined``, their average. ``ets_frame`` is ETS's frame (mean and 80% range, notes and warnings
    in ``attrs``): the pack's ETS line and the ETS in the average are one computation."""
    origin = pd.Timestamp(origin)
    h0 = max(pd.Timestamp(history_start) if history_start is not None else spells["start"].min(),
             origin - pd.DateOffset(years=8))
    frame = ets_forecast(monthly_totals(spells, h0, origin), horizon)
    out = {"naive": np.full(horizon, float(len(state_at(spells, origin)))),
           "markov": np.asarray(markov_forecast(spells, origin, horizon), dtype=float),
           "ets": frame["mean"].to_numpy(dtype=float)}
    out["combined"] = np.mean([out[m] for m in COMPONENTS], axis=0)
    out["ets_frame"] = frame
    return out



def backtest(spells: pd.DataFrame, origins: list[pd.Timestamp], data_end: pd.Timestamp, horizons=(3, 6, 12, 24),
             paths: int = 300, seed: int = 2026, window_years: float = 3,
             history_start: pd.Timestamp | None = None, by_category: bool = False) -> pd.DataFrame:
    """Rolling origins: at each, the history as known then (``as_at``), the model fitted and simulated,
    and the simple forecasts (``baseline_points``: no change, Markov, ETS and their average); scored
    against what happened, at each horizon that has an outcome by ``data_end``. One row per origin and
    horizon, with the model's 80% range (``low_80``, ``high_80``) for calibration. ``by_category`` adds,
    per placement type c, the outcome and the forecasts of no change, Markov and the cspack model
    (``cat_actual_c``, ``cat_naive_c``, ``cat_markov_c``, ``cat_model_c``: the median path's count)."""
    rows = []
    actual_cats = daily_stock(spells, min(pd.Timestamp(o) for o in origins) if origins else data_end, data_end) \
        if origins else None
    actual_totals = actual_cats.sum(axis=1) if origins else None
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
        pts = baseline_points(known, origin, hmax, history_start)
        if by_category:
            cats = {"naive": np.bincount(state["category"], minlength=NC).astype(float),
                    "markov": markov_forecast(known, origin, hmax, by_category=True),
                    "model": np.median(sim["stock"], axis=0)}
        for h in horizons:
            end = _month_end(origin, h)
            if end > data_end:
                continue
            actual = int(actual_totals.loc[end])
            q = {lv: np.quantile(total[:, h - 1], [(1 - lv) / 2, 1 - (1 - lv) / 2]) for lv in (0.5, 0.8, 0.95)}
            rows.append({"origin": origin.date(), "horizon": h, "actual": actual, "model": float(np.median(total[:, h - 1])),
                         **{m: float(pts[m][h - 1]) for m in ("naive", "markov", "ets", "combined")},
                         "low_80": float(q[0.8][0]), "high_80": float(q[0.8][1]),
                         **{f"in_{int(lv * 100)}": bool(q[lv][0] <= actual <= q[lv][1]) for lv in q}})
            if by_category:
                row = rows[-1]
                for i, c in enumerate(CATEGORIES):
                    row[f"cat_actual_{c}"] = float(actual_cats.loc[end].iloc[i])
                    row[f"cat_naive_{c}"] = float(cats["naive"][i])
                    row[f"cat_markov_{c}"] = float(cats["markov"][h - 1, i])
                    row[f"cat_model_{c}"] = float(cats["model"][h - 1, i])
    return pd.DataFrame(rows)



def simple_backtest(spells: pd.DataFrame, data_end: pd.Timestamp, history_start: pd.Timestamp,
                    horizons=(3, 6, 12, 24), min_years: float = 1) -> pd.DataFrame:
    """The longer record: the simple forecasts only (no change, Markov, ETS, their average; no simulation,
    so cheap) at every quarter end with ``min_years`` of history behind it and at least one outcome by
    ``data_end``, each from the history as known then, with the forecast used replayed from the outcomes
    known at each (``replay_choice``; no ranges: the model is not run). One row per quarter end and horizon."""
    cols = ["origin", "horizon", "actual", *METHODS, "used", "used_method"]
    start = pd.Timestamp(history_start) + pd.DateOffset(months=int(round(min_years * 12))) - pd.Timedelta(days=1)
    origins = [o for o in pd.date_range(start, pd.Timestamp(data_end) - pd.DateOffset(months=min(horizons)), freq="QE")]
    if not origins:
        return pd.DataFrame(columns=cols)
    actual = daily_stock(spells, origins[0], data_end).sum(axis=1)
    rows = []
    for o in origins:
        hs = [h for h in horizons if _month_end(o, h) <= data_end]
        pts = baseline_points(as_at(spells, o), o, max(hs), history_start)
        rows += [{"origin": o.date(), "horizon": h, "actual": int(actual.loc[_month_end(o, h)]),
                  **{m: float(pts[m][h - 1]) for m in METHODS}, "low_80": np.nan, "high_80": np.nan} for h in hs]
    return replay_choice(pd.DataFrame(rows))[cols]



def with_combined(bt: pd.DataFrame) -> pd.DataFrame:
    """``bt`` with ``combined``, the average of no change, Markov and ETS, (re)computed from its columns."""
    return bt.assign(combined=bt[list(COMPONENTS)].mean(axis=1)) if len(bt) else bt.assign(combined=[])



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
COMPONENTS = ("naive", "markov", "ets")  # the simple forecasts the default averages
METHODS = ("combined",) + COMPONENTS  # the candidates; the average is used unless one is clearly better



METHOD_NAMES = {"naive": "no change", "markov": "the Markov stock-flow model", "model": "the pack's own stock-flow model",
                "ets": "exponential smoothing (ETS)",
                "combined": "the average of no change, the Markov model and exponential smoothing"}



CHOICE_HORIZONS = (3, 6, 12, 24)



MIN_CHOICE_ORIGINS = 3  # fewer backtest origins at a horizon than this: the average is used there, uncalibrated



SWITCH_SE = 2.0  # leave the average only for a forecast better than it by this many standard errors



COVERAGE = 0.8



PRIOR_ORIGINS = 5  # the conformal scale is shrunk toward 1 (the model's own range) as if from this many origins



def overlap_factor(g: pd.DataFrame) -> float:
    """How much overlapping forecast windows widen the standard error of a mean over ``g``'s rows (one
    horizon): sqrt(horizon / months between origins), at least 1. Forecasts 12 months ahead made at
    consecutive quarter ends share nine of their twelve months, so their errors move together and the rows
    hold about a quarter of the independent evidence their number says (the variance of a mean of
    h/s-fold overlapping errors is at most h/s times the independent case's). Months between origins:
    the median gap between consecutive distinct origins (3 when there is one origin)."""
    if not len(g):
        return 1.0
    o = np.unique(pd.PeriodIndex(pd.to_datetime(g["origin"]), freq="M").asi8)
    gap = float(np.median(np.diff(o))) if len(o) > 1 else 3.0
    h = float(g["horizon"].iloc[0])
    return float(np.sqrt(max(1.0, h / max(gap, 1.0))))



def switch_test(g: pd.DataFrame, method: str, base: str = "combined") -> tuple[float, float]:
    """The paired comparison behind the choice, on the scale of the weighted absolute % error the pack
    prints: per row, (|``method`` - outcome| - |``base`` - outcome|) / (mean outcome of ``g``) x 100, whose
    mean is exactly WAPE(``method``) - WAPE(``base``); returns that mean and its standard error: sample
    sd / sqrt(n), times ``overlap_factor`` (forecasts from consecutive quarter ends overlap at 6, 12 and 24
    months, so they are not independent). Negative = ``method`` better. ``g`` holds one horizon."""
    a = g["actual"].to_numpy(dtype=float)
    d = (np.abs(g[method].to_numpy(dtype=float) - a) - np.abs(g[base].to_numpy(dtype=float) - a)) / max(a.mean(), 1e-9) * 100
    se = float(d.std(ddof=1) / np.sqrt(len(d))) * overlap_factor(g) if len(d) > 1 else np.inf
    return float(d.mean()), se



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



def level_prior(level: float) -> float:
    """The model's own ``level`` range as a multiple of its 80% half-width, were its spread normal
    (exactly 1 at 80%): the scale used before any backtest outcome is known, and the one the
    conformal scale is shrunk toward."""
    return 1.0 if level == COVERAGE else NormalDist().inv_cdf((1 + level) / 2) / NormalDist().inv_cdf((1 + COVERAGE) / 2)



def choose(bt: pd.DataFrame, horizons=CHOICE_HORIZONS, methods=METHODS, min_origins: int = MIN_CHOICE_ORIGINS,
           level: float = COVERAGE, z: float = SWITCH_SE) -> pd.DataFrame:
    """At each horizon, the forecast to use: the average of no change, Markov and ETS (``combined``),
    unless one of them has been clearly more accurate than the average in the backtest ``bt`` (rows whose
    outcome was known: the caller passes only those): its mean paired absolute % error lower by more
    than ``z`` standard errors (``switch_test``); of several, the one lower by most. Forecast combination
    because picking the past winner on a dozen noisy quarter ends did worse than no change on unseen
    authorities (docs/forecast.md). And the conformal scale of the model's range around the chosen
    forecast. ``bt`` rows need ``actual``, the methods' columns, ``low_80`` and ``high_80``. One row per
    horizon: ``method``, ``origins``, each method's WAPE (and the cspack model's, when ``bt`` has it),
    ``scale`` (``level_prior(level)`` when not calibrated, 1 at 80%; shrunk toward it by
    ``PRIOR_ORIGINS``) and ``calibrated``. The scale multiplies the model's 80% half-width whatever the
    ``level``."""
    rows = []
    prior = level_prior(level)
    scored = list(methods) + (["model"] if "model" in bt and "model" not in methods else [])
    for h in horizons:
        g = bt[bt["horizon"] == h] if len(bt) else bt
        r = {"horizon": h, "origins": int(len(g)), "method": methods[0], "scale": prior, "calibrated": False}
        for m in scored:
            r[f"{m}_wape"] = wape(g[m], g["actual"]) if len(g) else np.nan
        if len(g) >= min_origins:
            best, margin = methods[0], 0.0
            for m in methods[1:]:
                d, se = switch_test(g, m, methods[0])
                if d < -z * se and d < margin:
                    best, margin = m, d
            r["method"] = best
            half = np.maximum((g["high_80"] - g["low_80"]).to_numpy() / 2, 1.0)
            k = conformal_factor(np.abs(g["actual"] - g[best]).to_numpy() / half, level)
            # few origins: shrunk toward the model's own range (scale 1 at 80%), as if seen PRIOR_ORIGINS times
            k = (len(g) * k + PRIOR_ORIGINS * prior) / (len(g) + PRIOR_ORIGINS)
            r["scale"] = float(np.clip(k, 0.25, 6.0))
            r["calibrated"] = True
        rows.append(r)
    return pd.DataFrame(rows)



def covering_row(choice: pd.DataFrame, months_ahead: int) -> pd.Series:
    """The row of ``choice`` (``choose``) whose evaluated horizon covers ``months_ahead``: the first horizon
    at or beyond it, the last one beyond them all (as ``horizon_plan`` assigns months)."""
    hs = choice["horizon"].to_numpy()
    return choice.iloc[min(int(np.searchsorted(hs, months_ahead, side="left")), len(hs) - 1)]



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



def replay_choice(bt: pd.DataFrame, group: str | None = None, levels=(COVERAGE,)) -> pd.DataFrame:
    """The backtest replayed as the pack would have run it: at each origin, the forecast chosen per
    horizon from the rows whose outcome was known then (``chosen_in_time``), with its ranges (the
    model's 80% half-width times the conformal scale at each of ``levels``). Adds ``used``,
    ``used_method``, ``used_calibrated`` and, per level (80: ``used_low_80``, ``used_high_80``,
    ``used_in_80``), the range and whether it held the outcome (per ``group``, e.g. authority)."""
    names = [f"{int(round(lv * 100))}" for lv in levels]
    cols = ["used", "used_method", "used_calibrated"] + [f"used_{k}_{n}" for n in names for k in ("low", "high")]
    if not len(bt):
        return bt.assign(**{c: [] for c in cols + [f"used_in_{n}" for n in names]})
    out = []
    groups = bt.groupby(group) if group else [(None, bt)]
    for _, g in groups:
        ends = _outcome_end(g)
        for o, go in g.groupby("origin"):
            known = g[ends <= pd.Timestamp(o).to_period("M").ordinal]
            chs = [choose(known, level=lv).set_index("horizon") for lv in levels]
            for i, r in go.iterrows():
                c = chs[0].loc[r["horizon"]] if r["horizon"] in chs[0].index else None
                m = c["method"] if c is not None else METHODS[0]
                point = float(r[m])
                half = max((r["high_80"] - r["low_80"]) / 2, 1.0)
                rng = []
                for ch in chs:
                    k = float(ch.at[r["horizon"], "scale"]) if c is not None else 1.0
                    rng += [max(point - k * half, 0.0), point + k * half]
                out.append((i, point, m, bool(c is not None and c["calibrated"]), *rng))
    u = pd.DataFrame(out, columns=["i"] + cols).set_index("i")
    res = bt.join(u)
    for n in names:
        res[f"used_in_{n}"] = (res[f"used_low_{n}"] <= res["actual"]) & (res["actual"] <= res[f"used_high_{n}"])
    return res
