"""Benchmark (not a test) for the placement forecast (issue 15): does the forecast the pack uses ever
lose to "no change"? Run with `make bench-forecast` (about 10 minutes on two cores); results go to
benchmarks/results/bench_forecast.json and the tables in docs/forecast.md.

Authorities: histories drawn by an independent generator in this file (not cspack's synthetic
authority, whose stock is pinned to Derbyshire's published counts before April 2025, and not cspack's
model): each seed has its own size, entrant level drifting as a random walk with occasional steps,
seasonality, exit hazards by age and time in care whose level drifts too (both levels mean-reverting
random walks, AR(1) at 0.985 a month), and moves between placement
types. The truth is known only to the generator; the forecasts see only the history as known at each
origin (``as_at``).

At rolling origins (every six months with three years of history behind them), horizons 3/6/12/24
months, each method forecasts children in care: naive (no change), the Markov stock-flow model, ETS on
the month-end totals, cspack's stock-flow model (median of 200 simulated paths), and "used": the
forecast the pack would have used at that origin, chosen per horizon by the backtest rows whose
outcome was known at that origin (``placements.chosen_in_time``), with its 80% range scaled by those
rows' residuals (conformal). Metrics by horizon: WAPE and MAE over all authorities and origins, how
many authorities each method beats naive in, the mean per-authority difference from naive with two
standard errors, and the 80% ranges' coverage (the model's own range and the calibrated one).

Two cheap side runs: ``--default-history`` backtests the simple forecasts at every quarter end of the default
pack's synthetic authority; ``--real-panel-by-change`` asks, on DfE's counts for every authority, whether a
stock that moved fast in the last year keeps moving (docs/forecast.md).

The DfE validator's fake SSDA903 data holds one collection year: too short for any origin with three
years of history, so it is not used here (see docs/forecast.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.ingest.ssda903 import CATEGORIES  # noqa: E402
from pipeline.placements import backtest as pl_backtest  # noqa: E402
from pipeline.placements import simulation as pl_simulation  # noqa: E402

HISTORY_START = pd.Timestamp(2016, 4, 1)  # the first collection year "held"
DATA_END = pd.Timestamp(2026, 9, 30)
HORIZONS = (3, 6, 12, 24)
METHODS = ("naive", "markov", "ets", "combined", "model")
SEEDS = (11, 12, 13, 14, 15, 16, 17, 18)
PATHS = 200

FOSTER = [CATEGORIES.index(c) for c in ("in_house_fostering", "agency_fostering", "kinship_fostering")]
OLDER = [CATEGORIES.index(c) for c in ("in_house_childrens_home", "external_childrens_home", "supported_accommodation")]
YOUNG = FOSTER + [CATEGORIES.index("placed_with_parents"), CATEGORIES.index("placed_for_adoption")]
BAND_SHARE = np.array([0.2, 0.18, 0.2, 0.32, 0.1])
EDGES = np.array([0, 1, 5, 10, 16, 18])
EXIT_BY_BAND = np.array([0.045, 0.035, 0.022, 0.017, 0.028])
EXIT_BY_DURATION = np.array([1.6, 1.0, 0.55])  # under 6 months, 6 months to 2 years, 2 years and over


def authority(seed: int) -> tuple[pd.DataFrame, dict]:
    """One authority's episode history from 1996 (kept from ``HISTORY_START`` on, as returns would
    hold it) to ``DATA_END``, as ``placements.prepare`` returns it."""
    rng = np.random.default_rng(seed)
    cfg = {"seed": seed, "entrants_per_month": float(rng.uniform(8, 60)), "entry_drift_sd": float(rng.uniform(0.01, 0.035)),
           "exit_drift_sd": float(rng.uniform(0.008, 0.025)), "season": float(rng.uniform(0, 0.15)),
           "step_chance": 1 / 48, "move_rate": float(rng.uniform(0.01, 0.03))}
    months = pd.period_range("1996-04", DATA_END.to_period("M"), freq="M")  # twenty years to settle
    e_lvl, x_lvl = 0.0, 0.0
    act = {"id": np.zeros(0, int), "cat": np.zeros(0, int), "dob": np.zeros(0, "datetime64[D]"),
           "start": np.zeros(0, "datetime64[D]"), "pstart": np.zeros(0, "datetime64[D]")}
    rows = []
    next_id = 0
    for m in months:
        d0 = np.datetime64(m.to_timestamp().date(), "D")
        nd = m.days_in_month
        # levels wander and revert (AR(1), 0.985 a month), with occasional steps: trends that last a few years
        e_lvl = 0.985 * e_lvl + rng.normal(0, cfg["entry_drift_sd"]) + (rng.normal(0, 0.2) if rng.random() < cfg["step_chance"] else 0)
        x_lvl = 0.985 * x_lvl + rng.normal(0, cfg["exit_drift_sd"]) + (rng.normal(0, 0.15) if rng.random() < cfg["step_chance"] else 0)
        e_lvl, x_lvl = float(np.clip(e_lvl, -0.9, 0.9)), float(np.clip(x_lvl, -0.7, 0.7))
        # entrants
        k = rng.poisson(cfg["entrants_per_month"] * np.exp(e_lvl) * (1 + cfg["season"] * np.sin(2 * np.pi * m.month / 12)))
        if k:
            day = d0 + rng.integers(0, nd, k).astype("timedelta64[D]")
            band = rng.choice(5, k, p=BAND_SHARE)
            age = (EDGES[band] + rng.random(k) * (EDGES[band + 1] - EDGES[band]) * 0.98) * 365.25
            cat = np.where(band <= 2, rng.choice(YOUNG, k, p=[0.35, 0.2, 0.2, 0.15, 0.1]),
                           np.where(rng.random(k) < 0.55, rng.choice(FOSTER, k), rng.choice(OLDER, k)))
            act["id"] = np.r_[act["id"], np.arange(next_id, next_id + k)]
            next_id += k
            act["cat"] = np.r_[act["cat"], cat]
            act["dob"] = np.r_[act["dob"], day - age.astype("timedelta64[D]")]
            act["start"] = np.r_[act["start"], day]
            act["pstart"] = np.r_[act["pstart"], day]
        n = len(act["id"])
        if not n:
            continue
        day = d0 + rng.integers(0, nd, n).astype("timedelta64[D]")
        age = (d0 - act["dob"]).astype(int) / 365.25
        dur = (d0 - act["pstart"]).astype(int)
        band = np.clip(np.searchsorted(EDGES, age, side="right") - 1, 0, 4)
        dband = (dur >= 183).astype(int) + (dur >= 730)
        h = EXIT_BY_BAND[band] * EXIT_BY_DURATION[dband] * np.exp(x_lvl)
        # reaching 18 this month: leave on the birthday
        b18 = act["dob"] + np.timedelta64(int(18 * 365.25), "D")
        adult = b18 < d0 + np.timedelta64(nd, "D")
        leave = (rng.random(n) < h) & (day >= act["start"]) & ~adult
        end_day = np.where(adult, np.maximum(b18, act["start"] + np.timedelta64(1, "D")), day)
        rec = np.where(adult, "E41", rng.choice(["E4A", "E11", "E45", "E13", "E41"], n, p=[0.4, 0.15, 0.2, 0.1, 0.15]))
        gone = adult | leave
        move = ~gone & (rng.random(n) < cfg["move_rate"]) & (day > act["start"])
        dest = np.where(age < 16, rng.choice(FOSTER + [CATEGORIES.index("external_childrens_home")], n),
                        rng.choice(OLDER + FOSTER[:1], n))
        move &= dest != act["cat"]
        for mask, r, nxt in ((gone, rec, None), (move, None, dest)):
            idx = np.flatnonzero(mask)
            for i in idx:
                rows.append((act["id"][i], act["start"][i], end_day[i] if nxt is None else day[i], act["cat"][i],
                             r[i] if nxt is None else "X1", act["dob"][i], act["pstart"][i],
                             -1 if nxt is None else nxt[i], bool(act["start"][i] == act["pstart"][i])))
        # movers continue in the new category from the same day
        act["start"] = np.where(move, day, act["start"])
        act["cat"] = np.where(move, dest, act["cat"])
        keep = ~gone
        for key in act:
            act[key] = act[key][keep]
    for i in range(len(act["id"])):  # open at the data's end
        rows.append((act["id"][i], act["start"][i], np.datetime64("NaT"), act["cat"][i], "", act["dob"][i],
                     act["pstart"][i], -1, bool(act["start"][i] == act["pstart"][i])))
    df = pd.DataFrame(rows, columns=["CHILD", "start", "end", "category", "REC", "dob", "period_start", "next_category",
                                     "new_period"])
    for c in ("start", "end", "dob", "period_start"):
        df[c] = pd.to_datetime(df[c])
    df["CHILD"] = df["CHILD"].astype(str)
    df["category"] = df["category"].astype(int)
    # as a council's returns hold it: only episodes still open on or after the first collection year's start
    df = df[df["end"].isna() | (df["end"] >= HISTORY_START)]
    # new_period by the X1 chain (the first episode of a period starts on period_start)
    df["new_period"] = df["start"].eq(df["period_start"])
    df = df.sort_values(["start", "period_start", "dob", "category"], kind="stable").reset_index(drop=True)
    return df, cfg


def backtest_one(seed: int) -> pd.DataFrame:
    spells, cfg = authority(seed)
    origins = list(pd.date_range(HISTORY_START + pd.DateOffset(years=3) - pd.Timedelta(days=1),
                                 DATA_END - pd.DateOffset(months=3), freq="2QE-MAR"))
    t = time.perf_counter()
    bt = pl_backtest.backtest(spells, origins, DATA_END, horizons=HORIZONS, paths=PATHS, seed=2026,
                     history_start=HISTORY_START, by_category=True)
    bt["seconds_per_origin"] = (time.perf_counter() - t) / max(len(origins), 1)
    bt["seed"] = seed
    bt["children_at_end"] = int(len(pl_simulation.state_at(spells, DATA_END)))
    return bt


GROUP = "seed"  # the column naming the authority (third_party sets "authority")


def with_used(bt: pd.DataFrame) -> pd.DataFrame:
    """The forecast the pack would have used at each origin (chosen on earlier outcomes only) and its
    calibrated 80% range: ``placements.replay_choice`` per authority."""
    return pl_backtest.replay_choice(pl_backtest.with_combined(bt), group=GROUP)


def summarise(bt: pd.DataFrame) -> dict:
    methods = METHODS + ("used",)
    rows = []
    for h, g in bt.groupby("horizon"):
        r = {"horizon_months": int(h), "authorities": int(g[GROUP].nunique()), "forecasts": int(len(g))}
        for m in methods:
            r[f"{m}_wape"] = round(pl_backtest.wape(g[m], g["actual"]), 2)
            r[f"{m}_mae"] = round(float(np.abs(g[m] - g["actual"]).mean()), 1)
        per = g.groupby(GROUP).apply(lambda x: pd.Series({m: pl_backtest.wape(x[m], x["actual"]) for m in methods}),
                                      include_groups=False)
        best = per[["naive", "markov", "ets"]].min(axis=1)
        top = min(("naive", "markov", "ets"), key=lambda m: r[f"{m}_wape"])
        r["best_single"] = top
        for name, ref in (("best_each", best), ("best_single", per[top])):
            d = per["used"] - ref
            r[f"used_minus_{name}"] = round(float(d.mean()), 2)
            r[f"used_minus_{name}_2se"] = round(float(2 * d.std(ddof=1) / np.sqrt(len(d))), 2) if len(d) > 1 else None
        if r["authorities"] == 1:  # one history: two standard errors of the per-origin differences in |% error|
            ape = (np.abs(g[["used", top]].to_numpy() - g[["actual"]].to_numpy()) / g[["actual"]].to_numpy() * 100)
            d = ape[:, 0] - ape[:, 1]
            r["used_minus_best_single_2se"] = r["used_minus_best_each_2se"] = (
                round(float(2 * d.std(ddof=1) / np.sqrt(len(d))), 2) if len(d) > 1 else None)
        for m in ("markov", "ets", "combined", "model", "used"):
            d = per[m] - per["naive"]
            r[f"{m}_minus_naive_wape"] = round(float(d.mean()), 2)
            r[f"{m}_minus_naive_2se"] = round(float(2 * d.std(ddof=1) / np.sqrt(len(d))), 2) if len(d) > 1 else None
            r[f"{m}_beats_naive_in"] = int((d < 0).sum())
        r["model_80_coverage"] = round(float(g["in_80"].mean() * 100), 1)
        r["used_80_coverage"] = round(float(g["used_in_80"].mean() * 100), 1)
        r["used_methods"] = {k: int(v) for k, v in g["used_method"].value_counts().items()}
        # the used forecast where it was chosen on enough earlier outcomes
        cal = g[g["used_calibrated"]]
        r["used_wape_when_chosen"] = round(pl_backtest.wape(cal["used"], cal["actual"]), 2) if len(cal) else None
        r["naive_wape_same_rows"] = round(pl_backtest.wape(cal["naive"], cal["actual"]), 2) if len(cal) else None
        r["used_80_coverage_when_calibrated"] = round(float(cal["used_in_80"].mean() * 100), 1) if len(cal) else None
        rows.append(r)
    return {"by_horizon": rows}


def markdown(out: dict) -> str:
    """The tables of docs/forecast.md from the results."""
    hz = out["by_horizon"]
    cols = ("naive", "markov", "ets", "combined", "model", "used")
    names = ("No change", "Markov", "ETS", "Average of the three", "cspack model", "Forecast used")
    lines = ["| Months ahead | Forecasts | " + " | ".join(names) + " |", "|---:|---:|" + "---:|" * len(cols)]
    for r in hz:
        lines.append(f"| {r['horizon_months']} | {r['forecasts']} | " + " | ".join(
            f"{r[m + '_wape']:.2f} ({r[m + '_mae']:.1f})" for m in cols) + " |")
    lines += ["", "| Months ahead | " + " | ".join(f"{n} - no change" for n in names[1:]) + " |",
              "|---:|" + "---:|" * (len(cols) - 1)]
    for r in hz:
        lines.append(f"| {r['horizon_months']} | " + " | ".join(
            (f"{r[m + '_minus_naive_wape']:+.2f} ± {r[m + '_minus_naive_2se']:.2f}" if r[m + '_minus_naive_2se'] is not None
             else f"{r[m + '_minus_naive_wape']:+.2f}") + f" ({r[m + '_beats_naive_in']} of {r['authorities']})"
            for m in cols[1:]) + " |")
    lines += ["", "| Months ahead | Forecast used - best of no change, Markov, ETS in each authority | Forecast used - "
              "best single method | Model's 80% range | Calibrated 80% range (all) | Calibrated, once chosen on three "
              "or more outcomes | Forecast used: average / no change / Markov / ETS |", "|---:|---:|---:|---:|---:|---:|---|"]
    for r in hz:
        u = r["used_methods"]
        def se(k, r=r):
            return f" ± {r[k + '_2se']:.2f}" if r[k + "_2se"] is not None else ""
        lines.append(f"| {r['horizon_months']} | {r['used_minus_best_each']:+.2f}{se('used_minus_best_each')} | "
                     f"{r['used_minus_best_single']:+.2f}{se('used_minus_best_single')} ({r['best_single']}) | "
                     f"{r['model_80_coverage']:.1f} | {r['used_80_coverage']:.1f} | "
                     f"{r['used_80_coverage_when_calibrated']} | {u.get('combined', 0)} / {u.get('naive', 0)} / "
                     f"{u.get('markov', 0)} / {u.get('ets', 0)} |")
    return "\n".join(lines)


def by_category(bt: pd.DataFrame, horizon: int = 12) -> tuple[pd.DataFrame, str]:
    """Accuracy by placement type at ``horizon`` months (rows from ``backtest(..., by_category=True)``
    with ``used`` replayed): WAPE of each type's count for no change, Markov, the cspack model and the
    forecast used (its total spread over types in the cspack model's median mix, as the pack does), and
    the mix error over all types (sum of |forecast - outcome| over types / children in care). Returns
    the table and its markdown."""
    g = bt[bt["horizon"] == horizon]
    cats = [c[len("cat_actual_"):] for c in g.columns if c.startswith("cat_actual_")]
    if not len(g) or not cats:
        return pd.DataFrame(), ""
    model_tot = g[[f"cat_model_{c}" for c in cats]].sum(axis=1).replace(0, np.nan)
    fc = {m: pd.DataFrame({c: g[f"cat_{m}_{c}"] for c in cats}) for m in ("naive", "markov", "model")}
    fc["used"] = pd.DataFrame({c: g[f"cat_model_{c}"] / model_tot * g["used"] for c in cats}).fillna(0.0)
    act = pd.DataFrame({c: g[f"cat_actual_{c}"] for c in cats})
    rows = []
    for c in cats:
        if act[c].sum() < 1:
            continue
        rows.append({"placement type": c, "children (mean outcome)": round(float(act[c].mean()), 1),
                     **{m: round(pl_backtest.wape(fc[m][c], act[c]), 1) for m in fc}})
    rows.append({"placement type": "all types (mix error)", "children (mean outcome)": round(float(act.sum(axis=1).mean()), 1),
                 **{m: round(float(np.abs(fc[m] - act).to_numpy().sum() / act.to_numpy().sum() * 100), 1) for m in fc}})
    t = pd.DataFrame(rows)
    md = ["| Placement type | Children (mean outcome) | No change | Markov | cspack model | Forecast used (model's mix) |",
          "|---|---:|---:|---:|---:|---:|"]
    md += [f"| {r['placement type']} | {r['children (mean outcome)']:,.1f} | {r['naive']:.1f} | {r['markov']:.1f} | "
           f"{r['model']:.1f} | {r['used']:.1f} |" for r in rows]
    return t, "\n".join(md)


def write_results(used: pd.DataFrame, out: dict, path: Path, summary=None, table=None) -> None:
    """Add ``summary(used)`` (default ``summarise``) and the accuracy by placement type to ``out``, write
    it to ``path`` as JSON and print the tables (``table``, default ``markdown``): one ending for every
    run of both forecast benchmarks."""
    out.update((summary or summarise)(used))
    cat, cat_md = by_category(used)
    out["by_category_12_months"] = cat.to_dict(orient="records")
    path.write_text(json.dumps(out, indent=1, default=str))
    print((table or markdown)(out))
    print("\nBy placement type, 12 months ahead (WAPE %):\n" + cat_md)


def third_party(years: int = 2) -> pd.DataFrame:
    """Social Finance's five-year regional SSDA903 sample (tests/fixtures/ssda903/sf-regional-sample, MIT;
    three London boroughs pooled, April 2017 to March 2022), read by cspack's reader as a council's
    returns, backtested at quarter ends with ``years`` of history behind them (2: eleven origins; three
    years would leave four)."""
    import tempfile

    from pipeline.ingest import ssda903
    from pipeline.placements import history as pl_history

    src = ROOT / "tests" / "fixtures" / "ssda903" / "sf-regional-sample"
    eps = pd.read_csv(src / "episodes.csv", dtype=str, keep_default_na=False)
    head = pd.read_csv(src / "header.csv", dtype=str, keep_default_na=False)
    with tempfile.TemporaryDirectory() as tmp:
        returns = {}
        for y in sorted(eps["YEAR"].unique()):
            d = Path(tmp) / ssda903.collection_year_label(int(y))
            d.mkdir()
            eps[eps["YEAR"] == y].drop(columns=["LA", "YEAR"]).to_csv(d / "episodes.csv", index=False)
            head[head["YEAR"] == y].drop(columns=["LA", "YEAR"]).to_csv(d / "header.csv", index=False)
            returns[d.name] = ssda903.read_return(d)
        m = ssda903.merge_returns(returns)
    e = m["episodes"].drop(columns=["DECOM", "DEC"]).rename(columns={"DECOM_date": "DECOM", "DEC_date": "DEC"})
    spells = pl_history.prepare(e, m["header"])
    start, end = pd.Timestamp(2017, 4, 1), pd.Timestamp(2022, 3, 31)
    origins = list(pd.date_range(start + pd.DateOffset(years=years) - pd.Timedelta(days=1), end - pd.DateOffset(months=3),
                                 freq="QE-MAR"))
    bt = pl_backtest.backtest(spells, origins, end, horizons=HORIZONS, paths=PATHS, seed=2026, history_start=start,
                              by_category=True)
    bt["authority"] = "Social Finance sample"
    return bt


def default_history(pack_origins: int = 12) -> tuple[pd.DataFrame, dict]:
    """The default pack's synthetic authority (data/raw/synthetic, returns from April 2019 to September 2026)
    backtested with the simple forecasts only (``placements.simple_backtest``: the pack's own longer record)
    at every quarter end with one year of history behind it, the forecast used replayed from the outcomes
    known at each; and the same replay on the pack's own quarter ends only (the last ``pack_origins`` with
    three years behind them, scored only from each other, as the pack's main table does). Shows whether the
    pack's own table, 12 quarter ends of one history, speaks for the longer history."""
    from bench_forecast_synthetic import spells_of

    spells = spells_of(ROOT / "data" / "raw" / "synthetic")
    start, end = pd.Timestamp(2019, 4, 1), pd.Timestamp(2026, 9, 30)
    long_used = pl_backtest.simple_backtest(spells, end, start)
    long_used["origin"] = long_used["origin"].astype(str)
    origins = sorted(long_used["origin"].unique())
    pack = [o for o in origins if pd.Timestamp(o) >= start + pd.DateOffset(years=3)][-pack_origins:]
    raw = long_used[long_used["origin"].isin(pack)].drop(columns=["used", "used_method"]).reset_index(drop=True)
    pack_used = pl_backtest.replay_choice(raw.assign(low_80=np.nan, high_80=np.nan))
    out = {"origins_all": len(origins), "first_origin": origins[0], "pack_origins": pack, "rows": []}
    for label, frame in (("every quarter end", long_used), ("the pack's quarter ends, choice from them only", pack_used),
                         ("the pack's quarter ends, choice from every earlier quarter end",
                          long_used[long_used["origin"].isin(pack)])):
        for h, g in frame.groupby("horizon"):
            out["rows"].append({"origins": label, "horizon_months": int(h), "forecasts": int(len(g)),
                                **{f"{m}_wape": round(pl_backtest.wape(g[m], g["actual"]), 2)
                                   for m in ("naive", "markov", "ets", "combined", "used")}})
    return long_used, out


def real_panel_by_change() -> dict:
    """DfE's published counts for every authority (the aggregate projection's panel, latest published value
    of each year): next year's children in care forecast by no change, by carrying the last year's change
    on (ratio), by half of it, and by carrying the last year's net flow (started minus ceased), by how much
    the stock changed in the last year. Asks whether a stock that moved fast keeps moving, as the third
    party's sample does (it falls by over a third every year), in real authorities."""
    from pipeline.placements import aggregate as pl_aggregate

    p = pl_aggregate.load_panel(ROOT)
    p = p[p["level"] == "Local authority"]
    t = (p.sort_values("release").groupby(["la_code", "measure", "year"])["value"].last().unstack("measure")
         .reset_index().sort_values(["la_code", "year"]))
    g = t.groupby("la_code")["cla_at_31_march"]
    t["prev"], t["next"] = g.shift(1), g.shift(-1)
    t = t.dropna(subset=["cla_at_31_march", "prev", "next", "cla_started", "cla_ceased"])
    t = t[t["prev"] > 0]
    s = t["cla_at_31_march"]
    change = s / t["prev"] - 1
    fc = {"no change": s, "the last year's change carried on": s * (1 + change),
          "half of it": s * (1 + change / 2), "the last year's net flow carried on": s + t["cla_started"] - t["cla_ceased"]}
    rows = []
    for lo, hi in ((0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, np.inf)):
        m = (change.abs() >= lo) & (change.abs() < hi)
        rows.append({"change_in_last_year": f"{lo:.0%} to {hi:.0%}" if np.isfinite(hi) else f"{lo:.0%} or more",
                     "authority_years": int(m.sum()), "median_children": float(s[m].median()),
                     **{k: round(pl_backtest.wape(f[m], t.loc[m, "next"]), 1) for k, f in fc.items()}})
    return {"years": [int(t["year"].min()), int(t["year"].max())], "rows": rows}


def main() -> int:
    global GROUP
    if sys.argv[1:2] == ["--third-party"]:  # Social Finance's five-year sample: one pooled history
        GROUP = "authority"
        dest = ROOT / "benchmarks" / "results"
        dest.mkdir(exist_ok=True)
        f = dest / "bench_forecast_third_party_rows.csv"
        raw = pd.read_csv(f) if f.exists() and "--summarise" in sys.argv else third_party()
        raw = raw[[c for c in raw.columns if not c.startswith("used")]]
        raw.to_csv(f, index=False)
        write_results(with_used(raw), {}, dest / "bench_forecast_third_party.json")
        return 0
    if sys.argv[1:2] == ["--default-history"]:  # the default pack's authority at every quarter end
        dest = ROOT / "benchmarks" / "results"
        dest.mkdir(exist_ok=True)
        used, out = default_history()
        used.to_csv(dest / "bench_forecast_default_history_rows.csv", index=False)
        (dest / "bench_forecast_default_history.json").write_text(json.dumps(out, indent=1))
        t = pd.DataFrame(out["rows"])
        print(t.to_string(index=False))
        return 0
    if sys.argv[1:2] == ["--real-panel-by-change"]:  # do fast-moving stocks keep moving in real authorities?
        dest = ROOT / "benchmarks" / "results"
        dest.mkdir(exist_ok=True)
        out = real_panel_by_change()
        (dest / "bench_forecast_real_panel_by_change.json").write_text(json.dumps(out, indent=1))
        print(pd.DataFrame(out["rows"]).to_string(index=False))
        return 0
    if sys.argv[1:] == ["--summarise"]:  # the summary again from the saved rows (after a change to the choice)
        dest = ROOT / "benchmarks" / "results"
        raw = pd.read_csv(dest / "bench_forecast_rows.csv")
        raw = raw[[c for c in raw.columns if not c.startswith("used")]]
        f = dest / "bench_forecast.json"
        write_results(with_used(raw), json.loads(f.read_text()) if f.exists() else {}, f)
        return 0
    seeds = tuple(int(a) for a in sys.argv[1:]) or SEEDS
    t = time.perf_counter()
    parts = []
    for s in seeds:
        parts.append(backtest_one(s))
        print(f"seed {s}: {len(parts[-1])} forecasts, {parts[-1]['children_at_end'].iloc[0]} children at the end, "
              f"{parts[-1]['seconds_per_origin'].iloc[0]:.1f} s per origin", flush=True)
    dest = ROOT / "benchmarks" / "results"
    dest.mkdir(exist_ok=True)
    raw = pd.concat(parts, ignore_index=True)
    raw.to_csv(dest / "bench_forecast_rows.csv", index=False)
    bt = with_used(raw)
    out = {"seeds": list(seeds), "paths": PATHS, "horizons": list(HORIZONS),
           "authorities": [authority(s)[1] | {"children_at_end": int(bt.loc[bt["seed"] == s, "children_at_end"].iloc[0])}
                           for s in seeds],
           "seconds": round(time.perf_counter() - t, 1)}
    write_results(bt, out, dest / "bench_forecast.json")
    bt.to_csv(dest / "bench_forecast_rows.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
