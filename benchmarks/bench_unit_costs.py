"""How much the unit-cost uncertainty widens the placement cost range (docs/unit-costs.md).

On the default quarter (the bundled synthetic authority): the model is fitted and simulated as the pack does
(``placement_paths`` paths, the params seed; no backtest, so the model's own paths, not moved onto the
forecast used), and the cost of each financial year computed with the unit costs held at their central
figures and with each path's own draws. The bundled ledger's placement spend is exactly placement days times
a unit cost that changes once a year, so its monthly ratios barely vary; to see what a real ledger's monthly
noise (accruals, late invoices) would do, the same is repeated with each placement cost centre's monthly
actuals multiplied by a lognormal noise of 10% and 25% (fixed seed).

    PYTHONPATH=$PWD python benchmarks/bench_unit_costs.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements import history as pl_history
from pipeline.placements import model as pl_model
from pipeline.placements import simulation as pl_simulation
from pipeline.placements import unit_costs as uc
from pipeline.quarter import placement_bundle as pb
from pipeline.quarter.context import open_quarter


def main() -> None:
    ctx = open_quarter()
    inflation, paths, seed = pb.model_settings(ctx)
    key = next(k for k, s in ctx.params.inputs.items() if s.kind == "ssda903")
    episodes = ctx.table(f"{key}_episodes")
    ret_start = pd.Timestamp(int(episodes["collection_year"].min()[:4]), 4, 1)
    origin = pd.Timestamp(ctx.params.data_as_at)
    spells = pl_history.as_at(pl_history.prepare(episodes, ctx.table(f"{key}_header")), origin)
    end = pd.Timestamp(origin.year - (origin.month < 4) + pb.HORIZON_YEARS, 3, 31)
    horizon = (end.to_period("M") - origin.to_period("M")).n
    model = pl_model.fit(spells, origin, horizon=horizon, history_start=ret_start)
    state = pl_simulation.state_at(spells, origin)
    counts = np.bincount(state["category"], minlength=len(CATEGORIES))
    stock = pl_simulation.simulate(model, state, paths=paths, seed=seed)["stock"]
    ledger = ctx.table(next(k for k, s in ctx.params.inputs.items() if s.kind == "ledger"))
    spec = ctx.params.inputs["cost_centres"]
    mapping = pb.read_mapping_csv(spec.path, spec.rel_path)
    placement = ledger["cost_centre"].isin(mapping.loc[mapping["placement_category"].fillna("") != "", "cost_centre"])
    params_costs = ctx.table("placement_unit_costs")
    for noise in (0.0, 0.10, 0.25):
        led = ledger.copy()
        if noise:
            z = np.random.default_rng([seed, 99]).normal(0, noise, int(placement.sum()))
            led.loc[placement, "actual"] = (led.loc[placement, "actual"].astype(float) * np.exp(z)).round().astype("Int64")
        unit = uc.estimate(spells, led, mapping, params_costs, origin, inflation, seed)
        costs = uc.as_costs(unit)
        fixed = pl_simulation.projected_cost(stock, model.months, costs, inflation, counts)
        drawn = pl_simulation.projected_cost(stock, model.months, costs, inflation, counts,
                                             uc.draw_factors(unit, paths, seed))
        print(f"monthly noise {noise:.0%}: sigma by category "
              + ", ".join(f"{r.category} {100 * r.sigma:.2f}%" for r in unit.itertuples()))
        for y in fixed.columns[:2]:
            lo0, mid0, hi0 = np.quantile(fixed[y], [0.1, 0.5, 0.9])
            lo, mid, hi = np.quantile(drawn[y], [0.1, 0.5, 0.9])
            print(f"  {y}: median {mid0:.3f} -> {mid:.3f}; 80% range {lo0:.3f}-{hi0:.3f} (width {hi0 - lo0:.3f}) -> "
                  f"{lo:.3f}-{hi:.3f} (width {hi - lo:.3f}, {100 * ((hi - lo) / (hi0 - lo0) - 1):+.1f}%)")


if __name__ == "__main__":
    main()
