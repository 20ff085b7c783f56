"""Benchmark (not a test): the aggregate projection of children looked after at 31 March over the real panel of
every English authority (DfE's published counts, 2010-2025, every vintage).

Rolling origins 2014..2023, horizons 1 and 2 years; inputs as published at the origin, outcomes as latest
published. Prints Markdown tables (mean absolute % error with a 95% interval from resampling authorities, the
difference from "no change" with a paired interval, the method chosen at each origin, 80% range coverage) and
the choice rules tried. Run with `make bench-aggregate` (about five minutes: the damped-trend candidate fits one
exponential smoothing model per authority and origin)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.placements import aggregate as A  # noqa: E402


def md(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (index included), without extra dependencies."""
    df = df.reset_index()
    head = "| " + " | ".join(map(str, df.columns)) + " |\n|" + "---|" * len(df.columns)
    return head + "\n" + "\n".join("| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False))


def table(res: pd.DataFrame, methods) -> str:
    lines = ["| method | horizon | MAE % | 95% interval | minus no change (pp) | 95% interval |",
             "|---|---|---|---|---|---|"]
    for m in methods:
        for h in sorted(res["horizon"].unique()):
            r = res[res["horizon"] == h]
            if f"ape_{m}" not in r or r[f"ape_{m}"].isna().all():
                continue
            e, lo, hi = A.bootstrap_mae(r, f"ape_{m}")
            d, dlo, dhi = A.bootstrap_diff(r, f"ape_{m}")
            name = A.LABELS.get(m, "chosen at each origin from prior origins")
            lines.append(f"| {name} | {h} | {e:.2f} | {lo:.2f} to {hi:.2f} | {d:+.2f} | {dlo:+.2f} to {dhi:+.2f} |")
    return "\n".join(lines)


def main() -> None:
    t0 = time.perf_counter()
    panel = A.load_panel(ROOT)
    pairs = A._pairs(panel, range(2011, 2024), (1, 2), with_ets=True)
    t_pairs = time.perf_counter() - t0
    with_ets = A.backtest(panel, _pairs_cache=pairs)
    prod_pairs = pairs.drop(columns="ets_damped")
    res = A.backtest(panel, _pairs_cache=prod_pairs)
    res["ape_ets_damped"] = with_ets["ape_ets_damped"].to_numpy()
    print(f"pairs (authority x origin x horizon) in the error statistics: "
          f"{res.groupby('horizon').size().to_dict()}; authorities: {res['la_code'].nunique()}; "
          f"inputs with 2020/2021 values from the 2022 release: "
          f"{int(res['inputs_first_release_missing'].sum())}; building pairs took {t_pairs:.0f} s\n")
    print(table(res, list(A.ALL_METHODS) + ["chosen"]))
    print("\nMethod chosen at each origin (lowest out-of-sample error on prior pairs; margin toward no change "
          f"{A.CHOICE_MARGIN:.0%}):\n")
    print(md(res.groupby(["origin", "horizon"])["chosen_method"].first().unstack()))
    cov = res.groupby("horizon")["in_range80"].mean()
    width = (res["high80"] / res["low80"]).groupby(res["horizon"]).median()
    print("\n80% range coverage by horizon: "
          + ", ".join(f"{h} year(s) {c:.1%} (median high/low ratio {width[h]:.2f})" for h, c in cov.items()))
    by_origin = res.groupby(["horizon", "origin"])[["ape_naive", "ape_combination", "ape_chosen"]].mean().round(2)
    print("\nMAE % by origin:\n")
    print(md(by_origin))
    print("\nChoice rules compared (same pairs; the rule is itself a choice, made on this backtest):\n")
    print("| rule | horizon | chosen MAE % | minus no change (pp) | 95% interval | 80% coverage |\n|---|---|---|---|---|---|")
    for window, margin in [(None, 0.0), (None, 0.02), (None, 0.05), (3, 0.0)]:
        A.CHOICE_WINDOW, A.CHOICE_MARGIN = window, margin
        r = A.backtest(panel, _pairs_cache=prod_pairs)
        for h in (1, 2):
            x = r[r["horizon"] == h]
            d, lo, hi = A.bootstrap_diff(x, "ape_chosen")
            rule = f"margin {margin:.0%}, " + ("all prior origins" if window is None else f"latest {window} origins")
            print(f"| {rule} | {h} | {x['ape_chosen'].mean():.2f} | {d:+.2f} | {lo:+.2f} to {hi:+.2f} | "
                  f"{x['in_range80'].mean():.1%} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
