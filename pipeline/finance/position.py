"""Budget monitoring arithmetic with the conventions of seed 004 (see DESIGN.md, Finance)."""

from __future__ import annotations

import math

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


def forecast_table(lines: pd.DataFrame) -> pd.DataFrame:
    """Add ``variance_gbpm`` and ``variance_pct`` to budget lines.

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
    return out


def position(lines: pd.DataFrame, funding: pd.DataFrame | None = None,
             totals: pd.DataFrame | None = None) -> dict:
    """Totals before and after additional funding. Computed from the lines (unrounded data); where
    the source supplies its own published "Total" row (computed from unrounded figures that we only
    have rounded), that total is used and ``lines_sum`` records what the rounded lines add to."""
    t = forecast_table(lines)
    lines_budget = float(t["controllable_budget_gbpm"].sum())
    lines_forecast = float(t["full_year_forecast_gbpm"].sum())
    budget, forecast, total_source = lines_budget, lines_forecast, "lines"
    if totals is not None and (totals["row"] == "Total").any():
        row = totals[totals["row"] == "Total"].iloc[0]
        budget, forecast = float(row["controllable_budget_gbpm"]), float(row["full_year_forecast_gbpm"])
        total_source = "published"
    extra = float(funding["amount_gbpm"].sum()) if funding is not None and len(funding) else 0.0
    over = t[t["variance_gbpm"].round(3) > 0]
    largest = t.loc[t["variance_gbpm"].idxmax()]
    return {
        "total_source": total_source,
        "lines_budget": lines_budget,
        "lines_forecast": lines_forecast,
        "budget": budget,
        "forecast": forecast,
        "variance": forecast - budget,
        "variance_pct": variance_pct(forecast - budget, budget),
        "additional_funding": extra,
        "funding_lines": [] if funding is None else list(funding.itertuples(index=False)),
        "budget_after_funding": budget + extra,
        "variance_after_funding": forecast - budget - extra,
        "variance_after_funding_pct": variance_pct(forecast - budget - extra, budget + extra),
        "n_lines": len(t),
        "n_over": len(over),
        "largest_line": str(largest["service_line"]),
        "largest_short": str(largest.get("short_name", largest["service_line"])),
        "largest_variance": float(largest["variance_gbpm"]),
        "largest_variance_pct": float(largest["variance_pct"]),
        "largest_share": float(largest["variance_gbpm"]) / (forecast - budget) if forecast != budget else math.nan,
    }
