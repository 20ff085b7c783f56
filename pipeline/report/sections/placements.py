"""What the placements notebook displays, and the placement cost projection the budget section uses
for the placements line. The model run (fit, 1,000-path simulation, scenarios, backtest) is cached in
the work folder, keyed by its inputs, settings and code, so the budget and placements notebooks of one
build, and a re-run on the same inputs, compute it once."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import first_upper, gbpm, gbpm_plain, number, pct, plural
from pipeline.ingest.ssda903 import CATEGORIES, CATEGORY_LABELS
from pipeline.placements import backtest as pl_backtest
from pipeline.placements import history as pl_history
from pipeline.quarter.budget_view import line_figures, owner_figures
from pipeline.quarter.context import QuarterContext
from pipeline.quarter.placement_bundle import available, bundle
from pipeline.report.disclosure import FOOTNOTE, suppress
from pipeline.report.render import DARK_BLUE, DARK_GREY, FOCUS_GREY, ORANGE, TURQUOISE, chart, table_html, titled
from pipeline.report.sections.placement_costs import (  # noqa: F401  (the notebook calls them through this module)
    render_unit_costs,
    unit_cost_range_note,
    unit_costs_frame,
)
from pipeline.report.sections.placements_backtest import (  # noqa: F401 (notebook 30 and tests call them here)
    backtest_table,
    horizon_verdict,
    render_backtest,
    replay_verdict,
)

SECTION = "Placements"


# ---- for the budget section ---------------------------------------------------------------------------


# sheet of tables.xlsx -> title, for the tables the notebook publishes itself
TABLES = {"placements_projection": "Children in care: projection by month (median and ranges)",
          "placements_backtest": "Backtest: each origin's forecasts and outcomes",
          "placements_backtest_summary": "Backtest accuracy by months ahead: the forecast used, no change and the Markov model",
          "placements_model_warnings": "Warnings from the model fitting (for the analyst)",
          "placements_unit_costs": "Placement unit costs and days",
          "placements_cost_projection": "Placement cost projection against budget",
          "placements_scenarios": "What-if scenarios: cost for the year (this year: spend to date plus the months left) "
                                  "and the change against the baseline"}



def publish(ctx: QuarterContext, sheet: str, df: pd.DataFrame) -> pd.DataFrame:
    """Publish ``df`` to tables.xlsx as ``sheet`` (one of ``TABLES`` or ``COUNTED``) in this section; returns
    ``df``. A table counting children (``COUNTED``) is published with its small counts suppressed; ``df``
    itself is returned as it was (the charts draw from it)."""
    if sheet in COUNTED:
        out, title, cols = COUNTED[sheet](ctx, df)
        ctx.publish(sheet, out, title, SECTION, child_counts=cols)
    else:
        ctx.publish(sheet, df, TABLES[sheet], SECTION)
    return df


def _mix_published(ctx: QuarterContext, mix: pd.DataFrame):
    threshold = ctx.params.settings.small_count_threshold
    out, _ = suppress(mix, CATEGORIES, threshold)
    return out, "Children in care by placement type at each month end (" + FOOTNOTE.format(n=threshold - 1) + ")", \
        CATEGORIES


def _flows_published(ctx: QuarterContext, flows: pd.DataFrame):
    threshold = ctx.params.settings.small_count_threshold
    parts = [c for c in flows.columns if c.startswith("ceased_")]
    out, _ = suppress(flows, parts, threshold, total_col="ceased")
    for c in ("starts", "moves"):
        out[c] = suppress(flows[[c]], [c], threshold, secondary=False)[0][c]
    return out, "Children starting, moving and ceasing care by month (" + FOOTNOTE.format(n=threshold - 1) + ")", \
        parts + ["ceased", "starts", "moves"]


# sheet -> (ctx, frame) -> (frame as published, title, columns counting children)
COUNTED = {"placements_mix": _mix_published, "placements_flows": _flows_published}


# ---- displays ----------------------------------------------------------------------------------------------
def _fy_end_rows(fan: pd.DataFrame) -> pd.DataFrame:
    return fan[(fan["month"].dt.month == 3)]


def _months_ahead(origin: pd.Timestamp, month: pd.Timestamp) -> int:
    return (pd.Timestamp(month).to_period("M") - pd.Timestamp(origin).to_period("M")).n


def headline(ctx: QuarterContext) -> Markdown:
    if not available(ctx):
        return Markdown("*This section needs the council's children-looked-after (SSDA903) returns and the weekly "
                        "cost of each placement type; this quarter has neither, so it is not shown.*")
    b = bundle(ctx)
    hist, fan = b["history"], b["fan"]
    origin = pd.Timestamp(b["params"]["origin"].iloc[0])
    now = int(hist[CATEGORIES].iloc[-1].sum())
    year_ago = hist[hist["month"] == hist["month"].iloc[-1] - pd.DateOffset(years=1)]
    parts = [f"{number(now)} children were in care on {hist['month'].iloc[-1]:%-d %B %Y}"
             + (f", against {number(int(year_ago[CATEGORIES].iloc[0].sum()))} a year earlier." if len(year_ago) else ".")]
    said = set()
    for r in _fy_end_rows(fan).itertuples():
        parts.append(f"At {r.month:%-d %B %Y} the projection is {number(r.median)} (80% range "
                     f"{number(r.low_80)} to {number(r.high_80)}).")
        if "choice" in b:
            ahead = _months_ahead(origin, r.month)
            verdict = horizon_verdict(b["choice"], ahead)
            first = verdict.split(" This is ")[0]
            if first in said:  # the same horizon's verdict once; only what is new after it
                verdict = verdict[len(first):].strip() or ""
            said.add(first)
            if verdict:
                parts.append(verdict)
    parts += method_changes(fan)
    text = " ".join(parts)
    own = owner_figures(ctx)
    if own is not None and own["budget"] is not None:
        text += "\n\n" + _owner_text(ctx, own, b)
    if ctx.params.any_synthetic:
        text += "\n\n**SYNTHETIC DATA**: the episodes are the synthetic authority's."
    return Markdown(text)


def _owner_text(ctx, own: dict, b: dict) -> str:
    """Who owns the placements forecast: the budget holder's figure and the projection's side by side,
    which one the budget total uses and why, and whether the holder's figure is inside the range."""
    fy = own["fy"]
    lines = [f"**Whose forecast.** For {fy} the placements budget is {gbpm(own['budget'])}."]
    if own["holder"] is not None:
        inside = ("inside" if own["holder_inside"] else "outside")
        lines.append(f"The budget holder forecasts {gbpm(own['holder'])}; the projection forecasts "
                     f"{gbpm(own['projection'])} (80% range {gbpm(own['low'])} to {gbpm(own['high'])}), so the budget "
                     f"holder's figure is {inside} the projection's range.")
    else:
        lines.append(f"The ledger has no budget holder's forecast for the line; the projection forecasts "
                     f"{gbpm(own['projection'])} (80% range {gbpm(own['low'])} to {gbpm(own['high'])}).")
    left = _months_ahead(pd.Timestamp(b["params"]["origin"].iloc[0]), pd.Timestamp(int(fy[:4]) + 1, 3, 31))
    if own["used_source"] == "budget holder":
        lines.append("The budget total uses the budget holder's forecast, as this pack's settings ask; the projection "
                     "is shown as a check on it.")
    elif own["used_source"] == "profile":
        lines.append(f"The budget total uses {gbpm(own['used'])} for the line, projected from this year's spending so "
                     "far and earlier years' monthly pattern"
                     + (", because this pack's settings ask for the budget holder's forecast and the ledger has none "
                        "for the line." if own["setting"] == "budget_holder" else "."))
    else:
        used = ""
        if "choice" in b and len(b["choice"]):
            r = pl_backtest.covering_row(b["choice"], max(left, 1))
            used = f", which for these months follows {pl_backtest.METHOD_NAMES[r['method']]}, as set out above"
        lines.append("The budget total uses the projection (spend to date plus the projected cost of the "
                     f"{plural(left, 'month')} left){used}.")
    if abs(own["model"] - own["projection"]) >= 0.0005:
        lines.append(f"The pack's stock-flow model alone forecasts {gbpm(own['model'])} (80% range "
                     f"{gbpm(own['model_low'])} to {gbpm(own['model_high'])}).")
    return " ".join(lines)


def _changes(fan: pd.DataFrame) -> list[int]:
    """The rows of the projection where the forecast used changes (the backtest chose another at that distance)."""
    if "method" not in fan or len(fan) < 2:
        return []
    m = fan["method"].astype(str).to_numpy()
    return [int(i) for i in np.flatnonzero(m[1:] != m[:-1]) + 1]


def method_changes(fan: pd.DataFrame) -> list[str]:
    """In words, each month where the projection switches forecast, and the step it makes there: the
    chart marks the same months."""
    out = []
    for i in _changes(fan):
        a, b = fan.iloc[i - 1], fan.iloc[i]
        step = (f"so the projection steps from {number(a['median'])} in {a['month']:%B %Y} to {number(b['median'])}"
                if round(a["median"]) != round(b["median"]) else "with no step in the projection")
        ahead = int(b["months_ahead"])
        h = next((x for x in pl_backtest.CHOICE_HORIZONS if x >= ahead), pl_backtest.CHOICE_HORIZONS[-1])
        out.append(f"From {b['month']:%B %Y} ({plural(ahead, 'month')} ahead) the projection follows "
                   f"{pl_backtest.METHOD_NAMES[b['method']]} instead of {pl_backtest.METHOD_NAMES[a['method']]}, the backtest's choice "
                   f"for {h}-month forecasts, {step} (marked on the chart).")
    return out


def fan_figure(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_fan(ctx, publish(ctx, "placements_projection", projection_frame(ctx)))


def projection_frame(ctx: QuarterContext) -> pd.DataFrame:
    """Children in care projected by month: the forecast used, median and 50/80/95% ranges, the method
    and range scale at each month."""
    return bundle(ctx)["fan"]


def render_fan(ctx: QuarterContext, fan: pd.DataFrame):
    b = bundle(ctx)
    hist, ets = b["history"], b["ets"]
    total = hist.set_index("month")[CATEGORIES].sum(axis=1)
    total = total[total.index >= total.index[-1] - pd.DateOffset(years=5)]
    fig, ax = plt.subplots(figsize=(8.5, 4))
    ax.plot(total.index, total.to_numpy(), color=DARK_GREY, linewidth=1.8, label="Actual (month end)")
    for lv, alpha in ((95, 0.15), (80, 0.25), (50, 0.4)):
        ax.fill_between(fan["month"], fan[f"low_{lv}"], fan[f"high_{lv}"], color=DARK_BLUE, alpha=alpha, linewidth=0,
                        label=f"{lv}% range")
    ax.plot(fan["month"], fan["median"], color=DARK_BLUE, linewidth=1.8, label="Projection used (median)")
    mf = b.get("model_fan")
    if mf is not None and np.abs(mf["median"].to_numpy() - fan["median"].to_numpy()).max() >= 0.5:
        ax.plot(mf["month"], mf["median"], color=TURQUOISE, linewidth=1.2, linestyle=":", label="Stock-flow model on its own")
    ax.plot(ets["month"], ets["mean"], color=ORANGE, linewidth=1.2, linestyle="--", label="ETS on totals (one of the three averaged)")
    for j, i in enumerate(_changes(fan)):
        # a thin band between the last month of one forecast and the first of the next (a band, not a line,
        # so the chart's data table does not list it as a series of numbers)
        x = fan["month"].iloc[i] - pd.Timedelta(days=15)
        ax.axvspan(x - pd.Timedelta(days=4), x + pd.Timedelta(days=4), color=DARK_GREY, alpha=0.5, linewidth=0,
                   label="Forecast used changes (see text)" if j == 0 else "_nolegend_")
    ax.set_ylabel("Children in care")
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    end = fan.iloc[-1]
    titled(fig, ax, f"Children in care projected at {number(end['median'])} by {end['month']:%B %Y}",
           f"Children looked after at each month end, actual and projected with 50/80/95% ranges; {ctx.params.authority}")
    alt = (f"Fan chart of children in care: actual month-end numbers to {total.index[-1]:%B %Y} (latest "
           f"{number(total.iloc[-1])}), then the projected median reaching {number(end['median'])} by "
           f"{end['month']:%B %Y} with an 80% range of {number(end['low_80'])} to {number(end['high_80'])}; exponential "
           f"smoothing (ETS, one of the three forecasts averaged) ends at {number(ets['mean'].iloc[-1])}."
           + (f" The pack's stock-flow model alone ends at {number(mf['median'].iloc[-1])}." if mf is not None else "")
           + "".join(f" A vertical band marks {fan['month'].iloc[i]:%B %Y}, where the forecast used changes."
                     for i in _changes(fan)))
    return chart(fig, alt)


def mix_figure(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_mix(ctx, publish(ctx, "placements_mix", mix_frame(ctx)))


def mix_frame(ctx: QuarterContext) -> pd.DataFrame:
    """Children in care by placement type at each month end, the last five years (exact counts: ``publish``
    suppresses small ones in the workbook)."""
    hist = bundle(ctx)["history"].set_index("month")[CATEGORIES]
    return hist[hist.index >= hist.index[-1] - pd.DateOffset(years=5)].reset_index()


def render_mix(ctx: QuarterContext, mix: pd.DataFrame):
    hist = mix.set_index("month")[CATEGORIES]
    share = hist.div(hist.sum(axis=1), axis=0) * 100
    fig, ax = plt.subplots(figsize=(8.5, 4))
    palette = ["#12436D", "#2073BC", "#6BACE6", "#28A197", "#801650", "#3D3D3D", "#F46A25", "#A285D1", "#BFBFBF", "#8C8C8C"]
    hatches = ["", "", "", "//", "//", "xx", "..", "", "\\\\", ""]
    bottom = np.zeros(len(share))
    for i, c in enumerate(CATEGORIES):
        ax.fill_between(share.index, bottom, bottom + share[c].to_numpy(), color=palette[i], hatch=hatches[i],
                        edgecolor="white", linewidth=0.3, label=CATEGORY_LABELS[c])
        bottom += share[c].to_numpy()
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of children in care")
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    first, last = share.iloc[0], share.iloc[-1]
    res = ["in_house_childrens_home", "external_childrens_home", "secure"]
    fost = ["in_house_fostering", "agency_fostering", "kinship_fostering"]
    title = (f"Fostering {pct(last[fost].sum())} and residential {pct(last[res].sum())} of placements")
    titled(fig, ax, title, f"Placement mix at each month end, % of children in care; {ctx.params.authority}")
    alt = ("Stacked area chart of the placement mix over five years: " + "; ".join(
        f"{CATEGORY_LABELS[c]} {pct(first[c])} to {pct(last[c])}" for c in CATEGORIES) + ".")
    return chart(fig, alt)


def flows_figure(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_flows(ctx, publish(ctx, "placements_flows", flows_frame(ctx)))


def flows_frame(ctx: QuarterContext) -> pd.DataFrame:
    """Children starting, moving and ceasing care (by reason) each month (exact counts: ``publish``
    suppresses small ones in the workbook)."""
    return bundle(ctx)["flows"].copy()


def render_flows(ctx: QuarterContext, flows: pd.DataFrame):
    f = flows.set_index("month")
    f = f[f.index >= f.index[-1] - pd.DateOffset(years=3)]
    # whole quarters only: the first months may be the tail of one
    quarter = f.index.to_period("Q-MAR")
    whole = pd.Series(quarter).map(pd.Series(quarter).value_counts()).to_numpy() == 3
    f = f[whole]
    reasons = ["ceased_returned_home", "ceased_special_guardianship", "ceased_adoption", "ceased_age_18", "ceased_other"]
    q = f.resample("QE").sum()
    # small numbers: a reason with fewer than the threshold in a quarter is drawn within "other reasons"
    threshold = ctx.params.settings.small_count_threshold
    for r in reasons[:-1]:
        small = (q[r] > 0) & (q[r] < threshold)
        q.loc[small, "ceased_other"] += q.loc[small, r]
        q.loc[small, r] = 0
    fig, ax = plt.subplots(figsize=(8.5, 4))
    x = np.arange(len(q))
    ax.bar(x - 0.2, q["starts"], width=0.4, color=DARK_BLUE, label="Started care")
    bottom = np.zeros(len(q))
    colours = [TURQUOISE, "#6BACE6", "#A285D1", ORANGE, FOCUS_GREY]
    hatches = ["", "//", "..", "xx", ""]
    for r, col, ht in zip(reasons, colours, hatches):
        ax.bar(x + 0.2, q[r], width=0.4, bottom=bottom, color=col, hatch=ht, edgecolor="white", linewidth=0.3,
               label="Ceased: " + (pl_history.REASON_LABELS[r.replace("ceased_", "")].lower() if r != "ceased_other" else
                                   "other reasons (and any reason with fewer than " + str(threshold) + ")"))
        bottom += q[r].to_numpy()
    ax.set_xticks(x, [f"{d.year - (d.month < 4)}-{(d.year - (d.month < 4) + 1) % 100:02d} Q{((d.month - 4) % 12) // 3 + 1}"
                      for d in q.index], rotation=45, fontsize=7, ha="right")
    ax.set_ylabel("Children per quarter")
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    s_in, s_out = int(q["starts"].iloc[-4:].sum()), int(q["ceased"].iloc[-4:].sum())
    titled(fig, ax, f"{number(s_in)} started care and {number(s_out)} left in the last year",
           f"Children starting and ceasing care by quarter and reason; {ctx.params.authority}")
    alt = (f"Bar chart by quarter of children starting care and ceasing care by reason over three years; in the last "
           f"four quarters {number(s_in)} started and {number(s_out)} ceased.")
    return chart(fig, alt)


def unit_costs_table(ctx: QuarterContext) -> HTML:
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_unit_costs(ctx, publish(ctx, "placements_unit_costs", unit_costs_frame(ctx)))


def cost_table(ctx: QuarterContext) -> HTML:
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_cost(ctx, publish(ctx, "placements_cost_projection", cost_projection(ctx)))


def cost_projection(ctx: QuarterContext) -> pd.DataFrame:
    """The projected placement cost of each financial year (median and 80% range; this year spend to date
    plus the months left), against this year's budget, with the forecast used at each year end."""
    b = bundle(ctx)
    cost = b["cost_paths"]
    budget, ytd = line_figures(ctx)
    fan = b["fan"]
    rows = []
    for i, y in enumerate(cost.columns):
        v = cost[y] + (ytd if y == ctx.quarter.fy else 0.0)
        r = {"Financial year": y, "Projected cost £m (median)": float(np.median(v)),
             "80% range low £m": float(np.quantile(v, 0.1)), "80% range high £m": float(np.quantile(v, 0.9))}
        if budget is not None:
            r["Budget £m"] = budget if i == 0 else np.nan
            r["Over (+) / under (-) budget £m (median)"] = float(np.median(v)) - budget
        if "method" in fan:
            end = fan[pl_history.fy_of(pd.DatetimeIndex(fan["month"])) == y]
            r["Forecast used at the year end"] = first_upper(str(pl_backtest.METHOD_NAMES[end["method"].iloc[-1]])) if len(end) else ""
        rows.append(r)
    return pd.DataFrame(rows)


def render_cost(ctx: QuarterContext, t: pd.DataFrame) -> HTML:
    budget, ytd = line_figures(ctx)
    money = [c for c in t.columns if c.endswith("£m") or "£m" in c]
    note = (f"{ctx.quarter.fy}: spend to date from the ledger ({gbpm(ytd)}) plus the projected cost of the months left. "
            "Later years: the whole year projected. The comparison with budget in later years holds this year's "
            "budget flat: later budgets are not yet set. The forecast used at each distance ahead is the average of "
            "no change, the Markov model and exponential smoothing, unless the backtest found one of them clearly "
            "more accurate there." if budget is not None else
            "No ledger in this quarter's params, so no budget to compare with.") + " " + unit_cost_range_note(ctx)
    return HTML(table_html(t, "Placement cost projection", {c: gbpm_plain for c in money}, numeric=money, note=note))


def scenario_table(ctx: QuarterContext) -> HTML:
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_scenarios(ctx, publish(ctx, "placements_scenarios", scenario_costs(ctx)))


def scenario_costs(ctx: QuarterContext) -> pd.DataFrame:
    """Each what-if scenario's cost by financial year (median; this year's including spend to date) and its
    change against the baseline (median and 80% range), with the children in care at the end."""
    s = bundle(ctx)["scenarios"]
    _, ytd = line_figures(ctx)
    # the year's cost as the table and the cost projection state it: this year's includes spend to date
    pub = s.copy()
    pub.loc[pub["financial_year"] == ctx.quarter.fy, "cost_median_gbpm"] += ytd
    return pub


def render_scenarios(ctx: QuarterContext, s: pd.DataFrame) -> HTML:
    years = sorted(s["financial_year"].unique())
    rows = []
    for name, g in s.groupby("scenario", sort=False):
        g = g.set_index("financial_year")
        r = {"Scenario": name, "What changes": g["description"].iloc[0]}
        for y in years:
            if name == "Baseline":
                r[f"{y} £m"] = f"{gbpm_plain(g.at[y, 'cost_median_gbpm'])}"
            else:
                r[f"{y} £m"] = (f"{gbpm_plain(g.at[y, 'diff_median_gbpm'])} ({gbpm_plain(g.at[y, 'diff_low_gbpm'])} to "
                                f"{gbpm_plain(g.at[y, 'diff_high_gbpm'])})")
        r["Children in care at the end (median)"] = number(g["children_end_median"].iloc[0])
        rows.append(r)
    t = pd.DataFrame(rows)
    return HTML(table_html(t, "What-if scenarios", numeric=[c for c in t.columns if c.endswith("£m")] +
                           ["Children in care at the end (median)"],
                           note=f"Baseline: the cost projection above, median ({ctx.quarter.fy}: spend to date plus "
                                "the months left), and the projection's children in care at its end. Scenarios' children in care: the "
                                "baseline's plus the scenario's own median change on the same futures. Scenarios: change in cost against the baseline, median and 80% range, "
                                "from the same simulated futures (common random numbers: each scenario meets the same chance "
                                "events on each path), so the difference is the scenario's own effect. Scenarios start at "
                                "the quarter end and phase in over twelve months."))


def backtest_view(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    rows, accuracy = backtest_rows(ctx), backtest_accuracy(ctx)
    if len(rows):
        publish(ctx, "placements_backtest", rows)
        publish(ctx, "placements_backtest_summary", accuracy)
    return render_backtest(ctx, rows, accuracy)


def backtest_rows(ctx: QuarterContext) -> pd.DataFrame:
    """Each backtest quarter end's forecasts and outcome by months ahead, with the forecast that would
    have been used there (chosen from the outcomes known then) and its calibrated 80% range."""
    return bundle(ctx)["backtest"]


def backtest_accuracy(ctx: QuarterContext) -> pd.DataFrame:
    """``backtest_table`` of the quarter's backtest (empty when there is none)."""
    b = bundle(ctx)
    bt = b["backtest"]
    if not len(bt):
        return pd.DataFrame()
    return backtest_table(bt, b["choice"] if "choice" in b else pl_backtest.choose(bt))


def model_warnings(ctx: QuarterContext) -> pd.DataFrame:
    """The fitting routines' numerical warnings (source, warning); empty when there were none."""
    w = bundle(ctx).get("model_warnings")
    return w if w is not None else pd.DataFrame(columns=["source", "warning"])


def _warnings_note(w: pd.DataFrame) -> str:
    if not len(w):
        return ""
    return (f" The fitting routines reported {plural(len(w), 'numerical warning')} (usually placement types with few "
            "children); they are listed in the tables workbook.")


def method_note(ctx: QuarterContext, warnings: pd.DataFrame | None = None) -> Markdown:
    """The method in words; ``warnings`` (``model_warnings``) are counted in it. Called without them it
    computes and publishes them itself (the notebook does the steps)."""
    if warnings is None:
        warnings = model_warnings(ctx)
        if len(warnings):
            publish(ctx, "placements_model_warnings", warnings)
    p = bundle(ctx)["params"].iloc[0]
    return Markdown(
        f"*Method.* The SSDA903 episodes as known on {pd.Timestamp(p['origin']):%-d %B %Y} give each child's placement "
        "type and provider, age on each day and time in care. Monthly entrants are a negative binomial "
        f"regression with month-of-year effects, its level the last twelve months' (about "
        f"{number(p['entries_per_month'], 1)} a month); leaving care is a discrete-time logistic hazard on placement type, "
        "age band and time in care, fitted on the three years before the quarter end; moves between placement types, "
        "first placements and reasons for leaving use the shares seen in those years; children leave at 18. "
        f"{number(p['paths'])} simulated futures give the median and ranges; on each, the entry "
        f"and exit rates drift year to year by as much as they did historically (standard deviation "
        f"{pct(100 * p['entry_sd'])} and {pct(100 * p['exit_sd'])} a year), so the ranges carry the uncertainty of the "
        "rates and not only chance. Costs are placement days times the daily cost (the weekly cost divided by seven; from the ledger's "
        "spend over placement days where the ledger links its cost centres to placement types, else the council's "
        "assumed rate; each simulated future draws its own weekly costs within their measured range), uplifted by "
        f"{pct(100 * p['inflation'])} a year. An exponential smoothing model (ETS, damped trend) on the monthly totals "
        "is shown beside it. The projection used at each distance ahead is the average of no change, a Markov "
        "stock-flow model and that exponential smoothing, unless the backtest found one of the three clearly more "
        "accurate there (by more than twice the standard error, allowing for forecasts from consecutive quarter ends "
        "sharing most of their months); this model gives the spread, the placement mix and "
        "the costs around it, and its 80% range is the model's, widened or narrowed by how far the backtest's outcomes fell from that forecast "
        "(a conformal calibration)."
        + (f" Adjustments to the model this quarter: {str(p['notes']).rstrip('.')}." if p.get("notes") else "")
        + _warnings_note(warnings)
        + (f" {number(p['episodes_without_dob'])} episodes of children with no usable header row (no date of birth) "
           "are left out: see Data quality and method." if p.get("episodes_without_dob", 0) else ""))
