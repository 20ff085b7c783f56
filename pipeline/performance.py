"""The performance section: key measures rated against their targets, the areas of success and for
consideration chosen from the data, trend charts, a benchmark strip placing the authority among all
authorities, and deliverables with their owners' ratings."""

from __future__ import annotations

import math
import re

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from .benchmarks import benchmark, dfe_series
from .context import QuarterContext
from .formatting import number, pct, plural
from .parsing import parse_measure_value, parse_target
from .ratings import RATINGS, SYMBOLS, rate
from .report import DARK_BLUE, DARK_GREY, FOCUS_GREY, ORANGE, chart, escape_md, table_html, titled

SECTION = "Performance"
_YEAR = re.compile(r"^(\d{4})-(\d{4})$")


def _value(text) -> float:
    v = parse_measure_value(text)
    return float(v.value) if v.value is not None else math.nan


def _fy_short(fy: str) -> str:
    return f"{fy[2:4]}-{fy[5:7]}"


def measure_table(measures: pd.DataFrame, fy: str, basis: str = "relative") -> pd.DataFrame:
    """One row per measure: latest and previous values with their periods, the target for this year
    (``Target <yy-yy>`` where given, else ``Target``), the national benchmark where the return gives
    one, and the rating with its sentence."""
    rows = []
    for ref, g in measures.groupby("measure_ref", sort=False):
        first = g.iloc[0]
        years = g[g["period"].str.match(_YEAR)].copy()
        years["v"] = years["value_raw"].map(_value)
        years = years[years["v"].notna()].sort_values("period")
        targets = g[g["period"].str.startswith("Target")]
        t_this = targets[targets["period"] == f"Target {_fy_short(fy)}"]
        t = (t_this if len(t_this) else targets[targets["period"] == "Target"] if (targets["period"] == "Target").any()
             else targets.tail(1))
        target = str(t["value_raw"].iloc[0]) if len(t) else ""
        nat = g[g["period"].str.lower().str.startswith("national")]
        national = _value(nat["value_raw"].iloc[0]) if len(nat) else math.nan
        latest = years.iloc[-1] if len(years) else None
        prev = years.iloc[-2] if len(years) > 1 else None
        value = float(latest["v"]) if latest is not None else None
        stale = latest is not None and int(latest["period"][:4]) < int(fy[:4]) - 1
        r = rate(value, target, str(first["polarity"]), str(first.get("unit", "")) or None, basis=basis,
                 national=None if math.isnan(national) else national,
                 previous=float(prev["v"]) if prev is not None else None)
        if stale:  # a value two or more years old is shown, not rated against this year's target
            from .ratings import Rating

            r = Rating("Not available", f"The latest value ({_shown(value, first.get('unit', ''))}, {latest['period']}) is "
                                        f"more than a year old: not rated against the {fy} target.")
        rows.append({"measure_ref": ref, "measure": first["measure_name"], "polarity": first["polarity"],
                     "unit": first.get("unit", ""), "latest_period": latest["period"] if latest is not None else "",
                     "latest": value if value is not None else math.nan,
                     "previous_period": prev["period"] if prev is not None else "",
                     "previous": float(prev["v"]) if prev is not None else math.nan, "target": target,
                     "target_rule": parse_target(target).kind, "national": national, "rating": r.rating,
                     "better_by": r.better_by, "explanation": r.sentence})
    return pd.DataFrame(rows)


def _shown(v, unit) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return pct(v) if unit == "percent" else f"£{number(v)}" if unit == "gbp" else number(v, 0 if float(v).is_integer() else 1)


def key_areas(t: pd.DataFrame, n: int = 3) -> tuple[list[str], list[str]]:
    """The measures furthest better than target (success) and furthest worse (consideration), each
    as its rating sentence."""
    rated = t[t["rating"] != "Not available"].dropna(subset=["better_by"])
    good = rated[rated["better_by"] > 0].sort_values("better_by", ascending=False).head(n)
    bad = rated[rated["rating"].isin(["Review", "Action"])].sort_values("better_by").head(n)
    fmt = lambda r: f"**{escape_md(r.measure)}**: {escape_md(r.explanation)}"  # noqa: E731
    return [fmt(r) for r in good.itertuples()], [fmt(r) for r in bad.itertuples()]


def _table(ctx: QuarterContext) -> pd.DataFrame | None:
    if "measures" not in ctx.params.inputs:
        return None
    basis = str(ctx.params.settings.get("rating_basis", "relative"))
    return measure_table(ctx.table("measures"), ctx.quarter.fy, basis)


def summary(ctx: QuarterContext) -> Markdown:
    t = _table(ctx)
    if t is None:
        return Markdown("*No key measures input in this quarter's params.*")
    counts = t["rating"].value_counts()
    parts = [f"{number(counts.get(r, 0))} {SYMBOLS[r]}" for r in RATINGS if counts.get(r, 0)]
    text = f"Of {plural(len(t), 'key measure')} this quarter: " + ", ".join(parts) + "."
    good, bad = key_areas(t)
    if good:
        text += "\n\nKey areas of success:\n\n" + "\n".join(f"- {g}" for g in good)
    if bad:
        text += "\n\nKey areas for consideration:\n\n" + "\n".join(f"- {b}" for b in bad)
    text += ("\n\n*Rating key: ★ Strong, more than 5% better than target (2% where the target is above 95%); "
             "✓ Good; ! Review, more than 2% worse; ✗ Action, more than 10% worse; – not available or no target. "
             + ("Better and worse are read in percentage points (settings.rating_basis)." if
                str(ctx.params.settings.get("rating_basis", "relative")) == "points" else
                "Better and worse are read relative to the target.") + "*")
    return Markdown(text)


def measures_table(ctx: QuarterContext) -> HTML:
    t = _table(ctx)
    if t is None:
        return HTML("")
    shown = pd.DataFrame({
        "Measure": t["measure"], "Latest": [f"{_shown(v, u)} ({p})" if p else "" for v, u, p in
                                            zip(t["latest"], t["unit"], t["latest_period"])],
        "Previous": [_shown(v, u) for v, u in zip(t["previous"], t["unit"])],
        "Target": t["target"], "England": [_shown(v, u) for v, u in zip(t["national"], t["unit"])],
        "Rating": t["rating"].map(SYMBOLS), "Why": t["explanation"]})
    ctx.publish("performance_measures", t, "Key measures rated against target", SECTION)
    return HTML(table_html(shown, "Key measures against target", numeric=["Latest", "Previous", "England"],
                           note="Source: the quarter's key measures return; England where the return gives the "
                                "national benchmark. Ratings follow the council's rating key, never colour alone."))


def trend_figure(ctx: QuarterContext):
    if "measures" not in ctx.params.inputs:
        return Markdown("")
    m = ctx.table("measures")
    t = _table(ctx).set_index("measure_ref")
    refs = [r for r, g in m.groupby("measure_ref", sort=False)
            if g["period"].str.match(_YEAR).sum() >= 2 and t.at[r, "unit"] in ("percent", "number")]
    if not refs:
        return Markdown("")
    n = len(refs)
    cols = 3
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(9, 2.4 * rows), squeeze=False)
    lines = []
    for ax, ref in zip(axes.flat, refs):
        g = m[(m["measure_ref"] == ref) & m["period"].str.match(_YEAR)].sort_values("period")
        x = [p[:4] + "-" + p[7:9] for p in g["period"]]
        y = g["value_raw"].map(_value)
        ax.plot(x, y, marker="o", color=DARK_BLUE, linewidth=1.6)
        rule = parse_target(t.at[ref, "target"])
        if rule.kind == "threshold" and rule.value is not None:
            ax.axhline(rule.value, color=ORANGE, linestyle="--", linewidth=1, label="Target")
        if not math.isnan(t.at[ref, "national"]):
            ax.axhline(t.at[ref, "national"], color=DARK_GREY, linestyle=":", linewidth=1, label="England")
        name = t.at[ref, "measure"]
        ax.set_title(name if len(name) < 45 else name[:42] + "...", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        ax.text(0.98, 0.04, SYMBOLS[t.at[ref, "rating"]], transform=ax.transAxes, ha="right", fontsize=8, color=DARK_GREY)
        lines.append(f"{name}: " + ", ".join(f"{a} {_shown(b, t.at[ref, 'unit'])}" for a, b in zip(x, y)))
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=DARK_BLUE, marker="o", label="Value"),
               plt.Line2D([], [], color=ORANGE, linestyle="--", label="Target"),
               plt.Line2D([], [], color=DARK_GREY, linestyle=":", label="England")]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.suptitle("Key measures over time, with target and England", x=0.02, ha="left", fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return chart(fig, "Small multiples of key measures over time with the target (dashed) and England (dotted): "
                      + "; ".join(lines) + ".")


def benchmark_strip(ctx: QuarterContext):
    """Children looked after per 10,000 in every authority (the DfE file named in the params), the
    benchmark authority highlighted, with England, its region and its neighbours' mean."""
    key = next((k for k in ctx.params.inputs if k.startswith("cla_number_and_rate")), None)
    sn_keys = ("sn_model_2025", "sn_groupings_2021")
    if key is None or sn_keys[0] not in ctx.params.inputs:
        return [Markdown("*The benchmark strip needs DfE's children-looked-after rates (`cla_number_and_rate...`) and "
                        "statistical neighbour model (`sn_model_2025`) in this quarter's params.*")]

    def read(k):
        return pd.read_csv(ctx.params.inputs[k].path, dtype=str, keep_default_na=False, encoding="utf-8-sig")

    raw = read(key)
    s25 = read(sn_keys[0])
    s21 = read(sn_keys[1]) if sn_keys[1] in ctx.params.inputs else None
    s = dfe_series(raw, "rate_per_10000", {"population_type": "Children looked after on 31 March each year"})
    period = max(p for p in s["period"].unique() if int(p) <= ctx.quarter.end.year)
    who = str(ctx.params.settings.get("benchmark_authority", ctx.params.authority_code))
    try:
        b = benchmark(s, who, period, "lower", s25, s21)
    except KeyError:
        return [Markdown(f"*The authority {escape_md(who)} is not in the DfE file, so it cannot be placed among "
                        "authorities; set settings.benchmark_authority.*")]
    las = s[(s["period"] == period) & (s["level"] == "Local authority")].dropna(subset=["value"]).sort_values("value")
    fig, ax = plt.subplots(figsize=(9, 2.8))
    colours = [DARK_BLUE if n == b.authority else FOCUS_GREY for n in las["name"]]
    ax.bar(range(len(las)), las["value"], color=colours, width=1.0)
    ax.axhline(b.england, color=DARK_GREY, linestyle=":", linewidth=1.2)
    ax.text(len(las) * 0.01, b.england, f" England {b.england:g}", va="bottom", fontsize=8, color=DARK_GREY)
    i = list(las["name"]).index(b.authority)
    ax.annotate(f"{b.authority} {b.value:g} (band {b.band})", (i, b.value), xytext=(0, 18), textcoords="offset points",
                ha="center", fontsize=8, color=DARK_BLUE, arrowprops={"arrowstyle": "-", "color": DARK_BLUE})
    ax.set_xticks([])
    ax.set_ylabel("Per 10,000 children")
    label = " (the authority the synthetic data are calibrated to; published DfE figures)" if ctx.params.any_synthetic else ""
    titled(fig, ax, f"{b.authority}: rank {b.rank} of {b.of} for children looked after per 10,000",
           f"Children looked after at 31 March {period} per 10,000 children, every authority, lowest first; "
           f"DfE{label}")
    ctx.publish("performance_benchmark_cla", pd.DataFrame([b.__dict__]).drop(columns=["notes"]),
                "Children looked after per 10,000: benchmarks", SECTION)
    alt = (f"Bar chart of the children looked after rate per 10,000 in {b.of} authorities in {period}, lowest first; "
           f"{b.authority} is {b.value:g}, rank {b.rank}, band {b.band}; England {b.england:g}.")
    return [Markdown(escape_md(b.sentence()) + (f" {escape_md(label.strip(' ()'))}." if label else "")), chart(fig, alt)]


def deliverables(ctx: QuarterContext):
    if "deliverables" not in ctx.params.inputs:
        return HTML("")
    d = ctx.table("deliverables")
    rating = d["rating"].fillna("").astype(str).str.strip()
    t = pd.DataFrame({"Deliverable": d["deliverable"],
                      "Owner's rating": rating.map(lambda r: SYMBOLS.get(r, "– Not rated") if r else "– Not rated"),
                      "Expected completion": d.get("expected_completion", pd.Series("", index=d.index)).fillna("")})
    ctx.publish("performance_deliverables", t, "Council Plan deliverables and owners' ratings", SECTION)
    return HTML(table_html(t, "Council Plan deliverables", note="Rated by their owners."))


def catalogue_rules(texts: pd.Series) -> pd.DataFrame:
    """Every target text with its structured rule, or its reason for being unrated."""
    out = []
    for t in texts.dropna().astype(str).unique():
        rule = parse_target(t)
        reason = "" if rule.kind not in ("unparsed", "none", "tbc", "monitor", "baseline", "gap") else \
            rate(1.0, rule, "higher").sentence
        out.append({"target": t, "rule": rule.kind, "op": rule.op or "", "value": rule.value, "high": rule.high,
                    "direction": rule.direction or "", "quartile": rule.quartile or "", "unrated_reason": reason})
    return pd.DataFrame(out)
