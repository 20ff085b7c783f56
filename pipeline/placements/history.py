"""Children in care from the cleaned SSDA903 episode history: spells, daily stock, monthly flows,
placement days and cost. Everything is vectorised over episodes (difference arrays, ``np.repeat``), never a
row-wise apply."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES, CATEGORY_LABELS, place_category

AGE_BANDS = ["under_1", "1_to_4", "5_to_9", "10_to_15", "16_to_17"]



AGE_EDGES = np.array([0, 1, 5, 10, 16, 18])  # years



DURATION_BANDS = ["under_6m", "6m_to_2y", "2y_plus"]



DURATION_EDGES_DAYS = np.array([0, 183, 730])



REASON_GROUPS = {"returned_home": ("E4A", "E4B", "E13"), "special_guardianship": ("E43", "E44", "E45", "E46", "E47", "E48"),
                 "adoption": ("E11", "E12")}



REASON_LABELS = {"returned_home": "Returned home", "special_guardianship": "Special guardianship order",
                 "adoption": "Adopted", "age_18": "Reached 18", "other": "Other reasons"}



NC = len(CATEGORIES)



@contextmanager
def captured_warnings(sink: list[str]):
    """Warnings raised inside (statsmodels' convergence and domain warnings on thin histories) are kept
    in ``sink`` as "Category: message (n times)", once each, instead of reaching the console."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    counts: dict[str, int] = {}
    for w in caught:
        key = f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}"
        counts[key] = counts.get(key, 0) + 1
    sink.extend(f"{k} ({n} time{'s' if n > 1 else ''})" for k, n in counts.items())



# ---- episodes -> spells ----------------------------------------------------------------------------
def prepare(episodes: pd.DataFrame, header: pd.DataFrame) -> pd.DataFrame:
    """Episodes with dates, placement category, date of birth and the start of the child's period of
    care (a period runs through episodes joined by X1 on the same day). Columns: CHILD, start, end
    (NaT when open), category (index into CATEGORIES), REC, dob, period_start, next_category (the
    category of the continuing episode when the episode ends X1, else -1)."""
    e = episodes[["CHILD", "DECOM", "DEC", "PLACE", "PLACE_PROVIDER", "REC"]].copy()
    # ``ssda903.merge_returns`` output as it is: the parsed DECOM_date / DEC_date beside the text dates
    for col, to in (("DECOM", "start"), ("DEC", "end")):
        e[to] = _dates(episodes[f"{col}_date"] if f"{col}_date" in episodes else episodes[col])
    e["category"] = pd.Categorical(place_category(e["PLACE"], e["PLACE_PROVIDER"]), categories=CATEGORIES).codes
    e["REC"] = e["REC"].fillna("").astype(str)
    dob = _dates(header.drop_duplicates("CHILD", keep="last").set_index("CHILD")["DOB"])
    e["dob"] = e["CHILD"].map(dob)
    no_dob = int(e["dob"].isna().sum())  # no usable header row: counted in the data-quality findings
    e = e[e["dob"].notna()].sort_values(["CHILD", "start"]).reset_index(drop=True)
    prev_same = e["CHILD"].eq(e["CHILD"].shift())
    continues = prev_same & e["REC"].shift().eq("X1") & e["end"].shift().eq(e["start"])
    period_id = (~continues).cumsum()
    e["period_start"] = e.groupby(period_id)["start"].transform("min")
    nxt_cont = continues.shift(-1, fill_value=False)
    e["next_category"] = np.where(nxt_cont, e["category"].shift(-1).fillna(-1), -1).astype(int)
    e["new_period"] = ~continues
    out = e[["CHILD", "start", "end", "category", "REC", "dob", "period_start", "next_category", "new_period"]]
    # ordered by circumstances, never by the (pseudonymised) child code: episodes that differ only in their
    # code are interchangeable to the model, so the fit and the simulation's draws do not depend on the key
    out = out.sort_values(["start", "period_start", "dob", "category", "end", "REC", "next_category", "new_period"],
                          kind="stable", na_position="last").reset_index(drop=True)
    out.attrs["episodes_without_dob"] = no_dob
    return out



def _dates(col: pd.Series) -> pd.Series:
    """Dates as DfE's return files write them (dd/mm/yyyy), ISO (yyyy-mm-dd), or already dates: never
    the month-first guess of ``pd.to_datetime`` without a format (which reads 05/04/2020 as 4 May)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return (col.dt.tz_localize(None) if getattr(col.dt, "tz", None) is not None else col).astype("datetime64[ns]")
    text = col.astype("string").str.strip().replace("", pd.NA)
    out = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    iso = out.isna() & text.notna()
    if iso.any():
        out[iso] = pd.to_datetime(text[iso].str[:10], format="%Y-%m-%d", errors="coerce")
    return out.astype("datetime64[ns]")



def as_at(spells: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """The history as it was known at the end of ``origin`` (a date): episodes starting later are
    removed, later end dates (and reasons) blanked. A backtest fits only on this."""
    s = spells[spells["start"] <= origin].copy()
    late = s["end"] > origin
    s.loc[late, "end"] = pd.NaT
    s.loc[late, "REC"] = ""
    s.loc[late, "next_category"] = -1
    return s



def _days(ts: pd.Series | pd.Timestamp) -> np.ndarray:
    return (pd.to_datetime(ts).to_numpy("datetime64[D]").astype(np.int64)) if not isinstance(ts, pd.Timestamp) \
        else np.int64(ts.to_datetime64().astype("datetime64[D]").astype(np.int64))



def band_of_years(age: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(AGE_EDGES, age, side="right") - 1, 0, len(AGE_BANDS) - 1)



# ---- daily stock -------------------------------------------------------------------------------------
def daily_stock(spells: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, by: str = "category") -> pd.DataFrame:
    """Children in care on each day from ``start`` to ``end`` (a child counts on the days from its
    episode start up to the day before it ends), by ``category``, ``age_band`` (age on each day, not
    at episode start: each episode is cut at the birthdays where the band changes) or ``both``
    (columns "category|age_band"). Difference arrays: no loop over episodes."""
    first, last = int(_days(start)), int(_days(end))
    n_days = last - first + 1
    s = _days(spells["start"])
    e = np.where(spells["end"].isna(), last + 1, _days(spells["end"].fillna(end)))
    cat = spells["category"].to_numpy()
    if by == "category":
        keys, n_keys, segs = cat, NC, (s, e)
        seg_keys = keys
    else:
        # cut at birthdays 1, 5, 10, 16 (and 18): pieces of at most 6 segments per episode
        dob = spells["dob"]
        cuts = np.stack([_days(dob + pd.DateOffset(years=int(y))) for y in AGE_EDGES[1:]], axis=1)  # (n, 5)
        bounds = np.concatenate([s[:, None], np.clip(cuts, s[:, None], e[:, None]), e[:, None]], axis=1)
        seg_s, seg_e = bounds[:, :-1], bounds[:, 1:]
        band = np.broadcast_to(np.arange(6), seg_s.shape).copy()  # segment j: band j-1 .. (0 before 1st birthday)
        band = np.minimum(band, len(AGE_BANDS) - 1)
        keep = seg_e > seg_s
        # segments after the 18th birthday (j = 5) are not a child's: dropped
        keep &= np.arange(6)[None, :] < 5
        seg_s, seg_e, band = seg_s[keep], seg_e[keep], band[keep]
        seg_cat = np.repeat(cat[:, None], 6, axis=1)[keep]
        segs = (seg_s, seg_e)
        if by == "age_band":
            seg_keys, n_keys = band, len(AGE_BANDS)
        else:
            seg_keys, n_keys = seg_cat * len(AGE_BANDS) + band, NC * len(AGE_BANDS)
    a = np.clip(segs[0] - first, 0, n_days)
    b = np.clip(segs[1] - first, 0, n_days)
    ok = b > a
    diff = np.zeros((n_days + 1, n_keys), dtype=np.int64)
    np.add.at(diff, (a[ok], seg_keys[ok]), 1)
    np.add.at(diff, (b[ok], seg_keys[ok]), -1)
    stock = np.cumsum(diff, axis=0)[:n_days]
    if by == "category":
        cols = CATEGORIES
    elif by == "age_band":
        cols = AGE_BANDS
    else:
        cols = [f"{c}|{b}" for c in CATEGORIES for b in AGE_BANDS]
    return pd.DataFrame(stock, index=pd.date_range(start, end, freq="D"), columns=cols)



# ---- monthly flows --------------------------------------------------------------------------------------
def reason_group(rec: pd.Series, dob: pd.Series, end: pd.Series) -> pd.Series:
    out = pd.Series("other", index=rec.index, dtype=object)
    for g, codes in REASON_GROUPS.items():
        out[rec.isin(codes)] = g
    adult = end >= dob + pd.DateOffset(years=18) - pd.Timedelta(days=1)
    out[adult & ~rec.isin(REASON_GROUPS["adoption"])] = "age_18"
    return out



def monthly_flows(spells: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """By calendar month: children starting a period of care, moves between placement categories
    (an X1 continuation into another category), and periods ceased by reason group."""
    months = pd.period_range(start, end, freq="M")
    idx = pd.PeriodIndex(months)
    s = spells
    starts = s.loc[s["new_period"], "start"].dt.to_period("M").value_counts()
    moved = s[(s["next_category"] >= 0) & (s["next_category"] != s["category"]) & s["end"].notna()]
    moves = moved["end"].dt.to_period("M").value_counts()
    ended = s[s["end"].notna() & (s["REC"] != "X1") & (s["REC"] != "")]
    groups = reason_group(ended["REC"], ended["dob"], ended["end"])
    ceased = pd.crosstab(ended["end"].dt.to_period("M"), groups)
    out = pd.DataFrame(index=idx)
    out["starts"] = starts.reindex(idx, fill_value=0)
    out["moves"] = moves.reindex(idx, fill_value=0)
    for g in REASON_LABELS:
        out[f"ceased_{g}"] = ceased[g].reindex(idx, fill_value=0) if g in ceased else 0
    out["ceased"] = out[[f"ceased_{g}" for g in REASON_LABELS]].sum(axis=1)
    out.index.name = "month"
    return out.astype(int)



# ---- placement days and cost ---------------------------------------------------------------------------
def unit_costs_by_year(costs: pd.DataFrame, years: list[str], inflation: float) -> pd.DataFrame:
    """Weekly unit cost per category for each financial year: the params table's cost for its base
    year, uplifted (or deflated) by ``inflation`` a year. ``costs``: category, weekly_cost_gbp,
    base_year."""
    rows = []
    for r in costs.itertuples():
        base = int(str(r.base_year)[:4])
        for y in years:
            rows.append({"category": r.category, "financial_year": y,
                         "weekly_cost_gbp": float(r.weekly_cost_gbp) * (1 + inflation) ** (int(y[:4]) - base)})
    return pd.DataFrame(rows)



def fy_of(dates: pd.DatetimeIndex) -> np.ndarray:
    y = dates.year - (dates.month < 4)
    return np.array([f"{a}-{(a + 1) % 100:02d}" for a in y])



def days_and_cost(stock: pd.DataFrame, costs: pd.DataFrame, inflation: float) -> pd.DataFrame:
    """Placement days and cost (£m) by financial year, quarter and category from a daily stock by
    category."""
    fy = fy_of(stock.index)
    q = ((stock.index.month - 4) % 12) // 3 + 1
    long = stock.assign(financial_year=fy, quarter=q).groupby(["financial_year", "quarter"]).sum()
    long = long.stack().rename("days").reset_index().rename(columns={"level_2": "category"})
    uc = unit_costs_by_year(costs, sorted(set(fy)), inflation)
    long = long.merge(uc, on=["category", "financial_year"], how="left")
    long["cost_gbpm"] = long["days"] * long["weekly_cost_gbp"] / 7 / 1e6
    return long



def category_label(c: str) -> str:
    return CATEGORY_LABELS.get(c, c)
