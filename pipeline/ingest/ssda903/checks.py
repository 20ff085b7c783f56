"""The episode rules cspack enforces, and the checks of the header, UASC and missing tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903.codes import (
    EPISODE_CODES,
    date_order,
    normalise_child,
    normalise_code,
    parse_dates,
    valid_codes,
    year_start,
)
from pipeline.ingest.ssda903.read import DATE_COLUMNS

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
# each table as a reader names it (the register and findings of the pack): no file or table names
TABLE_READER_NAMES = {"header": "children's details in each year's return (sex, date of birth, ethnicity)",
                      "uasc": "unaccompanied asylum-seeking children in each year's return (the date the status ended)",
                      "missing": "missing and away-from-placement episodes in each year's return"}



TABLE_RULES = {
    "header": {
        "bad_date": "DOB a readable date (dd/mm/yyyy as DfE writes dates, or ISO)",
        "dob_after_decom": "DOB not after the start of the child's first episode (the date of birth cannot be used)",
        "dob_future": "DOB not after the end of the collection year",
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



# rules whose breach is flagged and the row kept (the date of birth is still usable)
TABLE_FLAGS = {
    "header": {
        "header_codes": "a SEX or ETHNIC code not valid for the collection year (after upper-casing and removing "
                        "spaces): kept; SEX 1/2 read as M/F and M/F as they are whatever the year, any other SEX "
                        "as unknown",
    },
}



def eighteenth(dob: pd.Series) -> pd.Series:
    return dob + pd.DateOffset(years=18)



def check_table(table: str, df: pd.DataFrame, collection_year: str,
                first_decom: pd.Series | None = None) -> pd.DataFrame:
    """Breaches of the rules in ``TABLE_RULES[table]`` for a header, uasc or missing table of one
    return: rule, row (the file's row number), column, value. Vectorised. ``first_decom`` (the start of
    each child's first episode, indexed by CHILD) adds the header rule dob_after_decom. The flags of
    ``TABLE_FLAGS`` are ``table_flags``."""
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
        add("duplicate_child", d["CHILD"].duplicated(keep="first"), "CHILD")
    elif table == "uasc":
        dob, duc = dates("DOB"), dates("DUC")
        add("bad_date", dob.isna(), "DOB")
        add("bad_date", dob.notna() & duc.isna(), "DUC")
        ok = dob.notna() & duc.notna()
        add("duc_by_18", ok & ((duc <= dob) | (duc > eighteenth(dob.fillna(pd.Timestamp(2000, 1, 1))))), "DUC")
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



def table_flags(table: str, df: pd.DataFrame, collection_year: str) -> pd.DataFrame:
    """Breaches of ``TABLE_FLAGS[table]`` (rows kept): rule, row, column, value."""
    d = df.reset_index(drop=True)
    rows = d["_row"] if "_row" in d else pd.Series(np.arange(len(d)) + 2)
    out = []
    if table == "header":
        for field in ("SEX", "ETHNIC"):
            if field in d:
                bad = ~normalise_code(d[field]).isin(valid_codes(field, collection_year))
                if bad.any():
                    out.append(pd.DataFrame({"rule": "header_codes", "row": rows[bad].to_numpy(), "column": field,
                                             "value": d.loc[bad, field].astype(str).to_numpy()}))
    if not out:
        return pd.DataFrame(columns=["rule", "row", "column", "value"])
    return pd.concat(out, ignore_index=True)



def clean_table(table: str, returns: dict, years: list[str], quarantine: list, recon: list,
                 child_maps: dict | None = None, first_decom: pd.Series | None = None,
                 flags: list | None = None) -> pd.DataFrame:
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
        flagged = table_flags(table, d, y)
        flagged = flagged[~flagged["row"].isin(set(breaches["row"]))]
        if flags is not None and len(flagged):
            child = dict(zip(rows, d["CHILD"]))
            flags.append(flagged.assign(CHILD=flagged["row"].map(child), collection_year=y, table=table,
                                        file=attrs.get("file", f"{table}.csv"),
                                        reason=flagged["rule"].map(TABLE_FLAGS[table])))
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
