"""SSDA903 children-looked-after returns: versioned code lists, placement categories, the
episode-history rules cspack enforces itself, and counts (starts, ceased, 31 March) from a return.

Code lists live in ``reference/ssda903_codes.csv`` with the first and last collection year each code
is valid for and its source (the DfE's own validator, ``csc-validator-be-903``, which pins pandas<2
and so is not a dependency)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).resolve().parent / "reference"
EPISODE_COLUMNS = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                   "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"]
HEADER_COLUMNS = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]
UASC_COLUMNS = ["CHILD", "SEX", "DOB", "DUC"]
MISSING_COLUMNS = ["CHILD", "SEX", "DOB", "MISSING", "MIS_START", "MIS_END"]
DATE_FORMAT = "%d/%m/%Y"  # as DfE's return files write dates

# cspack's placement categories (issue 6), in display order
CATEGORIES = ["in_house_fostering", "agency_fostering", "kinship_fostering", "in_house_childrens_home",
              "external_childrens_home", "secure", "supported_accommodation", "placed_with_parents",
              "placed_for_adoption", "other"]
CATEGORY_LABELS = {
    "in_house_fostering": "In-house fostering", "agency_fostering": "Agency fostering",
    "kinship_fostering": "Kinship (connected) fostering", "in_house_childrens_home": "In-house children's homes",
    "external_childrens_home": "External children's homes", "secure": "Secure children's homes",
    "supported_accommodation": "Supported and independent accommodation (16+)",
    "placed_with_parents": "Placed with parents", "placed_for_adoption": "Placed for adoption", "other": "Other placements",
}


# collection years with code lists (reference/ssda903_codes.csv): 2013-14 to 2026-27
FIRST_YEAR, LAST_YEAR = 2013, 2026
_YEAR_RE = re.compile(r"^\s*(\d{4})\s*[-_/]\s*(\d{2}|\d{4})\s*$")


def parse_collection_year(name: str) -> str | None:
    """``"2024-25"`` (also ``2024-2025``, ``2024_25``) -> ``"2024-25"``; anything else -> None."""
    m = _YEAR_RE.match(str(name))
    if not m:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    if (len(m.group(2)) == 2 and b != (a + 1) % 100) or (len(m.group(2)) == 4 and b != a + 1):
        return None
    return collection_year_label(a)


def check_collection_year(label: str) -> str:
    """The label of a collection year cspack has code lists for, or a ValueError naming it."""
    y = parse_collection_year(label)
    if y is None:
        raise ValueError(f"{label!r} is not a collection year (expected a name like 2024-25)")
    if not FIRST_YEAR <= int(y[:4]) <= LAST_YEAR:
        raise ValueError(f"collection year {y}: cspack's SSDA903 code lists cover "
                         f"{collection_year_label(FIRST_YEAR)} to {collection_year_label(LAST_YEAR)} only; "
                         f"add {y}'s codes to pipeline/reference/ssda903_codes.csv (from DfE's guidance for that year)")
    return y


def year_start(collection_year: str) -> int:
    """``"2024-25"`` -> 2024."""
    y = parse_collection_year(collection_year)
    if y is None:
        raise ValueError(f"{collection_year!r} is not a collection year (expected a name like 2024-25)")
    return int(y[:4])


def collection_year_label(start: int) -> str:
    return f"{start}-{(start + 1) % 100:02d}"


@lru_cache(maxsize=1)
def code_table() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "ssda903_codes.csv", dtype=str, keep_default_na=False)


@lru_cache(maxsize=256)
def _valid(field: str, collection_year: str) -> frozenset:
    check_collection_year(collection_year)
    y = year_start(collection_year)
    return frozenset(code for f, code, first, last in _code_years() if f == field and first <= y <= last)


@lru_cache(maxsize=1)
def _code_years() -> tuple:
    t = code_table()
    return tuple((f, c.strip().upper(), int(a[:4]), int(b[:4]) if b else 9999)
                 for f, c, a, b in zip(t["field"], t["code"], t["first_year"], t["last_year"]))


def valid_codes(field: str, collection_year: str) -> set[str]:
    """Codes valid for ``field`` in a collection year such as ``"2024-25"`` (2013-14 to 2026-27; any other
    year is a ValueError naming it)."""
    return set(_valid(field, collection_year))


def place_category(place: pd.Series, provider: pd.Series) -> pd.Series:
    """cspack's placement category from PLACE and PLACE_PROVIDER, for the codes of every collection year
    from 2013-14: foster codes Q1/Q2 (before U1-U6), adoption A1/A2 (before A3-A6), H5 and P2 (before K3),
    Z1 and its 2025-26 split Z11-Z14 (other)."""
    place = normalise_code(place)
    provider = normalise_code(provider)
    out = pd.Series("other", index=place.index, dtype=object)
    out[place.isin(["U1", "U2", "U3", "Q1"])] = "kinship_fostering"
    foster = place.isin(["U4", "U5", "U6", "Q2"])
    out[foster & provider.isin(["PR1"])] = "in_house_fostering"
    out[foster & ~provider.isin(["PR1"])] = "agency_fostering"
    home = place.eq("K2")
    out[home & provider.eq("PR1")] = "in_house_childrens_home"
    out[home & ~provider.eq("PR1")] = "external_childrens_home"
    out[place.eq("K1")] = "secure"
    out[place.isin(["H5", "K3", "P2"])] = "supported_accommodation"
    out[place.eq("P1")] = "placed_with_parents"
    out[place.isin(["A1", "A2", "A3", "A4", "A5", "A6"])] = "placed_for_adoption"
    return out


# ---- normalising codes, identifiers and dates ---------------------------------------------------------
EPISODE_CODES = ["RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REC", "REASON_PLACE_CHANGE"]


def normalise_code(s: pd.Series) -> pd.Series:
    """Codes as DfE writes them: upper case, no spaces (``' k3 '`` -> ``'K3'``); ``1.0`` -> ``1``."""
    t = s.fillna("").astype(str)
    if t.str.fullmatch(r"[A-Z0-9]*").all():
        return t
    t = t.str.replace(r"\s+", "", regex=True).str.upper()
    return t.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


def normalise_child(s: pd.Series) -> pd.Series:
    """CHILD without surrounding or inner spaces (NBSP included) and without the ``.0`` a spreadsheet adds
    to a number."""
    t = s.fillna("").astype(str)
    if not t.str.contains(r"[\s\u00a0\u2007\u202f]|\.0+$", regex=True).any():
        return t
    t = t.str.replace(r"[\s\u00a0\u2007\u202f]+", "", regex=True)
    return t.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


_ISO = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
_YMD = r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?$"
_DMY = r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
_SERIAL = r"^(\d{5})(?:\.0+)?$"


def date_order(columns: list[pd.Series]) -> tuple[str, int, int]:
    """How a file writes dd/mm against mm/dd, judged over all its date columns (never per cell):
    ``("dmy" | "mdy" | "mixed", n_day_first, n_month_first)`` where n_day_first counts dates whose first
    part is over 12 and n_month_first those whose second is. With no evidence either way: DfE's dmy."""
    dfirst = mfirst = 0
    for s in columns:
        t = s.fillna("").astype(str).str.strip()
        t = t[t.str.len().between(8, 10) & t.str[:2].str.isdigit()]
        m = t.str.extract(_DMY)
        a, b = pd.to_numeric(m[0], errors="coerce"), pd.to_numeric(m[1], errors="coerce")
        dfirst += int(((a > 12) & (b <= 12)).sum())
        mfirst += int(((b > 12) & (a <= 12)).sum())
    order = "mixed" if dfirst and mfirst else "mdy" if mfirst else "dmy"
    return order, dfirst, mfirst


def parse_dates(text: pd.Series, order: str = "dmy") -> pd.Series:
    """Dates as councils' systems write them: dd/mm/yyyy as DfE does (or mm/dd/yyyy when ``order`` is
    "mdy", detected per file by ``date_order``), ISO yyyy-mm-dd with or without a time
    (``2019-04-01T00:00:00``, ``2019-04-01 00:00:00``), yyyy/mm/dd, and Excel serial day numbers. Anything
    else (and impossible dates such as 31/02) becomes NaT, caught by rule bad_date."""
    t = text.fillna("").astype(str).str.strip()
    # fast paths for the two common layouts, then the patterns below for what is left
    out = pd.to_datetime(t.where(t.str.len() == 10), format="%m/%d/%Y" if order == "mdy" else DATE_FORMAT,
                         errors="coerce")
    left = out.isna() & (t != "")
    if left.any():
        out = out.fillna(pd.to_datetime(t.where(left & (t.str.len() == 10)), format="%Y-%m-%d", errors="coerce"))
    if not (out.isna() & (t != "")).any():
        return out.astype("datetime64[ns]")

    def put(y, m, d, mask):
        mask = mask & out.isna()
        if mask.any():
            frame = pd.DataFrame({"year": pd.to_numeric(y[mask]), "month": pd.to_numeric(m[mask]),
                                  "day": pd.to_numeric(d[mask])})
            ok = frame["year"].between(1900, 2200)
            got = pd.to_datetime(frame[ok], errors="coerce")
            out.loc[got.index] = got

    iso = t.str.extract(_ISO)
    put(iso[0], iso[1], iso[2], iso[0].notna())
    ymd = t.str.extract(_YMD)
    put(ymd[0], ymd[1], ymd[2], ymd[0].notna())
    dmy = t.str.extract(_DMY)
    first, second = (dmy[1], dmy[0]) if order == "mdy" else (dmy[0], dmy[1])
    put(dmy[2], second, first, dmy[0].notna())
    serial = pd.to_numeric(t.str.extract(_SERIAL)[0], errors="coerce")
    ok = serial.between(20000, 80000) & out.isna()
    if ok.any():
        out.loc[ok] = pd.Timestamp(1899, 12, 30) + pd.to_timedelta(serial[ok], unit="D")
    return out


# ---- reading one collection year's return (CSV, DfE XML or Excel) ----------------------------------------
TABLES = ("episodes", "header", "uasc", "missing")
DATE_COLUMNS = {"episodes": ["DECOM", "DEC"], "header": ["DOB", "MC_DOB"], "uasc": ["DOB", "DUC"],
                "missing": ["DOB", "MIS_START", "MIS_END"]}
# columns a return must have; the others (REASON_PLACE_CHANGE from 2015-16, URN, postcodes) are blank when absent
NEED = {"episodes": ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC"], "header": ["CHILD", "SEX", "DOB", "ETHNIC"], "uasc": ["CHILD", "DOB", "DUC"],
        "missing": ["CHILD", "MISSING", "MIS_START", "MIS_END"]}
XML_EPISODE = {"PL": "PLACE"}  # DfE's XML element names that differ from the CSV columns


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


def _read_sheetlike(path: Path, sheet=0) -> pd.DataFrame:
    if path.suffix.lower() == ".csv":
        raw = path.read_bytes()
        for enc in ("utf-8-sig", "cp1252"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        import io
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        df["_row"] = np.arange(len(df)) + 2  # the file's row number, header being row 1
    else:
        try:
            df = pd.read_excel(path, sheet_name=sheet, dtype=str, keep_default_na=False, engine="openpyxl")
        except Exception as exc:  # a damaged or encrypted workbook: one clear line, never a traceback
            raise ValueError(f"{path.name}" + (f", sheet {sheet}" if isinstance(sheet, str) else "")
                             + f": could not be read as an Excel workbook ({type(exc).__name__}: {exc})") from None
        df["_row"] = np.arange(len(df)) + 2
    df.columns = [c if c == "_row" else str(c).strip().upper().replace(" ", "_") for c in df.columns]
    df = df.fillna("")
    return df


def _find_files(folder: Path) -> dict[str, tuple[Path, object]]:
    """Where each table of a return is: ``{table: (path, sheet)}``; CSV first, then Excel, then XML."""
    files = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    found = {}
    for t in TABLES:
        for ext in (".csv", ".xlsx", ".xlsm"):
            if t + ext in files:
                found[t] = (files[t + ext], 0)
                break
    if "episodes" not in found:
        books = [p for n, p in sorted(files.items()) if n.endswith((".xlsx", ".xlsm")) and not n.startswith("~$")]
        for b in books:
            import openpyxl
            try:
                wb = openpyxl.load_workbook(b, read_only=True)
            except Exception as exc:
                raise ValueError(f"{b.name}: could not be read as an Excel workbook ({type(exc).__name__}: {exc})") from None
            sheets = {s.title.strip().lower(): s.title for s in wb.worksheets if s.sheet_state == "visible"}
            wb.close()
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
    for col in ("DECOM", "DEC"):
        eps[f"{col}_date"] = parse_dates(eps[col], eps.attrs["date_order"])
    return out


def find_returns(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The collection years' folders inside an SSDA903 input: ``({"2024-25": path}, notes)``. A folder whose
    name is not a collection year (``old``, ``2026-27 - Copy``) is ignored with a note; a collection year
    outside the code lists, or two folders for one year, is a ValueError naming it."""
    folder = Path(folder)
    years, notes = {}, []
    for p in sorted(folder.iterdir()):
        if not p.is_dir():
            continue
        y = parse_collection_year(p.name)
        if y is None:
            notes.append(f"folder '{p.name}' is not named as a collection year (like 2024-25) and was not read")
            continue
        check_collection_year(y)
        if y in years:
            raise ValueError(f"two folders for collection year {y}: '{years[y].name}' and '{p.name}'; keep one")
        years[y] = p
    return years, notes


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


# ---- the episode rules cspack enforces -------------------------------------------------------------
RULES = {
    "codes": "every code valid for the collection year (PLACE, LS, RNE, REC, CIN, PLACE_PROVIDER, REASON_PLACE_CHANGE)",
    "dec_rec_pair": "DEC and REC both filled or both blank",
    "dec_after_decom": "DEC not before DECOM",
    "in_year": "episodes overlap the collection year (DECOM not after its end, DEC not before its start)",
    "overlap": "a child's episodes do not overlap",
    "x1_continues": "an episode ending X1 is followed the same day by another episode of the same child",
    "continuation_rne": "an episode that follows another on the same day is not RNE 'S'",
    "one_open": "at most one open episode per child",
    "bad_date": "DECOM filled and DECOM/DEC readable dates (dd/mm/yyyy as DfE writes them, or ISO)",
}


def check_episodes(episodes: pd.DataFrame, collection_year: str) -> pd.DataFrame:
    """Every breach of the project's episode rules, one row each: rule, row (file row number), CHILD,
    column, value. Empty when the return is clean. Vectorised: no row-wise apply."""
    e = episodes.reset_index(drop=True).copy()
    e["row"] = np.arange(len(e)) + 2
    y = year_start(collection_year)
    start, end = pd.Timestamp(y, 4, 1), pd.Timestamp(y + 1, 3, 31)
    for c in EPISODE_CODES:
        e[c] = normalise_code(e[c])
    e["CHILD"] = normalise_child(e["CHILD"])
    if "DECOM_date" not in e:
        order = date_order([e["DECOM"], e["DEC"]])[0]
        for col in ("DECOM", "DEC"):
            e[f"{col}_date"] = parse_dates(e[col], order)
    out = []

    def add(rule, mask, column):
        if mask.any():
            bad = e.loc[mask]
            out.append(pd.DataFrame({"rule": rule, "row": bad["row"], "CHILD": bad["CHILD"], "column": column,
                                     "value": bad[column].astype(str) if column in bad else ""}))

    add("bad_date", e["DECOM_date"].isna(), "DECOM")
    add("bad_date", (e["DEC"].str.strip() != "") & e["DEC_date"].isna(), "DEC")
    for field in ("PLACE", "LS", "RNE", "CIN", "PLACE_PROVIDER"):
        bad = ~e[field].isin(valid_codes(field, collection_year))
        if field == "PLACE_PROVIDER":  # DfE: no provider for temporary (T) and other (Z) placements (rules 178, 213)
            bad &= ~((e[field] == "") & e["PLACE"].str.fullmatch(r"T\d|Z\d{1,2}"))
        add("codes", bad, field)
    add("codes", (e["REC"] != "") & ~e["REC"].isin(valid_codes("REC", collection_year)), "REC")
    rpc = e["REASON_PLACE_CHANGE"]
    add("codes", (rpc != "") & ~rpc.isin(valid_codes("REASON_PLACE_CHANGE", collection_year)), "REASON_PLACE_CHANGE")
    add("dec_rec_pair", (e["DEC"] == "") != (e["REC"] == ""), "REC")
    add("dec_after_decom", e["DEC_date"] < e["DECOM_date"], "DEC")
    add("in_year", (e["DECOM_date"] > end) | (e["DEC_date"] < start), "DECOM")
    s = e.sort_values(["CHILD", "DECOM_date", "row"])
    nxt_child = s["CHILD"].shift(-1)
    nxt_start = s["DECOM_date"].shift(-1)
    same = nxt_child == s["CHILD"]
    overlapping = same & ((nxt_start < s["DEC_date"]) | s["DEC_date"].isna())  # an open episode is followed
    add("overlap", e.index.isin(s.index[overlapping]), "DEC")
    x1 = s["REC"] == "X1"
    add("x1_continues", e.index.isin(s.index[x1 & ~(same & (nxt_start == s["DEC_date"]))]), "REC")
    prev_same = s["CHILD"].shift(1) == s["CHILD"]
    follows = prev_same & (s["DEC_date"].shift(1) == s["DECOM_date"]) & (s["REC"].shift(1) == "X1")
    add("continuation_rne", e.index.isin(s.index[follows & (s["RNE"] == "S")]), "RNE")
    n_open = e[e["DEC"] == ""].groupby("CHILD")["row"].transform("size")
    add("one_open", e.index.isin(n_open.index[n_open > 1]), "DEC")
    if not out:
        return pd.DataFrame(columns=["rule", "row", "CHILD", "column", "value"])
    return pd.concat(out, ignore_index=True).sort_values(["row", "rule"]).reset_index(drop=True)


# ---- header, UASC and missing tables -------------------------------------------------------------------
TABLE_DESCRIPTIONS = {"header": "one row per child: sex, date of birth, ethnicity",
                      "uasc": "unaccompanied asylum-seeking children: date UASC status ceased",
                      "missing": "missing and away-from-placement episodes"}
TABLE_RULES = {
    "header": {
        "bad_date": "DOB a readable date (dd/mm/yyyy as DfE writes dates, or ISO)",
        "dob_after_decom": "DOB not after the start of the child's first episode (the date of birth cannot be used)",
        "dob_future": "DOB not after the end of the collection year",
        "codes": "SEX and ETHNIC codes valid for the collection year",
        "duplicate_child": "one header row per child in a return",
    },
    "uasc": {
        "bad_date": "DOB and DUC as dd/mm/yyyy",
        "duc_by_18": "DUC (date UASC status ceased) after DOB and no later than the 18th birthday",
    },
    "missing": {
        "bad_date": "MIS_START (and MIS_END when filled) as dd/mm/yyyy",
        "codes": "MISSING is M (missing) or A (away from placement without authorisation)",
        "mis_end_after_start": "MIS_END not before MIS_START",
        "in_year": "MIS_START not after the end of the collection year",
    },
}


def _eighteenth(dob: pd.Series) -> pd.Series:
    return dob + pd.DateOffset(years=18)


def check_table(table: str, df: pd.DataFrame, collection_year: str,
                first_decom: pd.Series | None = None) -> pd.DataFrame:
    """Breaches of the rules in ``TABLE_RULES[table]`` for a header, uasc or missing table of one
    return: rule, row (the file's row number), column, value. Vectorised. ``first_decom`` (the start of
    each child's first episode, indexed by CHILD) adds the header rule dob_after_decom."""
    d = df.reset_index(drop=True)
    order = df.attrs.get("date_order") or date_order([d[c] for c in DATE_COLUMNS.get(table, []) if c in d])[0]
    rows = d["_row"] if "_row" in d else pd.Series(np.arange(len(d)) + 2)
    y = year_start(collection_year)
    end = pd.Timestamp(y + 1, 3, 31)
    out = []

    def add(rule, mask, column):
        mask = pd.Series(mask, index=d.index).fillna(False).astype(bool)
        if mask.any():
            out.append(pd.DataFrame({"rule": rule, "row": rows[mask].to_numpy(), "column": column,
                                     "value": d.loc[mask, column].astype(str).to_numpy() if column in d else ""}))

    def dates(col):
        return parse_dates(d[col], order) if col in d else pd.Series(pd.NaT, index=d.index)

    if table == "header":
        dob = dates("DOB")
        add("bad_date", dob.isna(), "DOB")
        add("dob_future", dob > end, "DOB")
        if first_decom is not None:
            first = pd.Series(d["CHILD"].map(dict(first_decom)).to_numpy(), index=d.index, dtype="datetime64[ns]")
            add("dob_after_decom", dob > first, "DOB")
        for field in ("SEX", "ETHNIC"):
            if field in d:
                add("codes", ~normalise_code(d[field]).isin(valid_codes(field, collection_year)), field)
        add("duplicate_child", d["CHILD"].duplicated(keep="first"), "CHILD")
    elif table == "uasc":
        dob, duc = dates("DOB"), dates("DUC")
        add("bad_date", dob.isna(), "DOB")
        add("bad_date", dob.notna() & duc.isna(), "DUC")
        ok = dob.notna() & duc.notna()
        add("duc_by_18", ok & ((duc <= dob) | (duc > _eighteenth(dob.fillna(pd.Timestamp(2000, 1, 1))))), "DUC")
    elif table == "missing":
        start, stop = dates("MIS_START"), dates("MIS_END")
        add("bad_date", start.isna(), "MIS_START")
        add("bad_date", (d["MIS_END"].str.strip() != "") & stop.isna(), "MIS_END")
        add("codes", ~normalise_code(d["MISSING"]).isin(["M", "A"]), "MISSING")
        add("mis_end_after_start", stop < start, "MIS_END")
        add("in_year", start > end, "MIS_START")
    else:
        raise ValueError(f"no rules for SSDA903 table {table!r}")
    if not out:
        return pd.DataFrame(columns=["rule", "row", "column", "value"])
    return pd.concat(out, ignore_index=True).drop_duplicates("row", keep="first").sort_values("row").reset_index(drop=True)


def _clean_table(table: str, returns: dict, years: list[str], quarantine: list, recon: list,
                 child_maps: dict | None = None, first_decom: pd.Series | None = None) -> pd.DataFrame:
    """One table across the years: CHILD and codes normalised (and leading zeros restored where a
    return lost them), rule breaches quarantined, dates typed, collection_year added."""
    parts = []
    for y in years:
        if table not in returns[y]:
            continue
        raw = returns[y][table]
        attrs = dict(raw.attrs)
        raw = raw.copy()
        raw["CHILD"] = normalise_child(raw["CHILD"])
        if child_maps and y in child_maps:
            raw["CHILD"] = raw["CHILD"].map(lambda c, m=child_maps[y]: m.get(c, c))
        for c in ("SEX", "ETHNIC", "MISSING"):
            if c in raw:
                raw[c] = normalise_code(raw[c])
        exact = raw.drop(columns="_row", errors="ignore").duplicated(keep="first")
        d = raw[~exact].reset_index(drop=True)
        d.attrs = attrs
        breaches = check_table(table, d, y, first_decom if table == "header" else None)
        if len(breaches):
            quarantine.append(breaches.assign(collection_year=y, table=table, CHILD="",
                                              file=attrs.get("file", f"{table}.csv"),
                                              reason=breaches["rule"].map(TABLE_RULES[table])))
        rows = d["_row"] if "_row" in d else pd.Series(np.arange(len(d)) + 2)
        keep = d[~rows.isin(set(breaches["row"]))].drop(columns="_row", errors="ignore").copy()
        keep["collection_year"] = y
        blank = int(raw.attrs.get("blank_rows", 0))
        recon.append({"table": table, "collection_year": y, "rows_read": len(raw) + blank, "blank_rows": blank,
                      "duplicates_within": int(exact.sum()), "rows_quarantined": len(breaches), "rows_kept": len(keep)})
        keep["_order"] = attrs.get("date_order", "dmy")
        parts.append(keep)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    for col in ("DOB", "MC_DOB", "DUC", "MIS_START", "MIS_END"):
        if col in out and len(out):
            out[col] = pd.concat([parse_dates(g[col], o) for o, g in out.groupby("_order")]).reindex(out.index)
        elif col in out:
            out[col] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    return out.drop(columns="_order")


# ---- merging collection years ------------------------------------------------------------------------
# what makes an episode row unusable (quarantined); every other problem is fixed or flagged and the row kept
UNUSABLE = {
    "bad_date": RULES["bad_date"],
    "dec_after_decom": RULES["dec_after_decom"],
    "in_year": "DECOM not after the end of the collection year",
    "under_18": "the episode starts before the child's 18th birthday (DOB from the header)",
}
# structural fixes (the row is changed) and flags (the row is kept as it is), in the order applied
FIXES = {
    "rec_blanked": "an open episode (no DEC) with a reason for ending (REC): REC blanked, the child kept in care",
    "vanished_closed": "an episode open at the end of a return is missing from the next year's return, which lists "
                       "every child looked after in its year: ended on that year's first day (1 April), reason unknown",
    "overlap_truncated": "an episode overlapping the child's next episode ends (X1) when the next begins",
    "rec_x1": "an episode ended with no reason (REC) on the day the child's next episode begins: REC set to X1",
}
FLAGS = {
    "rec_missing": "an episode ended (DEC) with no reason (REC): kept, the reason unknown",
    "x1_no_continuation": "an episode ending X1 is not followed the same day by another episode of the child: kept",
    "continuation_rne": RULES["continuation_rne"],
    "codes": "a code not valid for the collection year (after upper-casing and removing spaces): kept, placement "
             "shown as other where PLACE is unknown",
    "before_year": "an episode that ended before the collection year began, reported in that year's return: kept",
}
HISTORY_RULES = {
    "duplicate_across_years": "the same episode (CHILD, DECOM) in several returns: the latest usable version is kept",
    **{k: v for k, v in FIXES.items()}, **{k: v for k, v in FLAGS.items()},
    "under_18": UNUSABLE["under_18"],
    "no_header": "an episode whose child has no usable header row is kept and counted (age unknown)",
}
CONTINUITY_TOLERANCE_PCT = 2.0


def leading_zero_fixes(ids_by_year: dict[str, set]) -> dict[str, dict[str, str]]:
    """For each return whose CHILD codes lost their leading zeros (as Excel drops them) while the other
    returns keep them: ``{year: {code as given: code restored}}``. Detected by a mass mismatch between
    years: the return has no code starting with 0, the others do, and at least 3 of its codes (and at
    least half of those expected) match another return's code only once the zeros are put back. Codes of
    children in no other return are padded too when every other return's codes are digits of one width."""
    out = {}
    for y, ids in ids_by_year.items():
        others = set().union(*[v for k, v in ids_by_year.items() if k != y]) if len(ids_by_year) > 1 else set()
        if not ids or not others or any(i.startswith("0") for i in ids):
            continue
        zero_led = [i for i in others if i.startswith("0") and i.strip("0")]
        if not zero_led:
            continue
        by_stripped: dict[str, set] = {}
        for i in zero_led:
            by_stripped.setdefault(i.lstrip("0"), set()).add(i)
        via = {i: next(iter(by_stripped[i])) for i in ids if i not in others and len(by_stripped.get(i, ())) == 1}
        exact = len(ids & others)
        share = len(zero_led) / len(others)
        if len(via) < 3 or len(via) < 0.5 * share * (exact + len(via)):
            continue
        widths = {len(i) for i in others}
        if len(widths) == 1 and all(i.isdigit() for i in others):
            w = widths.pop()
            via.update({i: i.zfill(w) for i in ids if i.isdigit() and len(i) < w and i not in via and i not in others})
        out[y] = via
    return out


def _in_care(eps: pd.DataFrame, when: pd.Timestamp) -> set:
    """Children with an episode open at the end of ``when`` (DEC blank or after it)."""
    m = (eps["DECOM_date"] <= when) & (eps["DEC_date"].isna() | (eps["DEC_date"] > when))
    return set(eps.loc[m, "CHILD"])


def merge_returns(returns: dict[str, dict[str, pd.DataFrame]], notes: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """One episode history from several collection years' returns, never losing a child in care.

    Order of work: (1) read and normalise (CHILD, codes, dates; CHILD codes that lost their leading zeros
    in one return restored); (2) exact duplicate rows within a return dropped, and the reconciliation
    counted on this raw input (episodes re-reported across returns, open episodes missing from the next
    return); (3) rows that cannot be used (no readable DECOM or DEC, DEC before DECOM, DECOM after the
    year) quarantined; (4) the latest return's version of each episode (CHILD, DECOM) kept; (5) structural
    fixes, each flagged and counted: REC blanked on an open episode, an open episode missing from the
    next return ended on that return's first day (1 April), overlaps truncated at the next start (X1), a
    missing REC set to X1 where the next episode begins that day; (6) row rules, flagged and kept
    (codes of the episode's collection year, an X1 with no continuation, an ended episode with no reason);
    only an episode starting after the child's 18th
    birthday is quarantined here; (7) the continuity check: children in care at each 31 March from the
    history against the open episodes of that year's own return.

    Returns ``episodes`` (with ``collection_year`` and ``fix``), ``header`` (latest usable row per child,
    SEX as M/F), ``uasc``, ``missing``, ``quarantine``, ``flags``, ``continuity``, ``reconciliation``,
    ``by_year``, ``tables`` and ``notes``."""
    notes = list(notes or [])
    years = sorted(returns)
    for y in years:
        check_collection_year(y)
    quarantine, flags, recon = [], [], []
    # (1) normalise
    eps = {}
    for y in years:
        src = returns[y]["episodes"]
        attrs = dict(src.attrs)
        e = src.copy().reset_index(drop=True)
        e["row"] = e.pop("_row") if "_row" in e else np.arange(len(e)) + 2
        e["CHILD"] = normalise_child(e["CHILD"])
        for c in EPISODE_CODES:
            e[c] = normalise_code(e[c])
        for c in ("DECOM", "DEC"):
            e[c] = e[c].fillna("").astype(str).str.strip()
        order, n_dmy, n_mdy = date_order([e["DECOM"], e["DEC"]])
        if order == "mixed":
            notes.append(f"{y} episodes: dates are written both day-first ({n_dmy} dates) and month-first "
                         f"({n_mdy}); read day-first as DfE writes them, so month-first dates that cannot be "
                         "day-first are quarantined as unreadable")
        elif order == "mdy":
            notes.append(f"{y} episodes: dates are written month-first (mm/dd/yyyy; {n_mdy} dates cannot be "
                         "day-first, none cannot be month-first) and were read so")
        for c in ("DECOM", "DEC"):
            e[f"{c}_date"] = parse_dates(e[c], "dmy" if order == "mixed" else order)
        e["collection_year"] = y
        e["file"] = attrs.get("file", "episodes.csv")
        e.attrs = attrs
        eps[y] = e
    header_ids = {y: set(normalise_child(returns[y]["header"]["CHILD"])) if "header" in returns[y] else set()
                  for y in years}
    child_maps = leading_zero_fixes({y: set(eps[y]["CHILD"]) | header_ids[y] for y in years})
    for y, mp in child_maps.items():
        eps[y]["CHILD"] = eps[y]["CHILD"].map(lambda c: mp.get(c, c))
        notes.append(f"{y}: {len(mp):,} CHILD codes had lost their leading zeros (as Excel drops them) while the "
                     "other returns keep them; the zeros were put back so each child is one child across years")
    # (2) exact duplicates; reconciliation on the raw input
    parts = []
    by_year = {}
    for y in years:
        e = eps[y]
        exact = e.duplicated(EPISODE_COLUMNS, keep="first")
        blank = int(e.attrs.get("blank_rows", 0))
        by_year[y] = {"collection_year": y, "rows_read": len(e) + blank, "duplicates_within": int(exact.sum()),
                      "blank_rows": blank}
        parts.append(e[~exact])
    raw = pd.concat(parts, ignore_index=True)
    keyed = raw[raw["DECOM_date"].notna()]
    n_years = keyed.groupby(["CHILD", "DECOM_date"])["collection_year"].nunique()
    re_reported = int((n_years > 1).sum())
    present = set(zip(keyed["CHILD"], keyed["DECOM_date"], keyed["collection_year"]))
    nxt = {y: collection_year_label(year_start(y) + 1) for y in years}
    raw_open = keyed[keyed["DEC"] == ""]
    vanished_keys = {(c, d, y): pd.Timestamp(year_start(y) + 1, 4, 1)
                     for c, d, y in zip(raw_open["CHILD"], raw_open["DECOM_date"], raw_open["collection_year"])
                     if nxt[y] in returns and (c, d, nxt[y]) not in present}
    # (3) rows that cannot be used
    ends = raw["collection_year"].map({y: pd.Timestamp(year_start(y) + 1, 3, 31) for y in years})
    bad = pd.Series("", index=raw.index)
    col = pd.Series("", index=raw.index)
    for rule, mask, column in (
            ("bad_date", raw["DECOM_date"].isna(), "DECOM"),
            ("bad_date", (raw["DEC"] != "") & raw["DEC_date"].isna(), "DEC"),
            ("dec_after_decom", raw["DEC_date"] < raw["DECOM_date"], "DEC"),
            ("in_year", raw["DECOM_date"] > ends, "DECOM")):
        m = mask & (bad == "")
        bad[m], col[m] = rule, column
    unusable = bad != ""
    if unusable.any():
        u = raw[unusable]
        quarantine.append(pd.DataFrame({"rule": bad[unusable], "row": u["row"], "CHILD": u["CHILD"],
                                        "column": col[unusable],
                                        "value": [u.at[i, c] for i, c in zip(u.index, col[unusable])],
                                        "collection_year": u["collection_year"], "file": u["file"],
                                        "reason": bad[unusable].map(UNUSABLE)}))
    usable = raw[~unusable]
    # (4) the latest usable version of each episode
    merged = usable.sort_values(["CHILD", "DECOM_date", "collection_year"]).drop_duplicates(
        ["CHILD", "DECOM_date"], keep="last").copy()
    superseded = len(usable) - len(merged)
    merged = merged.sort_values(["CHILD", "DECOM_date"]).reset_index(drop=True)
    fixes = pd.Series([[] for _ in range(len(merged))], index=merged.index, dtype=object)

    def mark(mask, name, column, value_from=None):
        idx = merged.index[mask]
        for i in idx:
            fixes[i].append(name)
        if len(idx):
            f = merged.loc[idx]
            flags.append(pd.DataFrame({"rule": name, "row": f["row"], "CHILD": f["CHILD"], "column": column,
                                       "value": f[value_from or column].astype(str), "collection_year": f["collection_year"],
                                       "file": f["file"], "reason": {**FIXES, **FLAGS}[name]}))

    # (5) structural fixes
    rec_open = merged["DEC_date"].isna() & (merged["REC"] != "")
    mark(rec_open, "rec_blanked", "REC")
    merged.loc[rec_open, "REC"] = ""
    close_on = pd.Series([vanished_keys.get(k, pd.NaT) for k in zip(merged["CHILD"], merged["DECOM_date"],
                                                                     merged["collection_year"])],
                         index=merged.index, dtype="datetime64[ns]")
    vanished = close_on.notna() & merged["DEC_date"].isna()
    mark(vanished, "vanished_closed", "DEC", "DECOM")
    merged.loc[vanished, "DEC_date"] = close_on[vanished]
    merged.loc[vanished, "DEC"] = close_on[vanished].dt.strftime(DATE_FORMAT)
    same_child = merged["CHILD"].shift(-1) == merged["CHILD"]
    nxt_start = merged["DECOM_date"].shift(-1).where(same_child)
    over = nxt_start.notna() & (merged["DEC_date"].isna() | (merged["DEC_date"] > nxt_start))
    mark(over, "overlap_truncated", "DEC")
    merged.loc[over, "DEC_date"] = nxt_start[over]
    merged.loc[over, "DEC"] = nxt_start[over].dt.strftime(DATE_FORMAT)
    merged.loc[over, "REC"] = "X1"
    closed = merged["DEC_date"].notna()
    continues = nxt_start.notna() & (nxt_start == merged["DEC_date"])
    no_rec = closed & (merged["REC"] == "") & ~vanished
    mark(no_rec & continues, "rec_x1", "REC")
    merged.loc[no_rec & continues, "REC"] = "X1"
    # (6) row rules: flagged, kept
    mark(no_rec & ~continues, "rec_missing", "REC")
    mark((merged["REC"] == "X1") & ~continues, "x1_no_continuation", "REC")
    prev_x1 = (merged["CHILD"].shift(1) == merged["CHILD"]) & (merged["REC"].shift(1) == "X1") & \
        (merged["DEC_date"].shift(1) == merged["DECOM_date"])
    mark(prev_x1 & (merged["RNE"] == "S"), "continuation_rne", "RNE")
    mstart = merged["collection_year"].map({y: pd.Timestamp(year_start(y), 4, 1) for y in years})
    mark(merged["DEC_date"] < mstart, "before_year", "DEC")
    for field in EPISODE_CODES:
        ok = pd.Series(False, index=merged.index)
        for y, g in merged.groupby("collection_year"):
            ok[g.index] = g[field].isin(valid_codes(field, y))
        if field in ("REC", "REASON_PLACE_CHANGE"):
            ok |= merged[field] == ""
        bad_code = ~ok
        for i in merged.index[bad_code]:
            fixes[i].append("codes") if "codes" not in fixes[i] else None
        if bad_code.any():
            f = merged[bad_code]
            flags.append(pd.DataFrame({"rule": "codes", "row": f["row"], "CHILD": f["CHILD"], "column": field,
                                       "value": f[field], "collection_year": f["collection_year"], "file": f["file"],
                                       "reason": FLAGS["codes"]}))
    # header, UASC and missing tables (DOB checked against the child's first episode)
    tables_recon: list[dict] = []
    first_decom = merged.groupby("CHILD")["DECOM_date"].min()
    header = _clean_table("header", returns, years, quarantine, tables_recon, child_maps, first_decom)
    n_header = len(header)
    if n_header:
        header = header.drop_duplicates("CHILD", keep="last").reset_index(drop=True)
        header["SEX"] = header["SEX"].replace({"1": "M", "2": "F", "U": pd.NA})
    else:
        header = pd.DataFrame(columns=HEADER_COLUMNS + ["collection_year"])
    extra = {t: _clean_table(t, returns, years, quarantine, tables_recon, child_maps) for t in ("uasc", "missing")}
    superseded_t = {"header": n_header - len(header)}
    for t, k in (("uasc", ["CHILD"]), ("missing", ["CHILD", "MIS_START"])):
        n = len(extra[t])
        if n:
            extra[t] = extra[t].drop_duplicates(k, keep="last").reset_index(drop=True)
        superseded_t[t] = n - len(extra[t])
    no_header = ~merged["CHILD"].isin(set(header["CHILD"]))
    dob = pd.Series(pd.to_datetime(header.set_index("CHILD")["DOB"]).reindex(merged["CHILD"]).to_numpy(),
                    index=merged.index) if len(header) else pd.Series(pd.NaT, index=merged.index)
    adult = dob.notna() & (merged["DECOM_date"] >= _eighteenth(dob.fillna(pd.Timestamp(2000, 1, 1))))
    if adult.any():
        a = merged[adult]
        quarantine.append(pd.DataFrame({"rule": "under_18", "row": a["row"], "CHILD": a["CHILD"], "column": "DECOM",
                                        "value": a["DECOM"], "collection_year": a["collection_year"], "file": a["file"],
                                        "reason": UNUSABLE["under_18"]}))
        merged = merged[~adult]
        no_header = no_header[~adult]
        fixes = fixes[~adult]
    merged["fix"] = pd.Series([";".join(dict.fromkeys(f)) for f in fixes], index=merged.index, dtype=object).astype(str)
    merged = merged.reset_index(drop=True)
    no_header = no_header.reset_index(drop=True)
    q = (pd.concat(quarantine, ignore_index=True) if quarantine else
         pd.DataFrame(columns=["rule", "row", "CHILD", "column", "value", "collection_year", "file", "reason"]))
    if "table" not in q:
        q["table"] = "episodes"
    q["table"] = q["table"].fillna("episodes")
    fl = (pd.concat(flags, ignore_index=True) if flags else
          pd.DataFrame(columns=["rule", "row", "CHILD", "column", "value", "collection_year", "file", "reason"]))
    # per-return accounting: rows read = quarantined + dropped (duplicates, blank) + kept in the history
    # (superseded rows, replaced by a later return's version, are counted in the history's summary)
    qe = q[q["table"] == "episodes"]
    for y in years:
        by_year[y]["rows_quarantined"] = int((qe["collection_year"] == y).sum())
        by_year[y]["rows_flagged"] = int(fl.loc[fl["collection_year"] == y, "row"].nunique()) if len(fl) else 0
    rec = pd.DataFrame(list(by_year.values()))
    # (7) continuity: children in care at each 31 March, history against the year's own return
    q_children = set(qe["CHILD"])
    cont = []
    for y in years:
        end = pd.Timestamp(year_start(y) + 1, 3, 31)
        own = eps[y]
        if y == years[-1]:  # the latest return may be part-year (to the quarter): counted at its last date
            last = pd.concat([own["DECOM_date"], own["DEC_date"]]).max()
            if pd.notna(last) and last < end:
                end = last
        own_open = set(own.loc[(own["DEC"] == "") & ~(own["DECOM_date"] > end), "CHILD"])
        hist = _in_care(merged, end)
        diff = len(hist) - len(own_open)
        lost = own_open - hist
        cont.append({"collection_year": y, "date": end, "in_return": len(own_open), "in_history": len(hist),
                     "difference": diff, "difference_pct": round(100 * abs(diff) / max(len(own_open), 1), 2),
                     "not_in_history": len(lost), "lost_to_quarantine": len(lost & q_children),
                     "only_in_history": len(hist - own_open)})
    continuity = pd.DataFrame(cont)
    changed = merged["fix"].str.contains("|".join(FIXES), regex=True)
    summary = pd.DataFrame([
        ("rows read (all returns)", int(rec["rows_read"].sum())),
        ("rows quarantined", int(rec["rows_quarantined"].sum())),
        ("rows dropped by rule", superseded + int(rec["duplicates_within"].sum()) + int(rec["blank_rows"].sum())),
        ("of which the same episode in a later return", superseded),
        ("of which exact duplicate rows within a return", int(rec["duplicates_within"].sum())),
        ("of which blank rows", int(rec["blank_rows"].sum())),
        ("episodes kept", len(merged)),
        ("of which fixed by a rule", int(changed.sum())),
        ("of which REC blanked on an open episode", int(merged["fix"].str.contains("rec_blanked").sum())),
        ("of which overlaps truncated", int(merged["fix"].str.contains("overlap_truncated").sum())),
        ("of which REC set to X1", int(merged["fix"].str.contains("rec_x1").sum())),
        ("of which flagged and kept as they are", int((merged["fix"].str.contains(
            "|".join(FLAGS)) & ~changed).sum())),
        ("of which X1 with no continuation", int(merged["fix"].str.contains("x1_no_continuation").sum())),
        ("of which ended with no reason", int(merged["fix"].str.contains("rec_missing").sum())),
        ("of which a code not valid for the year", int(merged["fix"].str.contains("codes").sum())),
        ("of which vanished from the next return", int(merged["fix"].str.contains("vanished_closed").sum())),
        ("of which the child has no usable header row", int(no_header.sum())),
        ("episodes re-reported across returns (raw input)", re_reported),
        ("open episodes missing from the next return (raw input)", len(vanished_keys)),
    ], columns=["item", "count"])
    assert summary.at[0, "count"] == summary.at[1, "count"] + summary.at[2, "count"] + len(merged)
    tr = pd.DataFrame(tables_recon, columns=["table", "collection_year", "rows_read", "blank_rows", "duplicates_within",
                                             "rows_quarantined", "rows_kept"])
    assert (tr["rows_read"] == tr["blank_rows"] + tr["duplicates_within"] + tr["rows_quarantined"] + tr["rows_kept"]).all()
    tr["superseded"] = 0
    for t, n in superseded_t.items():
        last = tr.index[tr["table"] == t]
        if len(last):
            tr.loc[last[-1], "superseded"] = n
    out_eps = merged.drop(columns=["row", "file"])
    return {"episodes": out_eps, "header": header, "uasc": extra["uasc"], "missing": extra["missing"],
            "quarantine": q, "flags": fl, "continuity": continuity, "reconciliation": summary, "by_year": rec,
            "tables": tr, "notes": notes, "child_maps": child_maps}
