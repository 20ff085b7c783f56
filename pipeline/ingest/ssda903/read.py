"""Reading one collection year's SSDA903 return (CSV, DfE XML or Excel) and finding the returns in a folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903.codes import (
    EPISODE_CODES,
    EPISODE_COLUMNS,
    HEADER_COLUMNS,
    MISSING_COLUMNS,
    UASC_COLUMNS,
    check_collection_year,
    collection_year_in_name,
    date_order,
    normalise_child,
    normalise_code,
    parse_collection_year,
    parse_dates,
    year_start,
)

# ---- reading one collection year's return (CSV, DfE XML or Excel) ----------------------------------------
TABLES = ("episodes", "header", "uasc", "missing")



DATE_COLUMNS = {"episodes": ["DECOM", "DEC"], "header": ["DOB", "MC_DOB"], "uasc": ["DOB", "DUC"],
                "missing": ["DOB", "MIS_START", "MIS_END"]}



# columns a return must have; the others (REASON_PLACE_CHANGE from 2015-16, URN, postcodes) are blank when absent
NEED = {"episodes": ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC"], "header": ["CHILD", "SEX", "DOB", "ETHNIC"], "uasc": ["CHILD", "DOB", "DUC"],
        "missing": ["CHILD", "MISSING", "MIS_START", "MIS_END"]}



XML_EPISODE = {"PL": "PLACE"}  # DfE's XML element names that differ from the CSV columns



# headings some systems write for DfE's columns (after upper-casing and joining words with "_")
_ALIAS = {"CHILDID": "CHILD", "CHILD_ID": "CHILD", "PL": "PLACE"}



def _read_xml(path: Path) -> dict[str, pd.DataFrame]:
    """DfE's SSDA903 XML submission (``<EXPSSDA903><CHILD><HEADER>...<EPISODE>...``) as the CSV tables.
    Row numbers are the element's place in the file (1st episode = row 1, and so on)."""
    import xml.etree.ElementTree as ET

    head = path.read_bytes()[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise ValueError(f"{path.name}: XML with a DOCTYPE or entity declarations is not read (DfE's SSDA903 XML "
                         "has none)")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path.name}: not well-formed XML ({exc})") from None
    for el in root.iter():  # a namespaced submission (xmlns="...") read by its local element names
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    rows = {t: [] for t in TABLES}

    def text(el, tag):
        x = el.find(tag) if el is not None else None
        return (x.text or "").strip() if x is not None and x.text else ""

    for child in root.iter("CHILD"):
        h = child.find("HEADER")
        cid = text(h, "CHILDID") or text(child, "CHILDID")
        if h is not None:
            rows["header"].append({"CHILD": cid, **{c: text(h, c) for c in HEADER_COLUMNS[1:]}})
            duc = text(h, "DUC") or text(h.find("UASC"), "DUC")  # <UASC>1</UASC><DUC>..</DUC> in DfE's layout
            if duc:
                rows["uasc"].append({"CHILD": cid, "SEX": text(h, "SEX"), "DOB": text(h, "DOB"), "DUC": duc})
            for a in h.iter("AMISSING"):
                rows["missing"].append({"CHILD": cid, "DOB": text(h, "DOB"), "MISSING": text(a, "MISSING"),
                                        "MIS_START": text(a, "MIS_START"), "MIS_END": text(a, "MIS_END")})
        for ep in child.iter("EPISODE"):
            r = {"CHILD": cid}
            for el in ep:
                r[XML_EPISODE.get(el.tag, el.tag)] = (el.text or "").strip()
            rows["episodes"].append(r)
    out = {}
    for t, cols in (("episodes", EPISODE_COLUMNS), ("header", HEADER_COLUMNS), ("uasc", UASC_COLUMNS),
                    ("missing", MISSING_COLUMNS)):
        if rows[t] or t in ("episodes", "header"):
            df = pd.DataFrame(rows[t])
            for c in cols:
                if c not in df:
                    df[c] = ""
            df = df.fillna("")
            df["_row"] = np.arange(len(df)) + 1
            df.attrs["file"] = path.name
            out[t] = df
    return out



def _heading(c) -> str:
    h = re.sub(r"[\s_]+", "_", str(c).strip().upper())
    return _ALIAS.get(h, h)



def _header_line(cells: list[list]) -> int:
    """The index of the first of the first ten rows that holds the CHILD heading (title rows above the table,
    as some exports write, are skipped); 0 when none does, so the error names the columns found."""
    for i, row in enumerate(cells[:10]):
        if "CHILD" in {_heading(c) for c in row}:
            return i
    return 0



def _read_sheetlike(path: Path, sheet=0) -> pd.DataFrame:
    """A CSV file or a worksheet as text, headings normalised (``_heading``); the table may sit below title
    rows, and a CSV may be separated by semicolons, tabs or bars instead of commas (detected on its heading
    line). ``_row`` is the file's row number."""
    if path.suffix.lower() == ".csv":
        raw = path.read_bytes()
        for enc in (("utf-16",) if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ()) + ("utf-8-sig", "cp1252"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        import io
        lines = text.splitlines()[:10]
        seps = [max(",;\t|", key=ln.count) for ln in lines]
        skip = _header_line([ln.split(sep) for ln, sep in zip(lines, seps)])
        sep = seps[skip] if lines and lines[skip].count(seps[skip]) else ","
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skiprows=skip, sep=sep)
        df["_row"] = np.arange(len(df)) + 2 + skip  # the file's row number, header being row 1 + skip
    else:
        try:
            df = pd.read_excel(path, sheet_name=sheet, dtype=str, keep_default_na=False,
                               engine="openpyxl" if path.suffix.lower() in (".xlsx", ".xlsm") else "calamine")
        except Exception as exc:  # a damaged or encrypted workbook: one clear line, never a traceback
            raise ValueError(f"{path.name}" + (f", sheet {sheet}" if isinstance(sheet, str) else "")
                             + f": could not be read as an Excel workbook ({type(exc).__name__}: {exc})") from None
        skip = 0
        if "CHILD" not in {_heading(c) for c in df.columns}:
            skip = _header_line(df.astype(str).values.tolist()) + 1 if len(df) else 0
            if skip and "CHILD" in {_heading(c) for c in df.iloc[skip - 1]}:
                df.columns = list(df.iloc[skip - 1])
                df = df.iloc[skip:].reset_index(drop=True)
            else:
                skip = 0
        df["_row"] = np.arange(len(df)) + 2 + skip
    df.columns = [c if c == "_row" else _heading(c) for c in df.columns]
    df = df.fillna("")
    return df



_TOKEN = {"episodes": "episode", "header": "header", "uasc": "uasc", "missing": "missing"}
_NOT_TABLE = ("sw_episode", "sw episode", "social_worker", "social worker")  # the 2023-24 social worker table



EXCEL = (".xlsx", ".xlsm", ".xls", ".ods")  # .xls (Excel 97-2003) and .ods read with python-calamine



def _sheets(book: Path) -> dict[str, str]:
    """A workbook's visible sheets, ``{name lower-cased and stripped: name}`` (hidden sheets are never read)."""
    import python_calamine

    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(book))
        meta = wb.sheets_metadata
    except Exception as exc:  # a damaged or encrypted workbook: one clear line, never a traceback
        raise ValueError(f"{book.name}: could not be read as a workbook ({type(exc).__name__}: {exc})") from None
    return {m.name.strip().lower(): m.name for m in meta if m.visible == python_calamine.SheetVisibleEnum.Visible}



def _find_files(folder: Path) -> dict[str, tuple[Path, object]]:
    """Where each table of a return is: ``{table: (path, sheet)}``; CSV first, then Excel, then XML."""
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file() and not p.name.startswith(("~$", "."))}
    found = {}
    for t in TABLES:
        for ext in (".csv",) + EXCEL:
            if t + ext in files:
                found[t] = (files[t + ext], 0)
                break
    for t in ("episodes", "header"):  # named by the council's system: SSDA903_2015_Episodes.csv, 903 header.xlsx
        if t in found:
            continue
        like = [p for n, p in sorted(files.items()) if n.endswith((".csv",) + EXCEL)
                and _TOKEN[t] in n and not any(x in n for x in _NOT_TABLE)]
        if len(like) > 1:
            raise ValueError(f"{folder.name}: {len(like)} files could be the {t} table ({', '.join(p.name for p in like)}); "
                             f"keep one, or name it {t}.csv")
        if like:
            sheet = _sheets(like[0]).get(t, 0) if like[0].suffix.lower() in EXCEL else 0
            found[t] = (like[0], sheet)
    if "episodes" not in found:
        for b in [p for n, p in sorted(files.items()) if n.endswith(EXCEL)]:
            sheets = _sheets(b)
            for t in TABLES:
                if t in sheets and t not in found:
                    found[t] = (b, sheets[t])
    if "episodes" not in found:
        xmls = [p for n, p in sorted(files.items()) if n.endswith(".xml")]
        if len(xmls) > 1:
            raise ValueError(f"{folder.name}: {len(xmls)} XML files ({', '.join(p.name for p in xmls)}); keep one "
                             "SSDA903 submission per collection year's folder")
        if xmls:
            return {"xml": (xmls[0], None)}
    return found



def read_return(folder: Path) -> dict[str, pd.DataFrame]:
    """The tables of one collection year's return (episodes, header, and uasc/missing if present), from
    DfE-named CSV files (episodes.csv, header.csv, ...), an Excel workbook (episodes.xlsx, or one workbook
    with sheets named Episodes, Header, ...) or DfE's XML submission; as text with blank rows dropped,
    CHILD and codes normalised and dates parsed into ``*_date`` columns (episodes). Each table's attrs
    hold its file, blank rows and how its dates are written."""
    folder = Path(folder)
    where = _find_files(folder)
    if "xml" in where:
        tables = _read_xml(where["xml"][0])
    else:
        for name in ("episodes", "header"):
            if name not in where:
                raise ValueError(f"{folder.name}: no {name}.csv in this collection year's folder (expected episodes.csv "
                                 "and header.csv, as DfE's SSDA903 files are named; or episodes.xlsx and header.xlsx, "
                                 "a workbook with sheets Episodes and Header, or DfE's XML submission)")
        tables = {}
        for t, (p, sheet) in where.items():
            df = _read_sheetlike(p, sheet)
            df.attrs["file"] = p.name + (f" (sheet {sheet})" if isinstance(sheet, str) else "")
            tables[t] = df
    out = {}
    for t, df in tables.items():
        missing = [c for c in NEED[t] if c not in df]
        if missing:
            raise ValueError(f"{folder.name}/{df.attrs['file']}: missing column(s) {', '.join(missing)}; "
                             f"found {', '.join(c for c in df.columns if c != '_row')}")
        for c in {"episodes": EPISODE_COLUMNS, "header": HEADER_COLUMNS}.get(t, []):
            if c not in df:
                df[c] = ""
        data = df.drop(columns="_row")
        nonblank = (data.apply(lambda c: c.astype(str).str.strip()) != "").any(axis=1)
        attrs = dict(df.attrs)
        d = df[nonblank].reset_index(drop=True)
        for c in d.columns:
            if c != "_row":
                d[c] = d[c].astype(str)
        d["CHILD"] = normalise_child(d["CHILD"])
        for c in (EPISODE_CODES if t == "episodes" else ["SEX", "ETHNIC", "MISSING"]):
            if c in d:
                d[c] = normalise_code(d[c])
        for c in DATE_COLUMNS[t]:
            if c in d:
                d[c] = d[c].str.strip()
        order, n_dmy, n_mdy = date_order([d[c] for c in DATE_COLUMNS[t] if c in d])
        attrs.update(blank_rows=int((~nonblank).sum()), date_order=order, date_evidence=(n_dmy, n_mdy))
        d.attrs = attrs
        out[t] = d
    eps = out["episodes"]
    if not len(eps):
        raise ValueError(f"{folder.name}/{eps.attrs.get('file', 'episodes')}: no episodes read (a return lists every "
                         "child looked after in its year); check the file is this year's SSDA903 episodes")
    for col in ("DECOM", "DEC"):
        eps[f"{col}_date"] = parse_dates(eps[col], eps.attrs["date_order"])
    return out



def find_returns(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The collection years' folders inside an SSDA903 input: ``({"2024-25": path}, notes)``. A folder named
    as a collection year (``2024-25``, ``2024-2025``, ``2024_25``) is that year; a folder whose name is built
    around one year (``SSDA903 2024-25``, ``2024-25 final``) is read as that year with a note, unless a folder
    named exactly as the year exists (so ``2024-25 - Copy`` beside ``2024-25`` is ignored); any other folder
    (``old``) is ignored with a note. A collection year outside the code lists, or two folders for one year
    neither named exactly as it, is a ValueError naming them."""
    folder = Path(folder)
    exact, loose, notes = {}, {}, []
    for p in sorted(folder.iterdir()):
        if not p.is_dir():
            continue
        y = parse_collection_year(p.name)
        if y is not None:
            if y in exact:
                raise ValueError(f"two folders for collection year {y}: '{exact[y].name}' and '{p.name}'; keep one")
            exact[y] = p
            continue
        y = collection_year_in_name(p.name)
        if y is None:
            notes.append(f"folder '{p.name}' is not named as a collection year (like 2024-25) and was not read")
            continue
        loose.setdefault(y, []).append(p)
    years = dict(exact)
    for y, ps in loose.items():
        names = ", ".join(f"'{p.name}'" for p in ps)
        if y in exact:
            notes.append(f"folder{'s' if len(ps) > 1 else ''} {names} not read: collection year {y} is read from "
                         f"'{exact[y].name}'")
            continue
        if len(ps) > 1:
            raise ValueError(f"two folders for collection year {y}: {names}; keep one, or name the one to read {y}")
        years[y] = ps[0]
        notes.append(f"folder '{ps[0].name}' read as collection year {y} (name it {y} to silence this note)")
    for y in years:
        check_collection_year(y)
    return dict(sorted(years.items())), notes



def year_counts(episodes: pd.DataFrame, collection_year: str) -> dict[str, int]:
    """DfE-style counts for one return: children starting, ceasing, and looked after at the end of
    the year (31 March; for a part-year return, its last date)."""
    y = year_start(collection_year)
    start, end = pd.Timestamp(y, 4, 1), pd.Timestamp(y + 1, 3, 31)
    started = episodes.loc[(episodes["RNE"] == "S") & episodes["DECOM_date"].between(start, end), "CHILD"].nunique()
    ceased_mask = episodes["DEC_date"].between(start, end) & ~episodes["REC"].isin(["X1", ""])
    ceased = episodes.loc[ceased_mask, "CHILD"].nunique()
    open_at_end = episodes["DEC_date"].isna() & (episodes["DECOM_date"] <= end)
    return {"starts": int(started), "ceased": int(ceased), "at_end": int(episodes.loc[open_at_end, "CHILD"].nunique())}
