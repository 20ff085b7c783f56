"""Reading a ledger's months, periods and financial years (\"Apr-24\", period 1 to 12 of 2024-25,
Excel serial dates): used by the ledger reader, kept apart so ledger.py stays one concern."""

from __future__ import annotations

import re

import pandas as pd

_MONTH_FORMATS = ("%Y-%m", "%b-%y", "%b %Y", "%B %Y", "%b-%Y", "%B-%Y", "%m/%Y", "%Y%m", "%d/%m/%Y", "%Y-%m-%d",
                  "%b %y", "%B %y", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S",
                  # UK dates with a two-digit year (30/09/26) and Oracle's 30-SEP-26 / 30-Sep-2026
                  "%d/%m/%y", "%d-%b-%y", "%d-%b-%Y", "%d %b %Y", "%d %B %Y")


def parse_month_series(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ledger months as finance systems print them ("2026-04", "Apr-26", "April 2026", "04/2026",
    "01/04/2026", "30/04/26", "30-APR-26", an Excel date cell, or an Excel date serial such as 46266 in a
    CSV) -> the first day
    of the month; returns (months, invalid) where invalid marks non-blank text that is not a month.
    Blank stays missing."""
    t = text.astype(str).str.strip()
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns]")
    todo = t != ""
    # Excel date serials (days since 30 December 1899): 36526 is 1 January 2000, 73051 is 31 December 2099
    serial = t.str.fullmatch(r"\d{5}(?:\.0+)?") & todo
    if serial.any():
        n = pd.to_numeric(t[serial], errors="coerce")
        ok = n.between(36526, 73051)
        got = pd.Timestamp("1899-12-30") + pd.to_timedelta(n[ok], unit="D")
        out[got.index] = got
        todo &= ~(serial & out.notna())
    for fmt in _MONTH_FORMATS:
        if not todo.any():
            break
        cand = t.where(todo)
        if fmt == "%Y%m":  # only 6 digits starting 19 or 20: never a serial read as year 4611
            cand = cand.where(cand.str.fullmatch(r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])", na=False))
        try:
            got = pd.to_datetime(cand, format=fmt, errors="coerce")
        except (ValueError, OverflowError):  # pragma: no cover - errors="coerce" should cover these
            continue
        # a month outside 1900-2100 ("4611-03": a serial read as a year) is not a month: never a timestamp error
        hit = got.notna() & todo & got.dt.year.between(1900, 2100)
        if hit.any():
            out[hit] = got[hit].astype("datetime64[ns]")
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


def financial_year_of(text: str) -> str | None:
    """A financial year as finance systems print it ("2026-27", "2026/27", "2026-2027", "FY2026/27",
    "FY 26/27") -> "2026-27"; None when it is not one (the two years must be consecutive)."""
    t = str(text).strip().lower()
    m = re.fullmatch(r"(?:fy\s*)?(\d{4}|\d{2})\s*[-/–]\s*(\d{4}|\d{2})", t)
    if not m:
        return None
    a, b = m.group(1), m.group(2)
    start = int(a) if len(a) == 4 else 2000 + int(a)
    end = int(b) if len(b) == 4 else (start // 100) * 100 + int(b) + (100 if int(b) < start % 100 else 0)
    return f"{start}-{end % 100:02d}" if end == start + 1 else None

