"""Benchmark (not a test): the aggregate projection of children looked after at 31 March over the real panel of
every English authority (DfE's published counts, 2010-2025, every vintage).

Rolling origins 2014..2023, horizons 1 and 2 years; inputs as published at the origin, outcomes as latest
published. Prints Markdown tables: mean absolute % error (MAE) and weighted absolute % error (WAPE: total absolute
error over total outcome) by method and horizon with 95% intervals from resampling authorities, the difference
from "no change" with a paired interval; the choice rules compared on origins 2014-2019 (where the rule is chosen)
and 2020-2023 (held out); coverage of the 50/80/95% ranges and interval scores by horizon. Run with
`make bench-aggregate` (about two minutes on the shared machine; `--ets` adds the damped-trend exponential
smoothing candidate, several minutes more). Also: this session's candidates (aggregate_models.py) against the method
used with paired intervals, the grid values nested validation chose, a look-ahead bound (least squares fitted on the
outcomes themselves: the floor for any linear rule on these inputs), and range coverage by size band with the size
power chosen at each origin and fixed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.placements import aggregate as A  # noqa: E402

CHOOSE = range(2014, 2020)   # origins on which the choice rule is chosen
HELD_OUT = range(2020, 2024)  # origins held out from that choice

TREND_LIKE = ("drift3", "drift5", "netflow", "pooled_rate_trend")
RULES = {  # name -> (candidates, window)
    "previous model (choice among the earlier candidates)": (A.PREVIOUS_CANDIDATES, None),
    "choice among all candidates": (A.PREVIOUS_CANDIDATES + ("pooled_rate", "pooled_rate_trend", A.WEIGHTED), None),
    "choice among all candidates, latest 3 origins": (
        A.PREVIOUS_CANDIDATES + ("pooled_rate", "pooled_rate_trend", A.WEIGHTED), 3),
    "choice among candidates without trend terms": (
        tuple(m for m in A.PREVIOUS_CANDIDATES + ("pooled_rate", A.WEIGHTED) if m not in TREND_LIKE), None),
    "always the weighted combination": ((A.WEIGHTED,), None),
    "always no change (with its calibrated ranges)": (("naive",), None),
    "always the plain average of five": (("average",), None),
    "choice among all candidates, this session's included": (
        A.PREVIOUS_CANDIDATES + ("pooled_rate", "pooled_rate_trend", A.WEIGHTED, "ridge", "flow", "damped", "average"),
        None),
}
NEW = ("ridge", "flow", "damped", "average")  # this session's candidates (pipeline/placements/aggregate_models.py)
BOUND_TERMS = ["rate_gap_region", "g1", "g1_prev", "reg_g1", "nat_g1", "st_gap", "ce_gap", "flow_gap", "d_started",
               "d_ceased", "level_gap"]


def md(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (index included), without extra dependencies."""
    df = df.reset_index()
    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns)
    return head + "\n" + "\n".join("| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False))


def wape(r: pd.DataFrame, col: str) -> float:
    """Weighted absolute % error: sum of absolute errors over sum of outcomes."""
    return float((r[col] / 100 * r["outcome"]).sum() / r["outcome"].sum() * 100)


def table(res: pd.DataFrame, cols: dict) -> str:
    lines = ["| method | horizon | MAE % | 95% interval | minus no change (pp) | 95% interval | WAPE % |",
             "|---|---|---|---|---|---|---|"]
    for name, col in cols.items():
        for h in sorted(res["horizon"].unique()):
            r = res[res["horizon"] == h]
            if col not in r or r[col].isna().all():
                continue
            e, lo, hi = A.bootstrap_mae(r, col)
            d, dlo, dhi = A.bootstrap_diff(r, col)
            lines.append(f"| {name} | {h} | {e:.2f} | {lo:.2f} to {hi:.2f} | {d:+.2f} | {dlo:+.2f} to {dhi:+.2f} | "
                         f"{wape(r, col):.2f} |")
    return "\n".join(lines)


def run_rule(panel, pairs, candidates, window, power_chosen: bool = True) -> pd.DataFrame:
    keep = (A.CANDIDATES, A.CHOICE_WINDOW, A.SIZE_POWER_CHOSEN)
    A.CANDIDATES, A.CHOICE_WINDOW, A.SIZE_POWER_CHOSEN = tuple(candidates), window, power_chosen
    try:
        return A.backtest(panel, _pairs_cache=pairs)
    finally:
        A.CANDIDATES, A.CHOICE_WINDOW, A.SIZE_POWER_CHOSEN = keep


def lookahead_bound(res: pd.DataFrame) -> str:
    """Not a forecast: least squares of the log change fitted on the very outcomes it is scored on (every origin
    at once), with the predictors the candidates use, then with one effect per outcome year (the national swing
    known in advance) and per region and year. The lowest error any linear rule on these inputs could reach."""
    lines = ["| fitted on the outcomes themselves (look-ahead) | horizon | MAE % | no change MAE % |", "|---|---|---|---|"]
    for h in (1, 2):
        x = res[res["horizon"] == h]
        d = (x["y_log"] - x["naive"]).to_numpy()
        X = np.column_stack([np.clip(x[c].to_numpy(float), -1.5, 1.5) for c in BOUND_TERMS])
        yr = pd.get_dummies(x["origin"]).to_numpy(float)
        ryr = pd.get_dummies(x["origin"].astype(str) + x["region_code"]).to_numpy(float)
        for name, M in (("the predictors", X), ("one effect per year (the national swing)", yr),
                        ("the predictors and one effect per year", np.c_[X, yr]),
                        ("the predictors and one effect per region and year", np.c_[X, ryr])):
            b = np.linalg.lstsq(M, d, rcond=None)[0]
            mae = A._ape(x["naive"].to_numpy() + M @ b, x["outcome"].to_numpy()).mean()
            lines.append(f"| {name} ({M.shape[1]} parameters) | {h} | {mae:.2f} | {x['ape_naive'].mean():.2f} |")
    return "\n".join(lines)


def main() -> None:
    t0 = time.perf_counter()
    with_ets = "--ets" in sys.argv
    panel = A.load_panel(ROOT)
    pairs = A._pairs(panel, range(2011, 2024), (1, 2), with_ets=with_ets)
    t_pairs = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = A.backtest(panel, _pairs_cache=pairs)
    t_bt = time.perf_counter() - t1
    print(f"pairs (authority x origin x horizon) in the error statistics: "
          f"{res.groupby('horizon').size().to_dict()}; authorities: {res['la_code'].nunique()}; "
          f"inputs with 2020/2021 values from the 2022 release: "
          f"{int(res['inputs_first_release_missing'].sum())}; building pairs {t_pairs:.0f} s, "
          f"one backtest {t_bt:.0f} s\n")
    rules = {name: run_rule(panel, pairs, c, w) for name, (c, w) in RULES.items()}
    rules["always the weighted combination, ranges with the fixed size power 0.25"] = run_rule(
        panel, pairs, (A.WEIGHTED,), None, power_chosen=False)
    prev = rules["previous model (choice among the earlier candidates)"]
    res["ape_previous"] = prev["ape_chosen"].to_numpy()
    cols = {A.LABELS[m]: f"ape_{m}" for m in A.ALL_METHODS if f"ape_{m}" in res}
    cols["previous model (chosen among the earlier candidates)"] = "ape_previous"
    cols[f"new model (chosen: {', '.join(A.CANDIDATES)}; window {A.CHOICE_WINDOW})"] = "ape_chosen"
    for label, origins in (("all origins 2014-2023", range(2014, 2024)), ("origins 2014-2019", CHOOSE),
                           ("origins 2020-2023 (held out)", HELD_OUT)):
        print(f"\n### {label}\n")
        print(table(res[res["origin"].isin(origins)], cols))

    print("\n### This session's candidates against the method used (paired, percentage points; negative = better)\n")
    print("| method | horizon | origins | MAE % | minus method used | 95% interval | minus no change | 95% interval |"
          "\n|---|---|---|---|---|---|---|---|")
    for m in NEW:
        for h in (1, 2):
            for lab, origins in (("2014-2023", range(2014, 2024)), ("2020-2023", HELD_OUT)):
                x = res[(res["horizon"] == h) & res["origin"].isin(origins)]
                d, lo, hi = A.bootstrap_diff(x, f"ape_{m}", base="ape_chosen")
                dn, lon, hin = A.bootstrap_diff(x, f"ape_{m}")
                print(f"| {A.LABELS[m]} | {h} | {lab} | {x[f'ape_{m}'].mean():.2f} | {d:+.2f} | {lo:+.2f} to {hi:+.2f} | "
                      f"{dn:+.2f} | {lon:+.2f} to {hin:+.2f} |")
    print("\nGrid values chosen by nested validation (horizon 1 / 2) at each origin:\n")
    cache: dict = {}
    for o in range(2014, 2024):
        f = A._fits_at(panel, pairs, o, (1, 2), cache)
        print(f"- {o}: " + "; ".join(f"{fam} " + " / ".join(f.hyper.get(h, {}).get(fam, "default").split("@")[1]
                                                          for h in (1, 2)) for fam in ("ridge", "flow", "damped"))
              + "; range size power " + " / ".join(f"{f.power.get((A.WEIGHTED, h), A.SIZE_POWER):.1f}" for h in (1, 2)))
    print("\n### Look-ahead bound (not a forecast)\n")
    print(lookahead_bound(res[res["origin"].isin(range(2014, 2024))]))

    print("\n### Choice rules: chosen on origins 2014-2019, reported on 2020-2023\n")
    print("| rule | horizon | MAE % 2014-19 | MAE % 2020-23 | minus no change 2020-23 (pp) | 95% interval | "
          "WAPE % 2020-23 | MAE % all |\n|---|---|---|---|---|---|---|---|")
    score = {}
    for name, r in rules.items():
        score[name] = r[r["origin"].isin(CHOOSE)]["ape_chosen"].mean()
        for h in (1, 2):
            x = r[r["horizon"] == h]
            a, b = x[x["origin"].isin(CHOOSE)], x[x["origin"].isin(HELD_OUT)]
            d, lo, hi = A.bootstrap_diff(b, "ape_chosen")
            print(f"| {name} | {h} | {a['ape_chosen'].mean():.2f} | {b['ape_chosen'].mean():.2f} | {d:+.2f} | "
                  f"{lo:+.2f} to {hi:+.2f} | {wape(b, 'ape_chosen'):.2f} | {x['ape_chosen'].mean():.2f} |")
    best = min(score, key=score.get)
    print(f"\nRule with the lowest MAE on origins 2014-2019 (both horizons): {best}")

    print("\n### Ranges: coverage (share of outcomes inside) and interval score (% of outcome, lower is better)\n")
    print("| rule | horizon | origins | 50% | 80% | 95% | score 50% | score 80% | score 95% | median 80% high/low |"
          "\n|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rules.items():
        for h in (1, 2):
            for lab, origins in (("2014-2023", range(2014, 2024)), ("2020-2023", HELD_OUT)):
                x = r[(r["horizon"] == h) & r["origin"].isin(origins)]
                cov = " | ".join(f"{x[f'in_range{lv}'].mean():.1%}" for lv in A.LEVELS)
                sc = " | ".join(f"{x[f'interval_score{lv}'].mean():.1f}" for lv in A.LEVELS)
                print(f"| {name} | {h} | {lab} | {cov} | {sc} | {(x['high80'] / x['low80']).median():.2f} |")

    print("\nRange coverage and MAE by the authority's size (children looked after at the origin), all origins; "
          "default rule (size power chosen at each origin), then with the fixed power 0.25:\n")
    size = pd.cut(res["stock_origin"], [0, 150, 300, 600, 10**6], labels=["under 150", "150-299", "300-599", "600+"])
    fixed = rules["always the weighted combination, ranges with the fixed size power 0.25"]
    by_size = res.assign(coverage80_fixed_power=fixed["in_range80"].to_numpy()).groupby(
        ["horizon", size], observed=True).agg(
        pairs=("in_range80", "size"), coverage50=("in_range50", "mean"), coverage80=("in_range80", "mean"),
        coverage95=("in_range95", "mean"), coverage80_fixed_power=("coverage80_fixed_power", "mean"),
        score80=("interval_score80", "mean"), mae_chosen=("ape_chosen", "mean"),
        mae_naive=("ape_naive", "mean")).round(3)
    print(md(by_size))
    print("\nMethod chosen at each origin (default rule):\n")
    print(md(res.groupby(["origin", "horizon"])["chosen_method"].first().unstack()))
    print("\nWeight on the rate-adjusted projection in the weighted combination, by origin: ", end="")
    print(", ".join(f"{o}: " + "/".join(f"{A._fits_at(panel, pairs, o, (1, 2), cache).weight.get(h, 0):.2f}"
                                        for h in (1, 2)) for o in range(2014, 2024)))
    by_origin = res.assign(ape_previous=res["ape_previous"]).groupby(["horizon", "origin"])[
        ["ape_naive", "ape_previous", "ape_pooled_rate", "ape_weighted", "ape_chosen"]].mean().round(2)
    print("\nMAE % by origin:\n")
    print(md(by_origin))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
