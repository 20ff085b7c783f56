"""Display of one authority's public figures (``figures.AuthorityFigures``) for the public pack's notebook:
Markdown in words, accessible tables, charts in the project's style, each with its data table. Nothing here
computes a figure; it formats them."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown
from matplotlib.ticker import MaxNLocator

from pipeline.core.formatting import number, plural
from pipeline.public.data import BY_KEY, period_words
from pipeline.public.figures import AuthorityFigures
from pipeline.report.render import (
    DARK_BLUE,
    DARK_GREY,
    FOCUS_GREY,
    ORANGE,
    PRINT_WIDTH_IN,
    TURQUOISE,
    chart,
    escape_md,
    table_html,
    titled,
)

SMALL = 6  # counts of children from 1 to 5 are not shown (as DfE suppresses them): "c"
SMALL_NOTE = "c: a count from 1 to 5 is not shown, to protect the children it describes."


def _small(v) -> bool:
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and 0 < float(v) < SMALL


def _count(v) -> str:
    return "c" if _small(v) else _n(v)


def _n(v, dp: int = 0) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "not published"
    return number(v, dp)


def _v(v, unit: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "not published"
    if unit == "percent":
        return f"{v:,.1f}%"
    if unit == "rate":
        return f"{v:,.1f}"
    return f"{v:,.1f}"


def _gbp(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "not published"
    return f"£{v:,.0f}"


def _year(p) -> str:
    return f"31 March {p}" if str(p).isdigit() else str(p)


def display_name(name: str) -> str:
    """DfE's "Bristol, City of" style as a reader says it: "City of Bristol"."""
    if ", " in name:
        place, kind = name.rsplit(", ", 1)
        if kind in ("City of", "County of"):
            return place if place in ("Kingston upon Hull", "Herefordshire") else f"{kind} {place}"
    return name


def _band_words(band: str, polarity: str) -> str:
    if not band:
        return "no band"
    if polarity == "context":
        return {"A": "A (lowest quarter)", "B": "B", "C": "C", "D": "D (highest quarter)"}[band]
    return {"A": "A (best quarter)", "B": "B", "C": "C", "D": "D (worst quarter)"}[band]


def title_note(f: AuthorityFigures) -> Markdown:
    a = f.authority
    lines = [f"This pack describes **{escape_md(a.name)}** ({escape_md(a.region)}) from published statistics alone, "
             f"to 31 March {f.year}. It is compared with England, its region and its ten statistical neighbours "
             f"in the Department for Education's 2025 model: {escape_md('; '.join(display_name(n) for n in f.neighbours))}."]
    if a.boundary_note:
        lines.append(f"**Boundary change:** {escape_md(a.boundary_note)}.")
    return Markdown("\n\n".join(lines))


def summary(f: AuthorityFigures) -> Markdown:
    s = f.summary
    bullets = []
    if not np.isnan(s["cla_number"]):
        ch = s["cla_rate_change"]
        change = ("" if ch is None or np.isnan(ch) else
                  f", {'up' if ch > 0 else 'down'} {abs(ch):g} from a year earlier" if ch else ", the same as a year earlier")
        eng = f.benchmarks.loc[f.benchmarks["key"] == "cla_rate", "england"]
        rate = ("" if np.isnan(s["cla_rate_per_10k"]) else f": {s['cla_rate_per_10k']:g} per 10,000 children{change}"
                + (f" (England {eng.iloc[0]:g})" if len(eng) and not np.isnan(eng.iloc[0]) else ""))
        who = "Fewer than 6" if _small(s["cla_number"]) else _n(s["cla_number"])
        bullets.append(f"{who} children were looked after on 31 March {s['year']}{rate}.")
    else:
        bullets.append(f"The number of children looked after on 31 March {s['year']} is not published (too few "
                       "children to publish, or not returned).")
    if not np.isnan(s["projection_next_year"]):
        p = f.projection[f.projection["horizon"] == 1].iloc[0]
        bullets.append(f"Projected for 31 March {int(p['year'])}: about {_n(p['point'])} children "
                       f"(80% range {_n(p['low80'])} to {_n(p['high80'])}).")
    if not np.isnan(s["spend_per_child_in_care"]):
        sp = f.spend.iloc[0]
        bullets.append(f"Spend on children looked after in {s['spend_year']}: {_gbp(sp['authority'])} a year per "
                       f"child in care (statistical neighbours {_gbp(sp['neighbours'])}, England {_gbp(sp['england'])}).")
    b = f.benchmarks[f.benchmarks["polarity"] != "context"]
    best = b[b["band"] == "A"]["measure"].tolist()
    worst = b[b["band"] == "D"]["measure"].tolist()
    if best:
        bullets.append(f"In the best quarter of authorities: {escape_md('; '.join(m.rstrip(', %') for m in best))}.")
    if worst:
        bullets.append(f"In the worst quarter: {escape_md('; '.join(m.rstrip(', %') for m in worst))}.")
    return Markdown("\n".join(f"- {x}" for x in bullets))


BANDS_NOTE = ("Quartile band A is the best quarter of authorities where a lower or a higher value is better; for "
              "measures of demand (rates per 10,000 children) neither is better, so A is the lowest quarter and the "
              "change is said as rising or falling. Rank 1 is the best (or the lowest). Neighbours are the "
              "authority's ten statistical neighbours in the Department for Education's 2025 model, in every year.")


def bands_note() -> Markdown:
    return Markdown(BANDS_NOTE)


def benchmark_table(f: AuthorityFigures, theme: str) -> HTML:
    b = f.benchmarks[f.benchmarks["theme"] == theme]
    if not len(b):
        return HTML("<p>No published figures.</p>")
    name = display_name(f.authority.name)
    t = pd.DataFrame({
        "Measure": b["measure"], "Period": [period_words(w, p) for w, p in zip(b["when"], b["period"])],
        name: [_v(v, u) for v, u in zip(b["value"], b["unit"])],
        "England": [_v(v, u) for v, u in zip(b["england"], b["unit"])],
        "Region": [_v(v, u) for v, u in zip(b["region"], b["unit"])],
        "Neighbours' mean": [_v(v, u) for v, u in zip(b["neighbours"], b["unit"])],
        "Quartile band": [_band_words(x, p) for x, p in zip(b["band"], b["polarity"])],
        "Rank": [f"{r} of {o}" if r else "" for r, o in zip(b["rank"], b["of"])],
        "Since the year before": [d or "no earlier figure" for d in b["direction"]],
    })
    older = b[b["period"] != b["latest_published"]]
    note = None
    if len(older):
        note = ("; ".join(f"{m}: no published figure for {name} for {period_words(w, lp)}, so the latest shown "
                          f"is for {period_words(w, p)}" for m, w, p, lp in
                          zip(older["measure"], older["when"], older["period"], older["latest_published"])) + ".")
    return HTML(table_html(t, f"{theme}: {name} against England, its region and its statistical neighbours",
                           numeric=[name, "England", "Region", "Neighbours' mean"], note=note))


def trend_chart(f: AuthorityFigures, theme: str):
    """One figure per theme: a small panel per measure, the authority against its neighbours' mean, its
    region and England."""
    keys = [k for k in f.benchmarks.loc[f.benchmarks["theme"] == theme, "key"]
            if (f.trends["key"] == k).sum() >= 2]
    if not keys:
        return None
    name = display_name(f.authority.name)
    n = len(keys)
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(PRINT_WIDTH_IN, 2.3 * rows + 0.9), squeeze=False)
    data = []
    for i, k in enumerate(keys):
        ax = axes[i // cols][i % cols]
        t = f.trends[f.trends["key"] == k]
        x = t["period"].astype(int)
        for col, label, colour, style in (("authority", name, DARK_BLUE, "-"),
                                          ("neighbours", "Neighbours' mean", TURQUOISE, "--"),
                                          ("region", "Region", ORANGE, ":"), ("england", "England", DARK_GREY, "-.")):
            ax.plot(x, t[col], style, color=colour, marker="o", markersize=2.5, label=label,
                    linewidth=2.0 if col == "authority" else 1.2)
        ax.set_xticks(list(x))
        ax.set_xticklabels([str(v) for v in x], fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(_wrap(BY_KEY[k]["title"], 46), fontsize=8.5, loc="left", fontweight="bold")
        for _, r in t.iterrows():
            data.append({"Measure": BY_KEY[k]["title"], "Period": period_words(BY_KEY[k]["when"], r["period"]),
                         name: _v(r["authority"], ""), "Neighbours' mean": _v(r["neighbours"], ""),
                         "Region": _v(r["region"], ""), "England": _v(r["england"], "")})
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    h, lab = axes[0][0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncol=4, frameon=False, fontsize=8)
    when = {"at": "years to 31 March", "year": "years to 31 March", "sept": "at 30 September",
            "academic": "school years, by the year they end"}[BY_KEY[keys[0]]["when"]]
    fig.suptitle(f"{theme}: trends, {name} ({when})", x=0.02, ha="left", fontsize=11, fontweight="bold", color="#0b0c0c")
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    alt = (f"Small line charts of {n} {theme.lower()} measures for {name} over recent years, each with its "
           "statistical neighbours' mean, its region and England; the figures are in the table below.")
    out = chart(fig, alt, pd.DataFrame(data))
    plt.close(fig)
    return out


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


def trends(f: AuthorityFigures, theme: str) -> list:
    c = trend_chart(f, theme)
    return [c] if c is not None else []


def cla_chart(f: AuthorityFigures):
    h = f.cla_history.copy()
    h["cla_at_31_march"] = h["cla_at_31_march"].where(~h["cla_at_31_march"].map(_small))
    h = h[h["cla_at_31_march"].notna()]
    if not len(h):
        return Markdown("No published count of children looked after large enough to show.")
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH_IN, 3.0))
    ax.plot(h["year"], h["cla_at_31_march"], "-o", color=DARK_BLUE, markersize=3, linewidth=2.2,
            label=f"{display_name(f.authority.name)}, published")
    for name, g in f.predecessors.groupby("authority"):
        ax.plot(g["year"], g["cla_at_31_march"], ":", color=FOCUS_GREY, linewidth=1.4,
                label=f"{name} (former authority, not comparable)")
    p = f.projection
    if len(p):
        xs = [int(h["year"].iloc[-1])] + p["year"].astype(int).tolist()
        ys = [float(h["cla_at_31_march"].iloc[-1])] + p["point"].tolist()
        ax.plot(xs, ys, "--", color=ORANGE, linewidth=1.8, label="Projection")
        ax.fill_between(p["year"].astype(int), p["low80"], p["high80"], color=ORANGE, alpha=0.18,
                        label="80% range")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # no fixed zero: report.honest_axis starts a count near zero at zero and fits one far from it to its data,
    # with an axis break and a note in the subtitle
    ax.set_ylabel("Children")
    yr0, yr1 = int(h["year"].min()), int(p["year"].max()) if len(p) else int(h["year"].max())
    titled(fig, ax, f"Children looked after on 31 March, {display_name(f.authority.name)}",
           f"Published counts {yr0} to {int(h['year'].max())}" + (f", projected to {yr1}" if len(p) else ""))
    rows = [{"31 March": int(y), "Children looked after": _count(v), "Kind": "published"}
            for y, v in zip(h["year"], h["cla_at_31_march"])]
    rows += [{"31 March": int(r["year"]), "Children looked after": f"{_n(r['point'])} ({_n(r['low80'])} to "
              f"{_n(r['high80'])})", "Kind": "projected (80% range)"} for _, r in p.iterrows()]
    alt = (f"Line chart of children looked after on 31 March in {display_name(f.authority.name)} from {yr0}, "
           f"latest {_n(h['cla_at_31_march'].iloc[-1])}" + (f", projected to about {_n(p['point'].iloc[0])} "
                                                             f"a year later." if len(p) else "."))
    out = chart(fig, alt, pd.DataFrame(rows))
    plt.close(fig)
    return out


def projection_text(f: AuthorityFigures) -> Markdown:
    p = f.projection
    lines = []
    if not len(p):
        why = ("since the authority was formed" if f.authority.boundary_note else
               "(the Department for Education does not publish counts this small)")
        lines.append(f"No projection: fewer than two consecutive published counts up to 31 March {f.year} {why}.")
    else:
        r = p.iloc[0]
        lines.append(f"The projection for 31 March {int(r['year'])} is about {_n(r['point'])} children "
                     f"(80% range {_n(r['low80'])} to {_n(r['high80'])}); method: {escape_md(r['method_label'])}. "
                     "It uses only published figures (the authority's counts of children looked after, starting and "
                     "ceasing, and of children in its population) and what was learned from every authority's past "
                     "counts.")
    allm = f.backtest_all
    lines.append(f"**Tested on real data:** made each year from {allm['first'] - 1} to {allm['last'] - 1} with only "
                 f"the figures published by then, the one-year projection was out by {allm['mae_chosen']:.1f}% on "
                 f"average across {allm['authorities']} authorities (no change from the last count: "
                 f"{allm['mae_naive']:.1f}%); the outcome fell inside the 80% range {allm['coverage80']:.0f}% of "
                 "the time.")
    bt = f.backtest
    if len(bt):
        lines.append(f"For {escape_md(display_name(f.authority.name))} it was out by {bt['ape_chosen'].mean():.1f}% on average over "
                     f"{plural(len(bt), 'year')}, the outcome inside the range in {int(bt['in_range80'].sum())} of them.")
    if f.authority.boundary_note:
        lines.append("The former authority's counts are shown for context only: they are not added to this "
                     "authority's series, and the projection starts from its own counts.")
    return Markdown("\n\n".join(lines))


def backtest_table(f: AuthorityFigures) -> HTML:
    bt = f.backtest
    if not len(bt):
        return HTML("<p>No backtest for this authority: too few published counts of its own (a new authority, or "
                    "counts too small to publish or to measure an error on).</p>")
    t = pd.DataFrame({"31 March": bt["year"].astype(int).astype(str), "Projected a year earlier": bt["projected"].map(_n),
                      "80% range": [f"{_n(lo)} to {_n(hi)}" for lo, hi in zip(bt["low80"], bt["high80"])],
                      "Published": bt["outcome"].map(_n), "Error": bt["ape_chosen"].map(lambda v: f"{v:.1f}%"),
                      "Inside the range": bt["in_range80"].map({True: "yes", False: "no"})})
    return HTML(table_html(t, f"One-year projections for {display_name(f.authority.name)} made with the figures published "
                              "at the time, against the published outcome",
                           numeric=["Projected a year earlier", "Published", "Error"]))


def placements_table(f: AuthorityFigures) -> HTML:
    p = f.placements
    if not len(p):
        return HTML("<p>No published placement figures.</p>")

    def pct(v):
        return "c" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.1f}%"

    small = p["number_value"].map(_small)
    t = pd.DataFrame({"Placement": p["placement"],
                      "Children": [("c" if s or x in ("c", "k", "x") else _n(v)) for s, x, v in
                                   zip(small, p["number"], p["number_value"])],
                      display_name(f.authority.name): p["authority_pct"].where(~small).map(pct), "Neighbours' mean": p["neighbours_pct"].map(pct),
                      "England": p["england_pct"].map(pct)})
    year = p.attrs.get("year")
    return HTML(table_html(t, f"Children looked after on 31 March {year} by placement: {display_name(f.authority.name)} against "
                              "its statistical neighbours and England",
                           numeric=["Children", display_name(f.authority.name), "Neighbours' mean", "England"],
                           note="c: a count from 1 to 5, not shown (or not published by the Department for "
                                "Education), to protect the children it describes. Percentages are of the published "
                                "total."))


def spend_table(f: AuthorityFigures) -> HTML:
    s = f.spend
    t = pd.DataFrame({"Measure": s["measure"], display_name(f.authority.name): s["authority"].map(_gbp),
                      "Neighbours' mean": s["neighbours"].map(_gbp), "England": s["england"].map(_gbp)})
    return HTML(table_html(t, f"Spend on children looked after, {f.spend_year}: {display_name(f.authority.name)} against its "
                              "statistical neighbours and England",
                           numeric=[display_name(f.authority.name), "Neighbours' mean", "England"],
                           note="Gross spend from the authority's section 251 outturn, per child looked after on "
                                "31 March and per child aged 0 to 17; weekly costs are the Department for "
                                "Education's approximate unit costs (spend divided by children placed, per week)."))


def sufficiency_text(f: AuthorityFigures) -> Markdown:
    s = f.sufficiency
    kids = s["children_in_homes"]
    kids_txt = ("a small number (not published)" if np.isnan(kids) or _small(kids) else _n(kids))
    if np.isnan(s["places"]):
        return Markdown(f"Ofsted lists no children's homes in {escape_md(display_name(f.authority.name))}'s area on "
                        f"31 March {s['year']}. On 31 March {s['placements_year']} {kids_txt} of its children were "
                        "in secure or children's homes elsewhere.")
    line = (f"On 31 March {s['year']} Ofsted registered {_n(s['homes'])} children's homes in {escape_md(display_name(f.authority.name))}'s "
            f"area with {_n(s['places'])} places ({_n(s['places_la'])} run by the council). On 31 March "
            f"{s['placements_year']} {kids_txt} of its children were in secure or children's homes, wherever they were.")
    if not np.isnan(kids) and not _small(kids) and not np.isnan(s["places"]) and s["places"] > 0:
        line += f" That is {kids / s['places']:.2f} of its children for each place in its area."
    line += (" Homes in the area take children from other authorities, and the authority's children live in homes "
             "elsewhere: this compares scale, not who lives where.")
    return Markdown(line)


def ceased_reasons_table(f: AuthorityFigures) -> HTML:
    """Every reason children ceased to be looked after, the authority against its region, neighbours and England."""
    c = f.ceased_reasons
    if c is None or not len(c):
        return HTML("<p>No published figures on why children ceased to be looked after.</p>")
    name = display_name(f.authority.name)

    def pct(v):
        return "not published" if v is None or np.isnan(v) else f"{v:,.1f}"

    t = pd.DataFrame({"Reason care ended": c["reason"],
                      "Children": [("c" if str(n).strip().lower() == "c" else _count(v)) for n, v in
                                   zip(c["number"], c["number_value"])],
                      f"{name}, %": [pct(v) for v in c["pct"]], "Region, %": [pct(v) for v in c["region"]],
                      "Neighbours' mean, %": [pct(v) for v in c["neighbours"]], "England, %": [pct(v) for v in c["england"]]})
    return HTML(table_html(t, f"Why children ceased to be looked after in the year to 31 March {c.attrs['year']}: "
                              f"{name} against its region, its statistical neighbours and England",
                           numeric=list(t.columns[1:]),
                           note="Each reason as a share of every child who ceased to be looked after in the year, as "
                                "the Department for Education publishes it. " + SMALL_NOTE))
