"""The simple forecasts the projection averages: no change, a Markov stock-flow forecast and ETS."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.placements.history import AGE_EDGES, NC, band_of_years, captured_warnings, daily_stock
from pipeline.placements.model import MIN_GLM_MONTHS, child_months
from pipeline.placements.simulation import state_at


# ---- the simple forecasts -----------------------------------------------------------------------------
def monthly_totals(spells: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Children in care at each month end."""
    d = daily_stock(spells, start, end).sum(axis=1)
    return d[d.index.is_month_end]



def markov_forecast(spells: pd.DataFrame, origin: pd.Timestamp, horizon: int, reference_months: int = 12,
                    by_category: bool = False) -> np.ndarray:
    """A deterministic Markov stock-flow model of the kind Social Finance's demand model uses: monthly
    transition rates between (category x age band at episode start) states and out of care, averaged
    over the reference window, constant entrants per month (the window's average): point forecasts of
    total children in care at each of the next ``horizon`` month ends (``by_category``: an array
    (horizon, placement types) of the children in each type)."""
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
    sb = band_of_years(((starts["start"] - starts["dob"]).dt.days / 365.25).to_numpy())
    entrants = np.zeros(S)
    np.add.at(entrants, starts["category"].to_numpy() * 5 + sb, 1)
    entrants /= reference_months
    x = np.zeros(S)
    s0 = state_at(spells, pd.Timestamp(origin))
    np.add.at(x, s0["category"].to_numpy() * 5 + band_of_years(s0["age_days"].to_numpy() / 365.25), 1)
    out = []
    for _ in range(horizon):
        x = x @ P[:, :S] + entrants
        out.append(x.reshape(NC, 5).sum(axis=1) if by_category else x.sum())
    return np.array(out)



def ets_forecast(totals: pd.Series, horizon: int) -> pd.DataFrame:
    """Holt's damped-trend exponential smoothing (statsmodels ETS) on the monthly totals, with its
    simulated 80% interval: one of the three simple forecasts the projection averages. Never below zero (a count); with under two years
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
        notes.append(f"exponential smoothing needs two years of month-end totals ({len(values)} held): no change is used in its place")
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
            notes.append("exponential smoothing could not be fitted: no change is used in its place")
            caught.append(f"ETS fit failed: {type(exc).__name__}: {exc}")
            out = flat
    if (out < 0).any().any():
        notes.append("exponential smoothing's forecast was cut at zero children")
    out = out.clip(lower=0.0)
    out.attrs["notes"], out.attrs["warnings"] = notes, caught
    return out
