"""Display of one authority's public figures (``figures.AuthorityFigures``) for the public pack's notebook:
Markdown in words, accessible tables, charts in the project's style, each with its data table. Nothing here
computes a figure; it formats them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from ..formatting import number, plural
from ..report import DARK_BLUE, DARK_GREY, FOCUS_GREY, ORANGE, PRINT_WIDTH_IN, TURQUOISE, chart, escape_md, \
    table_html, titled
from .figures import AuthorityFigures

SMALL = 10  # counts of children below this are not shown in the pack (DfE suppresses below 6; "c")


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
             f"in the Department for Education's 2025 model: {escape_md(', '.join(f.neighbours))}."]
    if a.boundary_note:
        lines.append(f"**Boundary change:** {escape_md(a.boundary_note)}.")
    return Markdown("\n\n".join(lines))


def summary(f: AuthorityFigures) -> Markdown:
    s = f.summary
    a = f.authority
    bullets = []
    if not np.isnan(s["cla_number"]):
        ch = s["cla_rate_change"]
        change = ("" if ch is None or np.isnan(ch) else
                  f", {'up' if ch > 0 else 'down'} {abs(ch):g} from a year earlier" if ch else ", the same as a year earlier")
        eng = f.benchmarks.loc[f.benchmarks["key"] == "cla_rate", "england"]
        bullets.append(f"{_n(s['cla_number'])} children were looked after on 31 March {s['year']}: "
                       f"{s['cla_rate_per_10k']:g} per 10,000 children{change} (England "
                       f"{eng.iloc[0]:g})." if len(eng) else
                       f"{_n(s['cla_number'])} children were looked after on 31 March {s['year']}.")
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


def benchmark_table(f: AuthorityFigures, theme: str) -> HTML:
    b = f.benchmarks[f.benchmarks["theme"] == theme]
    if not len(b):
        return HTML("<p>No published figures.</p>")
    t = pd.DataFrame({
        "Measure": b["measure"], "Year to": [_year(p) for p in b["period"]],
        f.authority.name: [_v(v, u) for v, u in zip(b["value"], b["unit"])],
        "England": [_v(v, u) for v, u in zip(b["england"], b["unit"])],
        "Region": [_v(v, u) for v, u in zip(b["region"], b["unit"])],
        "Neighbours' mean": [_v(v, u) for v, u in zip(b["neighbours"], b["unit"])],
        "Quartile band": [_band_words(x, p) for x, p in zip(b["band"], b["polarity"])],
        "Rank": [f"{r} of {o}" if r else "" for r, o in zip(b["rank"], b["of"])],
        "Since the year before": [d or "no earlier figure" for d in b["direction"]],
    })
    older = b[b["period"] != b["latest_published"]]
    note = ("Quartile band A is the best quarter of authorities where a lower or higher value is better; for "
            "measures of demand (rates per 10,000 children) there is no better direction, so A is the lowest "
            "quarter and the change is said as rising or falling. Rank 1 is the best (or lowest).")
    if len(older):
        note += (" " + "; ".join(f"{m}: no published figure for {lp}, the latest shown is for {p}" for m, p, lp in
                                 zip(older["measure"], older["period"], older["latest_published"])) + ".")
    return HTML(table_html(t, f"{theme}: {f.authority.name} against England, its region and its statistical "
                              "neighbours", numeric=[f.authority.name, "England", "Region", "Neighbours' mean"],
                           note=note))


def trend_chart(f: AuthorityFigures, key: str):
    import matplotlib.pyplot as plt

    t = f.trends[f.trends["key"] == key]
    if len(t) < 2:
        return None
    title = t["measure"].iloc[0]
    x = t["period"].astype(int)
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH_IN, 2.8))
    for col, label, colour, style in (("authority", f.authority.name, DARK_BLUE, "-"),
                                      ("neighbours", "Neighbours' mean", TURQUOISE, "--"),
                                      ("region", "Region", ORANGE, ":"), ("england", "England", DARK_GREY, "-.")):
        ax.plot(x, t[col], style, color=colour, marker="o", markersize=3, label=label,
                linewidth=2.2 if col == "authority" else 1.4)
    ax.set_xticks(list(x))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    last = t.iloc[-1]
    titled(fig, ax, f"{title}", f"{f.authority.name}, {int(x.min())} to {int(x.max())}, year to 31 March")
    data = pd.DataFrame({"Year to": [_year(p) for p in t["period"]],
                         f.authority.name: t["authority"].map(lambda v: _v(v, "")),
                         "Neighbours' mean": t["neighbours"].map(lambda v: _v(v, "")),
                         "Region": t["region"].map(lambda v: _v(v, "")),
                         "England": t["england"].map(lambda v: _v(v, ""))})
    alt = (f"Line chart: {title} for {f.authority.name} from {int(x.min())} to {int(x.max())}, with its "
           f"neighbours' mean, region and England; latest {f.authority.name} {_v(last['authority'], '')}.")
    out = chart(fig, alt, data)
    plt.close(fig)
    return out


def trends(f: AuthorityFigures, theme: str) -> list:
    keys = f.benchmarks.loc[f.benchmarks["theme"] == theme, "key"].tolist()
    return [c for c in (trend_chart(f, k) for k in keys) if c is not None]


def cla_chart(f: AuthorityFigures):
    import matplotlib.pyplot as plt

    h = f.cla_history
    if not len(h):
        return Markdown("No published count of children looked after.")
    fig, ax = plt.subplots(figsize=(PRINT_WIDTH_IN, 3.0))
    ax.plot(h["year"], h["cla_at_31_march"], "-o", color=DARK_BLUE, markersize=3, linewidth=2.2,
            label=f"{f.authority.name}, published")
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
    ax.set_ylabel("Children")
    yr0, yr1 = int(h["year"].min()), int(p["year"].max()) if len(p) else int(h["year"].max())
    titled(fig, ax, f"Children looked after on 31 March, {f.authority.name}",
           f"Published counts {yr0} to {int(h['year'].max())}" + (f", projected to {yr1}" if len(p) else ""))
    rows = [{"31 March": int(y), "Children looked after": _n(v), "Kind": "published"}
            for y, v in zip(h["year"], h["cla_at_31_march"])]
    rows += [{"31 March": int(r["year"]), "Children looked after": f"{_n(r['point'])} ({_n(r['low80'])} to "
              f"{_n(r['high80'])})", "Kind": "projected (80% range)"} for _, r in p.iterrows()]
    alt = (f"Line chart of children looked after on 31 March in {f.authority.name} from {yr0}, "
           f"latest {_n(h['cla_at_31_march'].iloc[-1])}" + (f", projected to about {_n(p['point'].iloc[0])} "
                                                             f"a year later." if len(p) else "."))
    out = chart(fig, alt, pd.DataFrame(rows))
    plt.close(fig)
    return out


def projection_text(f: AuthorityFigures) -> Markdown:
    p = f.projection
    lines = []
    if not len(p):
        lines.append("No projection: fewer than two consecutive published counts since the authority was formed.")
    else:
        r = p.iloc[0]
        lines.append(f"The projection for 31 March {int(r['year'])} is about {_n(r['point'])} children "
                     f"(80% range {_n(r['low80'])} to {_n(r['high80'])}); method: {escape_md(r['method_label'])}. "
                     "It uses only the authority's published counts of children looked after, starting and ceasing, "
                     "and what was learned from every authority's past counts.")
    allm = f.backtest_all
    lines.append(f"**Tested on real data:** made each year from {allm['first'] - 1} to {allm['last'] - 1} with only "
                 f"the figures published by then, the one-year projection was out by {allm['mae_chosen']:.1f}% on "
                 f"average across {allm['authorities']} authorities (no change from the last count: "
                 f"{allm['mae_naive']:.1f}%); the outcome fell inside the 80% range {allm['coverage80']:.0f}% of "
                 "the time.")
    bt = f.backtest
    if len(bt):
        lines.append(f"For {escape_md(f.authority.name)} it was out by {bt['ape_chosen'].mean():.1f}% on average over "
                     f"{plural(len(bt), 'year')}, the outcome inside the range in {int(bt['in_range80'].sum())} of them.")
    if f.authority.boundary_note:
        lines.append("The former authority's counts are shown for context only: they are not added to this "
                     "authority's series, and the projection starts from its own counts.")
    return Markdown("\n\n".join(lines))


def backtest_table(f: AuthorityFigures) -> HTML:
    bt = f.backtest
    if not len(bt):
        return HTML("<p>No backtest: the authority's own series is too short.</p>")
    t = pd.DataFrame({"31 March": bt["year"].astype(int).astype(str), "Projected a year earlier": bt["projected"].map(_n),
                      "80% range": [f"{_n(lo)} to {_n(hi)}" for lo, hi in zip(bt["low80"], bt["high80"])],
                      "Published": bt["outcome"].map(_n), "Error": bt["ape_chosen"].map(lambda v: f"{v:.1f}%"),
                      "Inside the range": bt["in_range80"].map({True: "yes", False: "no"})})
    return HTML(table_html(t, f"One-year projections for {f.authority.name} made with the figures published "
                              "at the time, against the published outcome",
                           numeric=["Projected a year earlier", "Published", "Error"]))


def placements_table(f: AuthorityFigures) -> HTML:
    p = f.placements
    if not len(p):
        return HTML("<p>No published placement figures.</p>")

    def pct(v):
        return "c" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.1f}%"

    t = pd.DataFrame({"Placement": p["placement"], "Children": p["number"].map(lambda x: "c" if x in ("c", "k", "x")
                                                                               else x),
                      f.authority.name: p["authority_pct"].map(pct), "Neighbours' mean": p["neighbours_pct"].map(pct),
                      "England": p["england_pct"].map(pct)})
    year = p.attrs.get("year")
    return HTML(table_html(t, f"Children looked after on 31 March {year} by placement: {f.authority.name} against "
                              "its statistical neighbours and England",
                           numeric=["Children", f.authority.name, "Neighbours' mean", "England"],
                           note="c: a small number DfE does not publish, to protect the children it describes. "
                                "Percentages are of the published total."))


def spend_table(f: AuthorityFigures) -> HTML:
    s = f.spend
    t = pd.DataFrame({"Measure": s["measure"], f.authority.name: s["authority"].map(_gbp),
                      "Neighbours' mean": s["neighbours"].map(_gbp), "England": s["england"].map(_gbp)})
    return HTML(table_html(t, f"Spend on children looked after, {f.spend_year}: {f.authority.name} against its "
                              "statistical neighbours and England",
                           numeric=[f.authority.name, "Neighbours' mean", "England"],
                           note="Gross spend from the authority's section 251 outturn, per child looked after on "
                                "31 March and per child aged 0 to 17; weekly costs are the Department for "
                                "Education's approximate unit costs (spend divided by children placed, per week)."))


def sufficiency_text(f: AuthorityFigures) -> Markdown:
    s = f.sufficiency
    if np.isnan(s["places"]):
        return Markdown("Ofsted lists no children's homes in the authority's area.")
    kids = s["children_in_homes"]
    kids_txt = ("a small number (not published)" if np.isnan(kids) else _n(kids))
    line = (f"On 31 March {s['year']} Ofsted registered {_n(s['homes'])} children's homes in {escape_md(f.authority.name)}'s "
            f"area with {_n(s['places'])} places ({_n(s['places_la'])} run by the council). On 31 March "
            f"{s['placements_year']} {kids_txt} of its children were in secure or children's homes, wherever they were.")
    if not np.isnan(kids) and not np.isnan(s["places"]) and s["places"] > 0:
        line += f" That is {kids / s['places']:.2f} of its children for each place in its area."
    line += (" Homes in the area take children from other authorities, and the authority's children live in homes "
             "elsewhere: this compares scale, not who lives where.")
    return Markdown(line)


LOCAL = [("Budget monitoring", "the authority's budget ledger and forecast for the quarter"),
         ("Placements and costs by child", "the authority's SSDA903 return or placement list with weekly costs"),
         ("Service-plan measures and targets", "the authority's measure return and targets"),
         ("Commentary", "the service's commentary for the quarter")]


def local_sections() -> HTML:
    t = pd.DataFrame({"Section": [a for a, _ in LOCAL], "Fills in when given": [b for _, b in LOCAL]})
    return HTML(table_html(t, "Sections that need the authority's own data"))
