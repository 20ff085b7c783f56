"""The quarter's performance measures (``measures_table``: ``pipeline.measures.table.measure_table`` on the
quarter's inputs, rated and benchmarked against DfE's published series) and the DfE files behind the
benchmarks, each read once per context (``QuarterContext.cached``)."""

from __future__ import annotations

import math
import re

import pandas as pd

from pipeline.measures import catalogue
from pipeline.measures.benchmarks import SERIES, benchmark, dfe_period, series_for
from pipeline.measures.table import YEAR_RANGE, measure_table
from pipeline.quarter.context import QuarterContext


def read_dfe(ctx: QuarterContext, key: str) -> pd.DataFrame:
    """A DfE file of the params, read once per notebook run (several figures use the same file)."""
    return ctx.cached(("dfe_file", key), lambda: pd.read_csv(ctx.params.inputs[key].path, dtype=str,
                                                             keep_default_na=False, encoding="utf-8-sig"))


def dfe_series(ctx: QuarterContext, key: str) -> pd.DataFrame:
    """The tidy DfE series behind a ``benchmarks.SERIES`` key, built once per notebook run."""
    return ctx.cached(("dfe_series", key), lambda: series_for(key, read_dfe(ctx, SERIES[key]["input"])))


def neighbour_models(ctx: QuarterContext) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """DfE's 2025 statistical neighbour model and (when in the params) the April 2021 groupings."""
    return (read_dfe(ctx, "sn_model_2025"),
            read_dfe(ctx, "sn_groupings_2021") if "sn_groupings_2021" in ctx.params.inputs else None)


def benchmark_who(ctx: QuarterContext) -> str:
    return ctx.params.settings.benchmark_authority or ctx.params.authority_code


def catalogue_of(ctx: QuarterContext) -> pd.DataFrame | None:
    """The quarter's measure catalogue (input ``measure_catalogue``), checked, read once per notebook run;
    None when not in the params."""
    if "measure_catalogue" not in ctx.params.inputs:
        return None
    return ctx.cached("catalogue", lambda: catalogue.load(ctx.params.inputs["measure_catalogue"].path, set(SERIES)))


def bencher(ctx: QuarterContext):
    """``bench(key, period, value, polarity)`` for ``measure_table``: the benchmarks of the authority named
    by settings.benchmark_authority (else the params' authority code) in the DfE series ``key``, for the
    DfE period matching the measure's financial year, or the latest published before it (said in
    ``note``). The value placed among all authorities is the measure's own."""
    inputs = ctx.params.inputs
    who = benchmark_who(ctx)

    def bench(key: str, period: str, value, polarity: str):
        spec = SERIES[key]
        if spec["input"] not in inputs or "sn_model_2025" not in inputs:
            return None
        series = dfe_series(ctx, key)
        want = dfe_period(period, spec["basis"])
        have = sorted(p for p in series.loc[series["level"] == "Local authority", "period"].unique() if p <= want)
        if not want or not have:
            return None
        use = want if want in have else have[-1]
        try:
            b = benchmark(series, who, use, polarity, *neighbour_models(ctx),
                          value=None if value is None or (isinstance(value, float) and math.isnan(value)) else value)
        except KeyError:
            return None
        note = "" if use == want else (f"{spec['title']}: DfE's latest published figures are for {use}, and the "
                                       f"{period[:4]}-{period[7:9]} value is placed among them")
        return {"england": b.england, "region": b.region, "region_name": b.region_name, "sn_mean": b.sn_mean,
                "sn_count": b.sn_count, "band": b.band, "rank": b.rank, "of": b.of, "period": use, "note": note}

    return bench


def measures_table(ctx: QuarterContext) -> pd.DataFrame | None:
    if "measures" not in ctx.params.inputs:
        return None
    basis = ctx.params.settings.rating_basis
    return ctx.cached("performance_table", lambda: measure_table(ctx.table("measures"), ctx.quarter.fy, basis,
                                                                  catalogue_of(ctx), bencher(ctx)))


def measures(ctx: QuarterContext) -> pd.DataFrame | None:
    """The quarter's key measures, each rated against its target and benchmarked
    (``quarter.performance.measures_table``), with each period in words (``with_periods``); None without
    the key measures input."""
    t = measures_table(ctx)
    return None if t is None else with_periods(t, ctx.quarter)


_AT_END = re.compile(r"\bat (?:the )?(?:period|year|quarter|month)[- ]end\b|\bat 31 march\b", re.I)


def is_snapshot(definition: str, name: str = "") -> bool:
    """A measure counted at a date (children looked after at the period end), not over a period: its
    catalogue definition says "at the period end" (or at 31 March)."""
    return bool(_AT_END.search(f"{definition} {name}"))


def period_label(period: str, quarter, snapshot: bool) -> str:
    """A measure's period in words: this financial year before its last quarter is a part year, "2026-27
    to September" (a count: "at 30 September 2026"); an earlier year is "2025-26" (a count: "at 31 March
    2026")."""
    m = YEAR_RANGE.match(str(period))
    if not m:
        return str(period)
    fy = f"{m.group(1)}-{m.group(2)[2:]}"
    if fy == quarter.fy and quarter.q != 4:
        return f"at {quarter.end:%-d %B %Y}" if snapshot else f"{fy} to {quarter.end:%B}"
    return f"at 31 March {m.group(2)}" if snapshot else fy


def with_periods(t: pd.DataFrame, quarter) -> pd.DataFrame:
    """``t`` with ``latest_label`` and ``previous_label`` (``period_label``) and ``part_year`` (the latest
    value covers only part of this financial year, or is a count part way through it); the direction and
    the rating's sentence say when a part-year figure is set against a full-year target or last year's
    full-year figure (or a count at 30 September against one at 31 March)."""
    t = t.copy()
    snap = [is_snapshot(str(d), str(n)) for d, n in zip(t.get("definition", [""] * len(t)), t["measure"])]
    t["latest_label"] = [period_label(p, quarter, s) if p else "" for p, s in zip(t["latest_period"], snap)]
    t["previous_label"] = [period_label(p, quarter, s) if p else "" for p, s in zip(t["previous_period"], snap)]
    fy_period = f"{quarter.fy_start}-{quarter.fy_start + 1}"
    t["part_year"] = (t["latest_period"] == fy_period) & (quarter.q != 4)
    direction, why = [], []
    for r, s in zip(t.itertuples(), snap):
        d = str(r.direction)
        if r.previous_period:
            d = re.sub(r" since \d{4}-\d{2} \(", f" since {re.sub(r'^at ', '', r.previous_label)} (", d)
        e = str(r.explanation)
        if r.part_year and r.rating != "Not available":
            months = f"April to {quarter.end:%B %Y}"
            if s and r.target_rule == "trend":
                e += f" This is a count at {quarter.end:%-d %B %Y} set against last year's count at 31 March."
            elif not s:
                against = {"trend": "last year's full-year figure", "national": "England's full-year figure",
                           "quartile": "other authorities' full-year figures"}.get(r.target_rule, "a full-year target")
                e += f" Part year: {months} only, set against {against}."
        direction.append(d)
        why.append(e)
    t["direction"], t["explanation"] = direction, why
    return t
