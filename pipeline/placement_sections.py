"""What the placements notebook displays, and the placement cost projection the budget section uses
for the placements line. The model run (fit, 1,000-path simulation, scenarios, backtest) is cached in
the work folder, keyed by its inputs, settings and code, so the budget and placements notebooks of one
build, and a re-run on the same inputs, compute it once."""

from __future__ import annotations

import hashlib
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from . import placements as pl
from .context import QuarterContext
from .formatting import gbpm, gbpm_plain, number, pct, plural
from .report import DARK_BLUE, DARK_GREY, FOCUS_GREY, ORANGE, TURQUOISE, chart, table_html, titled
from .disclosure import FOOTNOTE, suppress
from .ssda903 import CATEGORIES, CATEGORY_LABELS

SECTION = "Placements"
HORIZON_YEARS = 3
BACKTEST_ORIGINS = 12  # the last twelve quarter ends with three years of history behind them
BACKTEST_PATHS = 200
SCENARIO_PATHS = 500
SCENARIOS = [
    pl.Scenario("Step down 10% of residential placements", step_down_share=0.10),
    pl.Scenario("20 more in-house foster placements", in_house_carers=20),
    pl.Scenario("Returns home up 20%", returns_home_uplift=0.20),
    pl.Scenario("Special guardianship orders up 20%", sgo_uplift=0.20),
    pl.Scenario("Inflation 2 points higher", inflation=None),  # set from the params inflation + 0.02
]


def available(ctx: QuarterContext) -> bool:
    kinds = {s.kind for s in ctx.params.inputs.values()}
    return "ssda903" in kinds and "placement_unit_costs" in ctx.params.inputs


def _key(ctx: QuarterContext) -> str:
    from .paths import PACKAGE_DIR

    h = hashlib.sha256()
    for f in sorted((ctx.work_dir / "inputs").glob("*ssda903_*.parquet")) + \
            [ctx.work_dir / "inputs" / "placement_unit_costs.parquet"]:
        if f.exists():
            h.update(f.read_bytes())
    for name in ("placements.py", "placement_sections.py"):
        h.update((PACKAGE_DIR / name).read_bytes())
    h.update(json.dumps({k: ctx.params.settings.get(k) for k in ("placement_inflation", "placement_paths",
                                                                   "placement_seed")}, sort_keys=True).encode())
    h.update(ctx.params.data_as_at.isoformat().encode())
    return h.hexdigest()


def bundle(ctx: QuarterContext) -> dict[str, pd.DataFrame]:
    """The model's results as tables (computed once per inputs and code; see the module docstring)."""
    cached = getattr(ctx, "_placement_bundle", None)
    if cached is not None:
        return cached
    d = ctx.work_dir / "derived" / "placements"
    key = _key(ctx)
    if (d / "key.txt").exists() and (d / "key.txt").read_text() == key:
        out = {p.stem: pd.read_parquet(p) for p in d.glob("*.parquet")}
    else:
        out = _compute(ctx)
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.parquet"):
            old.unlink()
        for name, df in out.items():
            df.to_parquet(d / f"{name}.parquet", index=False)
        (d / "key.txt").write_text(key)
    object.__setattr__(ctx, "_placement_bundle", out)
    return out


def _settings(ctx):
    s = ctx.params.settings
    return float(s.get("placement_inflation", 0.03)), int(s.get("placement_paths", 1000)), int(s.get("placement_seed", 2026))


def _compute(ctx: QuarterContext) -> dict[str, pd.DataFrame]:
    key = next(k for k, s in ctx.params.inputs.items() if s.kind == "ssda903")
    episodes = ctx.table(f"{key}_episodes")
    spells = pl.prepare(episodes, ctx.table(f"{key}_header"))
    no_dob = int(spells.attrs.get("episodes_without_dob", 0))
    # the returns begin with the first collection year held: before it, children who left are missing
    ret_start = pd.Timestamp(int(episodes["collection_year"].min()[:4]), 4, 1)
    origin = pd.Timestamp(ctx.params.data_as_at)
    spells = pl.as_at(spells, origin)  # never use what was not known at the quarter end
    costs = ctx.table("placement_unit_costs")
    inflation, paths, seed = _settings(ctx)
    first = max(ret_start, origin - pd.DateOffset(years=8))
    # history: month-end stock by category, flows
    daily = pl.daily_stock(spells, pd.Timestamp(first.year, first.month, 1), origin)
    month_end = daily[daily.index.is_month_end]
    history = month_end.reset_index(names="month")
    flows = pl.monthly_flows(spells, daily.index[0], origin).reset_index()
    flows["month"] = flows["month"].dt.to_timestamp()
    # project to the end of the third financial year after this one's start
    fy_start = origin.year - (origin.month < 4)
    end = pd.Timestamp(fy_start + HORIZON_YEARS, 3, 31)
    horizon = (end.to_period("M") - origin.to_period("M")).n
    model = pl.fit(spells, origin, horizon=horizon)
    state = pl.state_at(spells, origin)
    state_counts = np.bincount(state["category"], minlength=len(CATEGORIES))
    sim = pl.simulate(model, state, paths=paths, seed=seed)
    fan = pl.fan(sim["stock"], model.months)
    by_cat = pd.DataFrame(np.median(sim["stock"], axis=0), columns=CATEGORIES)
    by_cat.insert(0, "month", model.months.to_timestamp(how="end").normalize())
    cost = pl.projected_cost(sim["stock"], model.months, costs, inflation, state_counts)
    scen_rows = []
    for sc in [pl.Scenario()] + SCENARIOS:
        if sc.name.startswith("Inflation"):
            sc = pl.Scenario(sc.name, inflation=inflation + 0.02)
        # common random numbers: a scenario meets the same chance events as the baseline on the same path,
        # so the difference is the scenario's own; SCENARIO_PATHS of the baseline's paths are enough
        n = min(paths, SCENARIO_PATHS)
        if sc.name == "Baseline" or (sc.inflation is not None and sc.describe().startswith("unit-cost")):
            s_stock = sim["stock"][:n]
        else:
            s_stock = pl.simulate(model, state, paths=n, seed=seed, scenario=sc)["stock"]
        s_sim = {"stock": s_stock}
        s_cost = pl.projected_cost(s_stock, model.months, costs,
                                   sc.inflation if sc.inflation is not None else inflation, state_counts)
        diff = s_cost - cost.iloc[:n]
        for y in cost.columns:
            scen_rows.append({"scenario": sc.name, "description": sc.describe(), "financial_year": y,
                              "cost_median_gbpm": float(np.median(s_cost[y])),
                              "diff_median_gbpm": float(np.median(diff[y])),
                              "diff_low_gbpm": float(np.quantile(diff[y], 0.1)),
                              "diff_high_gbpm": float(np.quantile(diff[y], 0.9)),
                              "children_end_median": float(np.median(s_sim["stock"][:, -1].sum(axis=1)))})
    totals = history.set_index("month")[CATEGORIES].sum(axis=1)
    ets = pl.ets_forecast(totals[totals.index >= ret_start + pd.DateOffset(years=1)], horizon)
    ets.insert(0, "month", model.months.to_timestamp(how="end").normalize())
    # backtest: quarter ends with three years behind them and at least three months ahead
    bt_origins = [o for o in pd.date_range(ret_start + pd.DateOffset(years=3), origin - pd.DateOffset(months=3),
                                           freq="QE")][-BACKTEST_ORIGINS:]
    bt = pl.backtest(spells, bt_origins, origin, paths=BACKTEST_PATHS, seed=seed)
    params = pd.DataFrame([{"origin": origin, "window_start": model.window[0], "entry_sd": model.entry_sd,
                            "exit_sd": model.exit_sd, "entry_alpha": model.entry_alpha, "paths": paths, "seed": seed,
                            "inflation": inflation, "entries_per_month": float(model.entry_mean[:12].sum() / 12),
                            "notes": "; ".join(model.notes), "episodes_without_dob": no_dob}])
    exits = pd.DataFrame(sim["exits"].mean(axis=0), columns=["returned_home", "special_guardianship", "adoption",
                                                            "other", "age_18"])
    exits.insert(0, "month", model.months.to_timestamp(how="end").normalize())
    days_cost = pl.days_and_cost(daily, costs, inflation)
    return {"history": history, "flows": flows, "fan": fan, "by_category": by_cat,
            "cost_paths": cost.reset_index(drop=True), "scenarios": pd.DataFrame(scen_rows), "ets": ets,
            "backtest": bt, "params": params, "exits": exits, "days_cost": days_cost}


# ---- for the budget section ---------------------------------------------------------------------------
def current_year_cost(ctx: QuarterContext) -> dict | None:
    """The projected cost of the months left in this financial year (median and 80% range, £m)."""
    if not available(ctx):
        return None
    b = bundle(ctx)
    fy = ctx.quarter.fy
    paths = b["cost_paths"]
    if fy not in paths.columns:
        return None
    v = paths[fy]
    return {"median": float(np.median(v)), "low": float(np.quantile(v, 0.1)), "high": float(np.quantile(v, 0.9))}


# ---- displays ----------------------------------------------------------------------------------------------
def _fy_end_rows(fan: pd.DataFrame) -> pd.DataFrame:
    return fan[(fan["month"].dt.month == 3)]


def headline(ctx: QuarterContext) -> Markdown:
    if not available(ctx):
        return Markdown("*The placements projection needs an SSDA903 input (`kind: ssda903`) and a "
                        "`placement_unit_costs` table in this quarter's params; this quarter has neither, so the "
                        "section is not shown.*")
    b = bundle(ctx)
    hist, fan = b["history"], b["fan"]
    now = int(hist[CATEGORIES].iloc[-1].sum())
    year_ago = hist[hist["month"] == hist["month"].iloc[-1] - pd.DateOffset(years=1)]
    parts = [f"{number(now)} children were in care on {hist['month'].iloc[-1]:%-d %B %Y}"
             + (f", against {number(int(year_ago[CATEGORIES].iloc[0].sum()))} a year earlier." if len(year_ago) else ".")]
    for r in _fy_end_rows(fan).itertuples():
        parts.append(f"At {r.month:%-d %B %Y} the projection's median is {number(r.median)} (80% range "
                     f"{number(r.low_80)} to {number(r.high_80)}).")
    cost = b["cost_paths"]
    budget, ytd = _line_figures(ctx)
    if budget is not None:
        fy = ctx.quarter.fy
        over = cost[fy] + ytd - budget if fy in cost else None
        if over is not None:
            lo, hi = np.quantile(over, [0.1, 0.9])
            verb = "exceed" if np.median(over) > 0 else "fall below"
            parts.append(f"Placement spending in {fy} is expected to {verb} budget by {gbpm(abs(lo))} to "
                         f"{gbpm(abs(hi))} (80% range; median {gbpm(float(np.median(over)), signed=True)}), the "
                         "spend to date plus the projected cost of the remaining months.")
    parts.append("**SYNTHETIC DATA**: the episodes are the synthetic authority's." if ctx.params.any_synthetic else "")
    return Markdown(" ".join(p for p in parts if p))


def placements_line(ctx) -> str:
    """The budget line the placement projection forecasts (settings.placements_line)."""
    return str(ctx.params.settings.get("placements_line", "placements"))


def _line_figures(ctx) -> tuple[float | None, float]:
    """The placements line's budget (None without a ledger) and spend to date, as the budget section
    read them from the ledger (its view, computed once per context)."""
    from .budget_sections import view

    d = view(ctx).detail
    if d is None or placements_line(ctx) not in set(d["line_id"]):
        return None, 0.0
    r = d.set_index("line_id").loc[placements_line(ctx)]
    return float(r["controllable_budget_gbpm"]), float(r["ytd_actual_gbpm"])


def fan_figure(ctx: QuarterContext):
    b = bundle(ctx)
    hist, fan, ets = b["history"], b["fan"], b["ets"]
    total = hist.set_index("month")[CATEGORIES].sum(axis=1)
    total = total[total.index >= total.index[-1] - pd.DateOffset(years=5)]
    fig, ax = plt.subplots(figsize=(8.5, 4))
    ax.plot(total.index, total.to_numpy(), color=DARK_GREY, linewidth=1.8, label="Actual (month end)")
    for lv, alpha in ((95, 0.15), (80, 0.25), (50, 0.4)):
        ax.fill_between(fan["month"], fan[f"low_{lv}"], fan[f"high_{lv}"], color=DARK_BLUE, alpha=alpha, linewidth=0,
                        label=f"{lv}% range")
    ax.plot(fan["month"], fan["median"], color=DARK_BLUE, linewidth=1.8, label="Projection (median)")
    ax.plot(ets["month"], ets["mean"], color=ORANGE, linewidth=1.2, linestyle="--", label="Cross-check: ETS on totals")
    ax.set_ylabel("Children in care")
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.08))
    end = fan.iloc[-1]
    titled(fig, ax, f"Children in care projected at {number(end['median'])} by {end['month']:%B %Y}",
           f"Children looked after at each month end, actual and projected with 50/80/95% ranges; {ctx.params.authority}")
    ctx.publish("placements_projection", fan, "Children in care: projection by month (median and ranges)", SECTION)
    alt = (f"Fan chart of children in care: actual month-end numbers to {total.index[-1]:%B %Y} (latest "
           f"{number(total.iloc[-1])}), then the projected median reaching {number(end['median'])} by "
           f"{end['month']:%B %Y} with an 80% range of {number(end['low_80'])} to {number(end['high_80'])}; the ETS "
           f"cross-check ends at {number(ets['mean'].iloc[-1])}.")
    return chart(fig, alt)


def mix_figure(ctx: QuarterContext):
    b = bundle(ctx)
    hist = b["history"].set_index("month")[CATEGORIES]
    hist = hist[hist.index >= hist.index[-1] - pd.DateOffset(years=5)]
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
    mix = hist.reset_index()
    threshold = int(ctx.params.settings.get("small_count_threshold", 5))
    mix_out, _ = suppress(mix, CATEGORIES, threshold)
    ctx.publish("placements_mix", mix_out, "Children in care by placement type at each month end ("
                + FOOTNOTE.format(n=threshold - 1) + ")", SECTION, child_counts=CATEGORIES)
    alt = ("Stacked area chart of the placement mix over five years: " + "; ".join(
        f"{CATEGORY_LABELS[c]} {pct(first[c])} to {pct(last[c])}" for c in CATEGORIES) + ".")
    return chart(fig, alt)


def flows_figure(ctx: QuarterContext):
    b = bundle(ctx)
    f = b["flows"].set_index("month")
    f = f[f.index >= f.index[-1] - pd.DateOffset(years=3)]
    # whole quarters only: the first months may be the tail of one
    quarter = f.index.to_period("Q-MAR")
    whole = pd.Series(quarter).map(pd.Series(quarter).value_counts()).to_numpy() == 3
    f = f[whole]
    reasons = ["ceased_returned_home", "ceased_special_guardianship", "ceased_adoption", "ceased_age_18", "ceased_other"]
    q = f.resample("QE").sum()
    # small numbers: a reason with fewer than the threshold in a quarter is drawn within "other reasons"
    threshold = int(ctx.params.settings.get("small_count_threshold", 5))
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
               label="Ceased: " + (pl.REASON_LABELS[r.replace("ceased_", "")].lower() if r != "ceased_other" else
                                   "other reasons (and any reason with fewer than " + str(threshold) + ")"))
        bottom += q[r].to_numpy()
    ax.set_xticks(x, [f"{d.year - (d.month < 4)}-{(d.year - (d.month < 4) + 1) % 100:02d} Q{((d.month - 4) % 12) // 3 + 1}"
                      for d in q.index], rotation=45, fontsize=7, ha="right")
    ax.set_ylabel("Children per quarter")
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    s_in, s_out = int(q["starts"].iloc[-4:].sum()), int(q["ceased"].iloc[-4:].sum())
    titled(fig, ax, f"{number(s_in)} started care and {number(s_out)} left in the last year",
           f"Children starting and ceasing care by quarter and reason; {ctx.params.authority}")
    threshold = int(ctx.params.settings.get("small_count_threshold", 5))
    fl = b["flows"].copy()
    parts = [c for c in fl.columns if c.startswith("ceased_")]
    fl_out, _ = suppress(fl, parts, threshold, total_col="ceased")
    for c in ("starts", "moves"):
        fl_out[c] = suppress(fl[[c]], [c], threshold, secondary=False)[0][c]
    ctx.publish("placements_flows", fl_out, "Children starting, moving and ceasing care by month ("
                + FOOTNOTE.format(n=threshold - 1) + ")", SECTION, child_counts=parts + ["ceased", "starts", "moves"])
    alt = (f"Bar chart by quarter of children starting care and ceasing care by reason over three years; in the last "
           f"four quarters {number(s_in)} started and {number(s_out)} ceased.")
    return chart(fig, alt)


def unit_costs_table(ctx: QuarterContext) -> HTML:
    b = bundle(ctx)
    inflation, _, _ = _settings(ctx)
    costs = ctx.table("placement_unit_costs").set_index("category")
    dc = b["days_cost"]
    last4 = dc[dc["financial_year"] == ctx.quarter.fy]
    days = last4.groupby("category")["days"].sum()
    rows = []
    for c in CATEGORIES:
        if c not in costs.index:
            continue
        rows.append({"Placement type": CATEGORY_LABELS[c], "Weekly cost £": float(costs.at[c, "weekly_cost_gbp"]),
                     "Base year": costs.at[c, "base_year"], f"Placement days {ctx.quarter.fy} to date": int(days.get(c, 0)),
                     "Cost to date £m": float(last4.loc[last4["category"] == c, "cost_gbpm"].sum())})
    t = pd.DataFrame(rows)
    ctx.publish("placements_unit_costs", t, "Placement unit costs and days", SECTION)
    src = "; ".join(dict.fromkeys(costs["source"]))
    return HTML(table_html(t, "Unit costs by placement type", {"Weekly cost £": lambda v: f"{v:,.2f}",
                                                               f"Placement days {ctx.quarter.fy} to date": number,
                                                               "Cost to date £m": gbpm_plain},
                           numeric=["Weekly cost £", f"Placement days {ctx.quarter.fy} to date", "Cost to date £m"],
                           note=f"Weekly costs uplifted by {pct(inflation * 100)} a year from their base year. Source: {src}."))


def cost_table(ctx: QuarterContext) -> HTML:
    b = bundle(ctx)
    cost = b["cost_paths"]
    budget, ytd = _line_figures(ctx)
    rows = []
    for i, y in enumerate(cost.columns):
        v = cost[y] + (ytd if y == ctx.quarter.fy else 0.0)
        r = {"Financial year": y, "Projected cost £m (median)": float(np.median(v)),
             "80% range low £m": float(np.quantile(v, 0.1)), "80% range high £m": float(np.quantile(v, 0.9))}
        if budget is not None:
            r["Budget £m"] = budget if i == 0 else np.nan
            r["Over (+) / under (-) budget £m (median)"] = float(np.median(v)) - budget
        rows.append(r)
    t = pd.DataFrame(rows)
    ctx.publish("placements_cost_projection", t, "Placement cost projection against budget", SECTION)
    money = [c for c in t.columns if c.endswith("£m") or "£m" in c]
    note = (f"{ctx.quarter.fy}: spend to date from the ledger ({gbpm(ytd)}) plus the projected cost of the months left. "
            "Later years: the whole year projected. The comparison with budget in later years holds this year's "
            "budget flat: later budgets are not yet set." if budget is not None else
            "No ledger in this quarter's params, so no budget to compare with.")
    return HTML(table_html(t, "Placement cost projection", {c: gbpm_plain for c in money}, numeric=money, note=note))


def scenario_table(ctx: QuarterContext) -> HTML:
    s = bundle(ctx)["scenarios"]
    years = sorted(s["financial_year"].unique())
    _, ytd = _line_figures(ctx)
    rows = []
    for name, g in s.groupby("scenario", sort=False):
        g = g.set_index("financial_year")
        r = {"Scenario": name, "What changes": g["description"].iloc[0]}
        for y in years:
            if name == "Baseline":
                r[f"{y} £m"] = f"{gbpm_plain(g.at[y, 'cost_median_gbpm'] + (ytd if y == ctx.quarter.fy else 0.0))}"
            else:
                r[f"{y} £m"] = (f"{gbpm_plain(g.at[y, 'diff_median_gbpm'])} ({gbpm_plain(g.at[y, 'diff_low_gbpm'])} to "
                                f"{gbpm_plain(g.at[y, 'diff_high_gbpm'])})")
        r["Children in care at the end (median)"] = number(g["children_end_median"].iloc[0])
        rows.append(r)
    t = pd.DataFrame(rows)
    ctx.publish("placements_scenarios", s, "What-if scenarios: cost against the baseline", SECTION)
    return HTML(table_html(t, "What-if scenarios", numeric=[c for c in t.columns if c.endswith("£m")] +
                           ["Children in care at the end (median)"],
                           note=f"Baseline: projected cost for the year, median ({ctx.quarter.fy}: spend to date plus "
                                "the months left). Scenarios: change in cost against the baseline, median and 80% range, "
                                "from the same simulated futures (common random numbers: each scenario meets the same chance "
                                "events on each path), so the difference is the scenario's own effect. Scenarios start at "
                                "the quarter end and phase in over twelve months."))


def backtest_view(ctx: QuarterContext):
    bt = bundle(ctx)["backtest"]
    if not len(bt):
        return [Markdown("*Not enough history to backtest: three years before the first origin are needed.*")]
    summary = pl.backtest_summary(bt)
    ctx.publish("placements_backtest", bt, "Backtest: each origin's forecasts and outcomes", SECTION)
    ctx.publish("placements_backtest_summary", summary, "Backtest accuracy and range coverage", SECTION)
    t = summary.rename(columns={"horizon_months": "Months ahead", "origins": "Origins", "model_wape": "cspack model %",
                                "naive_wape": "Naive (no change) %", "markov_wape": "Markov model %",
                                "coverage_50": "50% range held outcome %", "coverage_80": "80% range held outcome %",
                                "coverage_95": "95% range held outcome %"})
    r12 = summary.set_index("horizon_months").loc[12] if 12 in set(summary["horizon_months"]) else summary.iloc[-1]
    text = (f"Backtest: at {plural(bt['origin'].nunique(), 'quarter end')} from {bt['origin'].min():%B %Y} to "
            f"{bt['origin'].max():%B %Y}, the model was fitted only on what was known then and its forecasts compared "
            f"with what happened. Twelve months ahead its weighted absolute error was {pct(r12['model_wape'])}, against "
            f"{pct(r12['naive_wape'])} for assuming no change and {pct(r12['markov_wape'])} for a deterministic Markov "
            f"stock-flow model; its 80% range held the outcome {pct(r12['coverage_80'], 0)} of the time (a well-calibrated "
            "range: about 80%).")
    fmt = {c: (lambda v: pct(v)) for c in t.columns if c.endswith("%")}
    return [Markdown(text), HTML(table_html(t, "Backtest: weighted absolute % error of children in care, and range coverage",
                                            fmt, numeric=list(t.columns[1:]),
                                            note="Weighted absolute % error: the sum of |forecast - outcome| over "
                                                 f"origins divided by the sum of outcomes. {BACKTEST_PATHS} simulated paths per origin."))]


def method_note(ctx: QuarterContext) -> Markdown:
    p = bundle(ctx)["params"].iloc[0]
    return Markdown(
        f"*Method.* The SSDA903 episodes as known on {pd.Timestamp(p['origin']):%-d %B %Y} give each child's placement "
        "type (from PLACE and PLACE_PROVIDER), age on each day and time in care. Monthly entrants are a negative binomial "
        f"GLM (statsmodels) with month-of-year effects, its level the last twelve months' (about "
        f"{number(p['entries_per_month'], 1)} a month); leaving care is a discrete-time logistic hazard on placement type, "
        "age band and time in care, fitted on the three years before the quarter end; moves between placement types, "
        "first placements and reasons for leaving use the shares seen in those years; children leave at 18. "
        f"{number(p['paths'])} simulated futures (seed {int(p['seed'])}) give the median and ranges; on each, the entry "
        f"and exit rates drift year to year by as much as they did historically (standard deviation "
        f"{pct(100 * p['entry_sd'])} and {pct(100 * p['exit_sd'])} a year), so the ranges carry the uncertainty of the "
        "rates and not only chance. Costs are placement days times the weekly unit cost / 7, uplifted by "
        f"{pct(100 * p['inflation'])} a year. An exponential smoothing model (ETS, damped trend) on the monthly totals "
        "is shown as a cross-check."
        + (f" {number(p['episodes_without_dob'])} episodes of children with no usable header row (no date of birth) "
           "are left out: see Data quality and method." if p.get("episodes_without_dob", 0) else ""))
