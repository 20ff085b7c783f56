"""The quarter's budget lines as the pack uses them (BudgetView: the position, its source, the ledger
forecast detail), the forecast position at each quarter end (position_path), the previous quarter's
rows of a returns history, and the placements line's figures both ways (owner_figures). The placements
line comes from the placement projection (quarter.placement_bundle) unless the settings say otherwise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.quarters import Quarter
from pipeline.finance import budget
from pipeline.finance.position import Position, line_variances, position
from pipeline.quarter import placement_bundle as pb
from pipeline.quarter.context import QuarterContext


def optional(ctx: QuarterContext, key: str) -> pd.DataFrame | None:
    return ctx.table(key) if key in ctx.params.inputs else None


def history(ctx: QuarterContext, family: str) -> pd.DataFrame | None:
    for k, s in ctx.params.inputs.items():
        if s.kind == "returns_history" and (ctx.work_dir / "inputs" / f"{k}_{family}.parquet").exists():
            return ctx.table(f"{k}_{family}")
    return None


def ledger_key(ctx: QuarterContext) -> str | None:
    return next((k for k, s in ctx.params.inputs.items() if s.kind == "ledger"), None)


@dataclass
class BudgetView:
    position: Position  # the quarter's one budget position (finance.position)
    source: str  # "ledger" or "returns"
    detail: pd.DataFrame | None  # ledger_forecast output (forecast sources, projections, ranges)
    ledger: pd.DataFrame | None


def projected(ctx: QuarterContext) -> tuple[str, ...]:
    """The lines projected from this year's spending instead of the budget holder's forecast
    (settings.projected_lines), less the placements line when settings.placements_forecast says
    ``budget_holder``: then the holder's figure is the one used (projected only where the ledger has none)."""
    lines = tuple(ctx.params.settings.projected_lines)
    if pb.forecast_setting(ctx) == "budget_holder":
        lines = tuple(x for x in lines if x != pb.placements_line(ctx))
    return lines


def view(ctx: QuarterContext) -> BudgetView:
    """The quarter's budget lines: from the ledger when the params name one (budget holders' forecasts,
    projected where missing or where settings.projected_lines says), else the budget lines input.
    Computed once per context (a new ``open_quarter`` recomputes)."""
    return ctx.cached("budget_view", lambda: make_view(ctx))


def make_view(ctx: QuarterContext) -> BudgetView:
    funding, totals = optional(ctx, "additional_funding"), optional(ctx, "budget_totals")
    lk = ledger_key(ctx)
    if lk:
        led = ctx.table(lk)
        detail = budget.ledger_forecast(led, ctx.quarter.fy, ctx.quarter.q, projected(ctx))
        names = optional(ctx, "budget_lines")
        if names is not None and "short_name" in names:
            detail = detail.merge(names[["line_id", "short_name"]], on="line_id", how="left")
            # the authority's own order of service lines (its budget monitoring summary), then any others
            rank = {lid: i for i, lid in enumerate(names["line_id"])}
            detail = detail.iloc[sorted(range(len(detail)), key=lambda i: rank.get(detail["line_id"].iloc[i], len(rank) + i))]
            detail = detail.reset_index(drop=True)
        detail["short_name"] = detail.get("short_name", detail["service_line"]).fillna(detail["service_line"])
        detail = _with_placement_projection(ctx, detail)
        v = BudgetView(position(detail, funding, None), "ledger", detail, led)
    else:
        v = BudgetView(position(ctx.table("budget_lines"), funding, totals), "returns", None, None)
    return v


def _with_placement_projection(ctx: QuarterContext, detail: pd.DataFrame) -> pd.DataFrame:
    """The placements line from the placement cost projection (spend to date plus the projected cost
    of the months left), when the params give what it needs; otherwise unchanged."""
    line = pb.placements_line(ctx)
    if line not in set(detail["line_id"]) or not pb.available(ctx):
        return detail
    rest = pb.current_year_cost(ctx)
    if rest is None:
        return detail
    d = detail.copy()
    i = d.index[d["line_id"] == line][0]
    ytd = float(d.at[i, "ytd_actual_gbpm"])
    d.at[i, "full_year_forecast_gbpm"] = ytd + rest["median"]
    d["profile_low_gbpm"], d["profile_high_gbpm"] = d["low_gbpm"], d["high_gbpm"]  # the profile projection's own range
    d.at[i, "low_gbpm"], d.at[i, "high_gbpm"] = ytd + rest["low"], ytd + rest["high"]
    d.at[i, "forecast_source"] = "placement projection (children in care from the SSDA903 returns; see Placements)"
    d.at[i, "method"] = "placement projection: spend to date plus the simulated cost of the months left"
    return d


def position_path(ctx: QuarterContext) -> pd.DataFrame:
    """Forecast position at each quarter end of this year and last year, from the ledger or the history."""
    v = view(ctx)
    fy, q = ctx.quarter.fy, ctx.quarter.q
    prev_fy = Quarter(ctx.quarter.fy_start - 1, 4).fy
    if v.source == "ledger":
        return ctx.cached("budget_path", lambda: _ledger_path(ctx, v, fy, q, prev_fy))
    h = history(ctx, "budget_lines")
    if h is None:
        return pd.DataFrame()
    h = line_variances(h.reset_index(drop=True))
    h["financial_year"], h["quarter"] = h["quarter"].str[:7], h["quarter"].str[-1].astype(int)
    return h[h["financial_year"].isin([prev_fy, fy])]


def path_method_now(ctx: QuarterContext) -> float | None:
    """What the earlier quarters' forecasting method gives now for this quarter's variance (£m), when the
    ledger's path was computed (``position_path``); None otherwise."""
    return ctx.cache.get("path_method_now")


def _ledger_path(ctx: QuarterContext, v: BudgetView, fy: str, q: int, prev_fy: str) -> pd.DataFrame:
    cur = budget.forecast_path(v.ledger, fy, q, projected(ctx))
    last = budget.forecast_path(v.ledger, prev_fy, 4, projected(ctx))
    out = pd.concat([last, cur], ignore_index=True)
    # one figure per quantity: this quarter's rows are the forecasts the pack uses (the placement
    # projection where it forecasts a line); what the earlier quarters' method gives now is kept
    # beside them, so the change of method can be stated rather than hidden in the movement
    here = (out["financial_year"] == fy) & (out["quarter"] == q)
    if here.any():
        used = v.position.lines.set_index("line_id")["full_year_forecast_gbpm"]
        was = out.loc[here, "full_year_forecast_gbpm"]
        ctx.cache["path_method_now"] = float((was - out.loc[here, "controllable_budget_gbpm"]).sum())
        out.loc[here, "full_year_forecast_gbpm"] = out.loc[here, "line_id"].map(used).fillna(was)
        out["variance_gbpm"] = out["full_year_forecast_gbpm"] - out["controllable_budget_gbpm"]
    return out


def previous(ctx: QuarterContext, family: str) -> pd.DataFrame | None:
    h = history(ctx, family)
    if h is None:
        return None
    d = h[h["quarter"] == ctx.quarter.previous().label]
    return d if len(d) else None


def owner_figures(ctx: QuarterContext) -> dict | None:
    """The placements line's full-year forecast both ways, for this financial year (£m): the budget
    holder's (None when the ledger has none), the projection's (the forecast used: median and 80%
    range) and the cspack model's own, whether the holder's figure lies inside the projection's range,
    and which one the budget total uses."""
    if not pb.available(ctx):
        return None
    b = pb.bundle(ctx)
    fy = ctx.quarter.fy
    if fy not in b["cost_paths"].columns:
        return None
    budget, ytd = line_figures(ctx)
    holder = holder_forecast(ctx)
    v = b["cost_paths"][fy] + ytd
    m = b["model_cost_paths"][fy] + ytd if "model_cost_paths" in b else v
    out = {"fy": fy, "budget": budget, "ytd": ytd, "holder": holder, "projection": float(np.median(v)),
           "low": float(np.quantile(v, 0.1)), "high": float(np.quantile(v, 0.9)), "model": float(np.median(m)),
           "model_low": float(np.quantile(m, 0.1)), "model_high": float(np.quantile(m, 0.9)),
           "setting": pb.forecast_setting(ctx)}
    out["holder_inside"] = None if holder is None else bool(out["low"] <= holder <= out["high"])
    # what the budget total actually holds for the line (the budget section's view), never assumed
    src, val = line_source(ctx)
    out["used_source"], out["used"] = src, val
    return out


def line_source(ctx) -> tuple[str, float | None]:
    """How the budget section forecasts the placements line: "projection" (the placement projection),
    "budget holder", or "profile" (the ledger's profile projection), and its full-year figure."""
    d = view(ctx).detail
    if d is None or pb.placements_line(ctx) not in set(d["line_id"]):
        return "none", None
    r = d.set_index("line_id").loc[pb.placements_line(ctx)]
    src = str(r["forecast_source"])
    kind = "projection" if src.startswith("placement projection") else "budget holder" if src == "budget holder" else "profile"
    return kind, float(r["full_year_forecast_gbpm"])


def holder_forecast(ctx) -> float | None:
    d = view(ctx).detail
    if d is None or "holder_forecast_gbpm" not in d or pb.placements_line(ctx) not in set(d["line_id"]):
        return None
    v = d.set_index("line_id").at[pb.placements_line(ctx), "holder_forecast_gbpm"]
    return None if pd.isna(v) else float(v)


def line_figures(ctx) -> tuple[float | None, float]:
    """The placements line's budget (None without a ledger) and spend to date, as the budget section
    read them from the ledger (its view, computed once per context)."""
    d = view(ctx).detail
    if d is None or pb.placements_line(ctx) not in set(d["line_id"]):
        return None, 0.0
    r = d.set_index("line_id").loc[pb.placements_line(ctx)]
    return float(r["controllable_budget_gbpm"]), float(r["ytd_actual_gbpm"])

