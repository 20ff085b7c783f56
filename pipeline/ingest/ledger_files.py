"""Reading a ledger file's cells as text: an Excel cell's value as the text a finance system printed (and
whether it was a formula result), merged cells filled down, Excel error cells found in a workbook's XML,
and a CSV's bytes decoded (UTF-8, UTF-16, Windows-1252). Used by ``pipeline.ingest.ledger``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def cell_text(v) -> tuple[str, bool]:
    """An Excel cell as text, and whether it was a number cell holding more than pence (formula noise)."""
    import datetime as _dt
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "", False
    if isinstance(v, bool):
        return str(v), False
    if isinstance(v, (pd.Timestamp, _dt.datetime)):
        return v.strftime("%Y-%m-%d") if (v.hour, v.minute, v.second) == (0, 0, 0) else v.isoformat(sep=" "), False
    if isinstance(v, _dt.date):
        return v.isoformat(), False
    if isinstance(v, float):
        if math.isinf(v):
            return repr(v), False
        if v == int(v) and abs(v) < 1e15:
            return str(int(v)), False
        if abs(v) >= 1e15:
            return repr(v), False  # refused as an amount: too large to be money
        from decimal import Decimal

        t = format(Decimal(repr(v)), "f")  # 1e-10 (a formula's zero) as 0.0000000001, never scientific
        return t, len(t.split(".")[1]) > 2
    return str(v), False


def has_merges(path: Path) -> bool:
    """Whether any sheet of a workbook has merged cells (a look at its XML: calamine parses a sheet again
    to list them, which is done only when there are some)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any(b"<mergeCell " in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    except (zipfile.BadZipFile, KeyError, OSError):
        return False


def fill_merged_down(wb, sheet: str, cells: list[list]) -> int:
    """A value merged down over several rows (a cost centre merged over its months, as a formatted report
    does) is in the merge's first cell only; the sheet shows it on each row, so each row is given it.
    Merges across columns only (a heading over Month and Annual) are left to the header reader.
    Returns how many cells were filled."""
    try:
        ranges = wb.get_sheet_by_name(sheet).merged_cell_ranges or []
    except Exception:  # a format calamine keeps no merges for (.xls, .ods): nothing to fill
        return 0
    n = 0
    for (r0, c0), (r1, c1) in ranges:
        if r1 <= r0 or r0 >= len(cells):
            continue
        for j in range(c0, c1 + 1):
            if j >= len(cells[r0]):
                continue
            top = cells[r0][j]
            for i in range(r0 + 1, min(r1 + 1, len(cells))):
                if j < len(cells[i]):
                    cells[i][j] = top
                    n += 1
    return n


def excel_error_cells(path: Path):
    """Excel error cells (#REF!, #N/A, #DIV/0!) of a workbook, which calamine reads as empty: a function
    giving {(row, column): "#REF!"} (0-based) for a sheet, or None when the workbook holds none (a quick
    look at its XML first: openpyxl reads a sheet only when there is an error to find)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            if not any(b't="e"' in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/")):
                return None
    except (zipfile.BadZipFile, KeyError, OSError):
        return None

    def errors(sheet: str) -> dict:
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            out = {}
            for row in wb[sheet].iter_rows():
                for c in row:
                    if getattr(c, "data_type", None) == "e" and c.value is not None:
                        out[(c.row - 1, c.column - 1)] = str(c.value)
            return out
        finally:
            wb.close()

    return errors


def decode(path: Path, raw: bytes) -> str:
    """Text of a CSV, with the encoding named: UTF-16 (by its byte-order mark, or its zero bytes),
    UTF-8 (with or without a mark), else Windows-1252."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    sample = raw[:4000]
    if sample.count(b"\x00") > len(sample) // 4:
        return "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"
