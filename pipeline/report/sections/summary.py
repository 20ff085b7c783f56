"""Notebook 10, the summary. Each table is computed into a DataFrame (``position_rows``, ``variance_by_line``,
from the budget position ``budget_position``: the ``finance.position.Position`` the budget section shows too),
published by the notebook (``ctx.publish``) and rendered (``render_position``, ``render_variance``);
``position_table`` and ``variance_figure`` do the three steps in one call. The summary text
(``render_summary_text``) and recommendations are sentences on the same figures."""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import gbpm, gbpm_plain, pct, plural, spend_phrase
from pipeline.finance import budget
from pipeline.finance.position import Position
from pipeline.quarter import freshness
from pipeline.quarter.budget_view import optional, view
from pipeline.quarter.context import QuarterContext
from pipeline.report import narrative
from pipeline.report.commentary import commentary, missing_commentary  # noqa: F401 (commentary: used by the notebook)
from pipeline.report.render import chart, escape_md, table_html, variance_chart
from pipeline.report.sections.savings_risks_accuracy import savings_sentence

SUMMARY = "Summary"


def _lines(ctx: QuarterContext) -> pd.DataFrame:
    """The quarter's budget lines as the budget section computes them (from the ledger when there is
    one), so the summary and the budget section always agree."""
    return view(ctx).position.lines


def budget_position(ctx: QuarterContext) -> Position:
    """The quarter's budget position (``finance.position.Position``), the one the budget section shows."""
    return view(ctx).position


def stale_notice(ctx: QuarterContext) -> str:
    """In words, the inputs the params allow to stop before the quarter ("" when every input reaches it)."""

    return freshness.reader_notice(ctx.params, freshness.assess(ctx.params, ctx.table))


def summary_text(ctx: QuarterContext) -> Markdown:
    """Computed and rendered in one call (the notebook does the two steps itself)."""
    return render_summary_text(ctx, budget_position(ctx))


def render_summary_text(ctx: QuarterContext, p: Position) -> Markdown:
    """The position ``p`` in words, with any notice that inputs are not up to date, the quarter at a glance and
    the deliverables."""
    text = narrative.budget_summary(p, ctx.quarter)
    if notice := stale_notice(ctx):
        text = f"**Not up to date.** {escape_md(notice)}\n\n" + text
    if glance := at_a_glance(ctx):
        text += "\n\n" + glance
    if "deliverables" in ctx.params.inputs:
        text += "\n\n" + narrative.deliverables_summary(ctx.table("deliverables"), ctx.quarter)
    return Markdown(text)


def at_a_glance(ctx: QuarterContext) -> str:
    """Seed 004's summary in brief: savings, growth, risks with the risk-adjusted range and reserves, each
    a sentence with its figures (the same calculations as the budget section's)."""

    p = budget_position(ctx)
    variance = p.variance_after if p.additional_funding else p.variance
    out = []
    ini = optional(ctx, "savings_initiatives")
    if ini is not None and len(ini):
        _, sv = budget.savings_table(ini, optional(ctx, "savings_targets"))
        out.append(f"**Savings**: {savings_sentence(sv)}")  # the savings section's own sentence: one wording
    g = optional(ctx, "growth_items")
    if g is not None and len(g):
        by = g.groupby("kind")["amount_gbpm"].sum()
        out.append(f"**Growth and one-off funding**: {gbpm(float(g['amount_gbpm'].sum()))} of additional budget "
                   f"allocations this year (" + ", ".join(f"{gbpm(v)} {escape_md(k)}" for k, v in by.items()) + ").")
    r = optional(ctx, "financial_risks")
    if r is not None and len(r):
        _, rk = budget.risk_table(r, variance)
        out.append(f"**Risks**: {plural(len(r), 'risk')} could add up to {gbpm(rk['all'])}; weighted by likelihood, "
                   f"the risk-adjusted forecast is {spend_phrase(rk['central'])}, in a range from "
                   f"{spend_phrase(rk['variance'])} to {spend_phrase(rk['high'])}.")
    res = optional(ctx, "earmarked_reserves")
    if res is not None and len(res):
        out.append(f"**Reserves**: earmarked reserves of {gbpm(float(res['balance_gbpm'].sum()))} are held "
                   "to support future expenditure.")
    return "\n".join(f"- {o}" for o in out)


def recommendations(ctx: QuarterContext) -> Markdown:
    """The report's recommendations (the commentary's Recommendations section, else the usual one: to note
    the position) and its author and contact (the commentary's Report author section)."""
    q = ctx.quarter
    text = ctx.commentary("Recommendations") or (
        f"That the report is noted: Council Plan performance and the revenue budget position and forecast outturn "
        f"for {q.fy} as at {q.end:%-d %B %Y} (Quarter {q.q}).")
    author = ctx.commentary("Report author")
    if not author:
        missing_commentary(ctx, "Report author and contact", "## Report author")
    return Markdown(text + "\n\n" + (f"**Report author and contact**: {author}" if author else
                                      "**Report author and contact**: No commentary supplied."))


def position_title(ctx: QuarterContext) -> str:
    """The title of the position table in tables.xlsx."""
    return f"Forecast outturn position, {ctx.quarter.fy} Quarter {ctx.quarter.q}"


def position_table(ctx: QuarterContext) -> HTML:
    """Total and total after additional funding, in the published layout: computed, published, rendered."""
    p = budget_position(ctx)
    df = position_rows(p)
    ctx.publish("summary_position", df, position_title(ctx), SUMMARY)
    return render_position(ctx, p, df)


def position_rows(p: Position) -> pd.DataFrame:
    """The budget position ``p`` (``budget_position``) as the published table: the total, each additional
    funding line and the total after funding, with the report's column names."""
    rows = [{"": "Total", "Controllable Budget £m": p.budget, "Full Year Forecast £m": p.forecast,
             "Forecast Under (-)/Over Spend £m": p.variance, "Percentage Under (-)/Over Spend": p.variance_pct}]
    for f in p.funding.itertuples():
        rows.append({"": str(f.funding_line), "Controllable Budget £m": float(f.amount_gbpm),
                     "Full Year Forecast £m": None, "Forecast Under (-)/Over Spend £m": None,
                     "Percentage Under (-)/Over Spend": None})
    if len(p.funding):
        rows.append({"": "Total after use of additional funding", "Controllable Budget £m": p.budget_after,
                     "Full Year Forecast £m": p.forecast, "Forecast Under (-)/Over Spend £m": p.variance_after,
                     "Percentage Under (-)/Over Spend": p.variance_after_pct})
    return pd.DataFrame(rows)


def render_position(ctx: QuarterContext, p: Position, df: pd.DataFrame) -> HTML:
    """The position table (``position_rows``) as the pack shows it, with the note on how totals were made."""
    money = [c for c in df.columns if c.endswith("£m")]
    fmt = {c: gbpm_plain for c in money} | {"Percentage Under (-)/Over Spend": lambda v: "" if pd.isna(v) else pct(v)}
    df = df.rename(columns={"": "Position"})  # every column header names its column (screen readers)
    return HTML(table_html(df, f"Forecast outturn position, {ctx.params.portfolio}, {ctx.quarter.fy} Quarter {ctx.quarter.q}",
                           fmt, numeric=money + ["Percentage Under (-)/Over Spend"],
                           total_rows=[0, len(df) - 1] if len(df) > 1 else [0],
                           note=position_note(p)))


def position_note(p: Position) -> str:
    if p.total_source == "published":
        return ("Totals are as published, computed by the council from unrounded figures; the rounded "
                f"service lines add to {gbpm(p.lines_budget)} budget and {gbpm(p.lines_forecast)} forecast. "
                "Under (-) / over spend.")
    return "Totals computed from unrounded service-line figures, then rounded. Under (-) / over spend."


def variance_figure(ctx: QuarterContext):
    """The forecast variance by service line: computed and rendered (nothing is published)."""
    return render_variance(ctx, variance_by_line(ctx), budget_position(ctx))


def variance_by_line(ctx: QuarterContext) -> pd.DataFrame:
    """Each service line's budget, forecast and variance (£m), as the chart shows them."""
    return _lines(ctx).copy()


def render_variance(ctx: QuarterContext, t: pd.DataFrame, p: Position):
    """The variance chart of ``variance_by_line``, titled from the position ``p``."""
    top = t.loc[t["variance_gbpm"].idxmax()]
    if p.variance > 0 and top["variance_gbpm"] > 0:
        title = f"{top['short_name']}: {pct(100 * top['variance_gbpm'] / p.variance)} of the {gbpm(p.variance)} forecast overspend"
    else:
        title = f"Forecast {spend_phrase(p.variance)} before additional funding"
    subtitle = (f"Forecast under (-) / over spend by service line, £m; {ctx.params.authority}, "
                f"{ctx.quarter.fy} Quarter {ctx.quarter.q}")
    fig = variance_chart(t, title, subtitle)
    ordered = t.sort_values("variance_gbpm", ascending=False)
    parts = "; ".join(f"{r.service_line} {gbpm(r.variance_gbpm)}" for r in ordered.itertuples())
    alt = (f"Bar chart of forecast under (-) or over spend by service line for {ctx.quarter.fy} Quarter "
           f"{ctx.quarter.q}, largest first: {parts}.")
    return chart(fig, alt)


