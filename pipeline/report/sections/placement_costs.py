"""The placements section's unit costs: the weekly cost of each placement type used by the cost projection
(from the ledger's spend over placement days, or the council's assumed rate), its range and where it comes
from, and what the unit-cost uncertainty adds to the cost projection's ranges (docs/unit-costs.md). The
placements notebook calls these through ``placements``."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from IPython.display import HTML

from pipeline.core.formatting import first_lower, gbpm, gbpm_plain, number, pct, reader_text
from pipeline.ingest.ssda903 import CATEGORIES, CATEGORY_LABELS
from pipeline.placements import unit_costs as pl_unit_costs
from pipeline.quarter.context import QuarterContext
from pipeline.quarter.placement_bundle import bundle, model_settings
from pipeline.report.render import table_html

COST_TO_DATE = "Estimated cost to date (placement days times the weekly cost) £m"  # not the ledger's spend


def unit_costs_frame(ctx: QuarterContext) -> pd.DataFrame:
    """Each placement type's weekly cost used (this financial year's prices), its 80% range where measured,
    where it comes from (the ledger's spend over placement days, or the council's assumed rate), and its
    placement days and cost this year to date."""
    b = bundle(ctx)
    unit = b["unit_costs"].set_index("category")
    dc = b["days_cost"]
    last4 = dc[dc["financial_year"] == ctx.quarter.fy]
    days = last4.groupby("category")["days"].sum()
    rows = []
    for c in CATEGORIES:
        if c not in unit.index:
            continue
        u = unit.loc[c]
        measured = u["source"] == "ledger"
        rows.append({"Placement type": CATEGORY_LABELS[c], "Weekly cost £": float(u["weekly_cost_gbp"]),
                     "80% range low £": float(u["low_gbp"]) if measured else np.nan,
                     "80% range high £": float(u["high_gbp"]) if measured else np.nan,
                     "Where it comes from": source_text(u),
                     "Council's assumed rate £": float(u["params_weekly_cost_gbp"]),
                     f"Placement days {ctx.quarter.fy} to date": int(days.get(c, 0)),
                     COST_TO_DATE: float(last4.loc[last4["category"] == c, "cost_gbpm"].sum())})
    return pd.DataFrame(rows)


def source_text(r) -> str:
    """Where one row's figure comes from, for a reader."""
    if r["source"] == "ledger":
        n = int(r["months"])
        return (f"The ledger's spend over placement days, the {n} months to {pd.Timestamp(r['window_end']):%B %Y}"
                if n == pl_unit_costs.WINDOW_MONTHS else f"The ledger's spend over placement days, {n} months of the 12 to "
                f"{pd.Timestamp(r['window_end']):%B %Y}")
    why = {"no_ledger": "no finance ledger this quarter",
           "no_column": "the ledger's cost centres are not linked to placement types",
           "no_cost_centre": "no ledger cost centre for this placement type",
           "few_days": "too few placement days in the last twelve months to measure it",
           "spend_not_positive": "no spend in the ledger for it in the last twelve months",
           "no_months": "the ledger has no month up to the quarter end"}.get(r["reason"], "")
    return "The council's assumed rate" + (f" ({why})" if why else "")



def _pounds(v) -> str:
    return "" if pd.isna(v) else f"{number(v)}"


def render_unit_costs(ctx: QuarterContext, t: pd.DataFrame) -> HTML:
    inflation, _, _ = model_settings(ctx)
    unit = bundle(ctx)["unit_costs"]
    for note in pl_unit_costs.developer_notes(unit):  # for the analyst: the build log, never the pack
        print(f"cspack: {note}", file=sys.stderr)
    fy = ctx.quarter.fy
    days_col = f"Placement days {fy} to date"
    shown = pd.DataFrame({
        "Placement type": t["Placement type"],
        f"Weekly cost used £ ({fy} prices)": t["Weekly cost £"].map(_pounds),
        "80% range £": [f"{_pounds(lo)} to {_pounds(hi)}" if pd.notna(lo) else "not measured"
                        for lo, hi in zip(t["80% range low £"], t["80% range high £"])],
        "Where it comes from": t["Where it comes from"],
        "Council's assumed rate £": t["Council's assumed rate £"].map(_pounds),
        days_col: t[days_col].map(number), COST_TO_DATE: t[COST_TO_DATE].map(gbpm_plain)})
    ledger = unit[unit["source"] == "ledger"]
    assumed = unit[unit["source"] == "params"]
    parts = [f"Weekly costs in {fy} prices, uplifted by {pct(inflation * 100)} a year in later years."]
    if shown["Where it comes from"].nunique() == 1:  # one source for every row: said once, below the table
        parts.append(f"Every weekly cost: {first_lower(shown['Where it comes from'].iloc[0])}.")
        shown = shown.drop(columns="Where it comes from")
    if len(ledger):
        r = ledger.iloc[0]
        parts.append(f"From the ledger: the actual spend of the cost centres for that placement type divided by its "
                     f"placement days in the children-looked-after returns, {pd.Timestamp(r['window_start']):%B %Y} to "
                     f"{pd.Timestamp(r['window_end']):%B %Y} (spend in earlier financial years restated to {fy} prices). The 80% "
                     "range is how closely those months pin the rate down (from resampling the months); each simulated "
                     "future draws its own weekly cost within it, so the cost projection's range carries this "
                     "uncertainty as well as that in the number of children. It does not include future price changes "
                     "beyond the uplift.")
    if len(assumed):
        costs = ctx.table("placement_unit_costs")
        src = "; ".join(dict.fromkeys(reader_text(x).rstrip(".") for x in costs["source"]))
        parts.append("The council's assumed rates have no range: their uncertainty is not measured. "
                     f"Source of the assumed rates: {src}.")
    else:
        parts.append("The council's assumed rates are shown for comparison; the projection does not use them.")
    return HTML(table_html(shown, "Unit costs by placement type",
                           numeric=[f"Weekly cost used £ ({fy} prices)", "80% range £", "Council's assumed rate £",
                                    days_col, COST_TO_DATE],
                           note=" ".join(parts)))


def unit_cost_widening(ctx: QuarterContext) -> pd.DataFrame:
    """By financial year: the width of the cost projection's 80% range (£m) with each path's own unit costs
    (``cost_paths``) and with the unit costs held at their central figures (``cost_paths_units_fixed``)."""
    b = bundle(ctx)
    rows = []
    for y in b["cost_paths"].columns:
        w = {k: float(np.quantile(b[k][y], 0.9) - np.quantile(b[k][y], 0.1))
             for k in ("cost_paths", "cost_paths_units_fixed")}
        rows.append({"financial_year": y, "width_gbpm": w["cost_paths"], "width_units_fixed_gbpm": w["cost_paths_units_fixed"]})
    return pd.DataFrame(rows)


def unit_cost_range_note(ctx: QuarterContext) -> str:
    """In words: what the unit-cost uncertainty adds to the cost projection's 80% ranges."""
    unit = bundle(ctx)["unit_costs"]
    if not (unit["sigma"] > 0).any():
        return ("The weekly costs are the council's assumed rates, taken as exact: the ranges carry the uncertainty "
                "in the number of children only.")
    w = unit_cost_widening(ctx).head(2)
    if not (w["width_gbpm"] >= WIDER * w["width_units_fixed_gbpm"]).any():
        return ("The ranges carry the uncertainty in the weekly costs measured from the ledger as well as that in the "
                "number of children, but those weekly costs vary so little from month to month that the ranges are "
                "as wide as the number of children alone makes them (the difference is within the simulation's "
                "own noise).")
    wider = w["width_gbpm"] >= WIDER * w["width_units_fixed_gbpm"]
    said = " and ".join(f"{gbpm(r.width_gbpm - r.width_units_fixed_gbpm)} for {r.financial_year}"
                        for r in w[wider].itertuples())
    noise = "".join(f" (for {y}, by no more than the simulation's own noise)" for y in w.loc[~wider, "financial_year"])
    return ("The ranges carry the uncertainty in the weekly costs measured from the ledger as well as that in the "
            f"number of children; the weekly costs widen the 80% range by {said}{noise}.")


WIDER = 1.02  # a range less than 2% wider with the unit-cost draws is within the simulation's noise: not stated
