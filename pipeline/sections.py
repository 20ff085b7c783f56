"""The pieces each pack section displays. Each returns something a notebook can ``display()`` and
publishes its table to tables.xlsx, so notebooks stay narrative and calls."""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML, Markdown

from . import narrative
from .context import QuarterContext
from .finance import forecast_table, position
from .formatting import gbpm, gbpm_plain, number, pct, spend_phrase
from .report import chart, escape_md, table_html, variance_chart

SUMMARY = "Summary"
DATA = "Data quality and method"


def _funding(ctx: QuarterContext) -> pd.DataFrame | None:
    return ctx.table("additional_funding") if "additional_funding" in ctx.params.inputs else None


def summary_text(ctx: QuarterContext) -> Markdown:
    lines = ctx.table("budget_lines")
    text = narrative.budget_summary(lines, _funding(ctx), ctx.quarter)
    if "deliverables" in ctx.params.inputs:
        text += "\n\n" + narrative.deliverables_summary(ctx.table("deliverables"))
    return Markdown(text)


def position_table(ctx: QuarterContext) -> HTML:
    """Total and total after additional funding, in the published layout."""
    lines = ctx.table("budget_lines")
    p = position(lines, _funding(ctx))
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
                           note="Computed from the service-line figures; under (-) / over spend."))


def variance_figure(ctx: QuarterContext):
    t = forecast_table(ctx.table("budget_lines"))
    p = position(t, _funding(ctx))
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
        return Markdown(f"*No analyst commentary was provided for this section in "
                        f"{escape_md(ctx.params.commentary.name)}.*")
    return Markdown(text)


# ---- data quality and method -------------------------------------------------------------------
def data_text(ctx: QuarterContext) -> Markdown:
    reg = ctx.register()
    return Markdown(narrative.data_summary(reg, ctx.quarantine()) + "\n\n" + narrative.synthetic_notice(reg))


def register_table(ctx: QuarterContext) -> HTML:
    reg = ctx.register()
    df = pd.DataFrame({
        "Input": reg["description"].where(reg["description"] != "", reg["input"]),
        "File": reg["file"],
        "Rows read": reg["rows_in"].astype(int),
        "Rows kept": reg["rows_kept"].astype(int),
        "Rows quarantined": reg["rows_quarantined"].astype(int),
        "Synthetic": reg["synthetic"].astype(str).str.lower().map({"true": "Yes", "false": "No"}),
        "Source": reg["source"],
    })
    ctx.publish("data_inputs", df.assign(SHA256=reg["sha256"]), "Inputs read, with row counts and sources", DATA)
    counts = ["Rows read", "Rows kept", "Rows quarantined"]
    return HTML(table_html(df, f"Inputs read for {ctx.quarter.label}", {c: number for c in counts}, numeric=counts,
                           note="Every input's SHA-256 fingerprint is in manifest.json and tables.xlsx."))


def findings_table(ctx: QuarterContext) -> HTML:
    f = ctx.findings()
    reg = ctx.register().set_index("input")
    df = pd.DataFrame({
        "Input": [reg.at[k, "description"] or k if k in reg.index else k for k in f["input"]],
        "Check": f["check"], "Finding": f["finding"],
        "Level": f["level"].map({"info": "Note", "warning": "Check"}).fillna(f["level"]),
    })
    ctx.publish("data_quality_findings", df, "Data-quality findings", DATA)
    return HTML(table_html(df, "Data-quality findings", note="Note: for information. Check: read before relying on the figures."))


def quarantine_view(ctx: QuarterContext):
    q = ctx.quarantine()
    ctx.publish("data_quarantine", q, "Quarantined rows with file, row, column and reason", DATA)
    if not len(q):
        return Markdown("No rows were quarantined: every row read passed its checks.")
    summary = q.groupby(["input", "reason"]).size().reset_index(name="Rows")
    return HTML(table_html(summary.rename(columns={"input": "Input", "reason": "Reason"}),
                           f"Quarantined rows by input and reason ({number(len(q))} in all)",
                           {"Rows": number}, numeric=["Rows"],
                           note="Row numbers, columns and values are listed in tables.xlsx, sheet data_quarantine."))
