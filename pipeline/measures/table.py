"""The performance measures as a table (``measure_table``): each measure's latest value, target, rating,
direction of travel and DfE benchmarks, with snake_case columns; and the places a source report gives two
figures for one value (``source_conflicts``). Pure functions of the measures input, the catalogue and a
benchmark look-up; the quarter's table is ``pipeline.quarter.performance.measures_table``."""

from __future__ import annotations

import math
import re

import pandas as pd

from pipeline.core.formatting import number, pct
from pipeline.ingest.parsing import parse_measure_value, parse_target
from pipeline.measures import catalogue
from pipeline.measures.ratings import Rating, rate

YEAR_RANGE = re.compile(r"^(\d{4})-(\d{4})$")


def value_of(text) -> float:
    v = parse_measure_value(text)
    return float(v.value) if v.value is not None else math.nan


def fy_short(fy: str) -> str:
    return f"{fy[2:4]}-{fy[5:7]}"


def measure_table(measures: pd.DataFrame, fy: str, basis: str = "relative", cat: pd.DataFrame | None = None,
                  bench=None) -> pd.DataFrame:
    """One row per measure: latest and previous values with their periods, the target for this year
    (the return's ``Target <yy-yy>``, else its ``Target``, else the catalogue's target for the year, else
    the return's last), the catalogue's outcome, objective and definition where the measure is in it, the
    benchmarks (``bench(key, period, value, polarity)``: England, region, neighbours, quartile band and rank
    from the DfE series the catalogue names; else England as the return gives it), the direction of travel
    and the rating with its sentence."""
    ids = catalogue.match(measures, cat) if cat is not None else {}
    cat_i = cat.set_index("id") if cat is not None else None
    rows = []
    for ref, g in measures.groupby("measure_ref", sort=False):
        first = g.iloc[0]
        c = cat_i.loc[ids[ref]] if ref in ids else None
        years = g[g["period"].str.match(YEAR_RANGE)].copy()
        years["v"] = years["value_raw"].map(value_of)
        years = years[years["v"].notna()].sort_values("period")
        targets = g[g["period"].str.startswith("Target")]
        t_this = targets[targets["period"] == f"Target {fy_short(fy)}"]
        t_generic = targets[targets["period"] == "Target"]
        cat_target = catalogue.target_for(c, fy) if c is not None else ""
        if len(t_this):
            target, target_from = str(t_this["value_raw"].iloc[0]), "return"
        elif len(t_generic):
            target, target_from = str(t_generic["value_raw"].iloc[0]), "return"
        elif cat_target:
            target, target_from = cat_target, f"catalogue ({fy})"
        elif len(targets):
            target, target_from = str(targets["value_raw"].iloc[-1]), "return (" + targets["period"].iloc[-1] + ")"
        else:
            target, target_from = "", ""
        nat = g[g["period"].str.lower().str.startswith("national")]
        national = value_of(nat["value_raw"].iloc[0]) if len(nat) else math.nan
        latest = years.iloc[-1] if len(years) else None
        prev = years.iloc[-2] if len(years) > 1 else None
        value = float(latest["v"]) if latest is not None else None
        polarity = str(first["polarity"])
        unit = str(first.get("unit", "")) or (c["unit"] if c is not None else "")
        b = None
        key = c["benchmark"] if c is not None else ""
        if key and bench is not None and latest is not None:
            b = bench(key, latest["period"], value, polarity)
        england = national
        england_from = "return" if not math.isnan(national) else ""
        if b is not None and not math.isnan(b["england"]):
            england, england_from = b["england"], f"DfE {b['period']}"
        direction = ""
        if prev is not None:
            d = float(latest["v"]) - float(prev["v"])
            direction = "unchanged" if abs(d) < 1e-9 else ("improved" if (d > 0) == (polarity != "lower") else "worsened")
            direction += f" since {prev['period'][:4]}-{prev['period'][7:9]} ({shown_value(float(prev['v']), unit)})"
        stale = latest is not None and int(latest["period"][:4]) < int(fy[:4]) - 1
        r = rate(value, target, polarity, unit or None, basis=basis,
                 national=None if math.isnan(england) else england,
                 previous=float(prev["v"]) if prev is not None else None,
                 quartile_band=(b["band"] or None) if b is not None else None)
        if stale:  # a value two or more years old is shown, not rated against this year's target
            r = Rating("Not available", f"The latest value ({shown_value(value, unit)}, {latest['period']}) is "
                                        f"more than a year old: not rated against the {fy} target.")
        rows.append({"measure_ref": ref, "catalogue_id": ids.get(ref, ""), "measure": first["measure_name"],
                     "polarity": polarity, "unit": unit,
                     "outcome": c["outcome"] if c is not None else "", "objective": c["objective"] if c is not None else "",
                     "definition": c["definition"] if c is not None else "", "frequency": c["frequency"] if c is not None else "",
                     "latest_period": latest["period"] if latest is not None else "",
                     "latest": value if value is not None else math.nan,
                     "previous_period": prev["period"] if prev is not None else "",
                     "previous": float(prev["v"]) if prev is not None else math.nan, "target": target,
                     "target_from": target_from, "target_rule": parse_target(target).kind,
                     "national": england, "national_from": england_from,
                     "region": b["region"] if b else math.nan, "region_name": b["region_name"] if b else "",
                     "neighbours_mean": b["sn_mean"] if b else math.nan, "neighbours_with_value": b["sn_count"] if b else 0,
                     "quartile_band": b["band"] if b else "", "rank": b["rank"] if b else 0, "of": b["of"] if b else 0,
                     "benchmark_series": key, "benchmark_period": b["period"] if b else "",
                     "benchmark_note": b["note"] if b else ("" if not key else "DfE's file for this measure is not among this quarter's inputs"),
                     "direction": direction, "rating": r.rating, "better_by": r.better_by,
                     "explanation": r.sentence + _conflict_note(latest)})
    return pd.DataFrame(rows)


_CONFLICT = re.compile(r"(?:narrative|text|table|chart)\s+(?:gives|says|shows)\s+(-?[\d.,]+%?)", re.I)


def _conflict_note(latest) -> str:
    """When the source itself gives another figure for the value rated, the rating says so."""
    if latest is None:
        return ""
    m = _CONFLICT.search(str(latest.get("source", "")))
    if not m or value_of(m.group(1)) == latest["v"]:
        return ""
    return f" The source report also gives {m.group(1)} for this figure: see Data quality and method."


def source_conflicts(measures: pd.DataFrame, key: str = "measures") -> list[dict]:
    """Data-quality findings for values where the source report contradicts itself (its narrative and its
    chart or table give different figures): which figure the pack uses and which it does not."""
    out = []
    for r in measures.itertuples():
        m = _CONFLICT.search(str(getattr(r, "source", "")))
        if not m or not YEAR_RANGE.match(str(r.period)):
            continue
        other, used = m.group(1), str(r.value_raw)
        if value_of(other) == value_of(used):
            continue
        period = f"{str(r.period)[:4]}-{str(r.period)[7:9]}"
        out.append({"input": key, "check": "source contradicts itself",
                    "finding": f"{r.measure_name} ({period}): the report gives both {used} and {other}; the pack "
                               f"uses {used} and rates it, so confirm the figure with the service",
                    "level": "warning"})
    return out


def shown_value(v, unit) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return pct(v) if unit == "percent" else f"£{number(v)}" if unit == "gbp" else number(v, 0 if float(v).is_integer() else 1)
