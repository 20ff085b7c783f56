"""Notebook 20, the budget forecast (seed 004, sections 4.3-4.5). The budget table, the movements since the
previous quarter, the forecast by quarter and the forecast sources are computed (``forecast_rows``,
``movements_table``, ``variance_by_quarter``, ``sources_table``), published by the notebook (``publish``,
sheets and titles in ``TABLES``, or ``ctx.publish``) and rendered (``render_*``); the one-call forms
(``forecast_table``, ``movement_view``, ``path_figure``, ``forecast_sources``) do the three steps. The
forecast text and key variances are sentences on the same figures."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import gbpm, gbpm_plain, number, pct, plural, spend_phrase
from pipeline.finance import budget
from pipeline.finance.position import Position, casting_gaps, r3
from pipeline.quarter.budget_view import path_method_now, position_path, view
from pipeline.quarter.context import QuarterContext
from pipeline.quarter.freshness import ledger_coverage, month_words
from pipeline.report.commentary import missing_commentary
from pipeline.report.render import DARK_BLUE, DARK_GREY, FOCUS_GREY, chart, escape_md, table_html, titled

FORECAST = "Budget forecast"
VARIANCES = "Key variances"
# sheet of tables.xlsx -> title ({fy} and {q}: the quarter's), for the tables the notebook publishes itself
TABLES = {"budget_forecast": "Budget forecast by service line, {fy} Quarter {q}",
          "budget_forecast_sources": "Forecast sources and statistical cross-check",
          "budget_forecast_by_quarter": "Total forecast under (-)/over spend at each quarter end"}


def publish(ctx: QuarterContext, sheet: str, df: pd.DataFrame | None) -> pd.DataFrame | None:
    """Publish ``df`` to tables.xlsx as ``sheet`` (one of ``TABLES``) in the budget forecast section; nothing
    when it is None. Returns ``df``."""
    if df is not None:
        ctx.publish(sheet, df, TABLES[sheet].format(fy=ctx.quarter.fy, q=ctx.quarter.q), FORECAST)
    return df


# a budget mark in the pack: a symbol and a word, never colour alone
BUDGET_MARKS = {"within": "☑ Within budget", "over": "☐ Over budget"}
FORECAST_COLUMNS = ["Service line", "Controllable Budget £m", "Full Year Forecast £m", "Forecast Under (-)/Over Spend £m",
                    "Percentage Under (-)/Over Spend", "Budget Performance"]


def in_sentence(name: str) -> str:
    """A line name inside a sentence: sentence-case names lose their capital ("Home to school
    transport" -> "home to school transport"); title-case names and acronyms stay ("Achieving Great
    Futures", "ICT")."""
    words = str(name).split()
    if len(words) and words[0][:1].isupper() and words[0][1:2].islower() and not any(w[:1].isupper() for w in words[1:]):
        return words[0][0].lower() + str(name)[1:]
    return str(name)


# printed where a key variance has no budget holder commentary (and recorded for the build log and the check)
NO_COMMENTARY = "No budget holder commentary was provided this quarter."


def spend_with_share(variance: float, share_pct: float) -> str:
    """An under (-)/over spend in words with its share of the budget: the word carries the direction, so the
    figures are unsigned ("an underspend of £0.815m (39.3% of budget)"), never a word and a minus together."""
    return f"{spend_phrase(variance)} ({pct(abs(share_pct))} of budget)" if r3(variance) != 0 else spend_phrase(variance)


def _fmt_table():
    money = ["Controllable Budget £m", "Full Year Forecast £m", "Forecast Under (-)/Over Spend £m"]
    fmt = {c: gbpm_plain for c in money} | {"Percentage Under (-)/Over Spend": lambda v: "" if pd.isna(v) else pct(v)}
    return money, fmt


def budget_position(ctx: QuarterContext) -> Position:
    """The quarter's budget position (``finance.position.Position``: totals, funding, and ``lines``, each service
    line's budget, forecast and variance), as ``quarter.budget_view.view`` makes it."""
    return view(ctx).position


def forecast_text(ctx: QuarterContext) -> Markdown:
    """Computed and rendered in one call (the notebook does the two steps itself)."""
    return render_forecast_text(ctx, budget_position(ctx))


def render_forecast_text(ctx: QuarterContext, p: Position) -> Markdown:
    """The forecast position ``p`` in words, and where the forecasts come from (the ledger's, when there is one)."""
    v = view(ctx)
    text = (f"The portfolio's forecast outturn for {ctx.quarter.fy} at Quarter {ctx.quarter.q} is "
            f"{gbpm(p.forecast)} against a controllable budget of {gbpm(p.budget)}: "
            f"{spend_with_share(p.variance, p.variance_pct)}.")
    text += f" {number(p.n_over)} of {plural(p.n_lines, 'service line')} are forecast to overspend."
    if v.source == "ledger":
        d = v.detail
        holder = int((d["forecast_source"] == "budget holder").sum())

        # the month the ledger's actuals run to (before the quarter's end only when allowed to be stale)
        upto = budget.quarter_end_month(ctx.quarter.fy, ctx.quarter.q).date()
        actuals = ledger_coverage(v.ledger)
        text += (f" Forecasts come from the ledger to {month_words(min(upto, actuals) if actuals else upto)}: "
                 f"{plural(holder, 'line')} {'uses' if holder == 1 else 'use'} the budget holder's forecast")
        proj = d[d["forecast_source"].str.startswith("projection")]
        if len(proj):
            parts = []
            for r in proj.itertuples():
                rng = (f", range {gbpm(r.low_gbpm)} to {gbpm(r.high_gbpm)}" if pd.notna(r.low_gbpm) else ", no range")
                parts.append(f"{escape_md(r.service_line)} ({escape_md(r.method)}{rng})")
            text += ("; projected from the year-to-date spend and the monthly spending profile of earlier years: "
                     + "; ".join(parts))
        text += "."
        pp = d[d["forecast_source"].str.startswith("placement projection")]
        if len(pp):
            r = pp.iloc[0]
            text += (f" {escape_md(r['service_line'])} is forecast by the placement projection (see Placements): "
                     f"{gbpm(r['full_year_forecast_gbpm'])}, 80% range {gbpm(r['low_gbpm'])} to {gbpm(r['high_gbpm'])}; the "
                     f"budget holder's forecast is {gbpm(r['holder_forecast_gbpm'])}.")
        if "placements" in set(proj["line_id"]) and not len(pp):
            text += (" The placements line uses the profile method until the placement cost projection (numbers of "
                     "children by placement type times unit costs) is built; the budget holder's forecast is shown "
                     "beside it below.")
    else:
        text += " Figures are as published in the council's report for the quarter."
    return Markdown(text)


def forecast_table(ctx: QuarterContext) -> HTML:
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    t = forecast_rows(ctx)
    publish(ctx, "budget_forecast", t.drop(columns="row_kind"))
    return render_forecast(ctx, t)


def forecast_rows(ctx: QuarterContext) -> pd.DataFrame:
    """The budget table of the pack: each service line's budget, forecast and variance, the total and the
    total after additional funding, in the report's layout (``forecast_layout`` of the quarter's position);
    ``row_kind`` marks the total rows (left out of the published table)."""
    return forecast_layout(view(ctx).position)


def forecast_layout(p: Position) -> pd.DataFrame:
    """The position ``p`` as councils publish it: lines, Total, additional funding lines, Total after use of
    additional funding, with the report's column names and marks. ``row_kind`` says which row is which
    (line, total, funding, total_after)."""
    rows = [{"Service line": r.service_line, "Controllable Budget £m": r.controllable_budget_gbpm,
             "Full Year Forecast £m": r.full_year_forecast_gbpm, "Forecast Under (-)/Over Spend £m": r.variance_gbpm,
             "Percentage Under (-)/Over Spend": r.variance_pct, "Budget Performance": BUDGET_MARKS[r.mark],
             "row_kind": "line"} for r in p.lines.itertuples()]
    rows.append({"Service line": "Total", "Controllable Budget £m": p.budget, "Full Year Forecast £m": p.forecast,
                 "Forecast Under (-)/Over Spend £m": p.variance, "Percentage Under (-)/Over Spend": p.variance_pct,
                 "Budget Performance": BUDGET_MARKS["over" if r3(p.variance) > 0 else "within"], "row_kind": "total"})
    for f in p.funding.itertuples():
        rows.append({"Service line": f.funding_line, "Controllable Budget £m": f.amount_gbpm, "Full Year Forecast £m": None,
                     "Forecast Under (-)/Over Spend £m": None, "Percentage Under (-)/Over Spend": None,
                     "Budget Performance": "", "row_kind": "funding"})
    if len(p.funding):
        rows.append({"Service line": "Total after use of additional funding", "Controllable Budget £m": p.budget_after,
                     "Full Year Forecast £m": p.forecast, "Forecast Under (-)/Over Spend £m": p.variance_after,
                     "Percentage Under (-)/Over Spend": p.variance_after_pct,
                     "Budget Performance": BUDGET_MARKS["over" if r3(p.variance_after) > 0 else "within"],
                     "row_kind": "total_after"})
    return pd.DataFrame(rows)


def casting_difference(p: Position) -> float:
    """The largest difference (£m, as printed) between what a money column's rounded lines add to and its
    rounded total, over the budget table's three money columns (budget, forecast, under (-)/over spend);
    0.0 when every column casts."""
    c = casting_gaps(p)
    shown_v = sum(r3(x) for x in p.lines["variance_gbpm"])
    gaps = [c["shown_budget"] - c["budget"], c["shown_forecast"] - c["forecast"], shown_v - r3(p.variance)]
    return round(max(abs(g) for g in gaps), 3)


def casting_note(p: Position) -> str:
    """Say where rounded lines do not cast to the total (never force them), and the largest difference."""
    c = casting_gaps(p)
    shown_v = sum(r3(x) for x in p.lines["variance_gbpm"])
    gaps = []
    if not c["budget_casts"]:
        gaps.append(f"budget lines add to £{c['shown_budget']:,.3f}m against the total £{c['budget']:,.3f}m")
    if not c["forecast_casts"]:
        gaps.append(f"forecast lines add to £{c['shown_forecast']:,.3f}m against the total £{c['forecast']:,.3f}m")
    if abs(shown_v - r3(p.variance)) >= 0.0005:
        gaps.append(f"under (-)/over spend lines add to £{shown_v:,.3f}m against the total £{r3(p.variance):,.3f}m")
    base = ("Totals are computed from unrounded figures, then rounded"
            + (" (as published by the council)" if p.total_source == "published" else "") + ".")
    if gaps:
        base += (f" Rounded lines do not cast exactly, by at most £{casting_difference(p):,.3f}m: "
                 + "; ".join(gaps) + ".")
    return base + " Under (-) / over spend; percentages of the controllable budget."


def render_forecast(ctx: QuarterContext, t: pd.DataFrame) -> HTML:
    p = view(ctx).position
    money, fmt = _fmt_table()
    totals = [i for i, k in enumerate(t["row_kind"]) if k in ("total", "total_after")]
    return HTML(table_html(t.drop(columns="row_kind"),
                           f"{ctx.params.portfolio}: budget items, {ctx.quarter.fy} Quarter {ctx.quarter.q}", fmt,
                           numeric=money + ["Percentage Under (-)/Over Spend"], total_rows=totals,
                           note=casting_note(p) + " ☑ within budget; ☐ over budget (forecast above budget by "
                                "£0.001m or more as printed)."))


def forecast_sources(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_sources(publish(ctx, "budget_forecast_sources", sources_table(ctx)))


def sources_table(ctx: QuarterContext) -> pd.DataFrame | None:
    """Per line: the forecast used, where it came from and its own 80% range (when its method gives one), the
    budget holder's forecast, and the profile projection with its own 80% range; None when the quarter has no
    ledger (forecasts as published). Each range sits beside the figure it belongs to: the placement
    projection's beside the forecast used, the profile projection's beside the profile projection."""
    v = view(ctx)
    if v.source != "ledger":
        return None
    d = v.detail
    prof_low = d["profile_low_gbpm"] if "profile_low_gbpm" in d else d["low_gbpm"]
    prof_high = d["profile_high_gbpm"] if "profile_high_gbpm" in d else d["high_gbpm"]
    # the forecast used has a range when it is a projection (profile or placement), not a budget holder's figure
    ranged = d["forecast_source"].str.startswith(("projection", "placement projection"))
    return pd.DataFrame({"Service line": d["service_line"], "Year-to-date actual £m": d["ytd_actual_gbpm"],
                         "Forecast used £m": d["full_year_forecast_gbpm"], "Source of forecast": d["forecast_source"],
                         "Forecast used: 80% range low £m": d["low_gbpm"].where(ranged),
                         "Forecast used: 80% range high £m": d["high_gbpm"].where(ranged),
                         "Budget holder's forecast £m": d["holder_forecast_gbpm"],
                         "Profile projection £m": d["projection_gbpm"], "Profile projection: 80% range low £m": prof_low,
                         "Profile projection: 80% range high £m": prof_high})


def _range_cells(low: pd.Series, high: pd.Series, none: str) -> list[str]:
    return [f"{gbpm_plain(a)} to {gbpm_plain(b)}" if pd.notna(a) else none for a, b in zip(low, high)]


def render_sources(t: pd.DataFrame | None):
    if t is None:
        return Markdown("*No ledger is among this quarter's inputs, so forecasts are as published and no "
                        "statistical cross-check is possible.*")
    used_range = "Range of the forecast used (80%) £m"
    prof_range = "Range of the profile projection (80%) £m"
    shown = pd.DataFrame({
        "Service line": t["Service line"], "Year-to-date actual £m": t["Year-to-date actual £m"],
        "Forecast used £m": t["Forecast used £m"],
        "Source of forecast": t["Source of forecast"].str.replace("projection: ", "", regex=False),
        used_range: _range_cells(t["Forecast used: 80% range low £m"], t["Forecast used: 80% range high £m"], "–"),
        "Budget holder's forecast £m": t["Budget holder's forecast £m"],
        "Profile projection £m": t["Profile projection £m"],
        prof_range: _range_cells(t["Profile projection: 80% range low £m"], t["Profile projection: 80% range high £m"],
                                 "none")})
    money = [c for c in shown.columns if c.endswith("£m") and c not in (used_range, prof_range)]
    return HTML(table_html(shown, "Where each forecast comes from, with the profile projection as a cross-check",
                           {c: gbpm_plain for c in money}, numeric=money + [used_range, prof_range],
                           note="Range of the forecast used: the 80% range of the method that made it (none, shown –, for "
                                "a budget holder's forecast). Profile projection: the year-to-date actual divided by the "
                                "share of the year's spend reached by the same month in earlier complete years; its range "
                                "is the 80% interval of the projections those years imply (their min to max when fewer "
                                "than three)."))


@dataclass
class Movements:
    """Each line's forecast under (-) / over spend now against the previous quarter end (``table``, from
    ``finance.budget.movements``, with a sentence per line in ``text``), that quarter's ``label`` (Quarter 1,
    or Quarter 4 2025-26: ``previous_label``) and its total (``total_before``, £m)."""

    table: pd.DataFrame
    label: str
    total_before: float

    def published(self) -> pd.DataFrame:
        """The table as tables.xlsx holds it, with the report's column names."""
        return self.table.drop(columns=["line_id", "text"]).rename(columns={
            "service_line": "Service line", "variance_gbpm": "Forecast under (-)/over spend now £m",
            "previous_variance_gbpm": f"At {self.label} £m", "change_gbpm": "Change £m"})


def previous_label(ctx: QuarterContext) -> str:
    """The previous quarter end in words, as the movement sentences name it: "Quarter 1" within the year,
    "Quarter 4 2025-26" across a year end (never a code such as Q1 or 2025-26-Q4)."""
    pq = ctx.quarter.previous()
    return f"Quarter {pq.q}" if pq.fy == ctx.quarter.fy else f"Quarter {pq.q} {pq.fy}"


@dataclass
class MethodChange:
    """A line forecast this quarter by a different method from the earlier quarter ends (the placement
    projection replacing the spending-profile projection): ``line_id`` and its ``name`` in a sentence, the
    total under (-)/over spend now (``total_now``) and as the earlier method gives it this quarter
    (``total_old_way``), all £m. ``method_part`` is the change of method's effect (now less the old way);
    it lies wholly on that line, the other lines being forecast the same way as before."""

    line_id: str
    name: str
    total_now: float
    total_old_way: float

    @property
    def method_part(self) -> float:
        return self.total_now - self.total_old_way

    def like_for_like(self, total_before: float) -> float:
        """The movement since ``total_before`` (an earlier quarter end's total, forecast the old way) with the
        method held the same: the old way's total now less ``total_before``."""
        return self.total_old_way - total_before


def method_sentence(change: float, method_part: float, what: str) -> str:
    """How much of a movement ``change`` (£m) is a change of forecasting method (``method_part``), and the
    like-for-like movement (the rest) of ``what`` ("the forecast overspend"); said whenever a method changed,
    so a change of method is never read as spending easing or growing."""
    lfl = change - method_part
    words = f"Of that change, {gbpm(method_part, signed=True)} is the change of forecasting method; like for like, "
    if r3(lfl) == 0:
        return words + f"{what} is unchanged."
    return words + f"{what} {'rose' if lfl > 0 else 'fell'} by {gbpm(abs(lfl))}."


def _what(variance: float, old_way: float) -> str:
    """The quantity a like-for-like movement is of: the overspend when both figures are overspends."""
    return "the forecast overspend" if r3(variance) > 0 and r3(old_way) > 0 else "the forecast under (-)/over spend"


def movements_with_text(now: pd.DataFrame, before: pd.DataFrame, label_before: str,
                        method: MethodChange | None = None) -> pd.DataFrame:
    """``finance.budget.movements`` of the lines ``now`` since ``before``, with a sentence per line in ``text``
    ("The forecast overspend on home to school transport rose by £0.412m since Quarter 1"); the line whose
    forecasting method changed (``method``) also says how much of its movement is the change of method."""
    m = budget.movements(now, before)
    names = [in_sentence(getattr(r, "short_name", None) or r.service_line) for r in now.itertuples()]
    m["text"] = [movement_sentence(r.service_line, name, r.variance_gbpm, r.previous_variance_gbpm, r.change_gbpm,
                                   label_before) for r, name in zip(m.itertuples(), names)]
    if method is not None:
        for i in m.index[(m["line_id"] == method.line_id) & m["change_gbpm"].notna()]:
            var = float(m.at[i, "variance_gbpm"])
            m.at[i, "text"] += " " + method_sentence(float(m.at[i, "change_gbpm"]), method.method_part,
                                                      _what(var, var - method.method_part))
    return m


def movement_sentence(service_line: str, name: str, variance: float, prev: float, change: float, label_before: str) -> str:
    """One line's movement in words; ``name`` is its name inside a sentence (``in_sentence``)."""
    if pd.isna(change):
        return f"{service_line}: no forecast at {label_before} to compare."
    kind = "overspend" if r3(variance) > 0 else ("underspend" if r3(variance) < 0 else "position")
    if r3(change) == 0:
        return f"The forecast {kind} on {name} is unchanged since {label_before}."
    was = "overspend" if r3(prev) > 0 else ("underspend" if r3(prev) < 0 else "balanced position")
    if kind == was:
        grew = (change > 0) == (kind == "overspend")
        return f"The forecast {kind} on {name} {'rose' if grew else 'fell'} by {gbpm(abs(change))} since {label_before}."
    return (f"The forecast on {name} moved from {'an ' + was if was != 'balanced position' else 'a balanced position'}"
            f" of {gbpm(abs(prev))} at {label_before} to "
            f"{'an ' + kind if kind != 'position' else 'balance'}"
            f"{' of ' + gbpm(abs(variance)) if kind != 'position' else ''}: a change of "
            f"{gbpm(change, signed=True)}.")


def movement_view(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    m = movements_table(ctx)
    if m is not None:
        ctx.publish("budget_movements", m.published(), f"Movement since {m.label}", FORECAST)
    return render_movements(ctx, m)


def movements_table(ctx: QuarterContext) -> Movements | None:
    """The movement of each line's forecast since the previous quarter end (``Quarter.previous()``); None
    when that quarter's forecast is not in the inputs."""
    path = position_path(ctx)
    pq = ctx.quarter.previous()
    before = path[(path["financial_year"] == pq.fy) & (path["quarter"] == pq.q)] if len(path) else path
    if not len(before):
        return None
    label = previous_label(ctx)
    m = movements_with_text(view(ctx).position.lines, before, label, method_change(ctx))
    return Movements(m, label, float(before["variance_gbpm"].sum()))


def render_movements(ctx: QuarterContext, mv: Movements | None):
    if mv is None:
        pq = ctx.quarter.previous()
        return Markdown(f"*No forecast for {pq.fy} Quarter {pq.q} is in this quarter's inputs, so movements "
                        "since the previous quarter cannot be shown.*")
    m, label, total_before = mv.table, mv.label, mv.total_before
    order = m.reindex(m["change_gbpm"].abs().sort_values(ascending=False).index)
    lines = [f"- {escape_md(t)}" for t in order["text"]]
    total_now = view(ctx).position.variance
    head = (f"The total forecast is now {spend_phrase(total_now)}, against {spend_phrase(total_before)} at {label}: "
            f"a change of {gbpm(total_now - total_before, signed=True)}. By line, largest change first:")
    note = ""
    if (mc := method_change(ctx)) is not None:
        note = (f"\n\n*The {escape_md(mc.name)} line is now forecast by the placement projection; at earlier quarter "
                f"ends it was forecast from the year-to-date spend and the spending profile of earlier years. Forecast "
                f"that way this quarter, the total would be {spend_phrase(mc.total_old_way)}, so "
                f"{gbpm(mc.method_part, signed=True)} of the change since {label} is the change of method and "
                f"{gbpm(mc.like_for_like(total_before), signed=True)} the like-for-like change in spending.*")
    return Markdown(head + "\n\n" + "\n".join(lines) + note)


def method_change(ctx: QuarterContext) -> MethodChange | None:
    """When the placement projection forecasts a line this quarter: that line and the total under (-)/over
    spend the earlier quarters' method (the profile projection) gives this quarter (``MethodChange``)."""
    v = view(ctx)
    d = v.detail
    if d is None:
        return None
    pp = d[d["forecast_source"].str.startswith("placement projection")]
    position_path(ctx)
    now = path_method_now(ctx)
    if not len(pp) or now is None:
        return None
    r = pp.iloc[0]
    return MethodChange(str(r["line_id"]), in_sentence(str(r.get("short_name") or r["service_line"])),
                        float(v.position.variance), float(now))


def path_figure(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_path(ctx, publish(ctx, "budget_forecast_by_quarter", variance_by_quarter(ctx)))


def variance_by_quarter(ctx: QuarterContext) -> pd.DataFrame | None:
    """The total forecast under (-) / over spend (£m) at each quarter end of last year and this
    (``quarter.budget_view.position_path``); None when the earlier quarters are not in the inputs."""
    path = position_path(ctx)
    if not len(path):
        return None
    tot = path.groupby(["financial_year", "quarter"], as_index=False)["variance_gbpm"].sum()
    return tot.rename(columns={"variance_gbpm": "forecast_variance_gbpm"})


def render_path(ctx: QuarterContext, by_quarter: pd.DataFrame | None):
    if by_quarter is None:
        return Markdown("*Earlier quarters are not in this quarter's inputs, so the forecast cannot be charted "
                        "quarter by quarter.*")
    tot = by_quarter.rename(columns={"forecast_variance_gbpm": "variance_gbpm"})
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    years = sorted(tot["financial_year"].unique())
    colours = {y: c for y, c in zip(years, [FOCUS_GREY, DARK_BLUE][-len(years):])}
    width = 0.38
    for i, y in enumerate(years):
        d = tot[tot["financial_year"] == y]
        xs = d["quarter"] + (i - (len(years) - 1) / 2) * width
        ax.bar(xs, d["variance_gbpm"], width=width, color=colours[y], edgecolor=DARK_GREY, linewidth=0.4, label=y)
        for x, val in zip(xs, d["variance_gbpm"]):
            ax.annotate(f"{val:,.3f}", (x, val), xytext=(0, 3 if val >= 0 else -10), textcoords="offset points",
                        ha="center", fontsize=8, color=DARK_GREY)
    ax.axhline(0, color=DARK_GREY, linewidth=0.8)
    ax.set_xticks([1, 2, 3, 4], ["Quarter 1", "Quarter 2", "Quarter 3", "Quarter 4"])
    ax.set_ylabel("Under (-) / over spend, £m")
    ax.legend(frameon=False, fontsize=8, ncol=len(years), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.margins(y=0.15)
    cur = tot[tot["financial_year"] == ctx.quarter.fy]
    first, last = float(cur["variance_gbpm"].iloc[0]), float(cur["variance_gbpm"].iloc[-1])
    title, note = path_headline(first, last, len(cur), method_change(ctx))
    sub = f"Total forecast under (-) / over spend at each quarter end, £m; {ctx.params.authority}" + note
    titled(fig, ax, title, sub)
    parts = "; ".join(f"Quarter {r.quarter} {r.financial_year} {gbpm(r.variance_gbpm)}" for r in tot.itertuples())
    return chart(fig, f"Bar chart of the total forecast under (-) or over spend at each quarter end: {parts}.")


def path_headline(first: float, last: float, n_quarters: int, mc: MethodChange | None) -> tuple[str, str]:
    """The forecast-by-quarter chart's headline and a note for its subtitle, from this year's first and
    latest total under (-)/over spend (£m). When this quarter's forecast changed method (``mc``), the
    headline is the like-for-like movement since Quarter 1 (the earlier method's total now against Quarter
    1) and the note gives the method's share, so a change of method is never headlined as easing or
    growth."""
    if n_quarters == 1:
        return f"Forecast {spend_phrase(last)} at Quarter 1", ""
    if mc is None:
        what = "overspend" if r3(first) > 0 and r3(last) > 0 else "under (-)/over spend"
        up, down = ("grown", "eased") if what == "overspend" else ("risen", "fallen")
        return (f"Forecast {what} has {up} this year" if last > first + 0.0005 else
                f"Forecast {what} has {down} this year" if last < first - 0.0005 else
                "Forecast position is steady this year"), ""
    lfl = mc.like_for_like(first)
    what = "overspend" if r3(first) > 0 and r3(mc.total_old_way) > 0 else "under (-)/over spend"
    up, down = ("grown", "eased") if what == "overspend" else ("risen", "fallen")
    title = (f"Like for like, the forecast {what} has {up if lfl > 0 else down} by {gbpm(abs(lfl))} since "
             "Quarter 1" if r3(lfl) != 0 else f"Like for like, the forecast {what} is unchanged since Quarter 1")
    note = (f". Of the {gbpm(last - first, signed=True)} change, {gbpm(mc.method_part, signed=True)} is the change of "
            f"method ({mc.name} now forecast by the placement projection)")
    return title, note


# ---- key variances ---------------------------------------------------------------------------------
def key_variances(ctx: QuarterContext) -> Markdown:
    """Computed and rendered in one call (the notebook does the two steps itself; nothing is published)."""
    return render_key_variances(ctx, key_variance_rows(ctx))


def key_variance_rows(ctx: QuarterContext) -> pd.DataFrame:
    """The material lines (at least settings.material_variance_gbpm either way and settings.material_variance_pct
    of budget; ``finance.budget.material_lines``), largest first: each line's budget, forecast and variance, its
    spend to date and forecast source (``ytd_actual_gbpm``, ``forecast_source``; with a ledger) and its movement
    since the previous quarter end in words (``movement``: "" when that quarter is not in the inputs)."""
    v = view(ctx)
    s = ctx.params.settings
    mat = budget.material_lines(v.position.lines, float(s.material_variance_gbpm), float(s.material_variance_pct)).copy()
    path = position_path(ctx)
    pq = ctx.quarter.previous()
    before = path[(path["financial_year"] == pq.fy) & (path["quarter"] == pq.q)] if len(path) else path
    if v.detail is not None:
        d = v.detail.set_index("line_id")
        mat["ytd_actual_gbpm"] = mat["line_id"].map(d["ytd_actual_gbpm"])
        mat["forecast_source"] = mat["line_id"].map(d["forecast_source"])
    moves = {}
    if len(before):
        m = movements_with_text(mat, before, previous_label(ctx), method_change(ctx))
        moves = dict(zip(m["line_id"], m["text"]))
    mat["movement"] = [moves.get(lid, "") for lid in mat["line_id"]]
    return mat


def render_key_variances(ctx: QuarterContext, mat: pd.DataFrame) -> Markdown:
    """The material lines ``mat`` (``key_variance_rows``), each with its figures, movement, drivers (the
    placements line) and the analyst's commentary (recorded as missing where there is none)."""
    v = view(ctx)
    s = ctx.params.settings
    lo_m, lo_p = float(s.material_variance_gbpm), float(s.material_variance_pct)
    out = [f"Lines whose forecast under (-) / over spend is at least {gbpm(lo_m)} and {pct(lo_p)} of budget: "
           f"{plural(len(mat), 'line')} of {v.position.n_lines}."]
    if not len(mat):
        return Markdown(out[0])
    for n, r in enumerate(mat.itertuples(), start=1):
        kind = "overspend" if r.variance_gbpm > 0 else "underspend"
        out.append(f"### {n}. {escape_md(r.service_line)}, {kind} {gbpm(abs(r.variance_gbpm))}")
        para = (f"Forecast {gbpm(r.full_year_forecast_gbpm)} against a budget of {gbpm(r.controllable_budget_gbpm)}: "
                f"{spend_with_share(r.variance_gbpm, r.variance_pct)}.")
        if v.detail is not None:
            para += f" Spend to date {gbpm(r.ytd_actual_gbpm)}; forecast from {escape_md(r.forecast_source)}."
        if r.movement:
            para += " " + escape_md(r.movement)
        out.append(para)
        if r.line_id == "placements" and v.ledger is not None and _episodes_key(ctx):
            out.append(_placement_driver_text(ctx))
        note = _line_commentary(ctx, r)
        if not note:
            missing_commentary(ctx, f"Key variances: {r.service_line}", f"## Key variances: {r.line_id}")
        out.append(f"*Analyst's commentary:* {note}" if note else f"*{NO_COMMENTARY}*")
    return Markdown("\n\n".join(out))


def _episodes_key(ctx: QuarterContext) -> str | None:
    return next((f"{k}_episodes" for k, s in ctx.params.inputs.items() if s.kind == "ssda903"), None)


def _placement_driver_text(ctx: QuarterContext) -> str:
    d = budget.placement_drivers(ctx.table(_episodes_key(ctx)), view(ctx).ledger, ctx.quarter.fy, ctx.quarter.q)
    text = (f"*Drivers (SSDA903 episodes and the ledger):* {number(d['children_now'])} children were in care on "
            f"{d['end']:%-d %B %Y}, against {number(d['children_prev'])} a year earlier ({d['prev_end']:%-d %B %Y}) "
            f"and {number(d['children_year_start'])} at the start of the year ({d['year_start_end']:%-d %B %Y}). "
            "Placement days this year to "
            f"date: {number(d['days_now'])} against {number(d['days_prev'])} in the same months last year.")
    if "cost_per_day_now" in d:
        text += (f" Spend per placement day £{d['cost_per_day_now']:,.0f} against £{d['cost_per_day_prev']:,.0f}. Of the "
                 f"{gbpm(d['spend_now'] - d['spend_prev'], signed=True)} change in spend to date, "
                 f"{gbpm(d['volume_effect'], signed=True)} comes from the number of placement days and "
                 f"{gbpm(d['price_effect'], signed=True)} from the cost per day.")
    return text


def _line_commentary(ctx: QuarterContext, r) -> str:
    for name in (r.line_id, getattr(r, "short_name", ""), r.service_line):
        if name:
            text = ctx.commentary(f"Key variances: {name}")
            if text:
                return text
    return ""


