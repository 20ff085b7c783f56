"""Benchmark (not a test): the aggregate projection of children looked after at 31 March over the real panel of
every English authority (DfE's published counts, 2010-2025, every vintage).

Rolling origins 2014..2023, horizons 1 and 2 years; inputs as published at the origin, outcomes as latest
published. Prints Markdown tables: mean absolute % error (MAE) and weighted absolute % error (WAPE: total absolute
error over total outcome) by method and horizon with 95% intervals from resampling authorities, the difference
from "no change" with a paired interval; the choice rules compared on origins 2014-2019 (where the rule is chosen)
and 2020-2023 (held out); coverage of the 50/80/95% ranges and interval scores by horizon. Run with
`make bench-aggregate` (about two minutes on the shared machine; `--ets` adds the damped-trend exponential
smoothing candidate, several minutes more)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

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
}


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


def run_rule(panel, pairs, candidates, window) -> pd.DataFrame:
    keep = (A.CANDIDATES, A.CHOICE_WINDOW)
    A.CANDIDATES, A.CHOICE_WINDOW = tuple(candidates), window
    try:
        return A.backtest(panel, _pairs_cache=pairs)
    finally:
        A.CANDIDATES, A.CHOICE_WINDOW = keep


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
    prev = rules["previous model (choice among the earlier candidates)"]
    res["ape_previous"] = prev["ape_chosen"].to_numpy()
    cols = {A.LABELS[m]: f"ape_{m}" for m in A.ALL_METHODS if f"ape_{m}" in res}
    cols["previous model (chosen among the earlier candidates)"] = "ape_previous"
    cols[f"new model (chosen: {', '.join(A.CANDIDATES)}; window {A.CHOICE_WINDOW})"] = "ape_chosen"
    for label, origins in (("all origins 2014-2023", range(2014, 2024)), ("origins 2014-2019", CHOOSE),
                           ("origins 2020-2023 (held out)", HELD_OUT)):
        print(f"\n### {label}\n")
        print(table(res[res["origin"].isin(origins)], cols))

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

    print("\n80% range coverage and MAE by the authority's size (children looked after at the origin), default "
          "rule, all origins:\n")
    size = pd.cut(res["stock_origin"], [0, 150, 300, 600, 10**6], labels=["under 150", "150-299", "300-599", "600+"])
    by_size = res.groupby(["horizon", size], observed=True).agg(
        pairs=("in_range80", "size"), coverage80=("in_range80", "mean"), mae_chosen=("ape_chosen", "mean"),
        mae_naive=("ape_naive", "mean")).round(3)
    print(md(by_size))
    print("\nMethod chosen at each origin (default rule):\n")
    print(md(res.groupby(["origin", "horizon"])["chosen_method"].first().unstack()))
    print("\nWeight on the rate-adjusted projection in the weighted combination, by origin: ", end="")
    cache: dict = {}
    print(", ".join(f"{o}: " + "/".join(f"{A._fits_at(panel, pairs, o, (1, 2), cache).weight.get(h, 0):.2f}"
                                        for h in (1, 2)) for o in range(2014, 2024)))
    by_origin = res.assign(ape_previous=res["ape_previous"]).groupby(["horizon", "origin"])[
        ["ape_naive", "ape_previous", "ape_pooled_rate", "ape_weighted", "ape_chosen"]].mean().round(2)
    print("\nMAE % by origin:\n")
    print(md(by_origin))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
