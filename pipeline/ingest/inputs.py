"""Reading the quarter's inputs: every file hashed, counted and checked against its schema.

Rows that cannot be used are quarantined with the file, row, column and reason, never dropped:
for every input, rows in = rows kept + rows quarantined."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.params import InputSpec
from pipeline.ingest.parsing import ParseError, money_convention, parse_measure_value


class InputError(ValueError):
    """An input file that cannot be read at all (wrong encoding, missing columns)."""


# Known input families: required columns and those that must hold numbers. Inputs not listed
# here (published DfE and national files) are read as text and described, not typed.
SCHEMAS: dict[str, dict[str, list[str]]] = {
    "budget_lines": {"unique": ["line_id"], "required": ["line_id", "service_line", "short_name", "controllable_budget_gbpm",
                                  "full_year_forecast_gbpm", "source"],
                     "numeric": ["controllable_budget_gbpm", "full_year_forecast_gbpm",
                                 "published_variance_gbpm", "published_variance_pct"]},
    "budget_totals": {"required": ["row", "controllable_budget_gbpm", "full_year_forecast_gbpm"],
                      "numeric": ["controllable_budget_gbpm", "full_year_forecast_gbpm",
                                  "published_variance_gbpm", "published_variance_pct"]},
    "additional_funding": {"required": ["funding_line", "amount_gbpm", "source"], "numeric": ["amount_gbpm"]},
    "one_off_items": {"required": ["kind", "amount_gbpm", "description"], "numeric": ["amount_gbpm"]},
    "savings_initiatives": {"non_negative": ["budget_reduction_gbpm", "forecast_achieved_gbpm"],
                            "required": ["initiative", "budget_reduction_gbpm", "forecast_achieved_gbpm"],
                            "numeric": ["budget_reduction_gbpm", "forecast_achieved_gbpm",
                                        "published_shortfall_gbpm"]},
    "savings_targets": {"required": ["component", "budget_reduction_gbpm"], "numeric": ["budget_reduction_gbpm"]},
    "savings_notes": {"required": ["note", "text"], "numeric": []},
    "growth_items": {"required": ["item", "amount_gbpm", "kind"], "numeric": ["amount_gbpm"],
                     "non_negative": ["amount_gbpm"]},
    "financial_risks": {"required": ["service", "risk", "sensitivity_gbpm", "likelihood"],
                        "numeric": ["sensitivity_gbpm", "likelihood"], "non_negative": ["sensitivity_gbpm"],
                        "range": {"likelihood": (1, 5)}, "integer": ["likelihood"]},
    "earmarked_reserves": {"required": ["reserve", "balance_gbpm", "movement"], "numeric": ["balance_gbpm"],
                           "non_negative": ["balance_gbpm"]},
    "aged_debt": {"required": ["age_band", "amount_gbpm"], "numeric": ["amount_gbpm", "published_pct"],
                  "non_negative": ["amount_gbpm"]},
    "debt_written_off": {"required": ["period", "amount_gbpm"], "numeric": ["amount_gbpm"]},
    "traded_fully": {"required": ["service_area", "trading_area", "gross_expenditure_gbpm", "gross_income_gbpm"],
                     "numeric": ["gross_expenditure_gbpm", "gross_income_gbpm", "published_contribution_gbpm"]},
    "traded_partially": {"required": ["service_area", "trading_area", "income_target_gbpm", "projected_income_gbpm"],
                         "numeric": ["income_target_gbpm", "projected_income_gbpm", "published_excess_gbpm"]},
    "measures": {"required": ["measure_ref", "measure_name", "polarity", "period", "value_raw"], "numeric": []},
    "deliverables": {"required": ["deliverable"], "numeric": []},  # a blank rating is "not rated"
    "service_plan_measures": {"required": ["measure", "source"], "numeric": []},
    "placement_unit_costs": {"required": ["category", "weekly_cost_gbp", "base_year", "source"], "numeric": ["weekly_cost_gbp"],
                             "non_negative": ["weekly_cost_gbp"], "unique": ["category"]},
}


# a published return's own total row: a label reading "Total", "Grand total", "Sub-total", "Total:",
# "Total (£m)", "Total for ..."; or a label starting "Total" whose figures are the sum of the other lines
TOTAL_LABEL = re.compile(r"^\s*(?:grand\s+|sub-?\s*)?totals?(?:\s*(?:[:(\-–].*|for\s.*|of\s.*))?\s*$", re.I)
TOTAL_START = re.compile(r"^\s*(?:grand\s+|sub-?\s*)?total\b", re.I)
# the columns that name a line, per family whose tables are lists of lines (not budget_totals: its rows are totals)
LABEL_COLUMNS = {"budget_lines": ["line_id", "service_line", "short_name"], "additional_funding": ["funding_line"],
                 "one_off_items": ["kind"], "savings_initiatives": ["initiative"], "savings_targets": ["component"],
                 "growth_items": ["item"], "financial_risks": ["service", "risk"], "earmarked_reserves": ["reserve"],
                 "aged_debt": ["age_band"], "traded_fully": ["service_area", "trading_area"],
                 "traded_partially": ["service_area", "trading_area"]}
# the owners' rating scale of deliverables (the pack's key); symbols and case variants read as the word
DELIVERABLE_RATINGS = {"strong": "Strong", "good": "Good", "review": "Review", "action": "Action",
                       "★ strong": "Strong", "✓ good": "Good", "! review": "Review", "✗ action": "Action",
                       "": "", "not rated": "", "– not rated": "", "n/a": "", "-": ""}
MEASURE_PERIOD_HELP = ("expected a year such as 2026-2027 (or 2026-27), Target, Target 26-27, National ... or "
                       "Performance")


@dataclass
class ReadResult:
    spec: InputSpec
    sha256: str
    rows_in: int
    kept: pd.DataFrame
    quarantined: pd.DataFrame  # columns: input, file, row, column, value, reason
    columns: list[str]
    blank_rows: int = 0  # dropped by rule: rows_in = kept + blank_rows + total_rows + quarantined rows
    header_row: int = 1
    total_rows: int = 0  # the return's own total rows, dropped by rule (the pack computes its totals)
    fixed: int = 0  # kept rows changed by a documented rule (a fraction read as a percentage)
    notes: list = None  # what was dropped or changed by rule, for the findings


QUARANTINE_COLUMNS = ["input", "file", "row", "column", "value", "reason"]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, or of a folder (every file's relative path and bytes, in sorted order)."""
    h = hashlib.sha256()
    path = Path(path)
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(os.fsencode(f.relative_to(path)))  # a name that is not UTF-8 hashes as its bytes
            h.update(bytes.fromhex(sha256_of(f)))
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_csv_text(spec: InputSpec) -> pd.DataFrame:
    if spec.path.stat().st_size == 0:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): the file is empty; expected a header row and data")
    try:
        return pd.read_csv(spec.path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): not UTF-8 text at byte {exc.start}; "
                         "save it as UTF-8 CSV") from exc
    except pd.errors.ParserError as exc:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): not a readable CSV: {exc}") from exc


def heading_key(text: str) -> str:
    """A heading as people write it -> cspack's column name: "Controllable Budget £m" ->
    "controllable_budget_gbpm", "Line ID" -> "line_id"."""
    t = str(text).strip().lower().replace("£m", " gbpm ").replace("(£m)", " gbpm ")
    return re.sub(r"[^a-z0-9]+", "_", t).strip("_")


def _locate_header(spec: InputSpec, required: list[str], scan: int = 20) -> tuple[pd.DataFrame, int]:
    """The table under any title rows: the first of the top ``scan`` rows holding every required
    column (by ``heading_key``) is the header. Returns the cells as text and the header's 1-based row."""
    import csv
    import io

    if spec.path.stat().st_size == 0:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): the file is empty; expected a header row and data")
    try:
        text = spec.path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): not UTF-8 text at byte {exc.start}; "
                         "save it as UTF-8 CSV") from exc
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as exc:  # "field larger than field limit (131072)": a cell of more than 128 KB of text
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): line {reader.line_num}: not a readable CSV row "
                         f"({exc}); a cell this long is usually an unclosed quotation mark or the wrong file") from exc
    if not rows:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): the file is empty; expected a header row and data")
    h = next((i for i, r in enumerate(rows[:scan]) if set(required) <= {heading_key(c) for c in r}), 0)
    header = [c.strip() for c in rows[h]]
    keys = [heading_key(c) if set(required) <= {heading_key(x) for x in header} else c for c in header]
    width = len(header)
    body = [(r + [""] * width)[:width] for r in rows[h + 1:]]
    df = pd.DataFrame(body, columns=keys, dtype=object).astype(str) if body else pd.DataFrame(columns=keys, dtype=str)
    return df, h + 1


def read_input(spec: InputSpec, schema_key: str | None = None) -> ReadResult:
    """Read one input. ``schema_key`` picks the schema (default: the input's own key).

    For a known family: title rows above the header are skipped, headings matched loosely
    ("Controllable Budget £m"), blank rows dropped and counted, and numbers read as finance
    systems print them ("£1.234", "(0.500)", "0.500-", "1,234.5"; "-" is nil)."""
    if spec.path.suffix.lower() != ".csv":
        what = ("an Excel workbook" if spec.path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods")
                else f"a {spec.path.suffix or 'file without an extension'}")
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): expected a .csv file, got {what}; save the sheet "
                         "as CSV UTF-8 (a return is read as the text it shows, so a cell formatted 69.6% is read as "
                         "69.6%, never as 0.696)")
    digest = sha256_of(spec.path)
    schema = SCHEMAS.get(schema_key or spec.key)
    if schema is None:
        raw = _read_csv_text(spec)
        empty = pd.DataFrame(columns=QUARANTINE_COLUMNS)
        return ReadResult(spec, digest, len(raw), raw, empty, list(raw.columns))
    table, header_row = _locate_header(spec, schema["required"])
    missing = [c for c in schema["required"] if c not in table.columns]
    if missing:
        found = ", ".join(map(str, table.columns))
        sep = next((name for ch, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars"))
                    if any(ch in str(c) for c in table.columns)), None)
        hint = f"; the fields look separated by {sep}: save the file as comma-separated CSV" if sep else ""
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): missing column(s) {', '.join(missing)}; "
                         f"found {found[:300]}{hint}")
    blank = (table.apply(lambda c: c.str.strip()) == "").all(axis=1) if len(table.columns) else pd.Series(dtype=bool)
    file_row = pd.Series(range(header_row + 1, header_row + 1 + len(table)), index=table.index)
    family = schema_key or spec.key
    notes = []
    labels = [c for c in LABEL_COLUMNS.get(family, []) if c in table.columns]
    is_total = _total_rows(table, labels, [c for c in schema["numeric"] if c in table.columns], blank)
    if is_total.any():
        shown = ", ".join(f"row {file_row[i]} ({' '.join(v for v in table.loc[i, labels] if v.strip())!r})"
                          for i in table.index[is_total][:4])
        notes.append(f"{is_total.sum()} total row(s) of the return not read as lines ({shown}): the pack adds up "
                     "the lines itself")
    raw = table[~blank & ~is_total].reset_index(drop=True)
    rows = file_row[~blank & ~is_total].reset_index(drop=True)
    result = _typed(spec, digest, schema, raw, rows, family)
    result.rows_in = len(table)
    result.blank_rows = int(blank.sum())
    result.total_rows = int(is_total.sum())
    result.header_row = header_row
    result.notes = notes + (result.notes or [])
    return result


def _total_rows(table, labels, numeric, blank) -> pd.Series:
    """Rows that are the return's own totals: a total label ("Total", "Grand total", "Total (£m)"), or
    a label starting "Total" whose every figure is the sum of the other lines (to rounding). "Total
    transport uplift" with figures of its own stays a line."""
    none = pd.Series(False, index=table.index)
    if not labels or not len(table):
        return none
    label = table[labels].apply(lambda c: c.str.strip())
    strict = label.apply(lambda c: c.str.fullmatch(TOTAL_LABEL)).any(axis=1) & ~blank
    starts = label.apply(lambda c: c.str.match(TOTAL_START)).any(axis=1) & ~blank & ~strict
    if starts.any() and numeric:
        values = pd.DataFrame({c: parse_number_series(table[c].str.strip()) for c in numeric})
        for i in table.index[starts]:
            lines = values[~strict & ~blank & (table.index != i)]
            have = values.loc[i].dropna()
            tol = 0.0015 * max(len(lines), 1)
            if len(have) and all(abs(lines[c].sum() - v) <= tol for c, v in have.items()):
                strict[i] = True
    return strict


def _typed(spec, digest, schema, raw, rows, family=None) -> ReadResult:
    typed = raw.copy()
    bad = pd.Series(False, index=raw.index)
    problems = []
    notes, fixed = [], 0
    decimal = _decimal_mark(spec, raw, [c for c in schema["numeric"] if c in raw.columns])
    if decimal == ",":
        notes.append("numbers written with a decimal comma (European style) throughout the file, read as such")
    for col in schema["numeric"]:
        if col not in raw.columns:
            continue
        text = raw[col].str.strip()
        if decimal == ",":
            text = text.str.translate(str.maketrans({",": ".", ".": ","}))
        values = parse_number_series(text)
        invalid = values.isna() & (text != "")
        for idx in raw.index[invalid]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                             "value": raw.at[idx, col], "reason": "expected a number"})
        bad |= invalid
        typed[col] = values
    for col in schema.get("integer", []):
        if col in typed:
            frac = typed[col].notna() & (typed[col] != typed[col].round()) & ~bad
            lo, hi = schema.get("range", {}).get(col, (None, None))
            span = f" from {lo} to {hi}" if lo is not None else ""
            for idx in raw.index[frac]:
                problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                                 "value": raw.at[idx, col], "reason": f"expected a whole number{span}, not a fraction"})
            bad |= frac
    if family == "measures":
        typed, m_bad, m_problems, notes, fixed = _check_measures(spec, typed, rows, bad)
        bad |= m_bad
        problems += m_problems
    if family == "deliverables" and "rating" in typed:
        _check_ratings(spec, typed, rows)
    for col in schema.get("non_negative", []):
        if col in typed:
            neg = (typed[col] < 0) & ~bad
            for idx in raw.index[neg]:
                problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                                 "value": raw.at[idx, col], "reason": "negative where only zero or more is allowed"})
            bad |= neg
    for col, (lo, hi) in schema.get("range", {}).items():
        if col in typed:
            out = ((typed[col] < lo) | (typed[col] > hi)) & ~bad
            for idx in raw.index[out]:
                problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                                 "value": raw.at[idx, col], "reason": f"expected a value from {lo} to {hi}"})
            bad |= out
    for col in schema.get("unique", []):
        dup = raw[col].duplicated(keep="first") & (raw[col].str.strip() != "") & ~bad
        first_row = {v: int(rows[i]) for i, v in raw[col][~raw[col].duplicated(keep="first")].items()}
        for idx in raw.index[dup]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                             "value": raw.at[idx, col], "reason": f"duplicate of row {first_row[raw.at[idx, col]]}"})
        bad |= dup
    for col in schema["required"]:
        blank = raw[col].str.strip() == ""
        for idx in raw.index[blank & ~bad]:
            problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                             "value": "", "reason": "required value is blank"})
        bad |= blank
    quarantined = pd.DataFrame(problems, columns=QUARANTINE_COLUMNS)
    kept = typed[~bad].reset_index(drop=True)
    assert len(kept) + int(bad.sum()) == len(raw)
    return ReadResult(spec, digest, len(raw), kept, quarantined, list(raw.columns), fixed=fixed, notes=notes)


def _decimal_mark(spec, raw, columns) -> str:
    """The file's decimal mark, decided by the whole file (``parsing.money_convention``), never per cell:
    "0,5" somewhere makes "1,234" elsewhere 1.234, not 1234. A file mixing the two is refused."""

    cells = [v for c in columns for v in raw[c].tolist()]
    try:
        return money_convention(cells)[0]
    except ParseError as exc:
        raise InputError(f"{spec.rel_path} (input '{spec.key}'): {exc}") from exc


def normalise_period(text: str) -> tuple[str | None, str | None]:
    """A measures-table period as services write it -> (period as the pack keeps it, None), or
    (None, reason) when it cannot be read without a guess. "2026-27", "2026/27" and "2026/2027" are
    2026-2027; "Target 2026-27" is Target 26-27; a quarter ("Q2 2026-27") is refused: the table holds
    one value a year."""
    t = re.sub(r"\s+", " ", str(text)).strip()
    low = t.lower()
    if low in ("target", "performance") or low.startswith("national"):
        return t[0].upper() + t[1:], None
    m = re.fullmatch(r"(target\s+)?(?:fy\s*)?(\d{4})\s*[-/–]\s*(\d{2}|\d{4})", low)
    if m:
        start, end = int(m.group(2)), int(m.group(3))
        end_full = end if end >= 1000 else (start // 100) * 100 + end + (100 if end < start % 100 else 0)
        if end_full != start + 1:
            return None, f"{t!r} is not a financial year (the years are not consecutive); {MEASURE_PERIOD_HELP}"
        return (f"Target {start % 100:02d}-{end_full % 100:02d}" if m.group(1) else f"{start}-{end_full}"), None
    m = re.fullmatch(r"target (\d{2})-(\d{2})", low)
    if m and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
        return f"Target {m.group(1)}-{m.group(2)}", None
    if re.search(r"\bq[1-4]\b|quarter", low):
        return None, (f"{t!r} is a quarter: the measures table holds one value a year; write it under its year "
                      "(such as 2026-2027) if it is the year's latest value")
    return None, f"period {t!r} not recognised; {MEASURE_PERIOD_HELP}"


_YEAR_PERIOD = re.compile(r"^\d{4}-\d{4}$")


def _check_measures(spec, typed, rows, bad):
    """Measures: periods read or quarantined (never dropped), one value per measure and period,
    counts not negative, a fraction (0.696) for a percent measure read as 69.6% with a note when the
    measure's other values say so, else quarantined."""

    problems, notes = [], []
    m_bad = pd.Series(False, index=typed.index)

    def q(idx, col, reason):
        problems.append({"input": spec.key, "file": spec.rel_path, "row": int(rows[idx]), "column": col,
                         "value": typed.at[idx, col], "reason": reason})
        m_bad[idx] = True

    for idx in typed.index[~bad]:
        p, reason = normalise_period(typed.at[idx, "period"])
        if p is None:
            q(idx, "period", reason)
        elif p != typed.at[idx, "period"]:
            typed.at[idx, "period"] = p
    ok = ~bad & ~m_bad
    key = typed["measure_ref"].str.strip() + "\x00" + typed["period"].str.strip().str.lower()
    for _k, g in typed[ok].groupby(key[ok], sort=False):
        if len(g) < 2:
            continue
        values = g["value_raw"].str.strip()
        first = int(rows[g.index[0]])
        if values.nunique() == 1:
            for idx in g.index[1:]:
                q(idx, "period", f"duplicate of row {first} (same measure, period and value)")
        else:
            shown = " and ".join(f"row {rows[i]} ({typed.at[i, 'value_raw']!r})" for i in g.index)
            for idx in g.index:
                q(idx, "period", f"two values for one measure and period: {shown}; keep the right one")
    unit = typed["unit"].str.strip().str.lower() if "unit" in typed else pd.Series("", index=typed.index)
    ok = ~bad & ~m_bad
    parsed = {idx: parse_measure_value(typed.at[idx, "value_raw"]) for idx in typed.index[ok]}
    fixed = 0
    for idx, v in parsed.items():
        if v.status != "value" or v.value is None or typed.at[idx, "period"] in ("Performance",):
            continue
        if v.value < 0 and v.unit in ("number", "days", "per_10k", "per_100k") and \
                unit[idx] in ("number", "days", "", "per_10k", "per_100k"):
            q(idx, "value_raw", "a count or rate cannot be negative")
        elif unit[idx] == "percent" and v.unit == "number" and 0 < abs(v.value) < 1:
            ref = typed.at[idx, "measure_ref"]
            others = [o.value for j, o in parsed.items() if j != idx and typed.at[j, "measure_ref"] == ref
                      and o.status == "value" and o.value is not None and o.unit == "percent"]
            if others and all(abs(o) >= 1 for o in others) and \
                    min(others) / 3 <= abs(v.value) * 100 <= max(others) * 3:
                new = f"{v.value * 100:.10g}%"
                notes.append(f"row {rows[idx]}: {typed.at[idx, 'value_raw']!r} for a percentage measure ({ref}) read as "
                             f"{new}: a fraction, where the measure's other values are percentages")
                typed.at[idx, "value_raw"] = new
                fixed += 1
            else:
                q(idx, "value_raw", f"{typed.at[idx, 'value_raw']!r} for a percentage measure looks like a fraction "
                                    f"({v.value * 100:.10g}%?) and the measure's other values do not settle it; "
                                    "write it as a percentage such as 69.6%")
    return typed, m_bad, problems, notes, fixed


def _check_ratings(spec, typed, rows) -> None:
    """Deliverables' ratings on the pack's scale (Strong, Good, Review, Action; blank is not rated).
    Any other word (Red, Amber, Green, "On track") stops the build: its place on the scale is the
    council's to say, not the pack's to guess."""
    r = typed["rating"].fillna("").astype(str).str.strip()
    mapped = r.str.lower().map(DELIVERABLE_RATINGS)
    unknown = mapped.isna()
    if unknown.any():
        cells = "; ".join(f"row {rows[i]}: {r[i]!r}" for i in typed.index[unknown][:6])
        rag = r[unknown].str.lower().isin(["red", "amber", "green", "r", "a", "g", "amber/green", "red/amber"]).any()
        raise InputError(f"{spec.rel_path} (input '{spec.key}'), column rating: {unknown.sum()} rating(s) not on the "
                         f"pack's scale (Strong, Good, Review, Action, or blank for not rated): {cells}. "
                         + ("Red/Amber/Green is not the pack's key: rewrite each rating on the council's scale "
                            "(for example Green as Good, Amber as Review, Red as Action, if that is what they mean)"
                            if rag else "Rewrite them on that scale"))
    typed["rating"] = mapped


_NUMBER_RE = r"^(?P<lead>[-(]?)\s*£?\s*(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)\s*(?P<trail>[-)]?)$"
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2009\u202f\u2007\u2008\u200a"), None)
_MINUSES = str.maketrans({"\u2212": "-", "\u2012": "-", "\u2013": "-", "\uFE63": "-", "\uFF0D": "-"})
MAX_NUMBER = 1e12  # a £m figure or a count of a trillion is a broken cell, not a value


def parse_number_series(text: pd.Series) -> pd.Series:
    """Numbers as finance systems print them -> float: "1.5", "£1,234.5", "(0.5)" and "0.5-" (negative),
    "−0.5" (Unicode minus), "0.5CR" (a credit: negative) and "0.5DR", no-break or thin spaces as
    thousands separators; "-", "–" or "nil" (zero). Blank and anything else -> NaN (the caller tells
    them apart); so are infinity, NaN text and magnitudes of a trillion or more."""
    t = text.astype(str).str.strip().str.translate(_SPACES).str.translate(_MINUSES)
    nil = t.str.lower().isin(["-", "–", "—", "nil"])
    credit = t.str.contains(r"\d\s*CR$", case=False, regex=True)
    debit = t.str.contains(r"\d\s*DR$", case=False, regex=True)
    t = t.where(~(credit | debit), t.str.replace(r"\s*(?:CR|DR|cr|dr|Cr|Dr)$", "", regex=True))
    m = t.str.extract(_NUMBER_RE)
    value = pd.to_numeric(m["num"].str.replace(",", "", regex=False), errors="coerce")
    lead, trail = m["lead"].fillna(""), m["trail"].fillna("")
    ok = value.notna() & ((lead == "(") == (trail == ")")) & ~((lead == "-") & (trail == "-"))
    neg = (lead == "-") | (trail == "-") | ((lead == "(") & (trail == ")"))
    plain = pd.to_numeric(t.where(t.str.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,3})?")),
                          errors="coerce")  # 1e-3 and the like; never "inf" or "nan"
    out = value.where(ok).mul(neg.map({True: -1.0, False: 1.0}))
    out = out.where(ok, plain)
    out = out.where(~credit, -out.abs()).where(~(credit & neg & ok), float("nan"))
    out = out.where(out.abs() < MAX_NUMBER)
    return out.mask(nil, 0.0)
