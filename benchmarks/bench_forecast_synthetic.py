"""Benchmark (not a test) for the placement forecast on cspack's own generator, unpinned (issue 15 (a)):
twenty authorities, each a different seed calibrated to a different authority's published counts
(DfE, 2015-2025), generated with ``Config(pinned=False)`` (the published flows are only the expectation
of the draws, so the stock wanders and the truth is known only to the generator). Run with
`make bench-forecast` (after bench_forecast.py) or on its own:

    python benchmarks/bench_forecast_synthetic.py [--cache DIR] [--paths N] [--authorities N] [--summarise]

The authorities are generated once into the cache folder (default ``$CSPACK_BENCH_CACHE`` or
``~/.cache/cspack/bench-forecast``, outside the repository), then each is backtested at quarter-end origins
with three years of history behind them, every six months (March and September, 2022 to 2026; every
three months with ``--every 3``; the returns run April 2019 to September 2026), horizons 3/6/12/24 months, with the history cut to what was known at each origin
(``as_at``). Methods: no change, seasonal naive (the month-end count 12 months before the target month,
or the latest known month-end in the same month of the year), the Markov stock-flow model, ETS on the
month-end totals, the average of no change, Markov and ETS, the cspack model (median of ``--paths``
simulated paths) and the forecast the pack
would have used there: chosen per horizon on the rows whose outcome was known at that origin, its
ranges the model's scaled by those rows' residuals (``placements.backtest.replay_choice``, levels 50,
80 and 95%). Metrics by horizon: WAPE and MAE, per-authority differences with two standard errors,
coverage of 50/80/95% ranges, and the 80% interval score. Results: ``benchmarks/results/
bench_forecast_synthetic.json`` and ``..._rows.csv`` (not committed); tables in docs/forecast.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# one BLAS thread: the hazard regressions' least squares are small, and on a shared, loaded machine
# multi-threaded BLAS made them about ten times slower (measured with cProfile, 30 November 2026)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest import ssda903  # noqa: E402
from pipeline.placements import backtest as pl_backtest  # noqa: E402
from pipeline.placements import history as pl_history  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_forecast import write_results  # noqa: E402  (summary, accuracy by placement type, JSON: one ending)

HISTORY_START = pd.Timestamp(2019, 4, 1)  # the first collection year the generator writes
DATA_END = pd.Timestamp(2026, 9, 30)
HORIZONS = (3, 6, 12, 24)
METHODS = ("naive", "snaive", "markov", "ets", "combined", "model", "used")
NAMES = {"naive": "No change", "snaive": "Seasonal naive", "markov": "Markov", "ets": "ETS",
         "combined": "Average of the three", "model": "cspack model", "used": "Forecast used"}
N_AUTHORITIES = 20
FIRST_SEED = 101
LEVELS = (0.5, 0.8, 0.95)


def cache_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("CSPACK_BENCH_CACHE") or Path.home() / ".cache" / "cspack" / "bench-forecast")


def pick_authorities(n: int = N_AUTHORITIES, between: bool = False) -> list[tuple[str, str, int]]:
    """``n`` authorities with every published count 2015-2025 (the generator needs them), spread evenly
    over the range of sizes (100 to 1,500 children looked after in March 2025, to keep the run short):
    (code, name, children in March 2025)."""
    from pipeline.synthetic import published_counts

    df = pd.read_csv(ROOT / "data/raw/published/cla_history/cla_la_all_vintages_long.csv",
                     dtype={"new_la_code": str, "value": str})
    la = df[(df["geographic_level"] == "Local authority") & (df["measure"] == "cla_at_31_march") & (df["time_period"] == 2025)]
    la = la.sort_values("release_year").drop_duplicates("new_la_code", keep="last")
    la["n"] = pd.to_numeric(la["value"].str.replace(",", ""), errors="coerce")
    la = la[la["n"].between(100, 1500)].sort_values(["n", "new_la_code"])
    ok = []
    for r in la.itertuples():
        try:
            published_counts(r.new_la_code, ROOT)
        except ValueError:
            continue
        ok.append((r.new_la_code, r.la_name, int(r.n)))
    pos = np.linspace(0, len(ok) - 1, n)
    if between:  # the held-out set: the authorities halfway between those of the main set
        pos = np.minimum(pos + (len(ok) - 1) / (n - 1) / 2, len(ok) - 1)
    idx = np.unique(np.round(pos).astype(int))
    return [ok[i] for i in idx]


def generate(code: str, seed: int, cache: Path) -> Path:
    """The authority's data, generated once (unpinned) into ``cache``."""
    from pipeline.synthetic import Config, write_demo

    out = cache / f"{code}-seed{seed}"
    if not (out / "done").exists():
        write_demo(out, Config(seed=seed, authority=code, pinned=False))
        (out / "done").write_text("unpinned\n")
    return out


def spells_of(folder: Path) -> pd.DataFrame:
    d = folder / "ssda903"
    m = ssda903.merge_returns({p.name: ssda903.read_return(p) for p in sorted(d.iterdir()) if p.is_dir()})
    eps = m["episodes"].drop(columns=["DECOM", "DEC"]).rename(columns={"DECOM_date": "DECOM", "DEC_date": "DEC"})
    return pl_history.prepare(eps, m["header"])


def seasonal_naive(spells: pd.DataFrame, origins, horizons=HORIZONS) -> pd.DataFrame:
    """Seasonal naive for a stock: the month-end count in the target's month of the year, from the latest
    year known at the origin (12 months before the target for horizons up to 12; for 24, the same as
    12, i.e. the origin's own month-end when the horizon is a whole number of years)."""
    rows = []
    for o in origins:
        o = pd.Timestamp(o)
        known = pl_history.as_at(spells, o)
        tot = pl_history.daily_stock(known, o - pd.DateOffset(months=13), o).sum(axis=1)
        me = tot[tot.index.is_month_end]
        me.index = me.index.to_period("M")
        for h in horizons:
            target = o.to_period("M") + h
            k = int(np.ceil(h / 12))
            rows.append({"origin": o.date(), "horizon": h, "snaive": float(me.get(target - 12 * k, np.nan))})
    return pd.DataFrame(rows)


def backtest_one(code: str, seed: int, cache: Path, paths: int, every: int = 6) -> pd.DataFrame:
    folder = generate(code, seed, cache)
    t = time.perf_counter()
    spells = spells_of(folder)
    origins = list(pd.date_range(HISTORY_START + pd.DateOffset(years=3) - pd.Timedelta(days=1),
                                 DATA_END - pd.DateOffset(months=3), freq=f"{every // 3}QE-MAR"))
    bt = pl_backtest.backtest(spells, origins, DATA_END, horizons=HORIZONS, paths=paths, seed=2026,
                              history_start=HISTORY_START, by_category=True)
    bt["origin"] = bt["origin"].astype(str)
    sn = seasonal_naive(spells, origins)
    sn["origin"] = sn["origin"].astype(str)
    bt = bt.merge(sn, on=["origin", "horizon"], how="left")
    bt["seconds"] = time.perf_counter() - t
    bt["authority"] = code
    bt["seed"] = seed
    return bt


def with_used(bt: pd.DataFrame) -> pd.DataFrame:
    """The forecast the pack would have used at each origin, with its 50/80/95% ranges."""
    return pl_backtest.replay_choice(pl_backtest.with_combined(bt), group="authority", levels=LEVELS)


def summarise(bt: pd.DataFrame) -> dict:
    rows = []
    for h, g in bt.groupby("horizon"):
        r = {"horizon_months": int(h), "authorities": int(g["authority"].nunique()), "forecasts": int(len(g))}
        for m in METHODS:
            r[f"{m}_wape"] = round(pl_backtest.wape(g[m], g["actual"]), 2)
            r[f"{m}_mae"] = round(float(np.abs(g[m] - g["actual"]).mean()), 1)
        per = g.groupby("authority").apply(
            lambda x: pd.Series({m: pl_backtest.wape(x[m], x["actual"]) for m in METHODS}), include_groups=False)
        best = per[["naive", "markov", "ets"]].min(axis=1)
        for m in METHODS[1:]:
            d = per[m] - per["naive"]
            r[f"{m}_minus_naive"] = round(float(d.mean()), 2)
            r[f"{m}_minus_naive_2se"] = round(float(2 * d.std(ddof=1) / np.sqrt(len(d))), 2)
            r[f"{m}_beats_naive_in"] = int((d < 0).sum())
        # the forecast used against the best of no change, Markov and ETS: per authority the best in hindsight
        # (a hard bar), and the single method best over all authorities at this horizon
        d = per["used"] - best
        r["used_minus_best_each"] = round(float(d.mean()), 2)
        r["used_minus_best_each_2se"] = round(float(2 * d.std(ddof=1) / np.sqrt(len(d))), 2)
        top = min(("naive", "markov", "ets"), key=lambda m: r[f"{m}_wape"])
        d = per["used"] - per[top]
        r["best_single"] = top
        r["used_minus_best_single"] = round(float(d.mean()), 2)
        r["used_minus_best_single_2se"] = round(float(2 * d.std(ddof=1) / np.sqrt(len(d))), 2)
        for lv in LEVELS:
            p = int(lv * 100)
            r[f"model_{p}_coverage"] = round(float(g[f"in_{p}"].mean() * 100), 1)
            r[f"used_{p}_coverage"] = round(float(g[f"used_in_{p}"].mean() * 100), 1)
        cal = g[g["used_calibrated"]]
        r["calibrated_forecasts"] = int(len(cal))
        for lv in LEVELS:
            p = int(lv * 100)
            r[f"used_{p}_coverage_calibrated"] = round(float(cal[f"used_in_{p}"].mean() * 100), 1) if len(cal) else None
        r["used_wape_calibrated"] = round(pl_backtest.wape(cal["used"], cal["actual"]), 2) if len(cal) else None
        r["naive_wape_calibrated"] = round(pl_backtest.wape(cal["naive"], cal["actual"]), 2) if len(cal) else None
        # interval score of the 80% ranges (width + 2/0.2 x miss), as % of the outcome, mean
        for m, lo, hi in (("model", "low_80", "high_80"), ("used", "used_low_80", "used_high_80")):
            s = (g[hi] - g[lo]) + 10 * (np.maximum(g[lo] - g["actual"], 0) + np.maximum(g["actual"] - g[hi], 0))
            r[f"{m}_interval_score_80"] = round(float((s / g["actual"] * 100).mean()), 2)
        r["used_methods"] = {k: int(v) for k, v in g["used_method"].value_counts().items()}
        rows.append(r)
    return {"by_horizon": rows}


def markdown(out: dict) -> str:
    hz = out["by_horizon"]
    lines = ["| Months ahead | Forecasts | " + " | ".join(NAMES[m] for m in METHODS) + " |",
             "|---:|---:|" + "---:|" * len(METHODS)]
    for r in hz:
        lines.append(f"| {r['horizon_months']} | {r['forecasts']} | " + " | ".join(
            f"{r[m + '_wape']:.2f} ({r[m + '_mae']:.1f})" for m in METHODS) + " |")
    lines += ["", "| Months ahead | " + " | ".join(f"{NAMES[m]} - no change" for m in METHODS[1:]) + " |",
              "|---:|" + "---:|" * (len(METHODS) - 1)]
    for r in hz:
        lines.append(f"| {r['horizon_months']} | " + " | ".join(
            f"{r[m + '_minus_naive']:+.2f} ± {r[m + '_minus_naive_2se']:.2f} ({r[m + '_beats_naive_in']} of "
            f"{r['authorities']})" for m in METHODS[1:]) + " |")
    lines += ["", "| Months ahead | Forecast used - best of the three in each authority | Forecast used - best single "
              "method | Forecast used: average / no change / Markov / ETS |",
              "|---:|---:|---:|---|"]
    for r in hz:
        u = r["used_methods"]
        lines.append(f"| {r['horizon_months']} | {r['used_minus_best_each']:+.2f} ± {r['used_minus_best_each_2se']:.2f} | "
                     f"{r['used_minus_best_single']:+.2f} ± {r['used_minus_best_single_2se']:.2f} ({NAMES[r['best_single']]}) | "
                     f"{u.get('combined', 0)} / {u.get('naive', 0)} / {u.get('markov', 0)} / {u.get('ets', 0)} |")
    lines += ["", "| Months ahead | Model's own range held 50 / 80 / 95% | Calibrated range, all forecasts | "
              "Calibrated, once chosen on three or more outcomes (forecasts) | 80% interval score, model / used |",
              "|---:|---|---|---|---|"]
    for r in hz:
        lines.append(f"| {r['horizon_months']} | {r['model_50_coverage']:.0f} / {r['model_80_coverage']:.0f} / "
                     f"{r['model_95_coverage']:.0f} | {r['used_50_coverage']:.0f} / {r['used_80_coverage']:.0f} / "
                     f"{r['used_95_coverage']:.0f} | "
                     + (f"{r['used_50_coverage_calibrated']:.0f} / {r['used_80_coverage_calibrated']:.0f} / "
                        f"{r['used_95_coverage_calibrated']:.0f} ({r['calibrated_forecasts']})"
                        if r["calibrated_forecasts"] else "none")
                     + f" | {r['model_interval_score_80']:.1f} / {r['used_interval_score_80']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--cache")
    ap.add_argument("--paths", type=int, default=100)
    ap.add_argument("--authorities", type=int, default=N_AUTHORITIES)
    ap.add_argument("--every", type=int, default=6, choices=(3, 6), help="months between origins")
    ap.add_argument("--first-seed", type=int, default=FIRST_SEED,
                    help="seed of the first authority (121: the held-out set, run after the rule was chosen)")
    ap.add_argument("--summarise", action="store_true", help="recompute the tables from the saved rows")
    ap.add_argument("--worker", action="store_true",
                    help="backtest the authorities not yet done or started, in reverse order, without summarising "
                         "(run beside the main run to use a second core)")
    a = ap.parse_args(argv)
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(exist_ok=True)
    tag = "" if a.first_seed == FIRST_SEED else f"_seeds{a.first_seed}"
    rows_file = dest / f"bench_forecast_synthetic{tag}_rows.csv"
    if a.summarise:
        raw = pd.read_csv(rows_file)
        raw = raw[[c for c in raw.columns if not c.startswith("used")]]
        f = dest / f"bench_forecast_synthetic{tag}.json"
        write_results(with_used(raw), json.loads(f.read_text()) if f.exists() else {}, f, summarise, markdown)
        return 0
    cache = cache_dir(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    held_out = a.first_seed != FIRST_SEED
    # the choice reads every authority's counts: once
    picked = cache / f"authorities-{a.authorities}{'-held-out' if held_out else ''}.json"
    if not picked.exists():
        picked.write_text(json.dumps(pick_authorities(a.authorities, between=held_out)))
    auths = [tuple(x) for x in json.loads(picked.read_text())]
    parts, meta = [], []
    part_dir = cache / f"rows-{a.paths}-every{a.every}-cat"  # with the counts by placement type
    part_dir.mkdir(exist_ok=True)
    order = list(enumerate(auths))
    for i, (code, name, n) in (order[::-1] if a.worker else order):
        seed = a.first_seed + i
        f = part_dir / f"{code}-seed{seed}.csv"
        started = part_dir / f"{code}-seed{seed}.started"
        if a.worker and (f.exists() or started.exists()):
            continue
        while not a.worker and started.exists() and not f.exists():  # a worker is on it: wait for its rows
            time.sleep(10)
        if f.exists():  # resumable: an authority already backtested is read back
            bt = pd.read_csv(f)
        else:
            started.write_text("")
            bt = backtest_one(code, seed, cache, a.paths, a.every)
            bt.to_csv(f.with_suffix(".tmp"), index=False)
            f.with_suffix(".tmp").rename(f)
        if a.worker:
            print(f"{code}: {len(bt)} forecasts, {bt['seconds'].iloc[0]:.0f} s", flush=True)
            continue
        parts.append(bt)
        meta.append({"authority": code, "name": name, "seed": seed, "published_march_2025": n,
                     "children_at_origins_mean": round(float(bt["naive"].mean()), 1),
                     "seconds": round(float(bt["seconds"].iloc[0]), 1)})
        print(f"{code} {name} (seed {seed}, {n} published in March 2025): {len(bt)} forecasts, "
              f"{bt['seconds'].iloc[0]:.0f} s", flush=True)
    if a.worker:
        return 0
    raw = pd.concat(parts, ignore_index=True)
    raw.to_csv(rows_file, index=False)
    out = {"paths": a.paths, "months_between_origins": a.every, "horizons": list(HORIZONS), "authorities": meta,
           "seconds_this_run": round(time.perf_counter() - t0, 1),
           "seconds_backtests": round(sum(m["seconds"] for m in meta), 1)}
    write_results(with_used(raw), out, dest / f"bench_forecast_synthetic{tag}.json", summarise, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
