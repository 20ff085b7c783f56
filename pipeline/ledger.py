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

import pandas as pd

from .parsing import ParseError, parse_pence, parse_pence_series

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
TOTAL_RE = re.compile(r"^\s*(grand\s+total|sub-?\s*total|total)\b", re.I)


class LedgerError(ValueError):
    """A ledger that cannot be used as it stands; the message names file, sheet, row and column."""


@dataclass
class LedgerResult:
    path: str
    sheet: str | None
    header_row: int  # 1-based row of the header in the file
    rows_read: int  # rows below the header
    kept: pd.DataFrame  # canonical columns, money as Int64 pence
    quarantined: pd.DataFrame  # input, file, sheet, row, column, value, reason
    totals: pd.DataFrame  # the subtotal and total rows dropped, with their reconciliation
    blank_rows: int
    total_rows: int  # subtotal and total rows dropped
    encoding: str
    notes: list[str] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.rows_read == len(self.kept) + self.total_rows + self.blank_rows + self.quarantined["row"].nunique()



def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


def _read_rows(path: Path, sheet: str | None) -> tuple[list[list[str]], str, str | None]:
    """All cells as text, no header assumed. Returns rows, encoding (or 'xlsx'), sheet used."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        try:
            book = pd.read_excel(path, sheet_name=None, header=None, dtype=str, engine="calamine")
        except Exception as exc:  # calamine raises its own error types for broken files
            raise LedgerError(f"{path.name}: not a readable Excel workbook ({exc})") from exc
        if sheet is not None:
            if sheet not in book:
                raise LedgerError(f"{path.name}: no sheet {sheet!r}; sheets are {', '.join(book)}")
            candidates = [sheet]
        else:
            candidates = list(book)
        for name in candidates:
            rows = book[name].fillna("").astype(str).values.tolist()
            if _find_header(rows) is not None:
                return rows, "xlsx", name
        raise LedgerError(f"{path.name}: no sheet has a ledger header (cost centre and actual columns); "
                          f"sheets are {', '.join(book)}")
    raw = path.read_bytes()
    if not raw.strip():
        raise LedgerError(f"{path.name}: the file is empty")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    return [row for row in csv.reader(io.StringIO(text))], enc, None


def _find_header(rows: list[list[str]], scan: int = 30) -> int | None:
    for i, row in enumerate(rows[:scan]):
        mapped = {HEADINGS.get(_norm(c)) for c in row if c.strip()}
        if all(r in mapped for r in REQUIRED):
            return i
    return None


def read_ledger(path, mapping: pd.DataFrame | None = None, sheet: str | None = None,
                input_key: str = "ledger") -> LedgerResult:
    path = Path(path)
    rows, encoding, sheet_used = _read_rows(path, sheet)
    where = f"{path.name}" + (f", sheet {sheet_used!r}" if sheet_used else "")
    h = _find_header(rows)
    if h is None:
        raise LedgerError(f"{where}: no header row with a cost centre and an actual column in the first 30 rows")
    header = rows[h]
    columns = []
    for c in header:
        name = HEADINGS.get(_norm(c))
        if name in columns:
            raise LedgerError(f"{where}, row {h + 1}: two columns mean {name!r} ({c!r}); keep one")
        columns.append(name)
    width = len(header)
    body = [(r + [""] * width)[:width] for r in rows[h + 1:]]
    df = pd.DataFrame(body, columns=[c or f"_extra{j}" for j, c in enumerate(columns)], dtype=object)
    df = df[[c for c in df.columns if not c.startswith("_extra")]].apply(lambda s: s.astype(str).str.strip())
    df["_row"] = range(h + 2, h + 2 + len(df))
    notes = []
    if encoding == "cp1252":
        notes.append("read as Windows-1252 (cp1252) text, not UTF-8")
    blank = (df.drop(columns="_row") == "").all(axis=1)
    descriptor_cols = [c for c in ("cost_centre_name", "service_line", "subjective", "division") if c in df]
    is_total = (df["cost_centre"] == "") & ~blank & df[descriptor_cols].apply(
        lambda s: s.str.match(TOTAL_RE)).any(axis=1)
    detail = df[~blank & ~is_total].copy()
    quarantine = []
    pence = {}
    for col in [c for c in MONEY_COLUMNS if c in detail]:
        values, bad = parse_pence_series(detail[col])
        for row, text in zip(detail.loc[bad, "_row"], detail.loc[bad, col]):
            try:
                parse_pence(text)
                reason = "expected an amount"  # pragma: no cover - the two parsers agree (tested)
            except ParseError as exc:
                reason = str(exc)
            quarantine.append({"input": input_key, "file": path.name, "sheet": sheet_used or "", "row": row,
                               "column": col, "value": text, "reason": reason})
        pence[col] = values.array
    bad_cc = detail["cost_centre"] == ""
    for row in detail.loc[bad_cc, "_row"]:
        quarantine.append({"input": input_key, "file": path.name, "sheet": sheet_used or "", "row": row,
                           "column": "cost_centre", "value": "", "reason": "required value is blank"})
    if "month" in detail:
        month, bad_month = parse_month_series(detail["month"])
        for row, text in zip(detail.loc[bad_month, "_row"], detail.loc[bad_month, "month"]):
            quarantine.append({"input": input_key, "file": path.name, "sheet": sheet_used or "", "row": row,
                               "column": "month", "value": text,
                               "reason": "expected a month such as 2026-04, Apr-26, April 2026 or 01/04/2026"})
        if "financial_year" in detail:
            fy_start = pd.to_numeric(detail["financial_year"].str[:4], errors="coerce")
            m_index = month.dt.year * 12 + month.dt.month - 4  # April of year y -> 12y
            outside = month.notna() & fy_start.notna() & ((m_index < fy_start * 12) | (m_index > fy_start * 12 + 11))
            for row, text, fy in zip(detail.loc[outside, "_row"], detail.loc[outside, "month"],
                                     detail.loc[outside, "financial_year"]):
                quarantine.append({"input": input_key, "file": path.name, "sheet": sheet_used or "", "row": row,
                                   "column": "month", "value": text,
                                   "reason": f"month outside financial year {fy} (April to March)"})
        detail["month"] = month
    q = pd.DataFrame(quarantine, columns=["input", "file", "sheet", "row", "column", "value", "reason"])
    for col, arr in pence.items():
        detail[col] = arr
    bad_rows = set(q["row"])
    kept = detail[~detail["_row"].isin(bad_rows)].copy()
    if "period" in kept:
        kept["period"] = pd.to_numeric(kept["period"], errors="coerce").astype("Int64")
    if "month" not in kept and "period" in kept and "financial_year" in kept:
        kept["month"] = month_of_period(kept["financial_year"], kept["period"])
    totals = _reconcile_totals(df, is_total, blank, detail)
    if mapping is not None:
        kept = _map_cost_centres(kept, mapping, where)
    result = LedgerResult(str(path), sheet_used, h + 1, len(df), kept.drop(columns="_row").reset_index(drop=True),
                          q, totals, int(blank.sum()), int(is_total.sum()), encoding, notes)
    return result


_MONTH_FORMATS = ("%Y-%m", "%b-%y", "%b %Y", "%B %Y", "%b-%Y", "%B-%Y", "%m/%Y", "%Y%m", "%d/%m/%Y", "%Y-%m-%d",
                  "%b %y", "%B %y")


def parse_month_series(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ledger months as finance systems print them ("2026-04", "Apr-26", "April 2026", "04/2026",
    "01/04/2026") -> the first day of the month; returns (months, invalid) where invalid marks
    non-blank text that is not a month. Blank stays missing."""
    t = text.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    todo = t != ""
    for fmt in _MONTH_FORMATS:
        if not todo.any():
            break
        got = pd.to_datetime(t.where(todo), format=fmt, errors="coerce")
        hit = got.notna() & todo
        out[hit] = got[hit]
        todo &= ~hit
    out = out.dt.to_period("M").dt.to_timestamp()
    return out, todo & (t != "")


def month_of_period(financial_year: pd.Series, period: pd.Series) -> pd.Series:
    """Period 1 of 2026-27 is April 2026 ... period 12 is March 2027 (13+ are year-end adjustments:
    March)."""
    start = pd.to_numeric(financial_year.astype(str).str[:4], errors="coerce")
    p = pd.to_numeric(period, errors="coerce").clip(upper=12)
    months = (start * 12 + 3 + p - 1)  # April = month index 3 (0-based)
    ok = months.notna()
    out = pd.Series(pd.NaT, index=period.index, dtype="datetime64[ns]")
    out[ok] = pd.to_datetime({"year": (months[ok] // 12).astype(int), "month": (months[ok] % 12 + 1).astype(int),
                              "day": 1})
    return out


def _reconcile_totals(df, is_total, blank, detail) -> pd.DataFrame:
    """Each subtotal against the detail rows since the previous subtotal; a grand total against all."""
    out = []
    start = 0
    idx = list(df.index)
    for pos, i in enumerate(idx):
        if not is_total[i]:
            continue
        label = next((df.at[i, c] for c in ("cost_centre_name", "service_line", "subjective") if c in df and df.at[i, c]), "")
        grand = bool(re.match(r"\s*grand\s+total", label, re.I))
        scope = detail if grand else detail.loc[[j for j in idx[start:pos] if j in detail.index]]
        for col in [c for c in ("actual", "budget_month", "budget_annual") if c in df]:
            text = df.at[i, col]
            if not text:
                continue
            try:
                shown = parse_pence(text)
            except ParseError:
                shown = None
            computed = int(pd.array(scope[col], dtype="Int64").sum()) if col in scope else None
            out.append({"row": int(df.at[i, "_row"]), "label": label, "column": col, "shown_pence": shown,
                        "detail_pence": computed, "agrees": shown == computed})
        if not grand:
            start = pos + 1
    return pd.DataFrame(out, columns=["row", "label", "column", "shown_pence", "detail_pence", "agrees"])


def _map_cost_centres(kept: pd.DataFrame, mapping: pd.DataFrame, where: str) -> pd.DataFrame:
    m = mapping.drop_duplicates("cost_centre").set_index("cost_centre")
    unknown = kept[~kept["cost_centre"].isin(m.index)]
    if len(unknown):
        totals = unknown.groupby("cost_centre")["actual"].sum()
        listing = "; ".join(f"{cc} (actual £{int(p) / 100:,.2f})" for cc, p in totals.items())
        raise LedgerError(f"{where}: {len(totals)} cost centre(s) not in the cost-centre mapping: {listing}. "
                          "Add them to the mapping file with their service line and division (or correct the code)")
    for col in ("service_line_id", "service_line", "division", "subjective", "cost_centre_name"):
        if col in m:
            mapped = kept["cost_centre"].map(m[col])
            kept[col] = mapped if col not in kept or (kept[col] == "").all() else kept[col].where(kept[col] != "", mapped)
    return kept
