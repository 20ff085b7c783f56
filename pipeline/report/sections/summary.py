"""The pieces each pack section displays. Each returns something a notebook can ``display()`` and
publishes its table to tables.xlsx, so notebooks stay narrative and calls."""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import gbpm, gbpm_plain, number, pct, plural, reader_text, spend_phrase
from pipeline.finance import budget
from pipeline.finance.position import forecast_table, position
from pipeline.quarter import freshness
from pipeline.quarter.budget_view import optional, view
from pipeline.quarter.context import QuarterContext
from pipeline.report import narrative
from pipeline.report.render import chart, escape_md, table_html, variance_chart
from pipeline.report.sections.performance import source_conflicts

SUMMARY = "Summary"
DATA = "Data quality and method"


def _lines(ctx: QuarterContext) -> pd.DataFrame:
    """The quarter's budget lines as the budget section computes them (from the ledger when there is
    one), so the summary and the budget section always agree."""
    return view(ctx).position.lines


def budget_position(ctx: QuarterContext) -> dict:
    v = view(ctx)
    totals = optional(ctx, "budget_totals") if v.source == "returns" else None
    return position(v.position.lines, optional(ctx, "additional_funding"), totals)


def stale_notice(ctx: QuarterContext) -> str:
    """In words, the inputs the params allow to stop before the quarter ("" when every input reaches it)."""

    return freshness.reader_notice(ctx.params, freshness.assess(ctx.params, ctx.table))


def summary_text(ctx: QuarterContext) -> Markdown:
    text = narrative.budget_summary(budget_position(ctx), ctx.quarter)
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
    variance = p["variance_after_funding"] if p["additional_funding"] else p["variance"]
    out = []
    ini = optional(ctx, "savings_initiatives")
    if ini is not None and len(ini):
        _, sv = budget.savings_table(ini, optional(ctx, "savings_targets"))
        target = f"against a savings target of {gbpm(sv['target'])}, " if sv["target"] == sv["target"] else ""
        out.append(f"**Savings**: {target}initiatives of {gbpm(sv['identified'])} are forecast to deliver "
                   f"{gbpm(sv['achieved'])} this year" + (f", a shortfall of {gbpm(-sv['shortfall'])}."
                                                         if sv["shortfall"] < -0.0005 else ", in full."))
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


def position_table(ctx: QuarterContext) -> HTML:
    """Total and total after additional funding, in the published layout."""
    p = budget_position(ctx)
    rows = [{"": "Total", "Controllable Budget £m": p["budget"], "Full Year Forecast £m": p["forecast"],
             "Forecast Under (-)/Over Spend £m": p["variance"], "Percentage Under (-)/Over Spend": p["variance_pct"]}]
    for f in p["funding_lines"]:
        rows.append({"": str(f.funding_line), "Controllable Budget £m": float(f.amount_gbpm),
                     "Full Year Forecast £m": None, "Forecast Under (-)/Over Spend £m": None,
                     "Percentage Under (-)/Over Spend": None})
    if p["funding_lines"]:
        rows.append({"": "Total after use of additional funding", "Controllable Budget £m": p["budget_after_funding"],
                     "Full Year Forecast £m": p["forecast"],
                     "Forecast Under (-)/Over Spend £m": p["variance_after_funding"],
                     "Percentage Under (-)/Over Spend": p["variance_after_funding_pct"]})
    df = pd.DataFrame(rows)
    ctx.publish("summary_position", df, f"Forecast outturn position, {ctx.quarter.fy} Quarter {ctx.quarter.q}", SUMMARY)
    money = [c for c in df.columns if c.endswith("£m")]
    fmt = {c: gbpm_plain for c in money} | {"Percentage Under (-)/Over Spend": lambda v: "" if pd.isna(v) else pct(v)}
    return HTML(table_html(df, f"Forecast outturn position, {ctx.params.portfolio}, {ctx.quarter.fy} Quarter {ctx.quarter.q}",
                           fmt, numeric=money + ["Percentage Under (-)/Over Spend"],
                           total_rows=[0, len(df) - 1] if len(df) > 1 else [0],
                           note=position_note(p)))


def position_note(p: dict) -> str:
    if p["total_source"] == "published":
        return ("Totals are as published, computed by the council from unrounded figures; the rounded "
                f"service lines add to {gbpm(p['lines_budget'])} budget and {gbpm(p['lines_forecast'])} forecast. "
                "Under (-) / over spend.")
    return "Totals computed from unrounded service-line figures, then rounded. Under (-) / over spend."


def variance_figure(ctx: QuarterContext):
    t = forecast_table(_lines(ctx))
    p = budget_position(ctx)
    top = t.loc[t["variance_gbpm"].idxmax()]
    if p["variance"] > 0 and top["variance_gbpm"] > 0:
        title = f"{top['short_name']}: {pct(100 * top['variance_gbpm'] / p['variance'])} of the {gbpm(p['variance'])} forecast overspend"
    else:
        title = f"Forecast {spend_phrase(p['variance'])} before additional funding"
    subtitle = (f"Forecast under (-) / over spend by service line, £m; {ctx.params.authority}, "
                f"{ctx.quarter.fy} Quarter {ctx.quarter.q}")
    fig = variance_chart(t, title, subtitle)
    ordered = t.sort_values("variance_gbpm", ascending=False)
    parts = "; ".join(f"{r.service_line} {gbpm(r.variance_gbpm)}" for r in ordered.itertuples())
    alt = (f"Bar chart of forecast under (-) or over spend by service line for {ctx.quarter.fy} Quarter "
           f"{ctx.quarter.q}, largest first: {parts}.")
    return chart(fig, alt)


def commentary(ctx: QuarterContext, section: str) -> Markdown:
    text = ctx.commentary(section)
    if not text:
        missing_commentary(ctx, section, f"## {section}")
        return Markdown("*No commentary supplied.*")
    return Markdown(text)


MISSING = "missing_commentary.json"


def missing_commentary(ctx: QuarterContext, where: str, heading: str) -> None:
    """Record a place in the pack with no commentary: the data section lists them for the analyst, and
    the build log (the executed notebook's output stream) says which heading of which file to add."""
    import json
    import sys

    path = ctx.work_dir / "tables" / MISSING  # beside this build's tables: a new build starts without them
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    if where not in [w for w, _ in seen]:
        seen.append([where, heading])
        path.write_text(json.dumps(seen, indent=1), encoding="utf-8")
    print(f"cspack: no commentary for {where}: add a section '{heading}' to {ctx.params.commentary.name}",
          file=sys.stderr)


def missing_commentary_view(ctx: QuarterContext) -> Markdown:
    """For the analyst: the parts of the pack printed with "No commentary supplied"."""
    import json

    path = ctx.work_dir / "tables" / MISSING
    seen = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    if not ctx.commentary(DATA):
        seen = seen + ([[DATA, f"## {DATA}"]] if DATA not in [w for w, _ in seen] else [])
    if not seen:
        return Markdown("Every part of the pack that takes commentary has it.")
    return Markdown(f"{plural(len(seen), 'part')} of the pack {'is' if len(seen) == 1 else 'are'} printed with "
                    "\"No commentary supplied\": " + "; ".join(escape_md(w) for w, _ in seen) + ".")


# ---- data quality and method -------------------------------------------------------------------
def data_text(ctx: QuarterContext) -> Markdown:
    reg = ctx.register()
    calibration = ctx.params.settings.synthetic_calibration
    return Markdown(narrative.data_summary(reg, ctx.quarantine()) + "\n\n" + narrative.synthetic_notice(reg, calibration))


def register_table(ctx: QuarterContext) -> HTML:
    """One table per group of inputs (the council's report, national statistics, ...), each with
    its sources beneath; file paths and SHA-256 fingerprints go to tables.xlsx and the manifest."""
    reg = ctx.register()
    df = pd.DataFrame({
        "Group": reg["group"],
        "Input": reg["description"].where(reg["description"] != "", reg["input"]),
        "Rows read": reg["rows_in"].astype(int),
        "Rows kept": reg["rows_kept"].astype(int),
        "of which fixed": reg["rows_fixed"].astype(int),
        "Rows dropped by rule": reg["rows_dropped"].astype(int),
        "Rows quarantined": reg["rows_quarantined"].astype(int),
        "Synthetic": reg["synthetic"].astype(str).str.lower().map({"true": "Yes", "false": "No"}),
        "Source": reg["source"],
        "File": reg["file"],
    })
    ctx.publish("data_inputs", df.assign(SHA256=reg["sha256"]), "Inputs read, with row counts and sources", DATA)
    counts = ["Rows read", "Rows kept", "of which fixed", "Rows dropped by rule", "Rows quarantined"]
    parts = []
    for group, g in df.groupby("Group", sort=False):
        sources = merge_sources(g["Source"].map(reader_text))
        g = g.assign(Input=g["Input"].map(reader_text))
        parts.append(table_html(g[["Input"] + counts + ["Synthetic"]], f"{group}: {plural(len(g), 'input')}",
                                {c: number for c in counts}, numeric=counts, note=f"Source: {sources}."))
    parts.append('<p class="table-note">Rows read = rows kept + rows dropped by rule (subtotals, blank rows, the same '
                 'episode in several returns) + rows quarantined. Fixed rows are kept rows changed by a documented '
                 'rule.</p>')
    return HTML("".join(parts))


LEVEL_LABELS = {"info": "Note", "warning": "Check", "error": "Must fix"}  # finding level -> reader's label


def findings_table(ctx: QuarterContext) -> HTML:
    f = ctx.findings()
    if "measures" in ctx.params.inputs:  # where the source report gives two figures for one value

        extra = pd.DataFrame(source_conflicts(ctx.table("measures")), columns=f.columns)
        f = pd.concat([f, extra], ignore_index=True) if len(extra) else f
    reg = ctx.register().set_index("input")
    df = pd.DataFrame({
        "Input": [reader_text(reg.at[k, "description"] or k if k in reg.index else k) for k in f["input"]],
        "Check": f["check"], "Finding": f["finding"].map(reader_text),
        "Level": f["level"].map(LEVEL_LABELS).fillna(f["level"]),
    })
    ctx.publish("data_quality_findings", df, "Data-quality findings", DATA)
    return HTML(table_html(condense_markers(df), "Data-quality findings",
                           note="Note: for information. Check: read before relying on the figures. "
                                + ("Must fix: the input is wrong and the figures from it cannot be relied on. "
                                   if (f["level"] == "error").any() else "")
                                + "Every finding, file by file, is in tables.xlsx."))


def merge_sources(sources) -> str:
    """``"Report X, section 4.3"`` and ``"Report X, section 4.5"`` -> ``"Report X: section 4.3; section 4.5"``."""
    import re

    grouped: dict[str, list[str]] = {}
    for src in dict.fromkeys(sources):
        m = re.match(r"^(.*), ((?:section|sections|Appendix|table)\b.*)$", src)
        prefix, part = (m.group(1), m.group(2)) if m else (src, "")
        grouped.setdefault(prefix, [])
        if part:
            grouped[prefix].append(part)
    return "; ".join(f"{p} ({', '.join(parts)})" if parts else p for p, parts in grouped.items())


def condense_markers(df: pd.DataFrame) -> pd.DataFrame:
    """One row for the suppression-marker counts of all published files (the detail stays in xlsx)."""
    m = df["Check"] == "suppression markers"
    if m.sum() <= 1:
        return df
    counts = df.loc[m, "Finding"].str.extract(r"^([\d,]+) cells")[0].dropna().str.replace(",", "").astype(int)
    row = {"Input": f"{plural(int(m.sum()), 'file')} without a schema", "Check": "suppression markers",
           "Finding": (f"{number(int(counts.sum()))} cells in {plural(len(counts), 'file')} hold DfE suppression or "
                       "not-applicable markers (c, x, z, k, low, u); they stay missing, never zero"),
           "Level": "Note"}
    first = int(m.to_numpy().nonzero()[0][0])
    rest = df[~m]
    return pd.concat([rest.iloc[:first], pd.DataFrame([row]), rest.iloc[first:]], ignore_index=True)


def quarantine_view(ctx: QuarterContext):
    q = ctx.quarantine()
    ctx.publish("data_quarantine", q, "Quarantined rows with file, row, column and reason", DATA)
    if not len(q):
        return Markdown("No rows were quarantined: every row read passed its checks.")
    summary = q.groupby(["input", "reason"]).size().reset_index(name="Rows")
    summary["input"], summary["reason"] = summary["input"].map(reader_text), summary["reason"].map(reader_text)
    return HTML(table_html(summary.rename(columns={"input": "Input", "reason": "Reason"}),
                           f"Quarantined rows by input and reason ({number(len(q))} in all)",
                           {"Rows": number}, numeric=["Rows"],
                           note="Row numbers, columns and values are listed in tables.xlsx, sheet data_quarantine."))


def coverage_table(ctx: QuarterContext) -> HTML:
    """What period each input covers and whether it reaches the quarter (pipeline/freshness.py)."""

    t = freshness.coverage_table(freshness.assess(ctx.params, ctx.table))
    ctx.publish("data_periods", t, "The period each input covers", DATA)
    dated = t[t["Status"] != "not tied to a quarter"]
    q = ctx.quarter
    return HTML(table_html(dated, f"The period each input covers, against {q.long_label}",
                           note=f"{plural(len(t) - len(dated), 'other input')} (published national statistics, "
                                "the list of key measures, mappings and unit costs) are reference data, not tied to "
                                "a quarter. A build stops when an input does not reach the quarter, unless the "
                                "quarter's settings allow it; the summary then says so."))
