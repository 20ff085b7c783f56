"""Notebook 40, savings, growth, risks, reserves, debt, traded services and forecast accuracy, computed with
``pipeline.finance.budget``. Reserves, accuracy, debt and risks are computed (``reserves_table``,
``accuracy_table``, ``debt_table``; ``risks_table`` a small ``Risks`` of the table and its totals), published
by the notebook (``publish``, sheet names and titles in ``TABLES``) and rendered (``render_*``); savings, growth
and traded services too, each a small dataclass of its tables (``savings_tables``, ``growth_tables``,
``traded_tables``). ``finance.budget`` gives the figures with snake_case columns and marks as words; the report's
column names, row labels and symbols are set here. The one-call forms (``savings``, ``risks``, ...) do the three
steps, for tests and scripts."""

from __future__ import annotations

import html
import math
import re
import sys
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown
from matplotlib.ticker import FuncFormatter

from pipeline.core.formatting import and_list, gbpm, gbpm_plain, pct, period_words, plural, spend_phrase
from pipeline.finance import budget
from pipeline.finance.position import r3
from pipeline.quarter.budget_view import history, optional, previous, projected, view
from pipeline.quarter.context import QuarterContext
from pipeline.report import abbreviations
from pipeline.report.render import DARK_BLUE, DARK_GREY, chart, escape_md, table_html, titled

SAVINGS = "Budget savings, growth, risks, reserves, debt and traded services"


ACCURACY = "Forecast accuracy"
# sheet of tables.xlsx -> (title, section), for the tables the notebook publishes itself
TABLES = {"budget_savings": ("Budget savings initiatives", SAVINGS),
          "budget_savings_targets": ("Budget savings targets", SAVINGS),
          "budget_growth": ("Growth items and one-off funding", SAVINGS),
          "budget_one_off_items": ("Significant one-off items in the forecast", SAVINGS),
          "budget_risks": ("Financial risks with expected impact", SAVINGS),
          "budget_reserves": ("Earmarked reserves", SAVINGS),
          "budget_aged_debt": ("Aged debt profile", SAVINGS),
          "budget_traded_fully": ("Fully traded areas", SAVINGS),
          "budget_traded_partially": ("Partially traded areas", SAVINGS),
          "forecast_accuracy": ("Forecast accuracy: each quarter's forecast against the final outturn", ACCURACY)}
# marks in the pack: a symbol and a word, never colour alone (``finance.budget`` gives the words)
SAVINGS_MARKS = {"achieved": "✓ Achieved", "shortfall": "✗ Shortfall"}
MOVEMENT_MARKS = {"increased": "▲ Increased", "unchanged": "= Unchanged", "decreased": "▼ Decreased"}
TRADED_MARKS = {"contribution": "✓ Contribution", "breakeven": "= Break-even", "deficit": "✗ Deficit"}
INCOME_MARKS = {"excess": "✓ Excess", "on_target": "= On target", "shortfall": "✗ Shortfall"}


# sheets not published when empty (the section then says why there is no table)
NOT_WHEN_EMPTY = {"forecast_accuracy"}


def publish(ctx: QuarterContext, sheet: str, df: pd.DataFrame | None) -> pd.DataFrame | None:
    """Publish ``df`` to tables.xlsx as ``sheet`` (one of ``TABLES``); nothing when it is None (no input), or
    empty for a sheet of ``NOT_WHEN_EMPTY``. Returns ``df``."""
    if df is not None and (len(df) or sheet not in NOT_WHEN_EMPTY):
        title, section = TABLES[sheet]
        ctx.publish(sheet, df, title, section)
    return df


# ---- savings, growth, risks, reserves, debt, traded -----------------------------------------------------
@dataclass
class Savings:
    """The budget savings: ``table``, each initiative and the totals in the report's layout
    (``savings_rows``); ``summary``, the figures (``finance.budget.savings_table``); ``targets``, the savings
    targets and their total (None without them); ``notes``, the initiatives' notes (None without them)."""

    table: pd.DataFrame
    summary: dict
    targets: pd.DataFrame | None
    notes: pd.DataFrame | None


def savings(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    sv = savings_tables(ctx)
    if sv is not None:
        publish(ctx, "budget_savings", sv.table)
        publish(ctx, "budget_savings_targets", sv.targets)
    return render_savings(sv)


def savings_tables(ctx: QuarterContext) -> Savings | None:
    """The savings initiatives against their targets; None without the initiatives input. The initiatives'
    Note column is kept only when the quarter's inputs give the notes' key (a number with no key means
    nothing to a reader); a note number the key lacks is named in the build log."""
    ini = optional(ctx, "savings_initiatives")
    if ini is None:
        return None
    targets = optional(ctx, "savings_targets")
    t, s = budget.savings_table(ini, targets)
    tt = None
    if targets is not None and len(targets):
        tt = pd.concat([targets[["component", "budget_reduction_gbpm"]],
                        pd.DataFrame([{"component": "Budget Savings Target",
                                       "budget_reduction_gbpm": float(targets["budget_reduction_gbpm"].sum())}])])
        tt.columns = ["", "Budget Reduction Amount £m"]
    notes = optional(ctx, "savings_notes")
    notes = notes if notes is not None and len(notes) else None
    rows = savings_rows(t, s)
    used = {str(n).strip() for n in t["note"] if str(n).strip()}
    if notes is None or not used:
        rows = rows.drop(columns="Note")
        if used:
            print(f"cspack: savings initiatives carry notes {', '.join(sorted(used))} but the inputs give no key to "
                  "them (savings_notes): the Note column is left out of the pack", file=sys.stderr)
    elif unkeyed := used - {str(n).strip() for n in notes["note"]}:
        print(f"cspack: savings notes {', '.join(sorted(unkeyed))} have no text in savings_notes", file=sys.stderr)
    return Savings(rows, s, tt, notes if "Note" in rows else None)


# the savings table's summary rows: identified initiatives, the part of the target they leave (or exceed), and
# the position against the whole target; every money column in one convention, shortfall (-)
SAVINGS_ROWS = {"total": "Total of identified initiatives", "unidentified": "Target not covered by identified initiatives",
                "surplus": "Identified initiatives above the target", "against_target": "Total against the savings target"}


def savings_rows(t: pd.DataFrame, summary: dict | None = None) -> pd.DataFrame:
    """``finance.budget.savings_table``'s table with the report's row labels, column names and marks, and,
    with targets (``summary``), a row for the position against the whole target. The rows after the
    initiatives keep the table's one convention: budget reductions positive, shortfall (-)."""
    t = t.copy()
    label = [SAVINGS_ROWS["surplus"] if k == "unidentified" and r3(b) < 0 else SAVINGS_ROWS.get(k, i)
             for k, i, b in zip(t["row_kind"], t["initiative"], t["budget_reduction_gbpm"])]
    out = pd.DataFrame({
        "Initiative": label, "Note": t["note"],
        "Budget Reduction Amount £m": t["budget_reduction_gbpm"], "Forecast to be Achieved £m": t["forecast_achieved_gbpm"],
        "Shortfall (-)/Additional Savings Achieved £m": t["shortfall_gbpm"],
        "Mark": [SAVINGS_MARKS.get(m, "") for m in t["mark"]]})
    if summary is not None and not math.isnan(summary["target"]):
        gap = summary["achieved"] - summary["target"]
        out = pd.concat([out, pd.DataFrame([{
            "Initiative": SAVINGS_ROWS["against_target"], "Note": "", "Budget Reduction Amount £m": summary["target"],
            "Forecast to be Achieved £m": summary["achieved"], "Shortfall (-)/Additional Savings Achieved £m": gap,
            "Mark": SAVINGS_MARKS["shortfall" if r3(gap) < 0 else "achieved"]}])], ignore_index=True)
    return out


def savings_sentence(s: dict) -> str:
    """The savings position in words (``finance.budget.savings_table``'s summary ``s``), each shortfall named
    by what it is measured against: the whole target, and the identified initiatives."""
    ini = s["shortfall"]  # achieved less identified: negative is a shortfall
    ini_words = (f"a shortfall of {gbpm(-ini)} against the identified initiatives of {gbpm(s['identified'])}"
                 if r3(ini) < 0 else f"the identified initiatives of {gbpm(s['identified'])} in full")
    if math.isnan(s["target"]):
        return f"{gbpm(s['achieved'])} of savings is forecast to be achieved this year: {ini_words}."
    gap = s["achieved"] - s["target"]
    head = (f"Against a savings target of {gbpm(s['target'])}, {gbpm(s['achieved'])} is forecast to be achieved this "
            f"year: " + (f"a shortfall of {gbpm(-gap)} against the target" if r3(gap) < 0 else
                         f"{gbpm(gap)} more than the target" if r3(gap) > 0 else "the target in full"))
    un = s["unidentified"]
    if r3(un) > 0:
        return head + f". Of the target, {gbpm(un)} has no identified initiative, and the initiatives show {ini_words}."
    if r3(un) < 0:
        return head + f". Initiatives identified exceed the target by {gbpm(-un)}, and show {ini_words}."
    return head + f", the initiatives covering the whole target, with {ini_words}."


def render_savings(sv: Savings | None) -> list:
    if sv is None:
        return [Markdown("*No budget savings input among this quarter's inputs.*")]
    t, s = sv.table, sv.summary
    text = savings_sentence(s)
    if r3(s["shortfall"]) < 0:
        text += f" {s['n_shortfall']} of {plural(s['n'], 'initiative')} {'is' if s['n_shortfall'] == 1 else 'are'} short."
    money = [c for c in t.columns if c.endswith("£m")]
    first_summary = next((i for i, n in enumerate(t["Initiative"]) if n == SAVINGS_ROWS["total"]), len(t))
    parts = [table_html(t, "Budget savings initiatives", {c: gbpm_plain for c in money}, numeric=money,
                        total_rows=list(range(first_summary, len(t))),
                        note="Shortfall (-) / additional savings achieved, against each initiative's budget reduction; "
                             "the last rows compare the identified initiatives with the savings target. ✓ achieved in "
                             "full; ✗ shortfall." + (" Notes are keyed below the table." if "Note" in t else ""))]
    if (tt := sv.targets) is not None:
        parts.append(table_html(tt, "Budget savings targets", {"Budget Reduction Amount £m": gbpm_plain},
                                numeric=["Budget Reduction Amount £m"], total_rows=[len(tt) - 1]))
    if (notes := sv.notes) is not None:
        parts.append("<p class='table-note'>Notes: " + " ".join(
            f"{escape_html(n)}. {escape_html(str(x).strip().rstrip('.;'))}." for n, x in zip(notes["note"], notes["text"]))
            + "</p>")
    return [Markdown(text), HTML("".join(parts))]


def escape_html(text) -> str:
    return html.escape(str(text))


@dataclass
class Growth:
    """Growth items (``items``: item, £m, kind) and the significant one-off items in the forecast (``one_off``,
    None without them), in the report's columns."""

    items: pd.DataFrame
    one_off: pd.DataFrame | None


def growth(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    g = growth_tables(ctx)
    if g is not None:
        publish(ctx, "budget_growth", g.items)
        publish(ctx, "budget_one_off_items", g.one_off)
    return render_growth(ctx, g)


def growth_tables(ctx: QuarterContext) -> Growth | None:
    """The growth items and one-off items; None without the growth items input."""
    g = optional(ctx, "growth_items")
    if g is None:
        return None
    one = optional(ctx, "one_off_items")
    o = None
    if one is not None and len(one):
        o = pd.DataFrame({"Kind": one["kind"], "£m": one["amount_gbpm"], "Description": one["description"]})
    return Growth(pd.DataFrame({"Item": g["item"], "£m": g["amount_gbpm"], "Kind": g["kind"]}), o)


def render_growth(ctx: QuarterContext, g: Growth | None) -> list:
    if g is None:
        return [Markdown("*No growth items input among this quarter's inputs.*")]
    t = g.items
    by = t.groupby("Kind")["£m"].sum()
    text = (f"The portfolio received {gbpm(float(t['£m'].sum()))} of additional budget allocations in "
            f"{ctx.quarter.fy}: " + ", ".join(f"{gbpm(v)} {escape_md(k)}" for k, v in by.items()) + ".")
    parts = [table_html(t, "Growth items and one-off funding", {"£m": gbpm_plain}, numeric=["£m"],
                        note=abbreviations.note(t) or None)]
    if (o := g.one_off) is not None:
        parts.append(table_html(o, "Significant one-off items in the forecast", {"£m": gbpm_plain}, numeric=["£m"]))
    return [Markdown(text), HTML("".join(parts))]


@dataclass
class Risks:
    """The financial risks: ``table``, each risk with its sensitivity, likelihood and expected impact (the
    report's columns), and ``totals`` (£m: ``all`` the risks together, ``central`` the risk-adjusted
    variance, ``variance`` with no risk occurring, ``high`` with every one)."""

    table: pd.DataFrame
    totals: dict


def risks(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    r = risks_table(ctx)
    publish(ctx, "budget_risks", r.table if r is not None else None)
    return render_risks(r)


def risks_table(ctx: QuarterContext) -> Risks | None:
    """The risks against the forecast variance (after additional funding where there is some), weighted by
    the probability each likelihood stands for (``finance.budget.risk_table``); None without the input."""
    r = optional(ctx, "financial_risks")
    if r is None:
        return None
    p = view(ctx).position
    variance = p.variance_after if len(p.funding) else p.variance
    t, s = budget.risk_table(r, variance)
    return Risks(pd.DataFrame({"Service": t["service"], "Risk": t["risk"], "Sensitivity £m": t["sensitivity_gbpm"],
                        "Likelihood (1 low, 5 high)": t["likelihood"], "Assumed probability": t["probability"] * 100,
                        "Expected impact £m": t["expected_gbpm"]}), s)


def render_risks(r: Risks | None) -> list:
    if r is None:
        return [Markdown("*No financial risks input among this quarter's inputs.*")]
    t, s, out = r.table, r.totals, r.table
    text = (f"{plural(len(t), 'risk')} could add up to {gbpm(s['all'])} to the forecast. Weighting each by the probability "
            f"its likelihood stands for, the risk-adjusted forecast is {spend_phrase(s['central'])}, within a range from "
            f"{spend_phrase(s['variance'])} (no risk occurs) to {spend_phrase(s['high'])} (every risk occurs).")
    return [Markdown(text), HTML(table_html(out, "Financial risks", {"Sensitivity £m": gbpm_plain, "Expected impact £m": gbpm_plain,
                                                                    "Assumed probability": lambda v: pct(v, 0)},
                                            numeric=["Sensitivity £m", "Likelihood (1 low, 5 high)", "Assumed probability",
                                                     "Expected impact £m"],
                                            note="Sensitivity: the potential negative impact on the outturn should the event "
                                                 "occur. Probabilities assumed for likelihoods 1 to 5: 10%, 30%, 50%, 70%, 90%."))]


def reserves(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_reserves(ctx, publish(ctx, "budget_reserves", reserves_table(ctx)))


def reserves_table(ctx: QuarterContext) -> pd.DataFrame | None:
    """Earmarked reserves with their movement against the previous quarter (``finance.budget.reserves_table``);
    None when the quarter has no reserves input."""
    r = optional(ctx, "earmarked_reserves")
    if r is None:
        return None
    return reserves_rows(budget.reserves_table(r, previous(ctx, "earmarked_reserves")))


def reserves_rows(t: pd.DataFrame) -> pd.DataFrame:
    """``finance.budget.reserves_table`` with the report's column names, total label and movement marks."""
    return pd.DataFrame({"Reserve": t["reserve"].where(t["row_kind"] != "total", "Total Reserves"), "£m": t["balance_gbpm"],
                         "Movement": [MOVEMENT_MARKS.get(m, "") for m in t["movement"]]})


def render_reserves(ctx: QuarterContext, t: pd.DataFrame | None) -> list:
    if t is None:
        return [Markdown("*No earmarked reserves input among this quarter's inputs.*")]
    prev = previous(ctx, "earmarked_reserves")
    basis = "against the previous quarter's balances" if prev is not None else "as the return states them"
    text = f"Earmarked reserves totalling {gbpm(float(t['£m'].iloc[-1]))} are held to support future expenditure."
    return [Markdown(text), HTML(table_html(t, "Earmarked reserves", {"£m": gbpm_plain}, numeric=["£m"], total_rows=[len(t) - 1],
                                            note=f"Movement over the quarter, {basis}: ▲ increased; = unchanged; ▼ decreased."))]


def debt(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_debt(ctx, publish(ctx, "budget_aged_debt", debt_table(ctx)))


def debt_table(ctx: QuarterContext) -> pd.DataFrame | None:
    """Debt outstanding by age band, with its share and movement against the previous quarter
    (``finance.budget.debt_table``); None without the input."""
    d = optional(ctx, "aged_debt")
    if d is None:
        return None
    prev = previous(ctx, "aged_debt")
    if prev is not None:
        before = prev.set_index("age_band")["amount_gbpm"]
        d = d.assign(movement=[budget.movement(a, before.get(b, math.nan)) for b, a in zip(d["age_band"], d["amount_gbpm"])])
    return debt_rows(budget.debt_table(d))


def debt_rows(t: pd.DataFrame) -> pd.DataFrame:
    """``finance.budget.debt_table`` with the report's column names, total label and movement marks."""
    return pd.DataFrame({"Age of debt": t["age_band"].where(t["row_kind"] != "total", "Total"), "£m": t["amount_gbpm"],
                         "% of total": t["share_pct"], "Movement": [MOVEMENT_MARKS.get(m, "") for m in t["movement"]]})


def render_debt(ctx: QuarterContext, t: pd.DataFrame | None) -> list:
    """The debt table, the debt written off in the latest period and the chart of earlier quarters."""
    if t is None:
        return [Markdown("*No aged debt input among this quarter's inputs.*")]
    out = [HTML(table_html(t, "Debt position", {"£m": gbpm_plain, "% of total": lambda v: "" if pd.isna(v) else pct(v)},
                           numeric=["£m", "% of total"], total_rows=[len(t) - 1],
                           note="Movement against the previous quarter: ▲ increased; = unchanged; ▼ decreased."))]
    w = optional(ctx, "debt_written_off")
    if w is not None and len(w):
        out.append(Markdown(f"In the {escape_md(period_words(w['period'].iloc[-1]))} the value of debt written off totals "
                            f"{gbpm(float(w['amount_gbpm'].iloc[-1]))}."))
    h = history(ctx, "aged_debt")
    if h is not None and h["quarter"].nunique() > 1:
        out.append(_debt_chart(ctx, h))
    return out


def _direction(a: float, b: float) -> str:
    return "risen" if b > a + 0.0005 else "fallen" if b < a - 0.0005 else "unchanged"


def quarter_in_words(code) -> str:
    """A quarter code as a reader says it: "2024-25-Q3" -> "Quarter 3 2024-25" (anything else unchanged)."""
    return re.sub(r"^(\d{4}-\d{2})-Q(\d)$", r"Quarter \2 \1", str(code))


def debt_direction(totals: pd.Series) -> tuple[str, str]:
    """The debt chart's title: the direction against the previous quarter (never against the start of
    the series); and, separately labelled, the change since the first quarter shown when there are more
    than two. ``totals``: debt outstanding (£m) by quarter, oldest first."""
    prev, last = float(totals.iloc[-2]), float(totals.iloc[-1])
    d = _direction(prev, last)
    title = (f"Debt outstanding is unchanged this quarter at {gbpm(last)}" if d == "unchanged" else
             f"Debt outstanding has {d} this quarter, from {gbpm(prev)} to {gbpm(last)}")
    if len(totals) < 3:
        return title, ""
    first, start = float(totals.iloc[0]), quarter_in_words(totals.index[0])
    d0 = _direction(first, last)
    since = (f"unchanged since {start}" if d0 == "unchanged" else
             f"{'up' if d0 == 'risen' else 'down'} from {gbpm(first)} in {start}")
    return title, since


def _debt_chart(ctx: QuarterContext, h: pd.DataFrame):
    last8 = sorted(h["quarter"].unique())[-8:]
    h = h[h["quarter"].isin(last8)]
    order = list(dict.fromkeys(h["age_band"]))
    piv = h.pivot_table(index="quarter", columns="age_band", values="amount_gbpm", aggfunc="sum").reindex(columns=order)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colours = ["#12436D", "#2073BC", "#6BACE6", "#28A197", "#F46A25", "#801650"]
    bottom = pd.Series(0.0, index=piv.index)
    hatches = ["", "//", "..", "xx", "\\\\", "--"]
    for i, band in enumerate(order):
        ax.bar(piv.index, piv[band].fillna(0), bottom=bottom, color=colours[i % 6], hatch=hatches[i % 6],
               edgecolor="white", linewidth=0.5, label=band)
        bottom += piv[band].fillna(0)
    thousands = float(bottom.max()) < 1  # below £1m the axis reads in £ thousands, not steps of £0.025m
    if thousands:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"£{v * 1000:,.0f}k"))
    ax.set_ylabel("Debt outstanding, " + ("£ thousands" if thousands else "£m"))
    ax.legend(frameon=False, fontsize=7, ncol=3, loc="upper left")
    ax.set_xticks(range(len(piv)), [quarter_in_words(q).replace(" 20", "\n20", 1) for q in piv.index])
    ax.tick_params(axis="x", labelsize=7)
    title, since = debt_direction(bottom)
    titled(fig, ax, title, f"Aged debt by age band at each quarter end, {'£ thousands' if thousands else '£m'}"
                           f"{'; ' + since if since else ''}; {ctx.params.authority}")
    totals = "; ".join(f"{quarter_in_words(q)} {gbpm(v)}" for q, v in bottom.items())
    return chart(fig, f"Stacked bar chart of aged debt by age band over the last {len(piv)} quarters; totals: {totals}.")


@dataclass
class Traded:
    """Traded services in the report's columns: ``fully`` traded areas (contribution or deficit to general
    overheads) and ``partially`` traded ones (excess or shortfall against the income target); each None
    without its input."""

    fully: pd.DataFrame | None
    partially: pd.DataFrame | None


def traded(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    t = traded_tables(ctx)
    publish(ctx, "budget_traded_fully", t.fully)
    publish(ctx, "budget_traded_partially", t.partially)
    return render_traded(t)


def traded_tables(ctx: QuarterContext) -> Traded:
    """The traded services inputs (``finance.budget.traded_tables``) in the report's columns (``traded_rows``)."""
    return traded_rows(*budget.traded_tables(optional(ctx, "traded_fully"), optional(ctx, "traded_partially")))


def traded_rows(f: pd.DataFrame, p: pd.DataFrame) -> Traded:
    """``finance.budget.traded_tables``' two frames with the report's column names and marks (None when empty)."""
    fully = partially = None
    if len(f):
        fully = pd.DataFrame({"Service area": f["service_area"], "Trading area": f["trading_area"],
                              "Projected Gross Controllable Expenditure £m": f["gross_expenditure_gbpm"],
                              "Projected Gross Controllable Income £m": f["gross_income_gbpm"],
                              "Forecast Contribution/Deficit(-) to General Overheads £m": f["contribution_gbpm"],
                              "Performance": f["result"].map(TRADED_MARKS),
                              "Transferred to Earmarked Reserves?": f["to_earmarked_reserves"]})
    if len(p):
        partially = pd.DataFrame({"Service area": p["service_area"], "Trading area": p["trading_area"],
                                  "Budgeted Income Target £m": p["income_target_gbpm"],
                                  "Projected Actual Income £m": p["projected_income_gbpm"],
                                  "Forecast Excess/Shortfall(-) compared to Target £m": p["excess_gbpm"],
                                  "Performance": p["result"].map(INCOME_MARKS)})
    return Traded(fully, partially)


def _traded_part(t: pd.DataFrame, title: str, sentence: str, note: str) -> list:
    money = [c for c in t.columns if c.endswith("£m")]
    note = " ".join(x for x in (note, abbreviations.note(t)) if x)  # abbreviations spelled out
    return [Markdown(sentence), HTML(table_html(t, title, {c: gbpm_plain for c in money}, numeric=money, note=note))]


def render_traded(t: Traded) -> list:
    out = []
    if (f := t.fully) is not None:
        net = float(f["Forecast Contribution/Deficit(-) to General Overheads £m"].sum())
        out += _traded_part(f, "Fully traded areas",
                            f"Fully traded areas are forecast to make a net {'contribution' if net >= 0 else 'deficit'} "
                            f"of {gbpm(abs(net))} to general overheads.",
                            "Contribution / deficit (-) to general overheads = projected income less expenditure.")
    if (p := t.partially) is not None:
        net = float(p["Forecast Excess/Shortfall(-) compared to Target £m"].sum())
        out += _traded_part(p, "Partially traded areas",
                            f"Partially traded areas are forecast to {'exceed' if net >= 0 else 'fall short of'} their "
                            f"income targets by {gbpm(abs(net))} in total.",
                            "Excess / shortfall (-) against the budgeted income target.")
    return out or [Markdown("*No traded services inputs among this quarter's inputs.*")]


# ---- forecast accuracy -------------------------------------------------------------------------------
def accuracy(ctx: QuarterContext):
    """Computed, published and rendered in one call (the notebook does the three steps itself)."""
    return render_accuracy(ctx, publish(ctx, "forecast_accuracy", accuracy_table(ctx)))


def accuracy_table(ctx: QuarterContext) -> pd.DataFrame | None:
    """Each completed year's forecast at each quarter end against its final outturn, by line and in total
    (``finance.budget.forecast_accuracy``); None when the params name no ledger, empty when the ledger holds
    no complete earlier year."""
    v = view(ctx)
    return budget.forecast_accuracy(v.ledger, ctx.quarter.fy, projected(ctx)) if v.source == "ledger" else None


def render_accuracy(ctx: QuarterContext, acc: pd.DataFrame | None) -> list:
    if acc is None:
        return [Markdown("*Forecast accuracy needs the ledgers of completed years (each quarter's forecast against "
                         "the final outturn); no ledger is among this quarter's inputs.*")]
    if not len(acc):
        return [Markdown("*The ledger holds no complete earlier year, so forecast accuracy cannot be measured yet.*")]
    tot = acc[acc["line_id"] == "total"]
    shown = informative_quarters(tot)
    if not shown:  # e.g. a ledger whose forecast column was overwritten by the outturn after each year end
        return [Markdown("*In every completed year the ledger's forecast at each quarter end equals the outturn, so "
                         "forecast accuracy cannot be measured.*")]
    by_q = tot.groupby("quarter")["error_pct"].apply(lambda s: s.abs().mean())
    left_out = [q for q in sorted(tot["quarter"].unique()) if q not in shown]
    text = (f"Over {plural(tot['financial_year'].nunique(), 'completed year')} ({tot['financial_year'].min()} to "
            f"{tot['financial_year'].max()}), the total forecast was on average "
            + and_list(f"{pct(by_q.get(q))} away from the final outturn at Quarter {q}" if i == 0 else
                       f"{pct(by_q.get(q))} at Quarter {q}" for i, q in enumerate(shown)) + ".")
    if left_out:
        text += (f" At {and_list(f'Quarter {q}' for q in left_out)} the forecast equalled the outturn in every year "
                 "(the year's spend is complete by then), so it measures nothing and is left out.")
    proj = [escape_md(n) for n in acc.loc[acc["line_id"].isin(projected(ctx)), "service_line"].unique()]
    text += (" This measures the forecasts the ledger held at each quarter end: the budget holders' forecasts"
             + (f", and for {and_list(proj)} the projection from the spending profile of earlier years" if proj else "")
             + ".")
    pp = view(ctx).detail
    pp = pp[pp["forecast_source"].str.startswith("placement projection")] if pp is not None else pp
    if pp is not None and len(pp):
        text += (f" This quarter {escape_md(pp['service_line'].iloc[0])} is forecast by the placement projection, "
                 "which this table does not test: its own accuracy, tested at earlier quarter ends, is in the "
                 "Placements section.")
    lines = acc[acc["line_id"] != "total"]
    worst = lines[lines["quarter"] == 1].groupby("service_line")["error_pct"].apply(lambda s: s.abs().mean()).sort_values()
    if len(worst):
        text += (f" By line, Quarter 1 forecasts were least accurate for {escape_md(worst.index[-1])} (on average "
                 f"{pct(worst.iloc[-1])} from outturn) and most accurate for {escape_md(worst.index[0])} ({pct(worst.iloc[0])}).")
    tot = tot[tot["quarter"].isin(shown)]
    t = tot.pivot_table(index="financial_year", columns="quarter", values="error_gbpm").reset_index()
    t.columns = ["Year"] + [f"Quarter {c} forecast less outturn £m" for c in t.columns[1:]]
    t.insert(1, "Final outturn £m", tot.groupby("financial_year")["outturn_gbpm"].first().to_numpy())
    money = [c for c in t.columns if c.endswith("£m")]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    years = sorted(tot["financial_year"].unique())
    greys = plt.get_cmap("Greys")
    for i, y in enumerate(years):
        d = tot[tot["financial_year"] == y]
        last = i == len(years) - 1
        ax.plot(d["quarter"], d["error_pct"], marker="o", color=DARK_BLUE if last else greys(0.35 + 0.5 * i / max(len(years), 1)),
                linewidth=2 if last else 1, label=y)
    ax.axhline(0, color=DARK_GREY, linewidth=0.8)
    ax.set_xticks(shown, [f"Quarter {q}" for q in shown])
    ax.set_ylabel("Forecast less outturn, % of outturn")
    ax.legend(frameon=False, fontsize=7, ncol=4, loc="best")
    titled(fig, ax, accuracy_headline(by_q, shown), f"Total forecast error at each quarter end, % of outturn; "
           f"{ctx.params.authority}, {years[0]} to {years[-1]}"
           + (f"; {and_list(f'Quarter {q}' for q in left_out)} left out: the forecast is the outturn by then"
              if left_out else ""))
    alt = "Line chart of total forecast error by quarter for each completed year: " + "; ".join(
        f"{y} " + ", ".join(f"Quarter {r.quarter} {pct(r.error_pct, signed=True)}"
                            for r in tot[tot["financial_year"] == y].itertuples())
        for y in years) + "."
    return [Markdown(text), HTML(table_html(t, "Total forecast error by year and quarter", {c: gbpm_plain for c in money},
                                            numeric=money, note="Forecast less final outturn: positive means the forecast "
                                            "was too high. The same comparison line by line is among the tables "
                                            "published with this pack.")),
            chart(fig, alt)]


def informative_quarters(tot: pd.DataFrame) -> list[int]:
    """The quarters whose total forecast differed from the outturn (by £0.001m or more as printed) in at
    least one year: a quarter whose forecast equals the outturn every year (the year end, when the ledger
    holds the whole year's spend) measures nothing and is left out of the measure and its headline."""
    return [int(q) for q, e in tot.groupby("quarter")["error_gbpm"] if (e.map(r3).abs() > 0).any()]


def accuracy_headline(by_q: pd.Series, shown: list[int]) -> str:
    """The accuracy chart's headline: the latest informative quarter's average error against Quarter 1's,
    with both figures (never resting on a quarter that equals the outturn by construction)."""
    if len(shown) < 2:
        return f"Forecasts at Quarter {shown[0]} were on average {pct(by_q.get(shown[0]))} from the outturn" if shown \
            else "Every forecast equalled the outturn"
    a, b = shown[0], shown[-1]
    ea, eb = round(float(by_q.get(a)), 1), round(float(by_q.get(b)), 1)
    how = ("closer to the outturn than" if eb < ea else "further from the outturn than" if eb > ea
           else "as close to the outturn as")
    return (f"Forecasts at Quarter {b} were {how} at Quarter {a} "
            f"({pct(by_q.get(b))} against {pct(by_q.get(a))} on average)")
