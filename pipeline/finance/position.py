"""The budget position, with the conventions of seed 004 (docs/methods.md, the budget section): one implementation.

``line_variances`` adds each service line's variance, percentage and mark (``over`` / ``within``, words, not
symbols); ``position`` makes the one ``Position`` (totals before and after additional funding, the largest
overspend, how many lines overspend) that the summary, the budget section and the risks all read. Plain typed
values only: the report names columns for readers, adds symbols and writes sentences (``report.sections``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


def variance_pct(variance: float, budget: float) -> float:
    """Under (-)/over spend as a percentage of the controllable budget.

    A zero budget with spend is 100.0% (seed 004: "Additional placements expected"); a negative
    (income) budget takes the percentage against its absolute value (grant income: -0.027 on
    -2.295 is -1.2%)."""
    if budget == 0:
        if variance == 0:
            return 0.0
        return math.copysign(100.0, variance)
    return variance / abs(budget) * 100.0


def r3(x: float) -> float:
    """Rounded to £0.001m, half away from zero, as the report prints it."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return math.nan
    return float(np.sign(x) * math.floor(abs(x) * 1000 + 0.5) / 1000)


def budget_mark(variance_gbpm: float) -> str:
    """``over`` when the forecast exceeds the budget by at least £0.001m as printed, else ``within``."""
    return "over" if r3(variance_gbpm) > 0 else "within"


def line_variances(lines: pd.DataFrame) -> pd.DataFrame:
    """Budget lines (``service_line``, ``controllable_budget_gbpm``, ``full_year_forecast_gbpm``, optional
    ``published_variance_gbpm``) with ``variance_gbpm``, ``variance_pct`` and ``mark`` (``budget_mark``).

    The variance is forecast - budget, unless the source supplies its own (``published_variance_gbpm``):
    a published report computes it from unrounded figures, so it is more exact than the difference of
    its rounded columns (seed 004: safeguarding 34.241 - 32.439 = 1.802, published 1.803)."""
    out = lines.copy()
    computed = out["full_year_forecast_gbpm"] - out["controllable_budget_gbpm"]
    if "published_variance_gbpm" in out:
        out["variance_gbpm"] = out["published_variance_gbpm"].where(out["published_variance_gbpm"].notna(), computed)
    else:
        out["variance_gbpm"] = computed
    out["variance_pct"] = [variance_pct(v, b) for v, b in
                           zip(out["variance_gbpm"], out["controllable_budget_gbpm"])]
    out["mark"] = [budget_mark(v) for v in out["variance_gbpm"]]
    return out


@dataclass
class Position:
    """The quarter's budget position (£m): ``lines`` (``line_variances``), the totals (``budget``,
    ``forecast``: the source's published Total row where it has one, else the sums of the unrounded lines,
    kept as ``lines_budget`` and ``lines_forecast``; ``total_source`` says which) and the additional
    ``funding`` (``funding_line``, ``amount_gbpm``)."""

    lines: pd.DataFrame
    budget: float
    forecast: float
    variance: float
    variance_pct: float
    funding: pd.DataFrame
    total_source: str  # "lines" or "published"
    lines_budget: float
    lines_forecast: float

    @property
    def additional_funding(self) -> float:
        return float(self.funding["amount_gbpm"].sum()) if len(self.funding) else 0.0

    @property
    def budget_after(self) -> float:
        """The budget after the use of additional funding."""
        return self.budget + self.additional_funding

    @property
    def variance_after(self) -> float:
        return self.forecast - self.budget_after

    @property
    def variance_after_pct(self) -> float:
        return variance_pct(self.variance_after, self.budget_after)

    @property
    def n_lines(self) -> int:
        return len(self.lines)

    @property
    def n_over(self) -> int:
        """Lines forecast to overspend (``mark`` over: by £0.001m or more as printed)."""
        return int((self.lines["mark"] == "over").sum())

    @property
    def largest(self) -> pd.Series:
        """The line with the largest overspend (or the smallest underspend)."""
        return self.lines.loc[self.lines["variance_gbpm"].idxmax()]

    @property
    def largest_share(self) -> float:
        """The largest line's variance as a share of the total variance (NaN when that is nil)."""
        v = float(self.largest["variance_gbpm"])
        return v / (self.forecast - self.budget) if self.forecast != self.budget else math.nan


def position(lines: pd.DataFrame, funding: pd.DataFrame | None = None,
             totals: pd.DataFrame | None = None) -> Position:
    """Totals before and after additional funding, from the unrounded lines; where the source supplies
    its own published "Total" row (from unrounded figures we only have rounded) that total is used and
    the rounded lines' sums are kept to report the casting difference."""
    t = line_variances(lines.reset_index(drop=True))
    lb, lf = float(t["controllable_budget_gbpm"].sum()), float(t["full_year_forecast_gbpm"].sum())
    budget, forecast, source = lb, lf, "lines"
    if totals is not None and (totals["row"] == "Total").any():
        row = totals[totals["row"] == "Total"].iloc[0]
        budget, forecast, source = float(row["controllable_budget_gbpm"]), float(row["full_year_forecast_gbpm"]), "published"
    f = funding if funding is not None else pd.DataFrame(columns=["funding_line", "amount_gbpm"])
    return Position(t, budget, forecast, forecast - budget, variance_pct(forecast - budget, budget),
                    f[["funding_line", "amount_gbpm"]].reset_index(drop=True), source, lb, lf)


def casting_gaps(p: Position) -> dict:
    """What the rounded lines add to as printed (£m, ``shown_budget``, ``shown_forecast``) against the rounded
    totals (``budget``, ``forecast``), and whether each casts (``budget_casts``, ``forecast_casts``)."""
    shown_b = sum(r3(x) for x in p.lines["controllable_budget_gbpm"])
    shown_f = sum(r3(x) for x in p.lines["full_year_forecast_gbpm"])
    return {"shown_budget": shown_b, "budget": r3(p.budget), "budget_casts": abs(shown_b - r3(p.budget)) < 0.0005,
            "shown_forecast": shown_f, "forecast": r3(p.forecast),
            "forecast_casts": abs(shown_f - r3(p.forecast)) < 0.0005}
