"""Data-quality findings for the data-overview section: what a careful analyst would check."""

from __future__ import annotations

import pandas as pd

from .finance import forecast_table
from .formatting import gbpm, number, pct, plural

DFE_MARKERS = {"c", "x", "z", "k", "low", "u", ":"}
FINDING_COLUMNS = ["input", "check", "finding", "count", "level"]


def _f(input_key, check, finding, count, level="info"):
    return {"input": input_key, "check": check, "finding": finding, "count": int(count), "level": level}


def budget_findings(lines: pd.DataFrame, totals: pd.DataFrame | None = None) -> list[dict]:
    """Recompute published variances, percentages and totals; report where the rounded
    published table does not cast (DESIGN.md: say so in a note rather than forcing totals)."""
    out = []
    t = forecast_table(lines.drop(columns=["published_variance_gbpm"], errors="ignore"))
    if "published_variance_gbpm" in lines:
        t["published_variance_gbpm"] = lines["published_variance_gbpm"]
        diff = (t["variance_gbpm"] - t["published_variance_gbpm"]).abs()
        off = t[diff > 0.0005]
        if len(off):
            worst = diff.max()
            names = "; ".join(off["service_line"].head(4))
            out.append(_f("budget_lines", "variance = forecast - budget",
                          f"{plural(len(off), 'line')} of {len(t)} differ from forecast minus budget by up to "
                          f"{gbpm(worst)} ({names}): the published table was computed from unrounded figures",
                          len(off)))
        else:
            out.append(_f("budget_lines", "variance = forecast - budget",
                          f"all {len(t)} published variances equal forecast minus budget", 0))
    if "published_variance_pct" in t:
        diff = (t["variance_pct"].round(1) - t["published_variance_pct"]).abs()
        off = t[diff > 0.05]
        finding = (f"{plural(len(off), 'line')} of {len(t)} differ from the recomputed percentage by up to "
                   f"{pct(diff.max())} points ({'; '.join(off['service_line'].head(4))}): the published figures "
                   "were computed from unrounded data"
                   if len(off) else f"all {len(t)} published percentages agree when recomputed")
        out.append(_f("budget_lines", "percentage of controllable budget", finding, len(off)))
    if totals is not None and len(totals):
        tot = totals[totals["row"] == "Total"]
        if len(tot):
            for col, label in (("controllable_budget_gbpm", "budget"), ("full_year_forecast_gbpm", "forecast")):
                s, p = t[col].sum(), float(tot[col].iloc[0])
                gap = s - p
                out.append(_f("budget_lines", f"lines cast to the published total ({label})",
                              (f"lines sum to {gbpm(s)}, the published total is {gbpm(p)}"
                               + ("" if abs(gap) < 0.0005 else f": a rounding difference of {gbpm(gap)}")),
                              int(abs(gap) >= 0.0005)))
    return out


def marker_findings(key: str, df: pd.DataFrame) -> list[dict]:
    """Count DfE suppression / not-applicable markers (c, x, z, k, low) in a published file's
    measure columns. Identifier columns (area names, codes, breakdowns) are never counted: a column
    counts only when its values other than markers and blanks are mostly numbers."""
    hits = df.isin(DFE_MARKERS)  # one vectorised pass; DfE writes its markers in lower case
    counts: dict[str, int] = {}
    for col in hits.columns[hits.any().to_numpy()]:
        s = df[col][~hits[col]]
        s = s[s.str.strip() != ""]
        if len(s) and pd.to_numeric(s.str.replace(",", ""), errors="coerce").notna().mean() <= 0.5:
            continue  # an identifier column that happens to hold "c" or "x"
        for marker, n in df[col][hits[col]].value_counts().items():
            counts[marker] = counts.get(marker, 0) + int(n)
    n = sum(counts.values())
    if not n:
        return [_f(key, "suppression markers", "no DfE suppression markers", 0)]
    detail = ", ".join(f"{number(c)} '{m}'" for m, c in sorted(counts.items(), key=lambda kv: -kv[1]))
    return [_f(key, "suppression markers",
               f"{number(n)} cells hold DfE markers ({detail}); they stay missing, never zero", n)]


def confidence_findings(key: str, df: pd.DataFrame) -> list[dict]:
    if "confidence" not in df:
        return []
    counts = df["confidence"].str.strip().replace("", "not stated").value_counts()
    low = int(counts.get("low", 0)) + int(counts.get("medium", 0))
    detail = ", ".join(f"{number(c)} {k}" for k, c in counts.items())
    return [_f(key, "source confidence", f"rows by confidence: {detail}; medium and low rows carry a note "
               "on their basis", low, "warning" if low else "info")]


def measure_value_findings(key: str, df: pd.DataFrame, value_columns: list[str]) -> list[dict]:
    """Count measure values that are not plain numbers ("Due in Q2", "18 (Dec 22)", "TBC")."""
    text = df[value_columns].stack().astype(str).str.strip()
    text = text[text != ""]
    plain = text.str.fullmatch(r"[£-]?[\d,]*\.?\d+%?")
    n = int((~plain).sum())
    examples = "; ".join(f'"{v}"' for v in text[~plain].drop_duplicates().head(4))
    return [_f(key, "measure value formats",
               f"{number(n)} of {number(len(text))} values are not plain numbers (for example {examples}); "
               "they are kept verbatim for the measure parser", n)]
