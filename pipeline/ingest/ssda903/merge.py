"""Merging collection years into one history: what is quarantined, fixed or flagged, and the continuity
check between consecutive returns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903.checks import RULES, clean_table, eighteenth
from pipeline.ingest.ssda903.codes import (
    DATE_FORMAT,
    EPISODE_CODES,
    EPISODE_COLUMNS,
    HEADER_COLUMNS,
    check_collection_year,
    collection_year_label,
    date_order,
    normalise_child,
    normalise_code,
    parse_dates,
    valid_codes,
    year_start,
)

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
    "vanished_closed": "an episode open at the end of its latest return is missing from the later returns (the next "
                       "year's, or the next one held when a year is missing), which list every child looked after in "
                       "their year: ended on the first day (1 April) of the year after its return, reason unknown",
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
    gaps = [collection_year_label(a) for a in range(year_start(years[0]), year_start(years[-1]))
            if collection_year_label(a) not in returns] if years else []
    if gaps:
        notes.append(f"no return for {', '.join(gaps)} between {years[0]} and {years[-1]}: an episode open at the end "
                     "of the year before cannot be checked against it, and children in care at "
                     f"{'those year ends' if len(gaps) > 1 else 'that year end'} come from the returns either side; "
                     "add the missing year's return (a folder named like " + gaps[0] + ")")
    quarantine, flags, _recon = [], [], []
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
        eps[y]["CHILD"] = eps[y]["CHILD"].map(lambda c, mp=mp: mp.get(c, c))
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
    vanished_keys = {(c, d, y) for c, d, y in zip(raw_open["CHILD"], raw_open["DECOM_date"], raw_open["collection_year"])
                     if nxt[y] in returns and (c, d, nxt[y]) not in present}
    # an episode open in its latest return while a later return exists (the next, or one after a missing
    # year) is not open any more: each return lists every child looked after in its year
    last_in = keyed.groupby(["CHILD", "DECOM_date"])["collection_year"].max().to_dict()
    close_keys = {(c, d, y): pd.Timestamp(year_start(y) + 1, 4, 1)
                  for c, d, y in zip(raw_open["CHILD"], raw_open["DECOM_date"], raw_open["collection_year"])
                  if y != years[-1] and last_in[(c, d)] == y}
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
    close_on = pd.Series([close_keys.get(k, pd.NaT) for k in zip(merged["CHILD"], merged["DECOM_date"],
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
        if field == "PLACE_PROVIDER":  # DfE: no provider for temporary (T) and other (Z) placements (rules 178, 213)
            ok |= (merged[field] == "") & merged["PLACE"].str.fullmatch(r"T\d|Z\d{1,2}")
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
    n_flags = len(flags)
    header = clean_table("header", returns, years, quarantine, tables_recon, child_maps, first_decom, flags)
    for f in flags[n_flags:]:  # header codes: flagged and kept, named in the findings by year and column
        for (y, column), g in f.groupby(["collection_year", "column"]):
            seen = ", ".join(f"{v or 'blank'} ({n:,})" for v, n in g["value"].value_counts().head(4).items())
            notes.append(f"{y} header: {len(g):,} {column} codes not in that year's list ({seen}); the rows are kept"
                         + (" and SEX 1/2 read as M/F, any other as unknown" if column == "SEX" else ""))
    n_header = len(header)
    if n_header:
        header = header.drop_duplicates("CHILD", keep="last").reset_index(drop=True)
        sex = header["SEX"].replace({"1": "M", "2": "F"})
        header["SEX"] = sex.where(sex.isin(["M", "F"]), pd.NA)
    else:
        header = pd.DataFrame(columns=HEADER_COLUMNS + ["collection_year"])
    extra = {t: clean_table(t, returns, years, quarantine, tables_recon, child_maps) for t in ("uasc", "missing")}
    superseded_t = {"header": n_header - len(header)}
    for t, k in (("uasc", ["CHILD"]), ("missing", ["CHILD", "MIS_START"])):
        n = len(extra[t])
        if n:
            extra[t] = extra[t].drop_duplicates(k, keep="last").reset_index(drop=True)
        superseded_t[t] = n - len(extra[t])
    no_header = ~merged["CHILD"].isin(set(header["CHILD"]))
    dob = pd.Series(pd.to_datetime(header.set_index("CHILD")["DOB"]).reindex(merged["CHILD"]).to_numpy(),
                    index=merged.index) if len(header) else pd.Series(pd.NaT, index=merged.index)
    adult = dob.notna() & (merged["DECOM_date"] >= eighteenth(dob.fillna(pd.Timestamp(2000, 1, 1))))
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
    fl["table"] = fl["table"].fillna("episodes") if "table" in fl else "episodes"
    # per-return accounting: rows read = quarantined + dropped (duplicates, blank) + kept in the history
    # (superseded rows, replaced by a later return's version, are counted in the history's summary)
    qe = q[q["table"] == "episodes"]
    for y in years:
        by_year[y]["rows_quarantined"] = int((qe["collection_year"] == y).sum())
        by_year[y]["rows_flagged"] = int(fl.loc[(fl["collection_year"] == y) & (fl["table"] == "episodes"), "row"]
                                         .nunique()) if len(fl) else 0
    rec = pd.DataFrame(list(by_year.values()))
    # (7) continuity: children in care at each 31 March, history against the year's own return
    q_children = set(qe["CHILD"])
    cont = []
    for y in years:
        end = pd.Timestamp(year_start(y) + 1, 3, 31)
        own = eps[y]
        if y == years[-1]:  # the latest return may be part-year (to the quarter): counted at its last date
            last = pd.concat([own["DECOM_date"], own["DEC_date"]]).max()
            if pd.notna(last) and last < end - pd.Timedelta(days=31):  # a full year's last event is in March
                end = last
        own_open = set(own.loc[(own["DEC"] == "") & ~(own["DECOM_date"] > end), "CHILD"])
        hist = _in_care(merged, end)
        diff = len(hist) - len(own_open)
        lost = own_open - hist
        more = hist - own_open
        # children the history has in care that this return does not: a later return reported (or back-dated)
        # the episode that spans the date, so the later return is the correction; anything else is unexplained
        at_end = merged[(merged["DECOM_date"] <= end) & (merged["DEC_date"].isna() | (merged["DEC_date"] > end))]
        later = set(at_end.loc[at_end["collection_year"] > y, "CHILD"]) & more
        unexplained = len(lost) + len(more - later)
        cont.append({"collection_year": y, "date": end, "in_return": len(own_open), "in_history": len(hist),
                     "difference": diff, "difference_pct": round(100 * abs(diff) / max(len(own_open), 1), 2),
                     "not_in_history": len(lost), "lost_to_quarantine": len(lost & q_children),
                     "only_in_history": len(more), "added_by_later_returns": len(later),
                     "unexplained_pct": round(100 * unexplained / max(len(own_open), 1), 2)})
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
