"""SSDA903 children-looked-after returns: versioned code lists, placement categories, the
episode-history rules cspack enforces itself, and counts (starts, ceased, 31 March) from a return.

Code lists live in ``reference/ssda903_codes.csv`` with the first and last collection year each code
is valid for and its source (the DfE's own validator, ``csc-validator-be-903``, which pins pandas<2
and so is not a dependency)."""

from __future__ import annotations

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


def year_start(collection_year: str) -> int:
    """``"2024-25"`` -> 2024."""
    return int(collection_year[:4])


def collection_year_label(start: int) -> str:
    return f"{start}-{(start + 1) % 100:02d}"


@lru_cache(maxsize=1)
def code_table() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "ssda903_codes.csv", dtype=str, keep_default_na=False)


def valid_codes(field: str, collection_year: str) -> set[str]:
    """Codes valid for ``field`` in a collection year such as ``"2024-25"``."""
    t = code_table()
    t = t[t["field"] == field]
    y = year_start(collection_year)
    first = t["first_year"].str[:4].astype(int)
    last = t["last_year"].str[:4].replace("", "9999").astype(int)
    return set(t.loc[(first <= y) & (y <= last), "code"])


def place_category(place: pd.Series, provider: pd.Series) -> pd.Series:
    """cspack's placement category from PLACE and PLACE_PROVIDER."""
    place = place.astype(str).str.upper()
    provider = provider.astype(str).str.upper()
    out = pd.Series("other", index=place.index, dtype=object)
    out[place.isin(["U1", "U2", "U3"])] = "kinship_fostering"
    foster = place.isin(["U4", "U5", "U6"])
    out[foster & provider.isin(["PR1"])] = "in_house_fostering"
    out[foster & ~provider.isin(["PR1"])] = "agency_fostering"
    home = place.eq("K2")
    out[home & provider.eq("PR1")] = "in_house_childrens_home"
    out[home & ~provider.eq("PR1")] = "external_childrens_home"
    out[place.eq("K1")] = "secure"
    out[place.isin(["H5", "K3", "P2"])] = "supported_accommodation"
    out[place.eq("P1")] = "placed_with_parents"
    out[place.isin(["A3", "A4", "A5", "A6"])] = "placed_for_adoption"
    return out


# ---- reading and counting returns -----------------------------------------------------------------
def parse_dates(text: pd.Series) -> pd.Series:
    """dd/mm/yyyy as DfE writes dates, and yyyy-mm-dd as some systems export them; anything else
    (and month-first dates that are not valid day-first ones) becomes NaT, caught by rule bad_date."""
    t = text.astype(str).str.strip()
    out = pd.to_datetime(t.where(t != ""), format=DATE_FORMAT, errors="coerce")
    iso = pd.to_datetime(t.where(out.isna() & (t != "")), format="%Y-%m-%d", errors="coerce")
    return out.fillna(iso)


def read_return(folder: Path) -> dict[str, pd.DataFrame]:
    """The tables of one collection year's return (episodes, header, and uasc/missing if present),
    as text with blank rows dropped; dates parsed into ``*_date`` columns."""
    folder = Path(folder)
    out = {}
    for name in ("episodes", "header"):
        if not (folder / f"{name}.csv").exists():
            raise ValueError(f"{folder.name}: no {name}.csv in this collection year's folder (expected episodes.csv "
                             "and header.csv, as DfE's SSDA903 files are named)")
    for name in ("episodes", "header", "uasc", "missing"):
        p = folder / f"{name}.csv"
        if p.exists():
            df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            nonblank = (df != "").any(axis=1)
            df = df.assign(_row=np.arange(len(df)) + 2)  # the file's row number, header being row 1
            df.attrs["blank_rows"] = int((~nonblank).sum())
            out[name] = df[nonblank].reset_index(drop=True)
    for name, need in (("episodes", EPISODE_COLUMNS), ("header", ["CHILD", "SEX", "DOB", "ETHNIC"]),
                       ("uasc", ["CHILD", "DOB", "DUC"]), ("missing", ["CHILD", "MISSING", "MIS_START", "MIS_END"])):
        if name in out:
            missing = [c for c in need if c not in out[name]]
            if missing:
                raise ValueError(f"{folder.name}/{name}.csv: missing column(s) {', '.join(missing)}; "
                                 f"found {', '.join(c for c in out[name].columns if c != '_row')}")
    eps = out["episodes"]
    for col in ("DECOM", "DEC"):
        eps[f"{col}_date"] = parse_dates(eps[col])
    return out


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
    "bad_date": "DECOM filled and DECOM/DEC dates as dd/mm/yyyy",
}


def check_episodes(episodes: pd.DataFrame, collection_year: str) -> pd.DataFrame:
    """Every breach of the project's episode rules, one row each: rule, row (file row number), CHILD,
    column, value. Empty when the return is clean. Vectorised: no row-wise apply."""
    e = episodes.reset_index(drop=True).copy()
    e["row"] = np.arange(len(e)) + 2
    y = year_start(collection_year)
    start, end = pd.Timestamp(y, 4, 1), pd.Timestamp(y + 1, 3, 31)
    if "DECOM_date" not in e:
        for col in ("DECOM", "DEC"):
            e[f"{col}_date"] = parse_dates(e[col])
    out = []

    def add(rule, mask, column):
        if mask.any():
            bad = e.loc[mask]
            out.append(pd.DataFrame({"rule": rule, "row": bad["row"], "CHILD": bad["CHILD"], "column": column,
                                     "value": bad[column].astype(str) if column in bad else ""}))

    add("bad_date", e["DECOM_date"].isna(), "DECOM")
    add("bad_date", (e["DEC"].str.strip() != "") & e["DEC_date"].isna(), "DEC")
    for field in ("PLACE", "LS", "RNE", "CIN", "PLACE_PROVIDER"):
        add("codes", ~e[field].isin(valid_codes(field, collection_year)), field)
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
        "bad_date": "DOB as dd/mm/yyyy",
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


def check_table(table: str, df: pd.DataFrame, collection_year: str) -> pd.DataFrame:
    """Breaches of the rules in ``TABLE_RULES[table]`` for a header, uasc or missing table of one
    return: rule, row (the file's row number), column, value. Vectorised."""
    d = df.reset_index(drop=True)
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
        return parse_dates(d[col]) if col in d else pd.Series(pd.NaT, index=d.index)

    if table == "header":
        dob = dates("DOB")
        add("bad_date", dob.isna(), "DOB")
        add("dob_future", dob > end, "DOB")
        for field in ("SEX", "ETHNIC"):
            if field in d:
                add("codes", ~d[field].isin(valid_codes(field, collection_year)), field)
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
        add("codes", ~d["MISSING"].isin(["M", "A"]), "MISSING")
        add("mis_end_after_start", stop < start, "MIS_END")
        add("in_year", start > end, "MIS_START")
    else:
        raise ValueError(f"no rules for SSDA903 table {table!r}")
    if not out:
        return pd.DataFrame(columns=["rule", "row", "column", "value"])
    return pd.concat(out, ignore_index=True).drop_duplicates("row", keep="first").sort_values("row").reset_index(drop=True)


def _clean_table(table: str, returns: dict, years: list[str], quarantine: list, recon: list) -> pd.DataFrame:
    """One table across the years: rule breaches quarantined, dates typed, collection_year added."""
    parts = []
    for y in years:
        if table not in returns[y]:
            continue
        raw = returns[y][table]
        exact = raw.drop(columns="_row", errors="ignore").duplicated(keep="first")
        d = raw[~exact].reset_index(drop=True)
        breaches = check_table(table, d, y)
        if len(breaches):
            quarantine.append(breaches.assign(collection_year=y, table=table, CHILD="",
                                              reason=breaches["rule"].map(TABLE_RULES[table])))
        rows = d["_row"] if "_row" in d else pd.Series(np.arange(len(d)) + 2)
        keep = d[~rows.isin(set(breaches["row"]))].drop(columns="_row", errors="ignore").copy()
        keep["collection_year"] = y
        blank = int(raw.attrs.get("blank_rows", 0))
        recon.append({"table": table, "collection_year": y, "rows_read": len(raw) + blank, "blank_rows": blank,
                      "duplicates_within": int(exact.sum()), "rows_quarantined": len(breaches), "rows_kept": len(keep)})
        parts.append(keep)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    for col in ("DOB", "MC_DOB", "DUC", "MIS_START", "MIS_END"):
        if col in out:
            out[col] = parse_dates(out[col])
    return out


# ---- merging collection years ------------------------------------------------------------------------
HISTORY_RULES = {
    "duplicate_across_years": "the same episode (CHILD, DECOM) in several returns: the latest return's version is kept",
    "overlap_truncated": "an episode overlapping the child's next episode ends (X1) when the next begins (fixed, flagged)",
    "vanished": "an episode open at the end of a return is missing from the next year's return (kept, flagged)",
    "under_18": "an episode starting on or after the child's 18th birthday (DOB from the header) is quarantined",
    "no_header": "an episode whose child has no usable header row is kept and counted (age unknown)",
}


def merge_returns(returns: dict[str, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """One episode history from several collection years' returns.

    Rules, in order: (1) rows breaking a rule of their own year (codes, DEC/REC pairing, DEC before
    DECOM, outside the year) are quarantined with the rule; (2) an episode in several returns keeps
    the latest return's version (an episode open at 31 March is closed in a later return); (3) an
    episode overlapping the child's next one is truncated at the next start with REC X1, and flagged;
    (4) an episode left open at the end of a return but absent from the next return is kept and
    flagged as vanished. Returns ``episodes`` (with ``collection_year`` and ``fix``), ``header`` (the
    latest row per child, SEX as M/F), ``quarantine`` and ``reconciliation``."""
    rows, quarantine, recon = [], [], []
    years = sorted(returns)
    for y in years:
        e = returns[y]["episodes"].copy().reset_index(drop=True)
        if "DECOM_date" not in e:
            for col in ("DECOM", "DEC"):
                e[f"{col}_date"] = pd.to_datetime(e[col].replace("", None), format=DATE_FORMAT, errors="coerce")
        blank = int(returns[y]["episodes"].attrs.get("blank_rows", 0))
        e["row"] = e.pop("_row") if "_row" in e else np.arange(len(e)) + 2
        exact = e.duplicated(EPISODE_COLUMNS, keep="first")
        within = int(exact.sum())
        e = e[~exact]
        breaches = check_episodes(e.drop(columns="row"), y)
        breaches["row"] = e["row"].to_numpy()[breaches["row"].to_numpy() - 2] if len(breaches) else breaches["row"]
        own = breaches[~breaches["rule"].isin(["overlap", "continuation_rne", "one_open"])]
        bad_rows = set(own["row"])
        if len(own):
            quarantine.append(own.assign(collection_year=y, reason=own["rule"].map(RULES)))
        e = e.assign(collection_year=y)
        rows.append(e[~e["row"].isin(bad_rows)])
        recon.append({"collection_year": y, "rows_read": len(e) + within + blank, "duplicates_within": within,
                      "blank_rows": blank, "rows_quarantined": len(bad_rows)})
    allrows = pd.concat(rows, ignore_index=True)
    merged = allrows.sort_values(["CHILD", "DECOM_date", "collection_year"]).drop_duplicates(
        ["CHILD", "DECOM_date"], keep="last").copy()
    duplicates = len(allrows) - len(merged)
    merged["fix"] = ""
    # (3) overlaps: truncate at the next start
    merged = merged.sort_values(["CHILD", "DECOM_date"]).reset_index(drop=True)
    nxt_start = merged.groupby("CHILD")["DECOM_date"].shift(-1)
    over = nxt_start.notna() & (merged["DEC_date"].isna() | (merged["DEC_date"] > nxt_start))
    merged.loc[over, "DEC_date"] = nxt_start[over]
    merged.loc[over, "DEC"] = nxt_start[over].dt.strftime(DATE_FORMAT)
    merged.loc[over, "REC"] = "X1"
    merged.loc[over, "fix"] = "overlap_truncated"
    # (4) open at the end of a return, absent from the next one that exists
    later = {y: years[i + 1] for i, y in enumerate(years[:-1])}
    open_eps = allrows[allrows["DEC"] == ""]
    seen = set(zip(allrows["CHILD"], allrows["DECOM"], allrows["collection_year"]))
    vanished_keys = {(c, d) for c, d, y in zip(open_eps["CHILD"], open_eps["DECOM"], open_eps["collection_year"])
                     if y in later and (c, d, later[y]) not in seen}
    vanished = np.array([(c, d) in vanished_keys for c, d in zip(merged["CHILD"], merged["DECOM"])], dtype=bool)
    merged.loc[vanished & (merged["fix"] == ""), "fix"] = "vanished"
    tables_recon: list[dict] = []
    header = _clean_table("header", returns, years, quarantine, tables_recon)
    # a child's header (and UASC row) is repeated in every return that includes the child, a missing
    # episode open at 31 March in two returns: the latest return's version is kept
    n_header = len(header)
    header = header.drop_duplicates("CHILD", keep="last").reset_index(drop=True)
    header["SEX"] = header["SEX"].replace({"1": "M", "2": "F", "U": pd.NA})
    extra = {t: _clean_table(t, returns, years, quarantine, tables_recon) for t in ("uasc", "missing")}
    superseded = {"header": n_header - len(header)}
    for t, keys in (("uasc", ["CHILD"]), ("missing", ["CHILD", "MIS_START"])):
        n = len(extra[t])
        if n:
            extra[t] = extra[t].drop_duplicates(keys, keep="last").reset_index(drop=True)
        superseded[t] = n - len(extra[t])
    # episodes of a child with no usable header row: kept (the placement happened) and counted
    no_header = ~merged["CHILD"].isin(set(header["CHILD"]))
    # an episode starting on or after the child's 18th birthday is not an episode of a child
    dob = pd.Series(pd.to_datetime(header.set_index("CHILD")["DOB"]).reindex(merged["CHILD"]).to_numpy(),
                    index=merged.index)
    adult = dob.notna() & (merged["DECOM_date"] >= _eighteenth(dob.fillna(pd.Timestamp(2000, 1, 1))))
    if adult.any():
        a = merged[adult]
        quarantine.append(pd.DataFrame({"rule": "under_18", "row": a["row"], "CHILD": a["CHILD"], "column": "DECOM",
                                        "value": a["DECOM"], "collection_year": a["collection_year"],
                                        "reason": "the episode starts before the child's 18th birthday (DOB from the header)"}))
        merged = merged[~adult].reset_index(drop=True)
        no_header = no_header[~adult].reset_index(drop=True)
    q = (pd.concat(quarantine, ignore_index=True) if quarantine else
         pd.DataFrame(columns=["rule", "row", "CHILD", "column", "value", "collection_year", "reason"]))
    if "table" not in q:
        q["table"] = "episodes"
    q["table"] = q["table"].fillna("episodes")
    rec = pd.DataFrame(recon)
    summary = pd.DataFrame([
        ("rows read (all returns)", int(rec["rows_read"].sum())),
        ("rows quarantined", int(rec["rows_quarantined"].sum()) + int(adult.sum())),
        ("rows dropped by rule", duplicates + int(rec["duplicates_within"].sum()) + int(rec["blank_rows"].sum())),
        ("of which the same episode in a later return", duplicates),
        ("of which exact duplicate rows within a return", int(rec["duplicates_within"].sum())),
        ("of which blank rows", int(rec["blank_rows"].sum())),
        ("episodes kept", len(merged)),
        ("of which overlaps truncated", int((merged["fix"] == "overlap_truncated").sum())),
        ("of which vanished from the next return", int((merged["fix"] == "vanished").sum())),
        ("of which the child has no usable header row", int(no_header.sum())),
    ], columns=["item", "count"])
    assert summary.at[0, "count"] == summary.at[1, "count"] + summary.at[2, "count"] + len(merged)
    tr = pd.DataFrame(tables_recon, columns=["table", "collection_year", "rows_read", "blank_rows", "duplicates_within",
                                             "rows_quarantined", "rows_kept"])
    assert (tr["rows_read"] == tr["blank_rows"] + tr["duplicates_within"] + tr["rows_quarantined"] + tr["rows_kept"]).all()
    # rows_kept per return; "superseded" = kept rows replaced by a later return's version of the same row
    tr["superseded"] = 0
    for t, n in superseded.items():
        last = tr.index[tr["table"] == t]
        if len(last):
            tr.loc[last[-1], "superseded"] = n
    return {"episodes": merged.drop(columns=["row"]), "header": header, "uasc": extra["uasc"],
            "missing": extra["missing"], "quarantine": q, "reconciliation": summary, "by_year": rec,
            "tables": tr}
