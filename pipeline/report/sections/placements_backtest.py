"""The placement backtest and the choice of forecast, in words and as a table: which forecast the
projection uses at each distance ahead and why, and how it would have done had it been chosen at each
quarter end from the outcomes known then (issue 15)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import and_list, first_upper, number, pct, plural
from pipeline.placements import backtest as pl_backtest
from pipeline.placements.accuracy_by_type import ALL, accuracy_by_type
from pipeline.quarter.placement_bundle import bundle
from pipeline.report.render import table_html

AVERAGE = "the average of no change, the Markov stock-flow model and exponential smoothing (ETS)"
RULE = (f"The projection uses, at each distance ahead, {AVERAGE}, unless one of the three has been clearly more "
        "accurate than the average there (its error lower by more than twice the standard error of the difference "
        "over the quarter ends tested, widened because forecasts made a quarter apart share most of the months they "
        "cover): averaging simple forecasts erred less on authorities the pack had never seen than picking "
        "the one that happened to do best on a few quarter ends.")


def horizon_verdict(choice: pd.DataFrame, months_ahead: int) -> str:
    """In words: which forecast is used this far ahead and how it compared in the backtest at the
    evaluated horizon that covers it (3, 6, 12 or 24 months)."""
    r = pl_backtest.covering_row(choice, months_ahead)
    h = int(r["horizon"])
    beyond = (f" This is {months_ahead} months ahead, beyond the {h} months the backtest reaches, so it is indicative "
              "only." if months_ahead > h else
              f" This is {months_ahead} months ahead, so it follows the backtest's {h}-month result." if months_ahead < h
              else "")
    if not r["calibrated"]:
        return (f"At {h} months the backtest has too few quarter ends with a known outcome ({number(r['origins'])}) to "
                f"judge the forecasts, so the projection is {AVERAGE}." + beyond)
    names = {"naive": "no change", "markov": "the Markov model", "ets": "ETS", "model": "the pack's own model"}
    others = ", ".join(f"{name} {pct(r[m + '_wape'])}" for m, name in names.items()
                       if m != r["method"] and f"{m}_wape" in r and pd.notna(r[f"{m}_wape"]))
    if r["method"] == "combined":
        return (f"At {h} months none of the simple forecasts has been clearly more accurate than their average "
                f"(average error {pct(r['combined_wape'])} for the average of the three; {others}), so the projection is {AVERAGE}."
                + beyond)
    return (f"At {h} months {pl_backtest.METHOD_NAMES[r['method']]} has been clearly more accurate than the average of "
            f"the three (average error {pct(r[r['method'] + '_wape'])} against {pct(r['combined_wape'])}; {others}), "
            "so it is the projection used." + beyond)


def backtest_table(bt: pd.DataFrame, choice: pd.DataFrame) -> pd.DataFrame:
    """By horizon: the forecast used now and its error, the average's, no change's, the Markov model's,
    ETS's and the cspack model's (weighted absolute % error over the backtest's origins), the error of
    the forecast as it would have been chosen at each origin (from earlier outcomes only), and how
    often the calibrated 80% range held the outcome."""
    rows = []
    summary = pl_backtest.backtest_summary(bt).set_index("horizon_months")
    for r in choice.itertuples():
        g = bt[bt["horizon"] == r.horizon]
        if not len(g):
            continue
        rows.append({"horizon_months": int(r.horizon), "origins": int(len(g)), "used": pl_backtest.METHOD_NAMES[r.method],
                     "used_wape": getattr(r, f"{r.method}_wape"), "combined_wape": r.combined_wape,
                     "naive_wape": r.naive_wape, "markov_wape": r.markov_wape, "ets_wape": r.ets_wape,
                     "model_wape": r.model_wape,
                     "replayed_wape": pl_backtest.wape(g["used"], g["actual"]) if "used" in g else np.nan,
                     "model_coverage_80": float(summary.at[r.horizon, "coverage_80"]),
                     "used_coverage_80": float(g["used_in_80"].mean() * 100) if "used_in_80" in g else np.nan,
                     "scale": float(r.scale)})
    return pd.DataFrame(rows)


def replay_verdict(t: pd.DataFrame) -> str:
    """In words: the forecast used, as chosen at each quarter end from the outcomes known then, against
    no change and the Markov model at each distance ahead of the backtest table ``t``, naming every
    distance where it did worse than either."""
    t = t[t["replayed_wape"].notna()]
    if not len(t):
        return ""
    text = (f"Chosen as it would have been at each quarter end, from the outcomes known by then, the forecast used "
            f"erred on average by {and_list(pct(v) for v in t['replayed_wape'])} at "
            f"{and_list(str(int(h)) for h in t['horizon_months'])} months ahead, against "
            f"{and_list(pct(v) for v in t['naive_wape'])} for no change and {and_list(pct(v) for v in t['markov_wape'])} "
            "for the Markov model.")
    worse = []
    for r in t.itertuples():
        beaten = [f"{pct(v)} for {name}" for name, v in (("no change", r.naive_wape), ("the Markov model", r.markov_wape))
                  if r.replayed_wape > v + 1e-9]
        if beaten:
            worse.append(f"at {r.horizon_months} months ({pct(r.replayed_wape)} against {and_list(beaten)})")
    return text + (f" It did worse {and_list(worse)}." if worse else
                   " It did no worse than either at any distance ahead.")


def longer_record(longer: pd.DataFrame | None, shown_origins: int) -> str:
    """In words: the forecast used against no change and the Markov model over the longer record
    (``placements.simple_backtest``: every quarter end with a year of history, the simple forecasts only),
    when it holds more quarter ends than the table; empty otherwise."""
    if longer is None or not len(longer) or longer["origin"].nunique() <= shown_origins:
        return ""
    hs = sorted(longer["horizon"].unique())
    err = {m: [pl_backtest.wape(g[m], g["actual"]) for _, g in longer.groupby("horizon")] for m in ("used", "naive", "markov")}
    first = pd.Timestamp(longer["origin"].min())
    return (f" Over a longer record, the {plural(longer['origin'].nunique(), 'quarter end')} since {first:%B %Y} with "
            "at least a year of history (the simple forecasts only, the choice made the same way), the forecast used "
            f"erred by {and_list(pct(v) for v in err['used'])} at {and_list(str(int(h)) for h in hs)} months ahead, "
            f"against {and_list(pct(v) for v in err['naive'])} for no change and "
            f"{and_list(pct(v) for v in err['markov'])} for the Markov model.")


def coverage_reading(r, scale: float | None = None) -> str:
    """What the 80% range's record at one distance ahead (a backtest table row) means, in a sentence;
    ``scale``: the calibration's multiple of the model's range there (``choose``), below 1 when it narrowed it."""
    n, held = int(r["origins"]), float(r["used_coverage_80"])
    if not np.isfinite(held):
        return ""
    few = f" on only {plural(n, 'quarter end')}" if n < 10 else ""
    if held >= 95:
        how = ("" if not few or scale is None else
               f"; {few.strip()} the calibration narrows it only part of the way" if scale < 1 else
               f"; {few.strip()} the calibration does not narrow it")
        return " So the range there is probably wider than it needs to be" + how + "."
    if held <= 60:
        return f" So the range there has been too narrow{few}: treat it as a lower bound of the uncertainty."
    return ""


TYPE_HORIZON = 12  # months ahead of the accuracy by placement type
TOO_FEW = "too few children to measure"


def type_accuracy(ctx, horizon: int = TYPE_HORIZON) -> pd.DataFrame:
    """``accuracy_by_type`` of the quarter's backtest at ``horizon`` months, types with fewer children on
    average than settings.small_count_threshold not scored (empty when there is no backtest by type)."""
    rows = bundle(ctx).get("backtest_by_type")
    if rows is None:
        return pd.DataFrame()
    return accuracy_by_type(rows, ctx.params.settings.small_count_threshold, horizon)


def type_verdict(a: pd.DataFrame, total_wape: float | None = None, cost: pd.Series | None = None,
                 threshold: int = 5) -> str:
    """In words, for a director: the placement types the forecast used erred most on at the horizon of
    ``a`` (``type_accuracy``), against its error on the total of children in care (``total_wape``); its
    error on the two measured types that carry most of the cost (``cost``: category -> cost, e.g. the
    last quarter's) and what that means for the cost ranges; which types had too few children to
    measure (named, never counted)."""
    types = a[a["category"] != ALL]
    scored = types[types["scored"]].sort_values("used_wape", ascending=False, kind="stable")
    n = int(a["origins"].iloc[0])
    h = TYPE_HORIZON
    if not len(scored):
        return (f"By placement type, {h} months ahead, every type had too few children on average (fewer than "
                f"{threshold}) to measure how well the forecast did.")
    has_total = total_wape is not None and pd.notna(total_wape)
    text = (f"By placement type, {h} months ahead at {plural(n, 'quarter end')}, the forecast used erred most on "
            + and_list(f"{_lower(r.label)} ({pct(r.used_wape)})" for r in scored.head(2).itertuples())
            + (f", against {pct(total_wape)} on the total of children in care." if has_total else "."))
    if cost is not None and len(cost):
        dear = scored.assign(cost=scored["category"].map(cost)).dropna(subset=["cost"])
        dear = dear[dear["cost"] > 0].sort_values("cost", ascending=False, kind="stable").head(2)
        if len(dear):
            text += (f" On {and_list(_lower(r.label) for r in dear.itertuples())}, which carry most of the placement "
                     f"cost, it erred by {and_list(pct(v) for v in dear['used_wape'])} (no change: "
                     f"{and_list(pct(v) for v in dear['naive_wape'])}).")
            if has_total and (dear["used_wape"] > total_wape).any():
                text += (" The cost ranges are set from the backtest's error on the total number of children, not type "
                         "by type, so where a costly type has been forecast less well than the total, as here, the cost "
                         "range may understate how uncertain its part of the cost is.")
            elif has_total:
                text += (" The cost ranges are set from the backtest's error on the total number of children; on "
                         "these types the forecast has erred no more than on the total.")
    few = types[~types["scored"]]
    if len(few):
        text += (f" There were too few children on average (fewer than {threshold}) to measure "
                 f"{and_list(_lower(v) for v in few['label'])}.")
    return text


def _lower(label: str) -> str:
    """A placement type's label inside a sentence: "External children's homes" -> "external children's
    homes"; "Placed for adoption" -> "children placed for adoption"."""
    text = label[0].lower() + label[1:]
    return "children " + text if text.startswith("placed ") else text


def last_quarter_cost(days_cost: pd.DataFrame | None) -> pd.Series:
    """Cost by placement type in the last quarter of ``days_cost`` (financial_year, quarter, category,
    cost_gbpm): which types carry most of the placement cost now."""
    if days_cost is None or not len(days_cost):
        return pd.Series(dtype=float)
    last = days_cost.sort_values(["financial_year", "quarter"]).iloc[-1]
    g = days_cost[(days_cost["financial_year"] == last["financial_year"]) & (days_cost["quarter"] == last["quarter"])]
    return g.groupby("category")["cost_gbpm"].sum()


def render_type_accuracy(ctx, a: pd.DataFrame, total_wape: float | None = None, cost: pd.Series | None = None) -> list:
    """The accuracy by placement type (``type_accuracy``): the lead-in (``type_verdict``, with ``cost``
    by type, e.g. ``last_quarter_cost``) and an accessible table; a type not scored shows words, never a
    number."""
    if not len(a):
        return []
    threshold = ctx.params.settings.small_count_threshold
    text = type_verdict(a, total_wape, cost, threshold)
    used, naive, markov = ("Forecast used (its total split by the stock-flow model's mix) %", "No change %",
                           "Markov model %")
    rows = []
    for r in a.itertuples():
        if r.scored:
            rows.append({"Placement type": r.label, used: pct(r.used_wape), naive: pct(r.naive_wape),
                         markov: pct(r.markov_wape)})
        else:
            rows.append({"Placement type": r.label, used: first_upper(TOO_FEW), naive: "", markov: ""})
    shown = pd.DataFrame(rows)
    n = int(a["origins"].iloc[0])
    tbl = table_html(shown, f"Backtest: average error by placement type, {TYPE_HORIZON} months ahead "
                             f"({plural(n, 'quarter end')} tested)", numeric=[used, naive, markov],
                      total_rows=[len(shown) - 1],
                      note="Average error of each type's number of children: the sum of |forecast - outcome| over "
                           "the quarter ends tested, divided by the sum of outcomes. All types: the errors of every "
                           "type added up, divided by the children in care. The forecast used has no mix of types of "
                           "its own: the stock-flow model's mix splits its total, as in the projection. A type with "
                           f"fewer than {threshold} children on average is not measured, to protect the children it "
                           "describes.")
    return [Markdown(text), HTML(tbl)]


def _scale(ctx, horizon: int) -> float | None:
    """The calibration's multiple of the model's 80% range at ``horizon`` months (None when not known)."""
    ch = bundle(ctx).get("choice")
    if ch is None or not len(ch) or horizon not in set(ch["horizon"]):
        return None
    return float(ch.set_index("horizon").at[horizon, "scale"])


def render_backtest(ctx, bt: pd.DataFrame, t: pd.DataFrame):
    if not len(bt):
        return [Markdown("*Not enough history to backtest: three years before the first quarter end tested are "
                         f"needed, so the projection is {AVERAGE}, not judged against its past.*")]
    # the honest figure (chosen at each quarter end from the outcomes known then) beside each forecast; the
    # error of the forecast used now on the same rows is already in that forecast's own column (it stays in
    # the workbook)
    shown = t.assign(used=t["used"].map(lambda u: "The average of the three" if u == pl_backtest.METHOD_NAMES["combined"]
                                        else first_upper(u)))[
        ["horizon_months", "origins", "used", "replayed_wape", "combined_wape", "naive_wape", "markov_wape", "ets_wape",
         "model_wape", "model_coverage_80", "used_coverage_80"]].rename(columns={
        "horizon_months": "Months ahead", "origins": "Quarter ends tested", "used": "Forecast used now",
        "replayed_wape": "Forecast used, as chosen at the time %", "combined_wape": "Average of the three %",
        "naive_wape": "No change %", "markov_wape": "Markov model %", "ets_wape": "ETS %",
        "model_wape": "Pack's own model %",
        "model_coverage_80": "Model's 80% range held outcome %", "used_coverage_80": "Calibrated 80% range held outcome %"})
    r12 = t[t["horizon_months"] == 12].iloc[0] if 12 in set(t["horizon_months"]) else t.iloc[-1]
    words = []
    for r in t.itertuples():
        if r.used == pl_backtest.METHOD_NAMES["combined"]:
            words.append(f"at {r.horizon_months} months the average ({pct(r.used_wape)}; no change "
                         f"{pct(r.naive_wape)})")
        else:
            words.append(f"at {r.horizon_months} months {r.used} ({pct(r.used_wape)} against {pct(r.combined_wape)} for "
                         "the average)")
    text = (f"Backtest: at {plural(bt['origin'].nunique(), 'quarter end')} from {pd.Timestamp(bt['origin'].min()):%B %Y} "
            f"to {pd.Timestamp(bt['origin'].max()):%B %Y}, each forecast was made only from what was known then and "
            f"compared with what happened. {RULE} Used now: {'; '.join(words)}. "
            f"{replay_verdict(t)}{longer_record(bundle(ctx).get('backtest_longer'), bt['origin'].nunique())} Its 80% range is widened or narrowed to what the backtest's errors show; chosen the "
            f"same way, it held the outcome {pct(r12['used_coverage_80'], 0)} of the time at "
            f"{int(r12['horizon_months'])} months (the model's own range: {pct(r12['model_coverage_80'], 0)}; a "
            "well-calibrated range holds about 80%)." + coverage_reading(r12, _scale(ctx, int(r12["horizon_months"]))))
    fmt = {c: (lambda v: pct(v)) for c in shown.columns if c.endswith("%")}
    return [Markdown(text), HTML(table_html(shown, "Backtest: average error of children in care by months ahead, and "
                                            "range coverage", fmt, numeric=[c for c in shown.columns if c.endswith("%")]
                                            + ["Quarter ends tested"],
                                            note="Average error: the sum of |forecast - outcome| over the quarter ends "
                                                 "tested, divided by the sum of outcomes. The average of the three is "
                                                 "the mean of no change, the Markov model and ETS. 'As chosen at the "
                                                 "time' is the error of the forecast that would have been used at each "
                                                 "quarter end, chosen from the outcomes known by then (where fewer than "
                                                 "three were known, the average)."))] + render_type_accuracy(
        ctx, type_accuracy(ctx), float(r12["replayed_wape"]) if int(r12["horizon_months"]) == TYPE_HORIZON else None,
        last_quarter_cost(bundle(ctx).get("days_cost")))
