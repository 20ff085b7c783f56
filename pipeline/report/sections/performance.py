"""The performance section: key measures rated against their targets, the areas of success and for
consideration chosen from the data, trend charts, a benchmark strip placing the authority among all
authorities, and deliverables with their owners' ratings. The notebook computes each part (``measures``,
``cla_place``, ``deliverables_table``), publishes it (``ctx.publish``) and renders it (``render_*``); the
one-call forms (``summary``, ``outcome_sections``, ``benchmark_strip``, ``deliverables``) do the steps in one."""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import and_list, number, period_words, plural
from pipeline.ingest.parsing import parse_target
from pipeline.measures.benchmarks import SERIES, Benchmark, benchmark
from pipeline.measures.ratings import RATINGS, SYMBOLS
from pipeline.measures.table import YEAR_RANGE, shown_value, value_of
from pipeline.quarter.context import QuarterContext, split_commentary
from pipeline.quarter.performance import (  # noqa: F401 (measures, period_label, with_periods: the notebook's and tests' names)
    benchmark_who,
    catalogue_of,
    dfe_series,
    is_snapshot,
    measures,
    measures_table,
    neighbour_models,
    period_label,
    with_periods,
)
from pipeline.report.commentary import commentary  # noqa: F401 (used by the notebook)
from pipeline.report.deliverables import deliverable_problems, long_overdue, overdue
from pipeline.report.render import DARK_BLUE, DARK_GREY, FOCUS_GREY, ORANGE, chart, escape_md, table_html, titled

SECTION = "Performance"


def key_areas(t: pd.DataFrame, n: int = 3, vs_england: int = 2) -> tuple[list[str], list[str]]:
    """Key areas of success and for consideration, by one rule: a rated measure is listed by its rating,
    success when Strong or Good and better than target (furthest better first), consideration when Review
    or Action (furthest worse first), up to ``n`` each; a measure that cannot be rated (no target, or no
    figure to rate it with) is listed by its comparison with England instead when it is more than 5%
    better or worse, up to ``vs_england`` each. So a measure rated Good is never listed for consideration."""
    rated = t[t["rating"] != "Not available"].dropna(subset=["better_by"])
    good = rated[rated["rating"].isin(["Strong", "Good"]) & (rated["better_by"] > 0)]
    good = good.sort_values("better_by", ascending=False)
    bad = rated[rated["rating"].isin(["Review", "Action"])].sort_values("better_by")
    fmt = lambda r: f"**{escape_md(r.measure)}**: {escape_md(r.explanation)}"  # noqa: E731
    out_good, out_bad = [fmt(r) for r in good.head(n).itertuples()], [fmt(r) for r in bad.head(n).itertuples()]
    if len(good) > n:  # the rest named, never dropped silently
        out_good.append(f"Also better than target ({_furthest(n, 'better')}): "
                        + escape_md(and_list([f"{m} ({SYMBOLS[r]})" for m, r in zip(good["measure"].iloc[n:], good["rating"].iloc[n:])])) + ".")
    if len(bad) > n:
        out_bad.append(f"Also worse than target ({_furthest(n, 'worse')}): "
                       + escape_md(and_list([f"{m} ({SYMBOLS[r]})" for m, r in zip(bad["measure"].iloc[n:], bad["rating"].iloc[n:])])) + ".")
    e = t[(t["rating"] == "Not available") & t["national"].notna() & t["latest"].notna() & (t["national"] != 0)].copy()
    if len(e):
        sign = e["polarity"].map(lambda p: -1.0 if p == "lower" else 1.0)
        e["vs"] = sign * (e["latest"] - e["national"]) / e["national"].abs() * 100
        src = lambda r: r.national_from if r.national_from else "return"  # noqa: E731
        for r in e[e["vs"] > 5].sort_values("vs", ascending=False).head(vs_england).itertuples():
            out_good.append(f"**{escape_md(r.measure)}** (not rated against a target): {shown_value(r.latest, r.unit)} "
                            f"against England's {shown_value(r.national, r.unit)} ({escape_md(src(r))}) is "
                            f"{abs(r.vs):.1f}% better than England.")
        for r in e[e["vs"] < -5].sort_values("vs").head(vs_england).itertuples():
            out_bad.append(f"**{escape_md(r.measure)}** (not rated against a target): {shown_value(r.latest, r.unit)} "
                           f"against England's {shown_value(r.national, r.unit)} ({escape_md(src(r))}) is "
                           f"{abs(r.vs):.1f}% worse than England.")
    return out_good, out_bad


def _furthest(n: int, way: str) -> str:
    return f"the {'three' if n == 3 else number(n)} furthest {way} than target are listed in full above"


def _who_name(ctx: QuarterContext) -> str:
    """The benchmark authority by name (a reader does not know DfE's codes such as E10000007)."""
    who = benchmark_who(ctx)
    if SERIES["cla_rate"]["input"] in ctx.params.inputs:
        s = dfe_series(ctx, "cla_rate")
        hit = s[(s["code"].astype(str) == who) | (s["name"].astype(str) == who)] if {"code", "name"} <= set(s.columns) \
            else s.iloc[0:0]
        if len(hit):
            return str(hit["name"].iloc[0])
    return "the benchmark authority" if re.fullmatch(r"E\d{8}|\d{3}", who) else who


RATING_KEY = ("Rating key: ★ Strong, more than 5% better than target (more than 2% where the target is above 95%); "
              "✓ Good, on target, better, or no more than 2% worse; ! Review, more than 2% and up to 10% worse; "
              "✗ Action, more than 10% worse; – Not available, no figure or no target to rate against. "
              "A target to rise or fall each year is rated with the same key against last year's figure; a "
              "target range is Good inside it and rated against its nearer edge outside it; a quartile target "
              "is Good in the target band, Review one band short and Action two or more short. ")
AREAS_RULE = ("Key areas: measures rated Strong, or Good and better than target, are areas of success; "
              "measures rated Review or Action are for consideration; the three furthest from target each way "
              "are described and any others named; a measure without a target is listed when it is more than "
              "5% better or worse than England (up to two each way).")


def grouping(ctx: QuarterContext) -> str:
    return ctx.params.settings.measure_grouping


def summary(ctx: QuarterContext) -> Markdown:
    """Computed and rendered in one call (the notebook does the two steps itself)."""
    return render_summary(ctx, measures(ctx))


def render_summary(ctx: QuarterContext, t: pd.DataFrame | None) -> Markdown:
    """The measures ``t`` counted by rating, with the key areas of success and for consideration."""
    if t is None:
        return Markdown("*No key measures input among this quarter's inputs.*")
    counts = t["rating"].value_counts()
    parts = [f"{number(counts.get(r, 0))} {SYMBOLS[r]}" for r in RATINGS if counts.get(r, 0)]
    text = f"Of {plural(len(t), 'key measure')} this quarter: " + ", ".join(parts) + "."
    good, bad = key_areas(t)
    if good:
        text += "\n\nKey areas of success:\n\n" + "\n".join(f"- {g}" for g in good)
    if bad:
        text += "\n\nKey areas for consideration:\n\n" + "\n".join(f"- {b}" for b in bad)
    elif good:
        text += "\n\nKey areas for consideration: none this quarter (no measure is rated Review or Action)."
    text += ("\n\n*" + RATING_KEY
             + ("Better and worse are read in percentage points." if
                ctx.params.settings.rating_basis == "points" else
                "Better and worse are read relative to the target (15.1% against 18.0% is 16.1% worse).")
             + " " + AREAS_RULE + "*")
    return Markdown(text)


def _display_table(t: pd.DataFrame, caption: str) -> str:
    bench = [(f"{shown_value(m, u)} ({n})" if not math.isnan(m) else "") for m, n, u in
             zip(t["neighbours_mean"], t["neighbours_with_value"], t["unit"])]
    shown = pd.DataFrame({
        "Measure": t["measure"],
        "Latest": [f"{shown_value(v, u)} ({lab})" if lab else "" for v, u, lab in zip(t["latest"], t["unit"], t["latest_label"])],
        "Target": t["target"], "Rating": t["rating"].map(SYMBOLS), "Why": t["explanation"],
        "England": [shown_value(v, u) for v, u in zip(t["national"], t["unit"])],
        "Neighbours (n)": bench,
        "Band (rank)": [f"{b} ({r} of {o})" if b else "" for b, r, o in zip(t["quartile_band"], t["rank"], t["of"])],
        "Direction": t["direction"]})
    return table_html(shown, caption, numeric=["Latest", "England", "Neighbours (n)"])


_LATER = re.compile(r"^(.*): DfE's latest published figures are for (\S+), and the (\S+) value is placed among them$")


def said_once(notes) -> list[str]:
    """Benchmark notes said once: "A: DfE's latest published figures are for 2025, and the 2026-27 value is
    placed among them" for six measures becomes one sentence naming them by year."""
    by: dict[tuple[str, str], list[str]] = {}
    rest = []
    for n in dict.fromkeys(x for x in notes if x):
        m = _LATER.match(n)
        if m:
            by.setdefault((m.group(3), m.group(2)), []).append(m.group(1))
        else:
            rest.append(n)
    out = []
    for (year, dfe), names in sorted(by.items(), key=lambda kv: kv[0][1], reverse=True):
        listed = and_list(names)
        out.append(f"DfE's latest published figures are for {dfe} for {listed}: the {year} "
                   f"value{'s are' if len(names) > 1 else ' is'} placed among them")
    return out + sorted(rest)


def _sources_note(t: pd.DataFrame, ctx: QuarterContext) -> str:
    notes = said_once(t["benchmark_note"])
    who = _who_name(ctx)
    syn = (" The authority's figures are SYNTHETIC; England, neighbours and bands are DfE's published figures, the "
           f"neighbours those of {who}, the authority the synthetic data are calibrated to.") if ctx.params.any_synthetic else ""
    return ("Source: the quarter's key measures return; targets from the return, else the measure catalogue "
            "(the council's list of key measures). England, statistical neighbours' mean (with how many of the ten have a value), "
            "quartile band (A best, following the measure's polarity) and rank among all authorities from DfE's "
            "published files where the catalogue names a series; otherwise England as the return gives it, and blank "
            "where there is no national series. Direction compares the latest value with last year's. "
            "A value for this year before its last quarter is for part of the year: a figure over a period "
            "is labelled with the month it runs to (April to the quarter's end) and a count with the date it "
            "was taken, and the rating says when it is set against a full-year target or last year's "
            "full-year figure. Ratings follow the "
            "council's rating key, never colour alone." + syn + (" " + " ".join(f"{n}." for n in notes) if notes else ""))


MEASURES_TITLE = "Key measures rated against target, with benchmarks"
CLA_TITLE = "Children looked after per 10,000: benchmarks"


def outcome_sections(ctx: QuarterContext) -> list:
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    t = measures(ctx)
    if t is not None:
        ctx.publish("performance_measures", t, MEASURES_TITLE, SECTION)
    return render_outcome_sections(ctx, t)


def render_outcome_sections(ctx: QuarterContext, t: pd.DataFrame | None) -> list:
    """For each council outcome (settings.measure_grouping: a catalogue column, default ``outcome``): a
    heading, its counts by rating, its measures table, its trend charts and a strip per benchmarked
    measure placing the authority among all authorities; measures not in the catalogue come last."""
    if t is None:
        return [Markdown("*No key measures input among this quarter's inputs.*")]
    col = grouping(ctx)
    cat = catalogue_of(ctx)
    if cat is not None and col in cat.columns:
        groups = t["catalogue_id"].map(cat.set_index("id")[col]).fillna("")
    else:
        groups = pd.Series("", index=t.index)
    other = "Other measures (not in the measure catalogue)"
    groups = groups.where(groups != "", other)
    named = [g for g in dict.fromkeys(groups) if g != other]  # in the order the return lists its measures
    if all(re.match(r"Outcome \d", g) for g in named):
        named = sorted(named, key=lambda g: int(re.match(r"Outcome (\d+)", g).group(1)))
    order = named + ([other] if (groups == other).any() else [])
    out = []
    for g in order:
        sub = t[groups == g]
        counts = sub["rating"].value_counts()
        line = ", ".join(f"{number(counts.get(r, 0))} {SYMBOLS[r]}" for r in RATINGS if counts.get(r, 0))
        out.append(Markdown(f"#### {escape_md(g)}\n\n{plural(len(sub), 'measure')}: {line}."))
        out.append(HTML(_display_table(sub, f"{g}: key measures")))
        fig = _trend_figure(ctx, sub, _trend_title(g, sub))
        if fig is not None:
            out.append(fig)
        if (sub["benchmark_period"] != "").any():
            out += benchmark_strips(ctx, sub)
    out.append(Markdown("*" + escape_md(_sources_note(t, ctx)) + "*"))
    return out


def _trend_title(group: str, sub: pd.DataFrame) -> str:
    """A title that states the finding: how many rated measures are on or better than target."""
    rated = sub[sub["rating"] != "Not available"]
    head = group.split(":")[0]  # in full: print_ready wraps the title to the width
    if not len(rated):
        return f"{head}: no measure rated this quarter"
    ok = int(rated["rating"].isin(["Strong", "Good"]).sum())
    return f"{head}: {ok} of {len(rated)} rated measures Strong or Good"


def axis_unit(unit: str, measure: str = "") -> str:
    """The value axis label of a measure's small multiple: its unit in words ("" when it has none to
    state: a rate that does not say what it is per)."""
    if unit == "rate":
        m = re.search(r"\bper [\d,]+(?: [a-z]+)?", measure)
        return m.group(0).capitalize() if m else ""
    return {"percent": "Per cent", "days": "Days", "number": "Number", "points": "Points"}.get(unit, "")


def _trend_figure(ctx: QuarterContext, sub: pd.DataFrame, title: str):
    """Small multiples of the measures in ``sub`` with two or more years of values."""
    m = ctx.table("measures")
    t = sub.set_index("measure_ref")
    refs = [r for r, g in m[m["measure_ref"].isin(t.index)].groupby("measure_ref", sort=False)
            if g.loc[g["period"].str.match(YEAR_RANGE), "value_raw"].map(value_of).notna().sum() >= 2
            and t.at[r, "unit"] in ("percent", "number", "points", "rate", "days")]
    if not refs:
        return None
    n = len(refs)
    cols = 3
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(9, 2.4 * rows), squeeze=False)
    this_fy = f"{ctx.quarter.fy_start}-{ctx.quarter.fy_start + 1}"
    lines = []
    for ax, ref in zip(axes.flat, refs):
        g = m[(m["measure_ref"] == ref) & m["period"].str.match(YEAR_RANGE)].sort_values("period")
        x = [p[:4] + "-" + p[7:9] + (f" to {ctx.quarter.end:%b}" if p == this_fy and ctx.quarter.q != 4 else "")
             for p in g["period"]]  # this year before its last quarter is a part year
        y = g["value_raw"].map(value_of)
        ax.plot(x, y, marker="o", color=DARK_BLUE, linewidth=1.6)
        rule = parse_target(t.at[ref, "target"])
        if rule.kind == "threshold" and rule.value is not None:
            ax.axhline(rule.value, color=ORANGE, linestyle="--", linewidth=1, label="Target")
        elif rule.kind == "range":
            ax.axhspan(rule.value, rule.high, color=ORANGE, alpha=0.15, linewidth=0, label="Target range")
        if not math.isnan(t.at[ref, "national"]):
            ax.axhline(t.at[ref, "national"], color=DARK_GREY, linestyle=":", linewidth=1, label="England")
        name = t.at[ref, "measure"]
        ax.set_title(name, fontsize=8, loc="left")  # in full: print_ready wraps it to the panel's width
        ax.set_ylabel(axis_unit(t.at[ref, "unit"], name), fontsize=8)
        if t.at[ref, "unit"] == "number" and float(y.min()) >= 0:
            ax.set_ylim(bottom=0)  # counts start at zero
        ax.tick_params(labelsize=7)
        ax.text(0.98, 0.04, SYMBOLS[t.at[ref, "rating"]], transform=ax.transAxes, ha="right", fontsize=8, color=DARK_GREY)
        lines.append(f"{name}: " + ", ".join(f"{a} {shown_value(b, t.at[ref, 'unit'])}" for a, b in zip(x, y)))
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=DARK_BLUE, marker="o", label="Value"),
               plt.Line2D([], [], color=ORANGE, linestyle="--", label="Target"),
               plt.Line2D([], [], color=DARK_GREY, linestyle=":", label="England")]
    if any(p.get_label() == "Target range" for ax in axes.flat for p in ax.patches):
        handles.append(plt.Rectangle((0, 0), 1, 1, color=ORANGE, alpha=0.15, label="Target range"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)
    fig.suptitle(title, x=0.02, ha="left", fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    return chart(fig, "Small multiples of key measures over time with the target (dashed) and England (dotted): "
                      + "; ".join(lines) + ".")


@dataclass
class ClaPlace:
    """The benchmark authority among all authorities on children looked after per 10,000: ``benchmark``
    (``measures.benchmarks.benchmark``), ``authorities`` (every authority's rate in ``period``, lowest first);
    or, when it cannot be placed, ``missing``: ``inputs`` (DfE's rates or the neighbour model are not inputs)
    or ``authority`` (the benchmark authority is not in DfE's file)."""

    benchmark: Benchmark | None = None
    authorities: pd.DataFrame | None = None
    period: str = ""
    missing: str = ""

    def table(self) -> pd.DataFrame | None:
        """The benchmark as tables.xlsx holds it (one row); None when the authority cannot be placed."""
        return None if self.benchmark is None else pd.DataFrame([self.benchmark.__dict__]).drop(columns=["notes"])


def benchmark_strip(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    c = cla_place(ctx)
    if (t := c.table()) is not None:
        ctx.publish("performance_benchmark_cla", t, CLA_TITLE, SECTION)
    return render_benchmark_strip(ctx, c)


def cla_place(ctx: QuarterContext) -> ClaPlace:
    """Children looked after per 10,000 in every authority (the DfE file named in the params), and the
    benchmark authority's place among them with England, its region and its neighbours' mean."""
    if SERIES["cla_rate"]["input"] not in ctx.params.inputs or "sn_model_2025" not in ctx.params.inputs:
        return ClaPlace(missing="inputs")
    s = dfe_series(ctx, "cla_rate")
    period = max(p for p in s["period"].unique() if int(p) <= ctx.quarter.end.year)
    who = benchmark_who(ctx)
    try:
        b = benchmark(s, who, period, "lower", *neighbour_models(ctx))
    except KeyError:
        print(f"cspack: benchmark authority {who!r} is not in DfE's children-looked-after file", file=sys.stderr)
        return ClaPlace(period=period, missing="authority")
    las = s[(s["period"] == period) & (s["level"] == "Local authority")].dropna(subset=["value"]).sort_values("value")
    return ClaPlace(b, las, period)


def render_benchmark_strip(ctx: QuarterContext, c: ClaPlace):
    """The strip of ``c`` (``cla_place``), the benchmark authority highlighted, with its sentence."""
    if c.missing == "inputs":
        return [Markdown("*The authority cannot be placed among all authorities: DfE's children-looked-after "
                        "rates and statistical neighbour model are not among this quarter's inputs.*")]
    if c.missing:
        return [Markdown("*The benchmark authority is not in DfE's children-looked-after figures, so it cannot be "
                         "placed among authorities.*")]
    b, las, period = c.benchmark, c.authorities, c.period
    fig, ax = plt.subplots(figsize=(9, 2.8))
    colours = [DARK_BLUE if n == b.authority else FOCUS_GREY for n in las["name"]]
    ax.bar(range(len(las)), las["value"], color=colours, width=1.0, label=list(las["name"]))  # names for the data table
    ax.axhline(b.england, color=DARK_GREY, linestyle=":", linewidth=1.2, label="England")
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
    alt = (f"Bar chart of the children looked after rate per 10,000 in {b.of} authorities in {period}, lowest first; "
           f"{b.authority} is {b.value:g}, rank {b.rank}, band {b.band}; England {b.england:g}.")
    said = (f" These are DfE's published figures for {b.authority}, the authority the synthetic data are calibrated to."
            if label else "")
    return [Markdown(escape_md(f"Children looked after per 10,000 children under 18, at 31 March each year. {b.sentence()}"
                               + said)), chart(fig, alt)]


def benchmark_strips(ctx: QuarterContext, sub: pd.DataFrame | None = None):
    """One strip per key measure (of ``sub``, else all) with a DfE series: every authority's value as a
    grey dot, the authority's own as a dark diamond, England as a dotted line, and which way is better."""
    t = measures_table(ctx) if sub is None else sub
    if t is None:
        return [Markdown("")]
    rows = t[t["benchmark_period"] != ""]
    if not len(rows):
        return [Markdown("*No key measure here has a DfE series in the params, so none is placed among all "
                         "authorities.*")]
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.35 * len(rows) + 1.4), squeeze=False)
    alt = []
    for ax, r in zip(axes[:, 0], rows.itertuples()):
        s = dfe_series(ctx, r.benchmark_series)
        las = s[(s["period"] == r.benchmark_period) & (s["level"] == "Local authority")]["value"].dropna().sort_values()
        y = (np.arange(len(las)) * 0.618 % 1 - 0.5) * 0.6  # a fixed spread, no random jitter
        ax.scatter(las.to_numpy(), y, s=7, color=FOCUS_GREY, linewidths=0)
        if not math.isnan(r.national):
            ax.axvline(r.national, color=DARK_GREY, linestyle=":", linewidth=1.2, label="England")
        rule = parse_target(r.target)
        if rule.kind == "range":
            ax.axvspan(rule.value, rule.high, color=ORANGE, alpha=0.15, linewidth=0, label="Target range")
        elif rule.kind == "threshold" and rule.value is not None:
            ax.axvline(rule.value, color=ORANGE, linestyle="--", linewidth=1, label="Target")
        ax.scatter([r.latest], [0], marker="D", s=46, color=DARK_BLUE, zorder=3, label=ctx.params.authority.split(" (")[0])
        ax.set_xlabel(axis_unit(r.unit, r.measure), fontsize=8)
        ax.set_ylim(-0.6, 0.6)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        better = "better →" if r.polarity != "lower" else "← better"
        ax.set_title(f"{r.measure}: {shown_value(r.latest, r.unit)}, band {r.quartile_band or 'n/a'}, rank {r.rank} of {r.of} "
                     f"(DfE {r.benchmark_period}; {better})", fontsize=8, loc="left")
        alt.append(f"{r.measure}: {shown_value(r.latest, r.unit)}, quartile band {r.quartile_band or 'not available'}, rank "
                   f"{r.rank} of {r.of}, England {shown_value(r.national, r.unit)}")
    handles = [plt.Line2D([], [], color=FOCUS_GREY, marker="o", linestyle="", label="Each authority"),
               plt.Line2D([], [], color=DARK_BLUE, marker="D", linestyle="",
                          label=ctx.params.authority.split(" (")[0] + (" (synthetic)" if ctx.params.any_synthetic else "")),
               plt.Line2D([], [], color=DARK_GREY, linestyle=":", label="England")]
    handles += [h for lab, h in (("Target", plt.Line2D([], [], color=ORANGE, linestyle="--", label="Target")),
                                 ("Target range", plt.Rectangle((0, 0), 1, 1, color=ORANGE, alpha=0.15, label="Target range")))
                if any(a.get_label() == lab for ax in axes[:, 0] for a in ax.lines[:] + ax.patches[:])]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)
    top = rows.sort_values("quartile_band").iloc[0]
    lead = "best placed on " if len(rows) > 1 else ""
    fig.suptitle(f"Among all authorities: {lead}{top['measure']} in band {top['quartile_band'] or 'n/a'} (A best)",
                 x=0.02, ha="left", fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    return [chart(fig, "Strip charts placing the authority among all authorities on each benchmarked measure: "
                  + "; ".join(alt) + ".")]


def _deliverable_commentary(ctx: QuarterContext, n: int) -> str:
    sections = split_commentary(ctx.params.commentary.read_text(encoding="utf-8"))
    return sections.get(f"deliverable {n}", "").strip()  # table_html escapes every cell


def deliverables(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    t = deliverables_table(ctx)
    if t is not None:
        ctx.publish("performance_deliverables", t, DELIVERABLES_TITLE, SECTION)
    return render_deliverables(ctx, t)


DELIVERABLES_TITLE = "Council Plan deliverables, owners' ratings and commentary"  # in tables.xlsx


def deliverables_table(ctx: QuarterContext) -> pd.DataFrame | None:
    """The Council Plan deliverables with their owners' ratings (as symbols), expected completion (overdue
    when due before the quarter began) and the analyst's commentary; None without the input."""
    if "deliverables" not in ctx.params.inputs:
        return None
    d = ctx.table("deliverables")
    rating = d["rating"].fillna("").astype(str).str.strip()
    due, late = overdue(d, ctx.quarter), long_overdue(d, ctx.quarter)
    completion = d.get("expected_completion", pd.Series("", index=d.index)).fillna("").astype(str)
    return pd.DataFrame({"No.": range(1, len(d) + 1), "Deliverable": d["deliverable"],
                         "Owner's rating": rating.map(lambda r: SYMBOLS.get(r, "– Not rated") if r else "– Not rated"),
                         "Expected completion": [period_words(c) + (" (overdue by more than a year)" if lt else " (overdue)" if o else "")
                                                 for c, o, lt in zip(completion, due, late)],
                         "Commentary": [_deliverable_commentary(ctx, i) for i in range(1, len(d) + 1)]})


def render_deliverables(ctx: QuarterContext, t: pd.DataFrame | None) -> HTML:
    if t is None:
        return HTML("")
    due = overdue(ctx.table("deliverables"), ctx.quarter)
    n = int((t["Commentary"] != "").sum())
    note = f"Rated by their owners; {n} of {len(t)} have commentary."
    if due.any():
        note += (f" {plural(int(due.sum()), 'deliverable')} {'was' if due.sum() == 1 else 'were'} due before "
                 f"{ctx.quarter.start:%-d %B %Y}, when this quarter began, and {'is' if due.sum() == 1 else 'are'} "
                 "marked overdue: the owner's rating says how it went, not that it is on time.")
    problems = deliverable_problems(ctx.table("deliverables"), ctx.quarter)
    for p in problems:
        print(f"cspack: Council Plan deliverables: {p}", file=sys.stderr)
    if problems:
        note += " Not current: " + "; ".join(problems) + "."
    return HTML(table_html(t, "Council Plan deliverables", note=note))


