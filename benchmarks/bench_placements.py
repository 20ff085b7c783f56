"""Benchmark (not a test) for the placement projection (issue 6). Run with `make bench-placements`;
results go to benchmarks/results/bench_placements.json.

1. Fit and simulation for one authority (the bundled synthetic authority), three years ahead, 1,000
   paths: wall time (goal: under 20 s on two cores).
2. Accuracy against an oracle: at the quarter ends of the generator's free-running period (from April
   2025 the generator draws entrants and exits from its own rates instead of matching published
   totals), forecasts from the fitted model and from an oracle that simulates with the generator's true
   rates (data/raw/synthetic/oracle/), 12 months ahead where the outcome exists; with naive persistence
   and the Markov model beside them. Goal: model error at most 1.5 times the oracle's.
3. Backtest coverage of the 80% range over every quarter end with three years of history (goal: the
   outcome inside 70-90% of the time).
4. National scale (the generator at scale 80, about England): building daily stock by category and by
   category x age band, and monthly flows, from the merged SSDA903 history: time and peak memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest import ssda903  # noqa: E402
from pipeline.ingest.ssda903 import CATEGORIES  # noqa: E402
from pipeline.placements import backtest as pl_backtest  # noqa: E402
from pipeline.placements import baselines as pl_baselines  # noqa: E402
from pipeline.placements import history as pl_history  # noqa: E402
from pipeline.placements import model as pl_model  # noqa: E402
from pipeline.placements import simulation as pl_simulation  # noqa: E402


def bundled_spells() -> pd.DataFrame:
    folder = ROOT / "data" / "raw" / "synthetic" / "ssda903"
    m = ssda903.merge_returns({p.name: ssda903.read_return(p) for p in sorted(folder.iterdir()) if p.is_dir()})
    eps = m["episodes"].drop(columns=["DECOM", "DEC"]).rename(columns={"DECOM_date": "DECOM", "DEC_date": "DEC"})
    return pl_history.prepare(eps, m["header"])


def oracle_model(origin: pd.Timestamp, horizon: int) -> pl_model.Fitted:
    """The generator's own rates for the months after ``origin`` as a Fitted model (no drift)."""
    from pipeline import synthetic as g

    o = ROOT / "data" / "raw" / "synthetic" / "oracle"
    months = pd.period_range(origin.to_period("M") + 1, periods=horizon, freq="M")
    ent = pd.read_csv(o / "entry_rates.csv")
    ent["month"] = pd.PeriodIndex(pd.to_datetime(ent["month"]), freq="M")
    piv = ent.pivot(index="month", columns="age_band", values="expected_starts")[pl_history.AGE_BANDS]
    entry_mean = piv.reindex(months).to_numpy()
    hz = pd.read_csv(o / "exit_hazards.csv")
    rel = np.zeros((len(CATEGORIES), 5, 3))
    for r in hz.itertuples():
        rel[CATEGORIES.index(r.category), pl_history.AGE_BANDS.index(r.age_band), pl_history.DURATION_BANDS.index(r.duration_band)] = \
            r.relative_hazard
    mult = pd.read_csv(o / "exit_multiplier.csv")
    mult["month"] = pd.PeriodIndex(pd.to_datetime(mult["month"]), freq="M")
    m = float(mult.set_index("month")["monthly_multiplier"].reindex(months).mean())
    moves = pd.read_csv(o / "moves.csv").set_index("from_category").reindex(CATEGORIES)
    base = moves["monthly_move_probability"].to_numpy()
    move_prob = np.repeat(np.repeat(base[:, None, None], 5, axis=1), 3, axis=2)
    move_prob[:, 4, :] *= 1.3  # the generator: 16 and over move 1.3 times as often
    dest = moves[CATEGORIES].to_numpy()
    dest = np.where(dest.sum(axis=1, keepdims=True) > 0, dest, 1.0)
    dest = dest / dest.sum(axis=1, keepdims=True)
    mix = np.zeros((len(CATEGORIES), 4))
    for ci, name in enumerate(CATEGORIES):
        codes, p = g.EXIT_REASONS.get(name, g.EXIT_REASONS["default"])
        for code, q in zip(codes, p):
            k = next((i for i, grp in enumerate(pl_history.REASON_GROUPS.values()) if code in grp), 3)
            mix[ci, k] += q
    return pl_model.Fitted(origin, pd.DataFrame(), entry_mean, 0.0, g.ENTRY_CATEGORY, np.minimum(rel * m, 0.9), move_prob, dest,
                     mix, months, (origin, origin))


def accuracy(spells: pd.DataFrame) -> dict:
    data_end = pd.Timestamp(2026, 9, 30)
    totals = pl_history.daily_stock(spells, pd.Timestamp(2019, 4, 1), data_end).sum(axis=1)
    rows = []
    for origin in pd.date_range("2025-03-31", "2025-09-30", freq="QE"):
        known = pl_history.as_at(spells, origin)
        h = 12
        state = pl_simulation.state_at(known, origin)
        model = pl_model.fit(known, origin, horizon=h)
        sim = pl_simulation.simulate(model, state, paths=1000, seed=2026)["stock"].sum(axis=2)
        ora = pl_simulation.simulate(oracle_model(origin, h), state, paths=1000, seed=2026)["stock"].sum(axis=2)
        actual = float(totals.loc[pl_backtest._month_end(origin, h)])
        lo, hi = np.quantile(sim[:, -1], [0.1, 0.9])
        rows.append({"origin": str(origin.date()), "actual": actual, "model": float(np.median(sim[:, -1])),
                     "oracle": float(np.median(ora[:, -1])), "naive": float(len(state)),
                     "markov": float(pl_baselines.markov_forecast(known, origin, h)[-1]), "model_80_contains": bool(lo <= actual <= hi)})
    df = pd.DataFrame(rows)
    err = {k: pl_backtest.wape(df[k], df["actual"]) for k in ("model", "oracle", "naive", "markov")}
    return {"origins": rows, "wape_12m": {k: round(v, 2) for k, v in err.items()},
            "model_over_oracle": round(err["model"] / err["oracle"], 2) if err["oracle"] else None}


def speed(spells: pd.DataFrame) -> dict:
    origin = pd.Timestamp(2026, 9, 30)
    t = time.perf_counter()
    model = pl_model.fit(spells, origin, horizon=30)
    fit_s = time.perf_counter() - t
    state = pl_simulation.state_at(spells, origin)
    t = time.perf_counter()
    pl_simulation.simulate(model, state, paths=1000, seed=2026)
    sim_s = time.perf_counter() - t
    return {"fit_seconds": round(fit_s, 2), "simulate_1000_paths_30_months_seconds": round(sim_s, 2),
            "total_seconds": round(fit_s + sim_s, 2)}


def national() -> dict:
    from pipeline.synthetic import Config, generate

    files = generate(Config(seed=2026, scale=80))
    with tempfile.TemporaryDirectory() as tmp:
        for rel, data in files.items():
            if rel.startswith("ssda903/"):
                p = Path(tmp) / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        folder = Path(tmp) / "ssda903"
        m = ssda903.merge_returns({p.name: ssda903.read_return(p) for p in sorted(folder.iterdir())})
    eps = m["episodes"].drop(columns=["DECOM", "DEC"]).rename(columns={"DECOM_date": "DECOM", "DEC_date": "DEC"})
    t = time.perf_counter()
    spells = pl_history.prepare(eps, m["header"])
    prep_s = time.perf_counter() - t
    start, end = pd.Timestamp(2019, 4, 1), pd.Timestamp(2026, 9, 30)
    t = time.perf_counter()
    by_cat = pl_history.daily_stock(spells, start, end)
    cat_s = time.perf_counter() - t
    t = time.perf_counter()
    pl_history.daily_stock(spells, start, end, by="both")
    both_s = time.perf_counter() - t
    t = time.perf_counter()
    pl_history.monthly_flows(spells, start, end)
    flows_s = time.perf_counter() - t
    return {"episodes": len(spells), "days": len(by_cat), "children_in_care_last_day": int(by_cat.iloc[-1].sum()),
            "prepare_seconds": round(prep_s, 2), "daily_stock_by_category_seconds": round(cat_s, 2),
            "daily_stock_by_category_and_age_seconds": round(both_s, 2), "monthly_flows_seconds": round(flows_s, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--national":
        print(json.dumps(national()))
        return 0
    spells = bundled_spells()
    out = {"speed_one_authority": speed(spells), "oracle_12_months": accuracy(spells)}
    origin = pd.Timestamp(2026, 9, 30)
    known = pl_history.as_at(spells, origin)
    origins = list(pd.date_range("2022-03-31", "2026-06-30", freq="QE"))
    bt = pl_backtest.backtest(known, origins, origin, paths=300)
    out["backtest"] = pl_backtest.backtest_summary(bt).round(2).to_dict(orient="records")
    # national scale in a fresh process, so its peak memory is its own
    res = subprocess.run([sys.executable, __file__, "--national"], capture_output=True, text=True, check=True)
    out["national_scale"] = json.loads(res.stdout.strip().splitlines()[-1])
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(exist_ok=True)
    (dest / "bench_placements.json").write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
