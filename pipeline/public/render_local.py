"""Display of the authority's own data in its pack (``local.LocalFigures``): one section per input given,
and the sections still needing the authority's data, each with one line saying what input fills it.
Formats only; nothing here computes a figure."""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import gbpm, gbpm_plain, month_words, number
from pipeline.public.local import LocalFigures
from pipeline.public.render import SMALL, SMALL_NOTE, display_name
from pipeline.report.render import escape_md, table_html


def _count(v) -> str:
    if v is None or pd.isna(v):
        return "not published"
    return "c" if 0 < float(v) < SMALL else number(v)


def _diff(own, pub) -> str:
    if pub is None or pd.isna(pub) or 0 < float(pub) < SMALL or 0 < float(own) < SMALL:
        return ""
    d = int(own) - int(pub)
    return "the same" if d == 0 else f"{d:+,}"


def heading(local: LocalFigures) -> Markdown:
    """The heading of the own-data part: a section when any input is given, nothing otherwise."""
    if not local.given:
        return Markdown("")
    return Markdown("## The authority's own data")


def intro(local: LocalFigures, name: str) -> Markdown:
    if not local.given:
        return Markdown("")
    words = {"ssda903": "its SSDA903 returns", "ledger": "its finance ledger",
             "budget_lines": "its budget monitoring return", "commentary": "the service's commentary",
             "cost_centres": "its cost-centre mapping"}
    given = [words[k] for k in local.given]
    fake = [words[k] for k, i in local.inputs.items() if i["synthetic"]]
    synthetic = (f" **Synthetic, not real data:** {escape_md('; '.join(fake))} (generated, not the authority's "
                 "records: they describe no real child or council)." if fake else "")
    return Markdown(f"These sections come from {escape_md(display_name(name))}'s own data: "
                    f"{escape_md('; '.join(given))}. Everything else in the pack is published statistics."
                    + synthetic)


def cla_section(local: LocalFigures, name: str) -> list:
    """Children looked after counted from the authority's returns, beside DfE's published counts."""
    if local.cla is None:
        return []
    t = local.cla
    shown = pd.DataFrame({
        "Year to 31 March": t["year"].astype(int).astype(str),
        "Looked after on 31 March": [_count(v) for v in t["looked_after"]],
        "Published by DfE": [_count(v) for v in t["looked_after_published"]],
        "Difference": [_diff(a, b) for a, b in zip(t["looked_after"], t["looked_after_published"])],
        "Started in the year": [_count(v) for v in t["started"]],
        "Started, published": [_count(v) for v in t["started_published"]],
        "Ceased in the year": [_count(v) for v in t["ceased"]],
        "Ceased, published": [_count(v) for v in t["ceased_published"]]})
    out: list = [Markdown("### Children looked after from the authority's own returns"),
                 Markdown(f"Counted from {escape_md(display_name(name))}'s SSDA903 returns, merged into one history "
                          f"(latest date in the returns: {local.cla_to}), each child once, as the Department for "
                          "Education counts them, beside the Department's published figures for the authority. "
                          "A difference means the returns held here are not the ones the Department published from "
                          "(later corrections, or data that is not the authority's own).")]
    out.append(HTML(table_html(shown, "Children looked after, starting and ceasing: own returns and published",
                               numeric=list(shown.columns[1:]), note=SMALL_NOTE)))
    if local.latest_part:
        p = local.latest_part
        out.append(Markdown(f"Since 31 March {int(t['year'].max())}, to {p['to']}: {_count(p['started'])} children "
                            f"started to be looked after and {_count(p['ceased'])} ceased; {_count(p['looked_after'])} "
                            f"were looked after on {p['to']}."))
    if local.mix is not None and len(local.mix):
        m = local.mix
        small = (m["children"] > 0) & (m["children"] < SMALL)
        mix = pd.DataFrame({"Placement": m["placement"], "Children": [_count(v) for v in m["children"]],
                            "Share, %": [("" if s else f"{p:.1f}") for p, s in zip(m["pct"], small)]})
        out.append(HTML(table_html(mix, f"Placements of children looked after on 31 March {local.mix_year}, "
                                         "from the authority's own returns", numeric=["Children", "Share, %"],
                                   note=SMALL_NOTE)))
    return out


def _money_table(t: pd.DataFrame, caption: str, cols: dict[str, str], note: str) -> HTML:
    shown = t[list(cols)].rename(columns=cols)
    total = {c: (t[k].sum() if k != "service_line" else "Total") for k, c in cols.items()}
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    num = [c for k, c in cols.items() if k != "service_line"]
    return HTML(table_html(shown, caption, formats={c: gbpm_plain for c in num}, numeric=num, note=note,
                           total_rows=[len(shown) - 1]))


def budget_section(local: LocalFigures) -> list:
    out: list = []
    if local.budget_lines is not None:
        b = local.budget_lines
        v = b["variance_gbpm"].sum()
        out += [Markdown("### Budget monitoring: the quarter's forecast by service line"),
                Markdown(f"The service forecasts {gbpm(b['forecast_gbpm'].sum())} against a budget of "
                         f"{gbpm(b['budget_gbpm'].sum())}: "
                         + (f"an overspend of {gbpm(v)}." if v > 0.0005 else
                            f"an underspend of {gbpm(-v)}." if v < -0.0005 else "on budget.")),
                _money_table(b, "Budget and forecast by service line, £m",
                             {"service_line": "Service line", "budget_gbpm": "Budget, £m",
                              "forecast_gbpm": "Forecast, £m", "variance_gbpm": "Forecast less budget, £m"},
                             "From the service's budget monitoring return; a positive difference is an overspend.")]
    if local.ledger_lines is not None:
        t = local.ledger_lines
        when = month_words(local.ledger_month) if local.ledger_month is not None else ""
        out += [Markdown("### Budget monitoring: the finance ledger"),
                Markdown(f"From the finance ledger for {local.ledger_year}, to the end of {when}: budget "
                         f"{gbpm(t['budget_gbpm'].sum())}, spent to date {gbpm(t['actual_to_date_gbpm'].sum())}, "
                         f"forecast for the year {gbpm(t['forecast_gbpm'].sum())}."),
                _money_table(t, f"Ledger by service line, {local.ledger_year} to {when}, £m",
                             {"service_line": "Service line", "budget_gbpm": "Budget, £m",
                              "actual_to_date_gbpm": "Spent to date, £m", "forecast_gbpm": "Forecast, £m",
                              "variance_gbpm": "Forecast less budget, £m"},
                             "Budget and forecast as the ledger holds them at the latest month; spent to date is "
                             "every month of the year so far.")]
        y = local.spend_by_year
        out.append(HTML(table_html(
            pd.DataFrame({"Financial year": y["financial_year"], "Spent, £m": y["actual_gbpm"]}),
            "Spend by financial year from the ledger, £m", formats={"Spent, £m": gbpm_plain}, numeric=["Spent, £m"],
            note=f"{y['financial_year'].iloc[-1]} is the year to date." if len(y) else None)))
    return out


def commentary_section(local: LocalFigures) -> list:
    if not local.commentary:
        return []
    out: list = [Markdown("### Commentary")]
    for head, text in local.commentary.items():
        out.append(Markdown(f"**{escape_md(head)}**\n\n{text}"))
    return out


def still_needed(local: LocalFigures) -> list:
    """The sections that still need the authority's data, each with the input that fills it (one line)."""
    rows = local.still_needed()
    if not rows:
        return [Markdown("Every section that needs the authority's own data has it.")]
    t = pd.DataFrame({"Section": [s for s, _ in rows], "Fills in when given": [f for _, f in rows]})
    return [Markdown("Each of these sections switches on when its input is added to the authority's profile; the "
                     "rest of the pack stays from published data."),
            HTML(table_html(t, "Sections that need the authority's own data"))]
