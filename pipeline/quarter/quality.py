"""Data-quality findings for the data-overview section: what a careful analyst would check."""

from __future__ import annotations

import pandas as pd

from pipeline.core.formatting import day_words, gbpm, number, pct, plural
from pipeline.finance.position import budget_mark, line_variances
from pipeline.ingest.parsing import DFE_MARKER_MEANINGS, parse_measure_value, parse_target
from pipeline.ingest.ssda903 import CONTINUITY_TOLERANCE_PCT as tol

DFE_MARKERS = set(DFE_MARKER_MEANINGS)  # one list of DfE markers, with meanings, in parsing.py
FINDING_COLUMNS = ["input", "check", "finding", "count", "level"]


def _f(input_key, check, finding, count, level="info"):
    return {"input": input_key, "check": check, "finding": finding, "count": int(count), "level": level}


def budget_findings(lines: pd.DataFrame, totals: pd.DataFrame | None = None) -> list[dict]:
    """Recompute published variances, percentages and totals; report where the rounded
    published table does not cast (docs/methods.md: say so in a note rather than forcing totals)."""
    out = []
    t = line_variances(lines.drop(columns=["published_variance_gbpm"], errors="ignore"))
    if "published_variance_gbpm" in lines:
        t["published_variance_gbpm"] = lines["published_variance_gbpm"]
        diff = (t["variance_gbpm"] - t["published_variance_gbpm"]).abs()
        off = t[diff > 0.0005]
        if len(off):
            worst = diff.max()
            names = "; ".join(off["service_line"].head(4))
            out.append(_f("budget_lines", "variance = forecast - budget",
                          f"{plural(len(off), 'line')} of {len(t)} differ from forecast minus budget by up to "
                          f"{gbpm(worst)} ({names}): the published table was computed from unrounded figures",
                          len(off)))
        else:
            out.append(_f("budget_lines", "variance = forecast - budget",
                          f"all {len(t)} published variances equal forecast minus budget", 0))
    if "published_variance_pct" in t:
        diff = (t["variance_pct"].round(1) - t["published_variance_pct"]).abs()
        off = t[diff > 0.05]
        finding = (f"{plural(len(off), 'line')} of {len(t)} differ from the recomputed percentage by up to "
                   f"{pct(diff.max())} points ({'; '.join(off['service_line'].head(4))}): the published figures "
                   "were computed from unrounded data"
                   if len(off) else f"all {len(t)} published percentages agree when recomputed")
        out.append(_f("budget_lines", "percentage of controllable budget", finding, len(off)))
    if "published_mark" in lines:

        computed = t["variance_gbpm"].map(budget_mark)
        off = t[computed != lines["published_mark"].astype(str).str.strip().str.lower()]
        finding = (f"{plural(len(off), 'line')} of {len(t)} {'carries' if len(off) == 1 else 'carry'} a published mark that its figures do not explain: "
                   + "; ".join(f"{r.service_line} (published {m}, variance {gbpm(r.variance_gbpm)})"
                               for r, m in zip(off.itertuples(), lines.loc[off.index, "published_mark"]))
                   + "; the pack shows the mark its figures give" if len(off)
                   else f"all {len(t)} published budget marks agree with the recomputed variances")
        out.append(_f("budget_lines", "budget performance marks", finding, len(off), "warning" if len(off) else "info"))
    if totals is not None and len(totals):
        tot = totals[totals["row"] == "Total"]
        if len(tot):
            for col, label in (("controllable_budget_gbpm", "budget"), ("full_year_forecast_gbpm", "forecast")):
                s, p = t[col].sum(), float(tot[col].iloc[0])
                gap = s - p
                out.append(_f("budget_lines", f"lines cast to the published total ({label})",
                              (f"lines sum to {gbpm(s)}, the published total is {gbpm(p)}"
                               + ("" if abs(gap) < 0.0005 else f": a rounding difference of {gbpm(gap)}")),
                              int(abs(gap) >= 0.0005)))
    return out


def marker_findings(key: str, df: pd.DataFrame) -> list[dict]:
    """Count DfE suppression / not-applicable markers (c, x, z, k, low) in a published file's
    measure columns. Identifier columns (area names, codes, breakdowns) are never counted: a column
    counts only when its values other than markers and blanks are mostly numbers."""
    hits = df.isin(DFE_MARKERS)  # one vectorised pass; DfE writes its markers in lower case
    counts: dict[str, int] = {}
    for col in hits.columns[hits.any().to_numpy()]:
        s = df[col][~hits[col]]
        s = s[s.str.strip() != ""]
        if len(s) and pd.to_numeric(s.str.replace(",", ""), errors="coerce").notna().mean() <= 0.5:
            continue  # an identifier column that happens to hold "c" or "x"
        for marker, n in df[col][hits[col]].value_counts().items():
            counts[marker] = counts.get(marker, 0) + int(n)
    n = sum(counts.values())
    if not n:
        return [_f(key, "suppression markers", "no DfE suppression markers", 0)]
    detail = ", ".join(f"{number(c)} '{m}'" for m, c in sorted(counts.items(), key=lambda kv: -kv[1]))
    return [_f(key, "suppression markers",
               f"{number(n)} cells hold DfE markers ({detail}); they stay missing, never zero", n)]


def confidence_findings(key: str, df: pd.DataFrame) -> list[dict]:
    if "confidence" not in df:
        return []
    counts = df["confidence"].str.strip().replace("", "not stated").value_counts()
    low = int(counts.get("low", 0)) + int(counts.get("medium", 0))
    detail = ", ".join(f"{number(c)} {k}" for k, c in counts.items())
    return [_f(key, "source confidence", f"rows by confidence: {detail}; medium and low rows carry a note "
               "on their basis", low, "warning" if low else "info")]


def measure_value_findings(key: str, df: pd.DataFrame, value_columns: list[str],
                           target_columns: list[str] = ()) -> list[dict]:
    """Parse every measure value and target (pipeline.ingest.parsing) and report what could not be read.
    A "Target" row of a long table (column ``period``) is parsed as a target."""

    values, targets, marks = [], [], 0
    for c in value_columns:
        if "period" in df:
            period = df["period"].astype(str)
            is_target = period.str.startswith("Target")
            is_mark = period.eq("Performance")  # the published rating symbol, not a value
            marks += int(is_mark.sum())
            values += list(df.loc[~is_target & ~is_mark, c])
            targets += list(df.loc[is_target, c])
        else:
            values += list(df[c])
    for c in target_columns:
        targets += list(df[c])
    v = [parse_measure_value(x) for x in values if str(x).strip()]
    t = [parse_target(x) for x in targets if str(x).strip()]
    bad_v = [x.original for x in v if x.status == "unparsed"]
    bad_t = [x.original for x in t if x.kind == "unparsed"]
    missing = sum(x.status == "missing" for x in v)
    finding = (f"{number(len(v))} values read ({number(len(v) - missing - len(bad_v))} numbers with their unit, as-of date "
               f"and flags; {number(missing)} marked not available, awaiting data or to be confirmed)")
    if t:
        finding += f"; {number(len(t))} targets read as rules"
    if marks:
        finding += f"; {plural(marks, 'published performance mark')} kept as ratings"
    n_bad = len(bad_v) + len(bad_t)
    if n_bad:
        examples = "; ".join(f'"{x}"' for x in dict.fromkeys(bad_v + bad_t).keys() if True)
        finding += f"; {number(n_bad)} not understood and left out, not guessed: {examples[:300]}"
    return [_f(key, "measure values and targets", finding, n_bad, "warning" if n_bad else "info")]


def input_note_findings(key: str, res) -> list[dict]:
    """What reading a return dropped or changed by rule (its own total rows, a fraction read as a
    percentage): one warning each, so nothing is changed silently."""
    return [_f(key, "read by rule", note, 1, "warning") for note in (res.notes or [])]


def ledger_findings(key: str, r) -> list[dict]:
    """What cleaning a ledger extract found: layout, encoding and separators, columns ignored, hidden
    sheets, two-row headers, duplicates dropped, values rounded or filled by rule, cells set aside,
    subtotals reconciled, money totals."""
    dups = getattr(r, "duplicate_rows", 0)
    out = [_f(key, "ledger layout", f"header found on row {r.header_row}" + (f" of sheet {r.sheet!r}" if r.sheet else "")
              + f"; {number(r.total_rows)} subtotal and total rows and {number(r.blank_rows)} blank rows dropped by rule"
              + (f"; {number(dups)} exact duplicate rows dropped, not counted twice" if dups else ""),
              r.total_rows + r.blank_rows + dups, "warning" if dups else "info")]
    for note in r.notes:
        level = "warning" if note.startswith(("hidden", "two header", "amounts written with a decimal comma")) or \
            "exact copies" in note else "info"
        out.append(_f(key, "reading the file", note, 0, level))
    fixes = getattr(r, "fixes", None)
    if fixes is not None and len(fixes):
        for column, g in fixes.groupby("column", sort=False):
            examples = "; ".join(f"row {row}: {n}" for row, n in zip(g["row"].head(3), g["note"].head(3)))
            out.append(_f(key, f"values fixed by rule ({column})",
                          f"{plural(len(g), 'value')} read by a documented rule ({examples}"
                          + ("; ..." if len(g) > 3 else "") + ")", len(g), "warning"))
    cells = getattr(r, "cells", None)
    if cells is not None and len(cells):
        examples = "; ".join(f"row {row}, {c}: {str(v)[:30]!r}" for row, c, v in
                             zip(cells["row"].head(4), cells["column"].head(4), cells["value"].head(4)))
        out.append(_f(key, "money cells set aside", f"{plural(len(cells), 'money cell')} could not be read and "
                      f"{'was' if len(cells) == 1 else 'were'} set aside, the rest of each row kept ({examples}"
                      + ("; ..." if len(cells) > 4 else "") + ")", len(cells), "warning"))
    if len(r.totals):
        bad = r.totals[~r.totals["agrees"]]
        out.append(_f(key, "subtotals reconciled to the detail",
                      f"{number(len(r.totals) - len(bad))} of {number(len(r.totals))} subtotal amounts equal their detail "
                      "to the penny" + (f"; {number(len(bad))} do not (rows {', '.join(map(str, bad['row'].head(5)))})"
                                        if len(bad) else ""), len(bad), "warning" if len(bad) else "info"))
    actual = int(r.kept["actual"].sum()) if "actual" in r.kept else 0
    out.append(_f(key, "money kept", f"actuals kept total £{actual / 100:,.2f} over {number(len(r.kept))} lines, read as "
                  "integer pence (no rounding)", 0))
    return out


def ssda903_findings(key: str, m: dict) -> list[dict]:
    """What merging the SSDA903 returns found, in the order of the work (pipeline.ingest.ssda903.merge_returns):
    the returns read, rows quarantined (only what cannot be used), fixes and flags (rows kept), children
    in care at each 31 March against each year's own return, and anything noticed about the files."""
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    by = m["by_year"]
    years = list(by["collection_year"])
    span = years[0] if len(years) == 1 else f"{years[0]} to {years[-1]}"
    out = [_f(key, "returns merged", f"{plural(len(years), 'collection year')} ({span}): "
              f"{number(r['episodes re-reported across returns (raw input)'])} episodes were reported in more than "
              f"one return and the latest usable version was kept ({number(r['of which the same episode in a later return'])} "
              f"earlier versions set aside); {number(r['of which exact duplicate rows within a return'])} exact "
              f"duplicate rows and {number(r['of which blank rows'])} blank rows dropped; "
              f"{number(r['episodes kept'])} episodes in the history", r["rows dropped by rule"])]
    q = m["quarantine"]
    qe = q[q["table"] == "episodes"] if len(q) else q
    nq = int(r["rows quarantined"])
    read = int(r["rows read (all returns)"])
    why = "; ".join(f"{number(int(n))} {rule.replace('_', ' ')}" for rule, n in qe.groupby("rule").size().items()) if len(qe) else ""
    out.append(_f(key, "episode rows quarantined",
                  f"{number(nq)} of {number(read)} episode rows ({100 * nq / max(read, 1):.1f}%) could not be used "
                  "(no readable start date or end date, an end before the start, a start after the year, or a start "
                  f"after the child's 18th birthday) and were quarantined" + (f": {why}" if why else ""),
                  nq, "warning" if nq else "info"))
    fixed = [("REC blanked on an open episode (the child kept in care)", "of which REC blanked on an open episode"),
             ("overlaps truncated at the next episode's start", "of which overlaps truncated"),
             ("a missing REC set to X1 where the next episode began that day", "of which REC set to X1"),
             ("open at the end of a return but missing from the next return, ended on that year's first day",
              "of which vanished from the next return")]
    flagged = [("X1 with no continuing episode", "of which X1 with no continuation"),
               ("ended with no reason", "of which ended with no reason"),
               ("a code not valid for the collection year", "of which a code not valid for the year")]
    n_fixed = int(r["of which fixed by a rule"])
    n_flag = int(r["of which flagged and kept as they are"])
    out.append(_f(key, "episode fixes and flags",
                  f"{number(n_fixed)} episodes fixed by a rule and kept ("
                  + "; ".join(f"{number(int(r[k]))} {t}" for t, k in fixed) + f"); {number(n_flag)} more flagged and kept "
                  "as they are (" + "; ".join(f"{number(int(r[k]))} {t}" for t, k in flagged) + ")",
                  n_fixed + n_flag, "warning" if n_fixed + n_flag else "info"))
    missing_next = int(r["open episodes missing from the next return (raw input)"])
    if missing_next:
        out.append(_f(key, "open episodes missing from the next return",
                      f"{number(missing_next)} episodes open at the end of a return are not in the next year's return; "
                      "as that return lists every child looked after in its year, each was ended on the year's first day "
                      "(1 April), the reason unknown", missing_next, "warning"))
    c = m.get("continuity")
    if c is not None and len(c):
        rows = "; ".join(f"{day_words(pd.Timestamp(x.date))}: {number(x.in_history)} in the history, {number(x.in_return)} in "
                         f"{x.collection_year}'s return" + (f" ({number(x.lost_to_quarantine)} of that return's children lost to quarantine)"
                                                            if x.lost_to_quarantine else "") for x in c.itertuples())
        lost = int(c["lost_to_quarantine"].sum())
        out.append(_f(key, "children in care at each year end",
                      f"{rows}; children in care affected by quarantine: {number(lost)}", lost,
                      "warning" if lost else "info"))
        for x in c[(c["difference_pct"] > tol) & (c["unexplained_pct"] <= tol)].itertuples():
            # every child of the return is in the history; the extra children come from later returns'
            # episodes spanning the date (reported or back-dated there): kept, the later return taken as the correction
            out.append(_f(key, f"continuity {x.collection_year}",
                          f"children in care on {day_words(pd.Timestamp(x.date))}: {number(x.in_history)} in the merged history "
                          f"against {number(x.in_return)} open in {x.collection_year}'s own return: every child of that "
                          f"return is kept, and {number(x.added_by_later_returns)} more are in care on that date in "
                          "episodes that later returns reported or back-dated (the later return is taken as the "
                          f"correction); check {x.collection_year}'s return if that is unexpected",
                          int(x.added_by_later_returns), "warning"))
        for x in c[c["unexplained_pct"] > tol].itertuples():
            out.append(_f(key, f"continuity {x.collection_year}",
                          f"children in care on {day_words(pd.Timestamp(x.date))}: {number(x.in_history)} in the merged history against "
                          f"{number(x.in_return)} open in {x.collection_year}'s own return, a difference of "
                          f"{x.difference_pct:.1f}% (more than {tol:g}%): {number(x.not_in_history)} children of the return "
                          f"are not in care in the history ({number(x.lost_to_quarantine)} through quarantine) and "
                          f"{number(x.only_in_history)} in care in the history are not open in the return; check "
                          f"{x.collection_year}'s return and the next one first", abs(int(x.difference)), "error"))
    for note in m.get("notes", []):  # stray folders (a year misnamed is a year lost), zeros restored, date order
        out.append(_f(key, "files read", note, 1, "warning"))
    no_header = r.get("of which the child has no usable header row", 0)
    if no_header:
        out.append(_f(key, "episodes without a header", f"{number(no_header)} episodes belong to children with no usable "
                      "header row (date of birth unknown): kept, but left out of anything by age", no_header, "warning"))
    t = m.get("tables")
    if t is not None and len(t):
        for table, g in t.groupby("table", sort=False):
            nq = int(g["rows_quarantined"].sum())
            out.append(_f(f"{key}:{table}", f"{table} rules",
                          f"{number(int(g['rows_read'].sum()))} rows read over {number(len(g))} returns; {number(nq)} "
                          f"quarantined by rule; {number(int(g['superseded'].sum()))} replaced by a later return's "
                          f"version; {number(int(g['rows_kept'].sum() - g['superseded'].sum()))} kept", nq,
                          "warning" if nq else "info"))
    return out


def group_quarantine(q: pd.DataFrame, max_rows: int = 8) -> list[str]:
    """One line per file, column and reason, with the count and the first row numbers."""
    if not len(q):
        return []
    lines = []
    for (file, column, reason), g in q.groupby(["file", "column", "reason"], sort=False):
        rows = sorted(set(int(r) for r in g["row"]))
        shown = ", ".join(map(str, rows[:max_rows])) + (", ..." if len(rows) > max_rows else "")
        values = ", ".join(repr(v) for v in list(dict.fromkeys(g["value"].astype(str)))[:3])
        lines.append(f"{file}, column {column}: {reason} ({plural(len(rows), 'row')}: {shown}; found {values})")
    return lines
