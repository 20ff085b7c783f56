"""The placement cost projection of a quarter (fit, 1,000-path simulation, scenarios, backtest) as a
bundle of tables, and the settings that say how the budget uses it. The model run is cached in the work
folder, keyed by its inputs, settings and code (cache_key), so the budget and placements notebooks of one
build, and a re-run on the same inputs, compute it once."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from pipeline.core.paths import folder_hash
from pipeline.ingest.ledger import read_mapping_csv
from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements import backtest as pl_backtest
from pipeline.placements import history as pl_history
from pipeline.placements import model as pl_model
from pipeline.placements import simulation as pl_simulation
from pipeline.placements import unit_costs as pl_unit_costs
from pipeline.quarter.context import QuarterContext

HORIZON_YEARS = 3


BACKTEST_ORIGINS = 12  # the last twelve quarter ends with three years of history behind them


BACKTEST_PATHS = 200


SCENARIO_PATHS = 500


SCENARIOS = [
    pl_simulation.Scenario("Step down 10% of residential placements", step_down_share=0.10),
    pl_simulation.Scenario("20 more in-house foster placements", in_house_carers=20),
    pl_simulation.Scenario("Returns home up 20%", returns_home_uplift=0.20),
    pl_simulation.Scenario("Special guardianship orders up 20%", sgo_uplift=0.20),
    pl_simulation.Scenario("Inflation 2 points higher", inflation=None),  # set from the params inflation + 0.02
]


def available(ctx: QuarterContext) -> bool:
    kinds = {s.kind for s in ctx.params.inputs.values()}
    return "ssda903" in kinds and "placement_unit_costs" in ctx.params.inputs


def cache_key(ctx: QuarterContext) -> str:
    h = hashlib.sha256()
    for f in sorted((ctx.work_dir / "inputs").glob("*ssda903_*.parquet")) + \
            [ctx.work_dir / "inputs" / "placement_unit_costs.parquet"] + _unit_cost_files(ctx):
        if f.exists():
            h.update(f.read_bytes())
    folder_hash(h, "placements", "ingest/ssda903", "ingest/ledger.py", "ingest/ledger_files.py", "quarter/placement_bundle.py")
    h.update(json.dumps({k: getattr(ctx.params.settings, k) for k in ("placement_inflation", "placement_paths",
                                                                   "placement_seed")}, sort_keys=True).encode())
    h.update(ctx.params.data_as_at.isoformat().encode())
    return h.hexdigest()


def bundle(ctx: QuarterContext) -> dict[str, pd.DataFrame]:
    """The model's results as tables (computed once per inputs and code; see the module docstring)."""
    return ctx.cached("placement_bundle", lambda: _load_or_compute(ctx))


def _load_or_compute(ctx: QuarterContext) -> dict[str, pd.DataFrame]:
    d = ctx.work_dir / "derived" / "placements"
    key = cache_key(ctx)
    if (d / "key.txt").exists() and (d / "key.txt").read_text() == key:
        out = {p.stem: pd.read_parquet(p) for p in d.glob("*.parquet")}
    else:
        out = compute(ctx)
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*.parquet"):
            old.unlink()
        for name, df in out.items():
            df.to_parquet(d / f"{name}.parquet", index=False)
        (d / "key.txt").write_text(key)
    return out


def model_settings(ctx):
    s = ctx.params.settings
    return float(s.placement_inflation), int(s.placement_paths), int(s.placement_seed)


def compute(ctx: QuarterContext) -> dict[str, pd.DataFrame]:
    key = next(k for k, s in ctx.params.inputs.items() if s.kind == "ssda903")
    episodes = ctx.table(f"{key}_episodes")
    spells = pl_history.prepare(episodes, ctx.table(f"{key}_header"))
    no_dob = int(spells.attrs.get("episodes_without_dob", 0))
    # the returns begin with the first collection year held: before it, children who left are missing
    ret_start = pd.Timestamp(int(episodes["collection_year"].min()[:4]), 4, 1)
    origin = pd.Timestamp(ctx.params.data_as_at)
    spells = pl_history.as_at(spells, origin)  # never use what was not known at the quarter end
    inflation, paths, seed = model_settings(ctx)
    # unit costs from the ledger's placement cost centres where it has them, else the params table's;
    # each path draws its own (factors), so the cost range carries the unit-cost uncertainty too
    unit = unit_costs(ctx, spells, origin, inflation, seed)
    costs = pl_unit_costs.as_costs(unit)
    factors = pl_unit_costs.draw_factors(unit, paths, seed)
    first = max(ret_start, origin - pd.DateOffset(years=8))
    # history: month-end stock by category, flows
    daily = pl_history.daily_stock(spells, pd.Timestamp(first.year, first.month, 1), origin)
    month_end = daily[daily.index.is_month_end]
    history = month_end.reset_index(names="month")
    flows = pl_history.monthly_flows(spells, daily.index[0], origin).reset_index()
    flows["month"] = flows["month"].dt.to_timestamp()
    # project to the end of the third financial year after this one's start
    fy_start = origin.year - (origin.month < 4)
    end = pd.Timestamp(fy_start + HORIZON_YEARS, 3, 31)
    horizon = (end.to_period("M") - origin.to_period("M")).n
    model = pl_model.fit(spells, origin, horizon=horizon, history_start=ret_start)
    state = pl_simulation.state_at(spells, origin)
    state_counts = np.bincount(state["category"], minlength=len(CATEGORIES))
    sim = pl_simulation.simulate(model, state, paths=paths, seed=seed)
    # backtest: quarter ends with three years behind them and at least three months ahead; only outcomes
    # known at this quarter end. It chooses, per horizon, the forecast used (see placements.choose)
    bt_origins = [o for o in pd.date_range(ret_start + pd.DateOffset(years=3), origin - pd.DateOffset(months=3),
                                           freq="QE")][-BACKTEST_ORIGINS:]
    # by placement type too (one more Markov run per quarter end): how well it did for each type
    bt = pl_backtest.backtest(spells, bt_origins, origin, paths=BACKTEST_PATHS, seed=seed, history_start=ret_start,
                              by_category=True)
    choice = pl_backtest.choose(bt)
    methods, scale = pl_backtest.horizon_plan(choice, horizon)
    total = sim["stock"].sum(axis=2)
    model_median = np.median(total, axis=0)
    # no change, Markov, ETS and their average: one computation for the projection and the ETS line on the chart
    points = {"model": model_median, **pl_backtest.baseline_points(spells, origin, horizon, ret_start)}
    point = np.array([points[m][i] for i, m in enumerate(methods)])
    used_stock = pl_backtest.recentre(sim["stock"], point, scale, centre=model_median)
    shift = used_stock.sum(axis=2) - total  # per path and month: applied to the scenarios' paths too
    fan = pl_simulation.fan(used_stock, model.months)
    fan["method"] = methods
    fan["scale"] = scale
    fan["months_ahead"] = np.arange(1, horizon + 1)
    model_fan = pl_simulation.fan(sim["stock"], model.months)
    model_fan["markov"] = points["markov"]
    model_fan["naive"] = points["naive"]
    by_cat = pd.DataFrame(np.median(used_stock, axis=0), columns=CATEGORIES)
    by_cat.insert(0, "month", model.months.to_timestamp(how="end").normalize())
    cost = pl_simulation.projected_cost(used_stock, model.months, costs, inflation, state_counts, factors)
    model_cost = pl_simulation.projected_cost(sim["stock"], model.months, costs, inflation, state_counts, factors)
    fixed_cost = pl_simulation.projected_cost(used_stock, model.months, costs, inflation, state_counts)
    scen_rows = []
    for sc in [pl_simulation.Scenario()] + SCENARIOS:
        if sc.name.startswith("Inflation"):
            sc = pl_simulation.Scenario(sc.name, inflation=inflation + 0.02)
        # common random numbers: a scenario meets the same chance events as the baseline on the same path,
        # so the difference is the scenario's own; SCENARIO_PATHS of the baseline's paths are enough
        n = min(paths, SCENARIO_PATHS)
        if sc.name == "Baseline":
            # the baseline is the projection itself (all its paths): one figure for one quantity
            s_stock, s_cost = used_stock, cost
        else:
            if sc.inflation is not None and sc.describe().startswith("unit-cost"):
                s_stock = used_stock[:n]
            else:
                # the scenario's own paths, moved path by path as the baseline's were to the forecast used
                s_stock = pl_backtest.path_shift(pl_simulation.simulate(model, state, paths=n, seed=seed, scenario=sc)["stock"], shift[:n])
            s_cost = pl_simulation.projected_cost(s_stock, model.months, costs,
                                       sc.inflation if sc.inflation is not None else inflation, state_counts,
                                       factors[:n])
        s_sim = {"stock": s_stock}
        diff = s_cost - cost.iloc[:len(s_cost)]
        for y in cost.columns:
            scen_rows.append({"scenario": sc.name, "description": sc.describe(), "financial_year": y,
                              "cost_median_gbpm": float(np.median(s_cost[y])),
                              "diff_median_gbpm": float(np.median(diff[y])),
                              "diff_low_gbpm": float(np.quantile(diff[y], 0.1)),
                              "diff_high_gbpm": float(np.quantile(diff[y], 0.9)),
                              "children_end_median": children_end(used_stock, s_sim["stock"])})
    ets = points["ets_frame"].copy()  # the copy keeps its notes and warnings (attrs)
    ets_notes, ets_warnings = ets.attrs.get("notes", []), ets.attrs.get("warnings", [])
    ets.insert(0, "month", model.months.to_timestamp(how="end").normalize())
    bt = pl_backtest.replay_choice(bt)
    # the counts by placement type (small ones among them) stay out of the backtest rows the pack publishes:
    # a table of their own, read only for the accuracy by type (placements.accuracy_by_type)
    type_cols = [c for c in bt.columns if c.startswith("cat_")]
    bt_types = bt[["origin", "horizon", "actual", "used"] + type_cols].copy() if type_cols else pd.DataFrame()
    bt = bt.drop(columns=type_cols)
    # the longer record: the simple forecasts (no simulation) at every quarter end with a year of history
    longer = pl_backtest.simple_backtest(spells, origin, ret_start)
    params = pd.DataFrame([{"origin": origin, "window_start": model.window[0], "entry_sd": model.entry_sd,
                            "exit_sd": model.exit_sd, "entry_alpha": model.entry_alpha, "paths": paths, "seed": seed,
                            "inflation": inflation, "entries_per_month": float(model.entry_mean[:12].sum() / 12),
                            "notes": "; ".join(model.notes + ets_notes), "episodes_without_dob": no_dob}])
    warn = pd.DataFrame({"source": ["placement model"] * len(model.warnings) + ["exponential smoothing (ETS)"] * len(ets_warnings),
                         "warning": model.warnings + ets_warnings})
    exits = pd.DataFrame(sim["exits"].mean(axis=0), columns=["returned_home", "special_guardianship", "adoption",
                                                            "other", "age_18"])
    exits.insert(0, "month", model.months.to_timestamp(how="end").normalize())
    days_cost = pl_history.days_and_cost(daily, costs, inflation)
    return {"history": history, "flows": flows, "fan": fan, "by_category": by_cat,
            "cost_paths": cost.reset_index(drop=True), "scenarios": pd.DataFrame(scen_rows), "ets": ets,
            "backtest": bt, "backtest_by_type": bt_types, "backtest_longer": longer, "params": params, "exits": exits, "days_cost": days_cost, "choice": choice,
            "model_fan": model_fan, "model_cost_paths": model_cost.reset_index(drop=True), "model_warnings": warn,
            "unit_costs": unit, "cost_paths_units_fixed": fixed_cost.reset_index(drop=True)}


def _unit_cost_files(ctx: QuarterContext) -> list:
    """The files the unit-cost estimate reads besides the SSDA903 and params tables: the prepared ledger
    and the cost-centre mapping (its placement_category column)."""
    out = [ctx.work_dir / "inputs" / f"{k}.parquet" for k, s in ctx.params.inputs.items() if s.kind == "ledger"]
    if "cost_centres" in ctx.params.inputs:
        out.append(ctx.params.inputs["cost_centres"].path)
    return out


def children_end(base: np.ndarray, scen: np.ndarray) -> float:
    """Children in care at the projection's end in a scenario: the baseline's median (all its paths) plus the
    median path-by-path change on the scenario's paths (the baseline's first ones), so a scenario that changes
    only costs shows exactly the baseline's number, and one that changes flows shows its own effect, not the
    chance of which paths it ran on."""
    end = base[:, -1].sum(axis=1)
    n = len(scen)
    return float(np.median(end) + np.median(scen[:, -1].sum(axis=1) - end[:n]))


def unit_costs(ctx: QuarterContext, spells: pd.DataFrame, origin: pd.Timestamp, inflation: float,
               seed: int) -> pd.DataFrame:
    """``unit_costs.estimate`` on the quarter's ledger and cost-centre mapping (none: the params figures)."""
    lk, mapping = _ledger_mapping(ctx)
    ledger = ctx.table(lk) if lk else None
    return pl_unit_costs.estimate(spells, ledger, mapping, ctx.table("placement_unit_costs"), origin, inflation, seed)


def _ledger_mapping(ctx: QuarterContext) -> tuple[str | None, pd.DataFrame | None]:
    """The quarter's ledger input key and its cost-centre mapping (None where the params have none)."""
    lk = next((k for k, s in ctx.params.inputs.items() if s.kind == "ledger"), None)
    spec = ctx.params.inputs.get("cost_centres")
    return lk, (read_mapping_csv(spec.path, f"{spec.rel_path} (input 'cost_centres')") if spec and lk else None)


FORECAST_SETTINGS = ("model", "budget_holder")


def forecast_setting(ctx: QuarterContext) -> str:
    """Which placements forecast the budget total uses: settings.placements_forecast, ``model`` (the
    placement projection, default) or ``budget_holder`` (the ledger's forecast for the line)."""
    v = ctx.params.settings.placements_forecast.strip().lower()
    if v not in FORECAST_SETTINGS:
        raise ValueError(f"params settings.placements_forecast is {v!r}: expected one of {', '.join(FORECAST_SETTINGS)}")
    return v


def uses_projection(ctx: QuarterContext) -> bool:
    """True when the budget total's placements line is the placement projection (the budget section
    replaces the line with ``current_year_cost``); False when it keeps the budget holder's forecast."""
    return available(ctx) and forecast_setting(ctx) == "model"


def current_year_cost(ctx: QuarterContext) -> dict | None:
    """The projected cost of the months left in this financial year (median and 80% range, £m) of the
    forecast used; None when the projection is not available or the settings say the budget total
    uses the budget holder's forecast (settings.placements_forecast: budget_holder)."""
    if not uses_projection(ctx):
        return None
    b = bundle(ctx)
    fy = ctx.quarter.fy
    paths = b["cost_paths"]
    if fy not in paths.columns:
        return None
    v = paths[fy]
    return {"median": float(np.median(v)), "low": float(np.quantile(v, 0.1)), "high": float(np.quantile(v, 0.9))}


def placements_line(ctx) -> str:
    """The budget line the placement projection forecasts (settings.placements_line)."""
    return ctx.params.settings.placements_line



def unit_cost_check(ctx: QuarterContext) -> list[str]:
    """For ``cspack check``: where the placement unit costs will come from (``unit_costs.mapping_notes``)."""
    if not available(ctx):
        return []
    lk, mapping = _ledger_mapping(ctx)
    return pl_unit_costs.mapping_notes(lk is not None, mapping)
