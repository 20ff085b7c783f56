"""Notebook 90, data quality and method: the inputs read with their row counts and sources, the period each
input covers, the data-quality findings, the quarantine and the parts of the pack without commentary.

Each table is computed into a DataFrame (``inputs_table``, ``periods_table``, ``findings_frame``; the
quarantine is ``ctx.quarantine()``), published by the notebook under the sheet name and title declared here
(``TABLES``) and rendered (``render_inputs``, ``render_periods``, ``render_findings``, ``render_quarantine``).
``register_table``, ``coverage_table``, ``findings_table`` and ``quarantine_view`` do the three steps in one
call."""

from __future__ import annotations

import json
import re

import pandas as pd
from IPython.display import HTML, Markdown

from pipeline.core.formatting import number, plural, reader_text
from pipeline.measures.table import source_conflicts
from pipeline.quarter import freshness
from pipeline.quarter.context import QuarterContext
from pipeline.report import narrative
from pipeline.report.commentary import MISSING, all_findings, commentary  # noqa: F401 (commentary: the notebook's last cell)
from pipeline.report.render import escape_md, table_html

DATA = "Data quality and method"
# sheet of tables.xlsx -> its title (the section of each is DATA)
TABLES = {"data_inputs": "Inputs read, with row counts and sources",
          "data_periods": "The period each input covers",
          "data_quality_findings": "Data-quality findings",
          "data_quarantine": "Quarantined rows with file, row, column and reason"}


def publish(ctx: QuarterContext, sheet: str, df: pd.DataFrame) -> pd.DataFrame:
    """Publish ``df`` to tables.xlsx as ``sheet`` (one of ``TABLES``) in this section; returns ``df``."""
    ctx.publish(sheet, df, TABLES[sheet], DATA)
    return df


def missing_commentary_view(ctx: QuarterContext) -> Markdown:
    """For the analyst: the parts of the pack printed without commentary (each says so where it stands)."""
    path = ctx.work_dir / "tables" / MISSING
    seen = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    if not ctx.commentary(DATA):
        seen = seen + ([[DATA, f"## {DATA}"]] if DATA not in [w for w, _ in seen] else [])
    if not seen:
        return Markdown("Every part of the pack that takes commentary has it.")
    return Markdown(f"{plural(len(seen), 'part')} of the pack {'is' if len(seen) == 1 else 'are'} printed without "
                    "commentary: " + "; ".join(escape_md(w) for w, _ in seen) + ".")


# ---- data quality and method -------------------------------------------------------------------
def data_text(ctx: QuarterContext) -> Markdown:
    reg = ctx.register()
    calibration = ctx.params.settings.synthetic_calibration
    return Markdown(narrative.data_summary(reg, ctx.quarantine()) + "\n\n" + narrative.synthetic_notice(reg, calibration))


def register_table(ctx: QuarterContext) -> HTML:
    """One table per group of inputs (the council's report, national statistics, ...), each with
    its sources beneath; file paths and SHA-256 fingerprints go to tables.xlsx and the manifest."""
    return render_inputs(publish(ctx, "data_inputs", inputs_table(ctx)))


def inputs_table(ctx: QuarterContext) -> pd.DataFrame:
    """The register of inputs with the report's column names: group, input, row counts, synthetic or not,
    source, file and SHA-256 fingerprint."""
    reg = ctx.register()
    return pd.DataFrame({
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
    }).assign(SHA256=reg["sha256"])


def render_inputs(df: pd.DataFrame) -> HTML:
    """``inputs_table`` as the pack shows it: one table per group, without files and fingerprints."""
    counts = ["Rows read", "Rows kept", "of which fixed", "Rows dropped by rule", "Rows quarantined"]
    parts = []
    for group, g in df.groupby("Group", sort=False):
        sources = merge_sources(g["Source"].map(source_text))
        g = g.assign(Input=g["Input"].map(reader_text))
        parts.append(table_html(g[["Input"] + counts + ["Synthetic"]], f"{group}: {plural(len(g), 'input')}",
                                {c: number for c in counts}, numeric=counts, note=f"Source: {sources}."))
    parts.append('<p class="table-note">Rows read = rows kept + rows dropped by rule (subtotals, blank rows, the same '
                 'episode in several returns) + rows quarantined. Fixed rows are kept rows changed by a documented '
                 'rule.</p>')
    return HTML("".join(parts))


LEVEL_LABELS = {"info": "Note", "warning": "Check", "error": "Must fix"}  # finding level -> reader's label


def findings_table(ctx: QuarterContext) -> HTML:
    return render_findings(publish(ctx, "data_quality_findings", findings_frame(ctx)))


def findings_frame(ctx: QuarterContext) -> pd.DataFrame:
    """The data-quality findings with the report's column names (the level as the reader's label)."""
    f = all_findings(ctx)  # with the checks of what the analyst and the owners wrote
    if "measures" in ctx.params.inputs:  # where the source report gives two figures for one value

        extra = pd.DataFrame(source_conflicts(ctx.table("measures")), columns=f.columns)
        f = pd.concat([f, extra], ignore_index=True) if len(extra) else f
    reg = ctx.register().set_index("input")
    df = pd.DataFrame({
        "Input": [reader_text(reg.at[k, "description"] or k if k in reg.index else k) for k in f["input"]],
        "Check": f["check"], "Finding": f["finding"].map(reader_text),
        "Level": f["level"].map(LEVEL_LABELS).fillna(f["level"]),
    })
    return df


def render_findings(df: pd.DataFrame) -> HTML:
    """``findings_frame`` as the pack shows it (the suppression-marker rows condensed into one)."""
    return HTML(table_html(condense_markers(df), "Data-quality findings",
                           note="Note: for information. Check: read before relying on the figures. "
                                + ("Must fix: the input is wrong and the figures from it cannot be relied on. "
                                   if (df["Level"] == LEVEL_LABELS["error"]).any() else "")
                                + "Every finding, file by file, is among the tables published with this pack."))


def source_text(src) -> str:
    """A params ``source:`` as a reader sees it: no file paths (``reader_text``), no source tag in capitals
    ("SYNTHETIC: cspack ..." -> "synthetic data: cspack ..."), no repository paths ("via owner/repo"), no
    code names with underscores ("CSC_outcomes_and_enablers" -> "CSC outcomes and enablers") and no
    project-internal seed numbers ("(seed 004)") or random seeds (", seed 2026")."""
    s = reader_text(src)
    s = re.sub(r"^SYNTHETIC:\s*", "synthetic data: ", s)
    s = re.sub(r"\s*via (?:[\w.-]+/[\w.-]+|the same repository)", "", s)
    s = re.sub(r"(?<=[A-Za-z])_(?=[A-Za-z])", " ", s)
    s = re.sub(r"\s*\(seeds? \d{3}(?: and \d{3})?\)", "", s)
    s = re.sub(r",?\s*\bseed \d+\b", "", s)  # a generator's random seed: for the build log, not the reader
    return re.sub(r"\s{2,}", " ", s).strip()


def merge_sources(sources) -> str:
    """``"Report X, section 4.3"`` and ``"Report X, section 4.5"`` -> ``"Report X: section 4.3; section 4.5"``."""
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
    return render_quarantine(publish(ctx, "data_quarantine", ctx.quarantine()))


def render_quarantine(q: pd.DataFrame):
    """The quarantine (``ctx.quarantine()``) counted by input and reason, as the pack shows it."""
    if not len(q):
        return Markdown("No rows were quarantined: every row read passed its checks.")
    summary = q.groupby(["input", "reason"]).size().reset_index(name="Rows")
    summary["input"], summary["reason"] = summary["input"].map(reader_text), summary["reason"].map(reader_text)
    return HTML(table_html(summary.rename(columns={"input": "Input", "reason": "Reason"}),
                           f"Quarantined rows by input and reason ({number(len(q))} in all)",
                           {"Rows": number}, numeric=["Rows"],
                           note="Row numbers, columns and values are listed among the tables published with this pack."))


def coverage_table(ctx: QuarterContext) -> HTML:
    """What period each input covers and whether it reaches the quarter (pipeline/freshness.py)."""

    return render_periods(ctx, publish(ctx, "data_periods", periods_table(ctx)))


def periods_table(ctx: QuarterContext) -> pd.DataFrame:
    """What period each input covers and whether it reaches the quarter (``quarter.freshness``)."""
    cov = freshness.assess(ctx.params, ctx.table)
    t = freshness.coverage_table(cov)
    # the input as the register describes it, not its params key ("budget lines", "ssda903")
    described = {k: s.description for k, s in ctx.params.inputs.items() if getattr(s, "description", "")}
    t["Input"] = [reader_text(described.get(c.input) or name) for c, name in zip(cov, t["Input"])]
    return t


def render_periods(ctx: QuarterContext, t: pd.DataFrame) -> HTML:
    """``periods_table`` as the pack shows it: the inputs tied to a quarter, the others counted in a note."""
    dated = t[t["Status"] != "not tied to a quarter"]
    q = ctx.quarter
    return HTML(table_html(dated, f"The period each input covers, against {q.long_label}",
                           note=f"{plural(len(t) - len(dated), 'other input')} (published national statistics, "
                                "the list of key measures, mappings and unit costs) are reference data, not tied to "
                                "a quarter. A build stops when an input does not reach the quarter, unless the "
                                "quarter's settings allow it; the summary then says so."))
