"""Plain-English findings with the numbers in them, built from tested calculations."""

from __future__ import annotations

import pandas as pd

from pipeline.core.formatting import gbpm, number, pct, plural, spend_phrase
from pipeline.report.render import escape_md


def budget_summary(p, quarter) -> str:
    """Two or three sentences on the forecast position; ``p`` is a ``finance.position.Position``."""
    text = (f"The forecast outturn for {quarter.fy} as at Quarter {quarter.q} is {gbpm(p.forecast)} "
            f"against a net controllable budget of {gbpm(p.budget)}: "
            f"{spend_phrase(p.variance)} ({pct(p.variance_pct)}).")
    if p.additional_funding:
        names = ", ".join(escape_md(f) for f in p.funding["funding_line"])
        text += (f" After the use of {gbpm(p.additional_funding)} of additional funding ({names}), the "
                 f"forecast position is {spend_phrase(p.variance_after)} "
                 f"({pct(p.variance_after_pct)} of {gbpm(p.budget_after)}).")
    largest = p.largest
    if largest["variance_gbpm"] > 0:
        share = f", {pct(100 * p.largest_share)} of the total" if p.variance > 0 else ""
        text += (f" The largest overspend is on {escape_md(str(largest['service_line']))}: "
                 f"{gbpm(float(largest['variance_gbpm']))} ({pct(float(largest['variance_pct']))} of its budget{share})."
                 f" {number(p.n_over)} of {number(p.n_lines)} service lines are forecast to overspend.")
    return text


def deliverables_summary(deliverables: pd.DataFrame, quarter=None) -> str:
    n = len(deliverables)
    rated = deliverables["rating"].fillna("").astype(str).str.strip()
    counts = rated[rated != ""].value_counts()
    order = ["Strong", "Good", "Review", "Action"]
    parts = [f"{number(counts[r])} {r}" for r in order if r in counts]
    unrated = int((rated == "").sum())
    text = f"Owners rate the {plural(n, 'Council Plan deliverable')} led by the portfolio: {', '.join(parts) or 'none rated'}"
    if unrated:
        text += f"; {number(unrated)} {'has' if unrated == 1 else 'have'} no rating this quarter"
    if quarter is not None and "expected_completion" in deliverables:
        when = pd.to_datetime(deliverables["expected_completion"], errors="coerce")
        late = int((when < pd.Timestamp(quarter.start)).sum())
        if late:
            text += (f". {number(late)} of them {'was' if late == 1 else 'were'} due to be completed before this "
                     "quarter began and {} marked overdue".format("is" if late == 1 else "are"))
    return text + "."


def data_summary(register: pd.DataFrame, quarantine: pd.DataFrame) -> str:
    # an input with several tables (SSDA903: episodes, header, uasc, missing) has a line per table,
    # named "input:table"; it is still one input
    base = register[~register["input"].astype(str).str.contains(":")]
    files = len(base)
    rows = int(register["rows_in"].sum())
    synthetic = base["synthetic"].astype(str).str.lower().eq("true")
    dropped = int(register["rows_dropped"].sum()) if "rows_dropped" in register else 0
    text = (f"This pack read {plural(files, 'input')} holding {number(rows)} rows. "
            f"{number(int(register['rows_kept'].sum()))} rows were kept, {number(dropped)} dropped by rule "
            f"(subtotals, blank rows, episodes repeated across returns) and "
            f"{number(int(register['rows_quarantined'].sum()))} quarantined")
    text += (" (reasons listed below)." if len(quarantine) else ", so every row read is used.")
    if synthetic.any():
        text += f" {plural(int(synthetic.sum()), 'input')} are synthetic and labelled so wherever they appear."
    else:
        text += " None of the data is synthetic."
    return text


def synthetic_notice(register: pd.DataFrame, calibration: str = "") -> str:
    """Names every synthetic input and what it is calibrated to; says so when nothing is synthetic."""
    base = register[~register["input"].astype(str).str.contains(":")]
    synthetic = base[base["synthetic"].astype(str).str.lower().eq("true")]
    if len(synthetic):
        names = "; ".join(escape_md(d or k) for d, k in zip(synthetic.get("description", synthetic["input"]),
                                                             synthetic["input"]))
        text = (f"**Synthetic data.** {plural(len(synthetic), 'input')} in this pack are produced by cspack's "
                f"synthetic-authority generator: {names}. They are realistic but not real: no figure drawn from "
                "them describes a real council or child.")
        if calibration:
            text += f" Calibrated to: {escape_md(calibration)}."
        return text
    return ("**No synthetic data.** Every figure in this pack comes from a published source named in the "
            "register below: the council's own published reports (transcribed) and official statistics.")
