"""Finance ledger extracts as councils' systems export them (CSV or Excel): find the header row
under any title rows, map human headings to cspack's names, drop blank, subtotal and total rows by
rule (reconciling each against the detail), read money exactly as integer pence, and map cost
centres to service lines. Rows read = rows kept + subtotal/total rows + blank rows + rows
quarantined; an unmapped cost centre stops the run with every such code and its total listed."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.inputs import heading_key
from pipeline.ingest.ledger_files import cell_text, decode, excel_error_cells, fill_merged_down, has_merges
from pipeline.ingest.ledger_periods import financial_year_of, month_of_period, parse_month_series
from pipeline.ingest.parsing import ParseError, money_convention, money_series, parse_pence

MONEY_COLUMNS = ["budget_annual", "budget_month", "actual", "commitment", "forecast_full_year"]
# heading as exported (normalised: lower case, letters and digits) -> cspack column
HEADINGS = {
    "financialyear": "financial_year", "finyear": "financial_year", "fy": "financial_year", "year": "financial_year",
    "period": "period", "periodno": "period", "month": "month", "monthname": "month",
    "costcentre": "cost_centre", "costcenter": "cost_centre", "costcentrecode": "cost_centre", "cc": "cost_centre",
    "costcentrename": "cost_centre_name", "costcentredescription": "cost_centre_name", "description": "cost_centre_name",
    "servicelinecode": "service_line_id", "servicelineid": "service_line_id", "serviceline": "service_line",
    "division": "division", "subjective": "subjective", "subjectiveheading": "subjective",
    "annualbudget": "budget_annual", "budgetannual": "budget_annual", "budget": "budget_annual",
    "currentbudget": "budget_annual", "budgetmonth": "budget_month", "monthlybudget": "budget_month",
    "actual": "actual", "actuals": "actual", "actualmonth": "actual", "commitment": "commitment",
    "commitments": "commitment", "forecastoutturn": "forecast_full_year", "forecastfullyear": "forecast_full_year",
    "forecast": "forecast_full_year", "fullyearforecast": "forecast_full_year",
}
REQUIRED = ["cost_centre", "actual"]
TOTAL_RE = re.compile(r"^\s*(?:grand\s+total|sub-?\s*total|total|overall\s+result|result)\b", re.I)
# a cost-centre cell that is a subtotal label: "Total", "Result", "Overall Result" (SAP BEx), "C200 Result"
CC_TOTAL_RE = re.compile(r"^\s*(?:grand\s+total|sub-?\s*total|total|overall\s+result|result)\b|\bresult\s*$", re.I)
# two-row headers: a group heading ("Budget", merged over two cells) above sub-headings ("Month", "Annual")
GROUP_WORDS = {"budget", "budgets", "forecast", "actual", "actuals", "commitment", "commitments", "spend", "costcentre"}
SUB_WORDS = {"month", "monthly", "annual", "year", "fullyear", "ytd", "yeartodate", "outturn", "current", "original",
             "revised", "code", "name", "description"}
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
Q_COLUMNS = ["input", "file", "sheet", "row", "column", "value", "reason"]


class LedgerError(ValueError):
    """A ledger that cannot be used as it stands; the message names file, sheet, row and column."""


@dataclass
class LedgerResult:
    path: str
    sheet: str | None
    header_row: int  # 1-based row of the (last) header row in the file
    rows_read: int  # rows below the header
    kept: pd.DataFrame  # canonical columns, money as Int64 pence
    quarantined: pd.DataFrame  # rows set aside whole: input, file, sheet, row, column, value, reason
    totals: pd.DataFrame  # the subtotal and total rows dropped, with their reconciliation
    blank_rows: int
    total_rows: int  # subtotal and total rows dropped
    encoding: str
    notes: list[str] = field(default_factory=list)
    duplicate_rows: int = 0  # exact copies of an earlier detail row: dropped, never counted twice
    cells: pd.DataFrame | None = None  # money cells that could not be read: the value set aside, the row kept
    fixes: pd.DataFrame | None = None  # kept rows changed by a documented rule: row, column, value, note
    delimiter: str = ","
    decimal: str = "."
    row_places: dict = field(default_factory=dict)  # file row of each problem -> (financial year, month) or None

    @property
    def reconciles(self) -> bool:
        return self.rows_read == (len(self.kept) + self.total_rows + self.blank_rows + self.duplicate_rows
                                  + self.quarantined["row"].nunique())


# a unit in a heading other than pounds: "Annual Budget (£000)", "Actual £k", "Forecast 000s", "Budget £m"
_UNIT = re.compile(r"\(?\s*(?:£\s*(?:000s?|'000s?|k|m|million|thousands?)|000s|'000s?|thousands|in thousands|"
                   r"millions|in millions)\s*\)?", re.I)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _read_rows(path: Path, sheet: str | None) -> tuple[list[list[str]], str, str | None, set, list[str], str]:
    """All cells as text, no header assumed. Returns rows, encoding (or 'xlsx'), sheet used, the
    (row, column) positions of Excel number cells holding more than pence, notes, delimiter."""
    suffix = path.suffix.lower()
    notes: list[str] = []
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        try:
            import python_calamine

            wb = python_calamine.CalamineWorkbook.from_path(str(path))
            visible = {m.name: m.visible == python_calamine.SheetVisibleEnum.Visible for m in wb.sheets_metadata}
            book = pd.read_excel(path, sheet_name=None, header=None, dtype=object, engine="calamine")
        except Exception as exc:  # calamine raises its own error types for broken files
            raise LedgerError(f"{path.name}: not a readable Excel workbook ({exc})") from exc
        hidden = [n for n in book if not visible.get(n, True)]
        if sheet is not None:
            if sheet not in book:
                raise LedgerError(f"{path.name}: no sheet {sheet!r}; sheets are {', '.join(book)}")
            candidates = [sheet]
            if sheet in hidden:
                notes.append(f"sheet {sheet!r} is hidden in the workbook; read because the params name it")
        else:
            candidates = [n for n in book if n not in hidden]
            if hidden:
                notes.append(f"hidden sheet(s) not read: {', '.join(hidden)}")
        errors_in = excel_error_cells(path) if suffix in (".xlsx", ".xlsm") else None
        merges = has_merges(path) if suffix in (".xlsx", ".xlsm") else False
        for name in candidates:
            cells = book[name].values.tolist()
            filled = fill_merged_down(wb, name, cells) if merges else 0
            for (i, j), err in (errors_in(name) if errors_in else {}).items():
                if i < len(cells) and j < len(cells[i]):
                    cells[i][j] = err  # "#REF!": refused as an amount, never read as a blank (nil) cell
            rows, noisy = [], set()
            for i, r in enumerate(cells):
                row = []
                for j, v in enumerate(r):
                    t, noise = cell_text(v)
                    row.append(t)
                    if noise:
                        noisy.add((i, j))
                rows.append(row)
            if _find_header(rows) is not None:
                if filled:
                    notes.append(f"{filled:,} cell(s) under a value merged down over several rows read as that "
                                 "value on each row, as the sheet shows it")
                return rows, "xlsx", name, noisy, notes, ""
        shown = ", ".join(f"{n} (hidden)" if n in hidden else n for n in book)
        raise LedgerError(f"{path.name}: no visible sheet has a ledger header (cost centre and actual columns); "
                          f"sheets are {shown}")
    raw = path.read_bytes()
    if not raw.strip():
        raise LedgerError(f"{path.name}: the file is empty")
    enc = decode(path, raw)
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        raise LedgerError(f"{path.name}: not readable as {enc} text at byte {exc.start}; save it as UTF-8 CSV") from exc
    if enc.startswith("utf-16"):
        notes.append("read as UTF-16 text (Excel's \"Unicode text\"), not UTF-8")
    elif enc == "cp1252":
        notes.append("read as Windows-1252 (cp1252) text, not UTF-8")
    text = text.lstrip("\ufeff")
    head = "\n".join(text.splitlines()[:40])
    def all_rows(source: str, delim: str) -> list[list[str]]:
        reader = csv.reader(io.StringIO(source), delimiter=delim)
        try:
            return list(reader)
        except csv.Error as exc:  # a field over 128 KB: an unclosed quotation mark, or not a ledger
            raise LedgerError(f"{path.name}: line {reader.line_num}: not a readable CSV row ({exc}); a cell this long "
                              "is usually an unclosed quotation mark or the wrong file") from exc

    for delim in DELIMITERS:
        rows = all_rows(head, delim)
        if _find_header(rows) is not None:
            if delim != ",":
                notes.append(f"fields separated by {DELIMITERS[delim]}s, not commas")
            return all_rows(text, delim), enc, None, set(), notes, delim
    return all_rows(text, ","), enc, None, set(), notes, ","


def _find_header(rows: list[list[str]], scan: int = 30) -> int | None:
    for i, row in enumerate(rows[:scan]):
        mapped = {HEADINGS.get(_norm(c)) for c in row if str(c).strip()}
        if all(r in mapped for r in REQUIRED):
            return i
        # a two-row header: the required columns appear once the rows are combined. Not when the row below
        # is a whole header on its own (a title or blank row above it is not the header's first row)
        below = {HEADINGS.get(_norm(c)) for c in rows[i + 1] if str(c).strip()} if i + 1 < len(rows) else set()
        if i + 1 < len(rows) and any(str(c).strip() for c in row) and not all(r in below for r in REQUIRED):
            mapped = {HEADINGS.get(_norm(c)) for c in _combine(row, rows[i + 1]) if c.strip()}
            if all(r in mapped for r in REQUIRED) and _is_sub_row(rows[i + 1]):
                return i
    return None


def _is_sub_row(row: list[str]) -> bool:
    """A second heading row: words only (no digits), short, at least one a sub-heading (Month, Annual)."""
    raw = [str(c).strip() for c in row if str(c).strip()]
    cells = [_norm(c) for c in raw]
    return (bool(cells) and not any(re.search(r"\d", c) for c in raw) and all(len(c.split()) <= 3 for c in raw)
            and any(c in SUB_WORDS for c in cells))


def _is_group_row(row: list[str]) -> bool:
    cells = [_norm(c) for c in row if str(c).strip()]
    return bool(cells) and all(c in GROUP_WORDS for c in cells)


def _combine(top: list[str], bottom: list[str]) -> list[str]:
    """Two header rows as one: a group heading merged over several cells (Excel keeps it in the first)
    is carried right over blank cells and prefixed to each sub-heading under it."""
    width = max(len(top), len(bottom))
    top = list(top) + [""] * (width - len(top))
    bottom = list(bottom) + [""] * (width - len(bottom))
    out, group = [], ""
    for t, b in zip(top, bottom):
        t, b = str(t).strip(), str(b).strip()
        if t:
            group = t
        elif b and _norm(b) not in SUB_WORDS:
            group = ""  # a full heading of its own: the merged group ended before it
        if b and t:
            out.append(f"{t} {b}")
        elif b and group:
            out.append(f"{group} {b}")
        else:
            out.append(b or t)
    return out


def _resolve_header(rows: list[list[str]], h: int, where: str) -> tuple[list[str], int, str | None]:
    """The header cells, the index of the last header row, and a note when two rows were combined."""
    header = [str(c).strip() for c in rows[h]]
    if h + 1 < len(rows) and _is_sub_row(rows[h + 1]):
        pair, last = (rows[h], rows[h + 1]), h + 1
    elif h > 0 and _is_group_row(rows[h - 1]) and any(_norm(c) in SUB_WORDS for c in header if c):
        pair, last = (rows[h - 1], rows[h]), h
    else:
        return header, h, None
    combined = _combine(*pair)
    bottom = [str(c).strip() for c in pair[1]] + [""] * len(combined)
    joined = [(j, c) for j, c in enumerate(combined) if c and c != bottom[j] and bottom[j]]
    if not joined:  # nothing combined: the row above or below added no heading
        return header, h, None
    unresolved = [(j, c) for j, c in joined if not HEADINGS.get(_norm(c))]
    if unresolved:
        j, c = unresolved[0]
        raise LedgerError(f"{where}, rows {last}-{last + 1}, column {j + 1}: a two-row header whose combined heading "
                          f"{c!r} is not a ledger column (expected e.g. Budget over Month and Annual); put one "
                          "heading row in the file")
    shown = ", ".join(repr(c) for _, c in joined)
    return combined, last, f"two header rows (rows {last}-{last + 1}) read as one: {shown}"


def read_ledger(path, mapping: pd.DataFrame | None = None, sheet: str | None = None,
                input_key: str = "ledger", mapping_name: str = "the cost-centre mapping") -> LedgerResult:
    path = Path(path)
    rows, encoding, sheet_used, noisy, notes, delim = _read_rows(path, sheet)
    where = f"{path.name}" + (f", sheet {sheet_used!r}" if sheet_used else "")
    how = ([f"read as {encoding}"] if encoding not in ("xlsx", "utf-8", "utf-8-sig") else []) + \
        ([f"{DELIMITERS[delim]}-separated"] if delim not in (",", "") else [])
    if how:
        where += f" ({', '.join(how)})"
    h = _find_header(rows)
    if h is None:
        raise LedgerError(f"{where}: no header row with a cost centre and an actual column in the first 30 rows")
    header, last, note = _resolve_header(rows, h, where)
    if note:
        notes.append(note)
    columns, ignored = [], []
    for j, c in enumerate(header):
        name = HEADINGS.get(_norm(c))
        if name is not None and name in columns:
            raise LedgerError(f"{where}, row {last + 1}, column {j + 1}: two columns mean {name!r} ({c!r}); keep one")
        if name is None and c:
            unit = _UNIT.search(str(c))
            if unit and HEADINGS.get(_norm(_UNIT.sub(" ", str(c)))):
                raise LedgerError(f"{where}, row {last + 1}, column {j + 1}: heading {c!r} gives amounts in "
                                  f"{unit.group(0).strip(' ()')}; cspack reads a ledger in pounds and pence, and would "
                                  "read these a thousand or a million times too small. Export the amounts in pounds "
                                  f"(heading {_UNIT.sub(' ', str(c)).strip()!r})")
            ignored.append(c)
        columns.append(name)
    if ignored:
        notes.append(f"column(s) not used by the pack, ignored: {', '.join(ignored)}")
    width = len(header)
    first = last + 1
    quarantine, fixes, cells = [], [], []

    def q(row, column, value, reason, into=quarantine):
        into.append({"input": input_key, "file": path.name, "sheet": sheet_used or "", "row": row,
                     "column": column, "value": value, "reason": reason})

    body, ragged = [], set()
    for i, r in enumerate(rows[first:], start=first):
        if len(r) > width and any(c.strip() for c in r[width:]):
            ragged.add(i + 1)
            q(i + 1, "(whole row)", ",".join(r)[:120],
              f"{len(r)} fields against {width} headings: a value with an unquoted comma (such as 2,815,470.98) "
              "shifts the columns; quote it or export amounts without thousands separators")
        body.append((r + [""] * width)[:width])
    df = pd.DataFrame(body, columns=[c or f"_extra{j}" for j, c in enumerate(columns)], dtype=object)
    numeric = pd.DataFrame(False, index=df.index, columns=df.columns)
    for (i, j) in noisy:
        if i >= first:
            numeric.iat[i - first, j] = True
    df = df[[c for c in df.columns if not c.startswith("_extra")]].apply(lambda s: s.astype(str).str.strip())
    df["_row"] = range(first + 1, first + 1 + len(df))
    blank = (df.drop(columns="_row") == "").all(axis=1)
    descriptor_cols = [c for c in ("cost_centre_name", "service_line", "subjective", "division") if c in df]
    desc_total = (df[descriptor_cols].apply(lambda s: s.str.match(TOTAL_RE)).any(axis=1)
                  if descriptor_cols else pd.Series(False, index=df.index))
    is_total = ~blank & (((df["cost_centre"] == "") & desc_total) | df["cost_centre"].str.contains(CC_TOTAL_RE))
    is_total &= ~df["_row"].isin(ragged)
    detail = df[~blank & ~is_total & ~df["_row"].isin(ragged)].copy()
    # an exact copy of an earlier detail row, in a balances extract (one row per cost centre and month,
    # carrying the annual budget or forecast), is dropped (never counted twice) and reported; a list of
    # transactions (no budget or forecast column) can hold two identical payments, so they are kept and counted
    dup = detail.drop(columns="_row").duplicated(keep="first")
    balances = "budget_annual" in detail or "forecast_full_year" in detail
    dup_rows = detail.loc[dup, "_row"].tolist()
    shown_rows = f"rows {', '.join(map(str, dup_rows[:8]))}{', ...' if len(dup_rows) > 8 else ''}"
    if dup_rows and balances:
        notes.append(f"{len(dup_rows)} row(s) exact copies of an earlier row, dropped so their budget and spend are "
                     f"not counted twice ({shown_rows})")
        detail = detail[~dup]
    elif dup_rows:
        notes.append(f"{len(dup_rows)} row(s) identical to an earlier row kept: a list of transactions (no budget "
                     f"column) can hold two identical payments ({shown_rows})")
        dup_rows = []
    money_cols = [c for c in MONEY_COLUMNS if c in detail]
    text_cells = set()
    for c in money_cols:
        vals, num = detail[c].to_numpy(), numeric.loc[detail.index, c].to_numpy(dtype=bool)
        text_cells.update(vals[~num].tolist())
    try:
        decimal, dnote = money_convention(text_cells)
    except ParseError as exc:
        raise LedgerError(f"{where}: {exc}") from exc
    if dnote:
        notes.append(dnote)
    pence = {}
    for col in money_cols:
        values, errors, fixed = money_series(detail[col], decimal, numeric.loc[detail.index, col])
        for idx, reason in errors.items():
            q(int(detail.at[idx, "_row"]), col, detail.at[idx, col], reason, cells)
        for idx, fnote in fixed.items():
            fixes.append({"row": int(detail.at[idx, "_row"]), "column": col, "value": detail.at[idx, col], "note": fnote})
        pence[col] = values.array
    if "financial_year" in detail:
        fy_text = detail["financial_year"]
        fy = fy_text.map({v: financial_year_of(v) for v in fy_text.unique()})
        for idx in detail.index[fy.isna() & (fy_text != "")]:
            q(detail.at[idx, "_row"], "financial_year", fy_text[idx],
              "expected a financial year such as 2026-27 (or 2026/27, 2026-2027)")
        detail["financial_year"] = fy.fillna("")
    bad_cc = detail["cost_centre"] == ""
    for row in detail.loc[bad_cc, "_row"]:
        q(row, "cost_centre", "", "required value is blank")
    if "period" in detail:
        # "6", "06", "P06", "Period 6", "6.0" -> 6; 1-16 (13-16 are year-end adjustments)
        num = detail["period"].str.extract(r"(?i)^\s*(?:p|per|period)?\s*0*(\d{1,2})(?:\.0+)?\s*$")[0]
        per = pd.to_numeric(num, errors="coerce")
        bad_per = (detail["period"] != "") & ~per.between(1, 16)
        for idx in detail.index[bad_per]:
            q(detail.at[idx, "_row"], "period", detail.at[idx, "period"], "expected a period number from 1 to 16")
        if "month" not in detail:
            for idx in detail.index[detail["period"] == ""]:
                q(detail.at[idx, "_row"], "period", "", "period is blank and there is no month column")
        detail["period"] = per.where(~bad_per).astype("Int64").astype(str).replace("<NA>", "")
    if "month" in detail:
        month, bad_month = parse_month_series(detail["month"])
        for row, text in zip(detail.loc[bad_month, "_row"], detail.loc[bad_month, "month"]):
            q(row, "month", text, "expected a month such as 2026-04, Apr-26, April 2026, 01/04/2026 or an Excel date")
        no_month = month.isna() & ~bad_month
        if no_month.any():
            if "period" in detail and "financial_year" in detail:
                filled = month_of_period(detail["financial_year"], detail["period"])
                for idx in detail.index[no_month]:
                    if pd.isna(filled[idx]):
                        q(detail.at[idx, "_row"], "month", "", "month is blank and the period does not give one")
                    else:
                        month[idx] = filled[idx]
                        fixes.append({"row": int(detail.at[idx, "_row"]), "column": "month", "value": "",
                                      "note": f"blank month filled from period {detail.at[idx, 'period']} "
                                              f"({filled[idx]:%B %Y})"})
            else:
                for row in detail.loc[no_month, "_row"]:
                    q(row, "month", "", "month is blank and there is no period column to take it from")
        if "financial_year" in detail:
            fy_start = pd.to_numeric(detail["financial_year"].str[:4], errors="coerce")
            m_index = month.dt.year * 12 + month.dt.month - 4  # April of year y -> 12y
            outside = month.notna() & fy_start.notna() & ((m_index < fy_start * 12) | (m_index > fy_start * 12 + 11))
            for row, text, fy in zip(detail.loc[outside, "_row"], detail.loc[outside, "month"],
                                     detail.loc[outside, "financial_year"]):
                q(row, "month", text, f"month outside financial year {fy} (April to March)")
        detail["month"] = month
    qdf = pd.DataFrame(quarantine, columns=Q_COLUMNS)
    for col, arr in pence.items():
        detail[col] = arr
    bad_rows = set(qdf["row"])
    kept = detail[~detail["_row"].isin(bad_rows)].copy()
    if "period" in kept:
        kept["period"] = pd.to_numeric(kept["period"], errors="coerce").astype("Int64")
    if "month" not in kept and "period" in kept and "financial_year" in kept:
        kept["month"] = month_of_period(kept["financial_year"], kept["period"])
    totals = _reconcile_totals(df, is_total, blank, detail, decimal)
    if mapping is not None:
        kept = _map_cost_centres(kept, mapping, where, mapping_name)
    cdf = pd.DataFrame(cells, columns=Q_COLUMNS)
    cdf = cdf[~cdf["row"].isin(bad_rows)].reset_index(drop=True)
    places = {}
    problem_rows = set(qdf["row"]) | set(cdf["row"])
    if problem_rows:
        month_of = detail["month"] if "month" in detail else (
            month_of_period(detail["financial_year"], detail["period"]) if "period" in detail and "financial_year"
            in detail else pd.Series(pd.NaT, index=detail.index))
        for idx in detail.index[detail["_row"].isin(problem_rows)]:
            fy = detail.at[idx, "financial_year"] if "financial_year" in detail else ""
            m = month_of[idx]
            if fy and not pd.isna(m):  # a month outside its row's year: the later of the two years, so a row
                by_month = f"{m.year - (m.month < 4)}-{(m.year - (m.month < 4) + 1) % 100:02d}"  # of this year
                fy = max(fy, by_month)  # is never taken for an earlier year's (whose loss is only a warning)
            places[int(detail.at[idx, "_row"])] = (fy or None, None if pd.isna(m) else pd.Timestamp(m))
    result = LedgerResult(str(path), sheet_used, last + 1, len(df), kept.drop(columns="_row").reset_index(drop=True),
                          qdf, totals, int(blank.sum()), int(is_total.sum()), encoding, notes,
                          duplicate_rows=len(dup_rows), cells=cdf,
                          fixes=pd.DataFrame(fixes, columns=["row", "column", "value", "note"]),
                          delimiter=delim or ",", decimal=decimal, row_places=places)
    return result










def _reconcile_totals(df, is_total, blank, detail, decimal=".") -> pd.DataFrame:
    """Each subtotal against the detail rows since the previous subtotal, or, where a report prints
    subtotals above their detail, against the detail rows up to the next subtotal; a grand total
    against all. ``position`` says which (below / above / all)."""
    out = []
    start = 0
    idx = list(df.index)
    totals_at = [int(p) for p in np.flatnonzero(is_total.reindex(idx).to_numpy(dtype=bool))]
    for k, pos in enumerate(totals_at):
        i = idx[pos]
        label = next((df.at[i, c] for c in ("cost_centre_name", "service_line", "subjective", "cost_centre")
                      if c in df and df.at[i, c]), "")
        grand = bool(re.match(r"\s*(grand\s+total|overall\s+result)", label, re.I))
        nxt = totals_at[k + 1] if k + 1 < len(totals_at) else len(idx)
        before = detail if grand else detail.loc[[j for j in idx[start:pos] if j in detail.index]]
        after = detail.loc[[j for j in idx[pos + 1:nxt] if j in detail.index]]
        rows = []
        for col in [c for c in ("actual", "budget_month", "budget_annual") if c in df]:
            text = df.at[i, col]
            if not text:
                continue
            try:
                shown = parse_pence(text, decimal)
            except ParseError:
                shown = None
            b = int(pd.array(before[col], dtype="Int64").sum()) if col in before else None
            a = int(pd.array(after[col], dtype="Int64").sum()) if col in after else None
            rows.append((col, shown, b, a))
        above = (not grand and rows and len(after) and not all(s == b for _, s, b, _ in rows)
                 and all(s == a for _, s, _, a in rows))
        for col, shown, b, a in rows:
            computed = a if above else b
            out.append({"row": int(df.at[i, "_row"]), "label": label, "column": col, "shown_pence": shown,
                        "detail_pence": computed, "agrees": shown == computed,
                        "position": "all" if grand else "above" if above else "below"})
        if not grand:
            start = nxt if above else pos + 1
    return pd.DataFrame(out, columns=["row", "label", "column", "shown_pence", "detail_pence", "agrees", "position"])


MAPPING_COLUMNS = ("cost_centre", "service_line_id", "service_line", "division", "subjective", "cost_centre_name")


LEDGER_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")


def ledger_files(path: Path) -> list[Path]:
    """A ledger input's files: the file itself, or a folder's files named ledger* (CSV or Excel), in name order."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().startswith("ledger")
                  and p.suffix.lower() in LEDGER_SUFFIXES)


def read_mapping_csv(path: Path, label: str, error: type[Exception] = LedgerError) -> pd.DataFrame:
    """The cost-centre mapping CSV read and normalised (``normalise_mapping``); a file that is not a readable
    UTF-8 CSV raises ``error`` with ``label`` (where it was named) in one line."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise error(f"{label}: not a readable UTF-8 CSV ({str(exc).splitlines()[0]})") from None
    return normalise_mapping(raw, label)


def normalise_mapping(mapping: pd.DataFrame, name: str = "the cost-centre mapping") -> pd.DataFrame:
    """A cost-centre mapping with cspack's column names, whatever headings people gave it ("Cost Centre",
    "Service Line", "Cost Centre Name"). Raises LedgerError naming the file and the headings it needs."""
    rename = {}
    for c in mapping.columns:
        key = HEADINGS.get(_norm(c)) or heading_key(c)
        if key in MAPPING_COLUMNS and key not in rename.values():
            rename[c] = key
        elif key == "placement_category":
            rename[c] = key
    m = mapping.rename(columns=rename)
    if "cost_centre" not in m or "service_line_id" not in m and "service_line" not in m:
        need = "cost_centre" if "cost_centre" not in m else "service_line_id (or service_line)"
        raise LedgerError(f"{name}: no {need} column; found {', '.join(map(str, mapping.columns))}. Expected headings "
                          "cost_centre, cost_centre_name, service_line_id, service_line, division, subjective")
    if "service_line_id" not in m:
        m["service_line_id"] = m["service_line"].map(lambda v: re.sub(r"[^a-z0-9]+", "_", str(v).lower()).strip("_"))
    m["cost_centre"] = m["cost_centre"].astype(str).str.strip()
    cols = [c for c in ("service_line_id", "service_line", "division") if c in m]
    clash = m.drop_duplicates(["cost_centre"] + cols)
    clash = clash[clash["cost_centre"].duplicated(keep=False)]
    if len(clash):
        codes = ", ".join(dict.fromkeys(clash["cost_centre"]))
        raise LedgerError(f"{name}: cost centre(s) {codes} mapped to more than one service line or division; "
                          "keep one row per cost centre")
    return m


def _map_cost_centres(kept: pd.DataFrame, mapping: pd.DataFrame, where: str,
                      mapping_name: str = "the cost-centre mapping") -> pd.DataFrame:
    m = normalise_mapping(mapping, mapping_name).drop_duplicates("cost_centre").set_index("cost_centre")
    unknown = kept[~kept["cost_centre"].isin(m.index)]
    if len(unknown):
        totals = unknown.groupby("cost_centre")["actual"].sum(min_count=1)
        listing = "; ".join(f"{cc} (actual £{int(p) / 100:,.2f})" if pd.notna(p) else f"{cc} (actual unreadable)"
                            for cc, p in totals.items())
        raise LedgerError(f"{where}: {len(totals)} cost centre(s) not in {mapping_name}: {listing}. "
                          "Add them to the mapping file with their service line and division (or correct the code)")
    for col in ("service_line_id", "service_line", "division", "subjective", "cost_centre_name"):
        if col in m:
            mapped = kept["cost_centre"].map(m[col])
            kept[col] = mapped if col not in kept or (kept[col] == "").all() else kept[col].where(kept[col] != "", mapped)
    return kept
