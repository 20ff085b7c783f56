"""SSDA903 code lists (reference/ssda903_codes.csv), collection years, cspack's placement categories, and
normalising codes, child identifiers and dates."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

REFERENCE = Path(__file__).resolve().parents[1] / "reference"  # pipeline/ingest/reference



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



_YEAR_IN_NAME = re.compile(r"(?<!\d)(\d{4})\s*[-_/ ]\s*(\d{4}|\d{2})(?!\d)")



def collection_year_in_name(name: str) -> str | None:
    """The one collection year a folder's name is built around (``SSDA903 2019-20``, ``903_2019_20``,
    ``2019-20 final``, ``FY2019-20`` -> ``"2019-20"``); None when the name holds no collection year or
    more than one."""
    found = {y for a, b in _YEAR_IN_NAME.findall(str(name)) if (y := parse_collection_year(f"{a}-{b}"))}
    return found.pop() if len(found) == 1 else None



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
    # month names as spreadsheets write them (01-Apr-2015, 1 April 2015) and two-digit years (01/04/15)
    for fmt in ("%d-%b-%Y", "%d %b %Y", "%d %B %Y", "%d-%B-%Y", "%d-%b-%y", "%d %b %y",
                "%m/%d/%y" if order == "mdy" else "%d/%m/%y"):
        left = out.isna() & (t != "")
        if not left.any():
            break
        out = out.fillna(pd.to_datetime(t.where(left), format=fmt, errors="coerce"))
    return out
