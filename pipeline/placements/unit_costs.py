"""Weekly unit cost of each placement type from the finance ledger: the spend of the placement cost centres
mapped to a placement type (the cost-centre mapping's ``placement_category`` column) divided by that type's
placement days in the SSDA903 history, over the last twelve complete months before the quarter end, with
its uncertainty from a bootstrap over those months. Where the ledger cannot give a figure (no ledger, no
``placement_category`` column, no cost centre for the type, too few placement days or months, spend not
positive) the params table's figure (``placement_unit_costs``) is used, and the row says why.

Every figure is restated to the prices of the quarter's financial year (the params inflation a year), so
the projection uplifts each from the same base year. ``draw_factors`` gives each simulated path its own
multiplier per placement type (lognormal, median 1), so the cost range carries the unit-cost uncertainty
as well as the uncertainty in the number of children. See docs/unit-costs.md."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements.history import daily_stock

WINDOW_MONTHS = 12  # the last twelve complete months before the quarter end
MIN_DAYS = 365  # fewer placement days than a child all year in the window: too few for a rate (params used)
MIN_MONTHS = 6  # months in the window with both ledger spend rows and placement days, at least
BOOTSTRAP = 2000  # resamples of the window's months for the uncertainty
Z80 = 1.2815515655446004  # the 90th centile of the standard normal: an 80% range is the median x exp(+-Z80 x sigma)

COLUMNS = ["category", "weekly_cost_gbp", "base_year", "source", "reason", "window_start", "window_end", "months",
           "days", "spend_gbp", "sigma", "low_gbp", "high_gbp", "params_weekly_cost_gbp"]

REASONS = {"no_ledger": "no finance ledger in this quarter's inputs",
           "no_column": "no cost-centre mapping with a placement_category column (input cost_centres)",
           "no_cost_centre": "no cost centre in the ledger is mapped to this placement type",
           "few_days": f"fewer than {MIN_DAYS} placement days or {MIN_MONTHS} months with spend and days in the window",
           "spend_not_positive": "the ledger's spend on it in the window is not positive",
           "no_months": "the ledger holds no complete month up to the quarter end"}


def _fy_start(d: pd.Timestamp) -> int:
    return d.year - (d.month < 4)


def fy_label(start_year: int) -> str:
    return f"{start_year}-{(start_year + 1) % 100:02d}"


def window(ledger_months: pd.Series, as_at: pd.Timestamp) -> pd.PeriodIndex:
    """The twelve calendar months ending with the latest month that is complete at ``as_at`` (its last day
    on or before it) and held in the ledger; empty when there is none."""
    as_at = pd.Timestamp(as_at)
    held = pd.PeriodIndex(pd.to_datetime(ledger_months).dt.to_period("M").unique(), freq="M")
    last_complete = as_at.to_period("M") if as_at == as_at.to_period("M").end_time.normalize() \
        else as_at.to_period("M") - 1
    held = held[held <= last_complete]
    if not len(held):
        return pd.PeriodIndex([], freq="M")
    end = held.max()
    return pd.period_range(end - (WINDOW_MONTHS - 1), end, freq="M")


def monthly_days(spells: pd.DataFrame, months: pd.PeriodIndex) -> pd.DataFrame:
    """Placement days by calendar month (rows) and placement type (columns) from the spells."""
    if not len(months):
        return pd.DataFrame(columns=CATEGORIES, dtype=float)
    daily = daily_stock(spells, months[0].start_time, months[-1].end_time.normalize())
    out = daily.groupby(daily.index.to_period("M")).sum()
    return out.reindex(months, fill_value=0)[CATEGORIES].astype(float)


def monthly_spend(ledger: pd.DataFrame, mapping: pd.DataFrame, months: pd.PeriodIndex) -> pd.DataFrame:
    """The ledger's actual spend (£, from pence) by calendar month and placement type, for the cost centres
    the mapping gives a placement type; a month with no ledger row for a type, or with an actual that could
    not be read (set aside by the reader), is NaN (not used), a month with rows summing to nothing is 0."""
    m = mapping[["cost_centre", "placement_category"]].copy()
    m["placement_category"] = m["placement_category"].fillna("").astype(str).str.strip()
    m = m[m["placement_category"].isin(CATEGORIES)].drop_duplicates("cost_centre")
    led = ledger[ledger["cost_centre"].astype(str).str.strip().isin(m["cost_centre"])].copy()
    led["category"] = led["cost_centre"].astype(str).str.strip().map(m.set_index("cost_centre")["placement_category"])
    led["period"] = pd.to_datetime(led["month"]).dt.to_period("M")
    led = led[led["period"].isin(months)]
    led["gbp"] = pd.to_numeric(led["actual"], errors="coerce").astype(float) / 100
    g = led.groupby(["period", "category"])["gbp"]
    out = g.sum().where(g.count() == g.size()).unstack("category")  # one unreadable actual: the month not used
    return out.reindex(index=months, columns=CATEGORIES)


def _params_rows(params_costs: pd.DataFrame, fy: str, inflation: float) -> dict[str, tuple[float, str]]:
    """Each params category's weekly cost restated to ``fy`` prices, and its own base year."""
    out = {}
    for r in params_costs.itertuples():
        base = int(str(r.base_year)[:4])
        out[str(r.category)] = (float(r.weekly_cost_gbp) * (1 + inflation) ** (int(fy[:4]) - base), str(r.base_year))
    return out


def estimate(spells: pd.DataFrame, ledger: pd.DataFrame | None, mapping: pd.DataFrame | None,
             params_costs: pd.DataFrame, as_at: pd.Timestamp, inflation: float, seed: int = 2026) -> pd.DataFrame:
    """The weekly unit cost used for each placement type (``COLUMNS``), in the prices of the financial year
    of ``as_at``: from the ledger (``source`` "ledger") where it can give one, else the params figure
    (``source`` "params", ``reason`` a key of ``REASONS``). ``sigma`` is the log-scale standard error
    (bootstrap over the window's months; 0 for params figures: their uncertainty is not measured);
    ``low_gbp``/``high_gbp`` the 80% range the simulation's draws give. A type in neither the ledger
    nor the params table is left out (the projection then refuses, naming it)."""
    as_at = pd.Timestamp(as_at)
    fy_start = _fy_start(as_at)
    fy = fy_label(fy_start)
    par = _params_rows(params_costs, fy, inflation)
    rows = {c: {"category": c, "weekly_cost_gbp": par[c][0] if c in par else np.nan, "base_year": fy,
                "source": "params", "reason": "", "window_start": pd.NaT, "window_end": pd.NaT, "months": 0,
                "days": 0.0, "spend_gbp": np.nan, "sigma": 0.0, "low_gbp": np.nan, "high_gbp": np.nan,
                "params_weekly_cost_gbp": par[c][0] if c in par else np.nan} for c in CATEGORIES}
    if ledger is None:
        reason = {c: "no_ledger" for c in CATEGORIES}
    elif mapping is None or "placement_category" not in mapping.columns:
        reason = {c: "no_column" for c in CATEGORIES}
    elif "month" not in ledger or not len(window(ledger["month"].dropna(), as_at)):
        reason = {c: "no_months" for c in CATEGORIES}
    else:
        reason = {}
        months = window(ledger["month"].dropna(), as_at)
        spend = monthly_spend(ledger, mapping, months)
        days = monthly_days(spells, months)
        # each month's spend in this financial year's prices (the params inflation a year)
        uplift = np.array([(1 + inflation) ** (fy_start - _fy_start(p.start_time)) for p in months])
        spend_now = spend.mul(uplift, axis=0)
        rng = np.random.default_rng([int(seed), 15])
        picks = rng.integers(0, len(months), (BOOTSTRAP, len(months))) if len(months) else None
        for c in CATEGORIES:
            s, d = spend_now[c], days[c]
            if s.isna().all():
                reason[c] = "no_cost_centre"
                continue
            held = s.notna() & (d > 0)
            total_s, total_d = float(s[held].sum()), float(d[held].sum())
            r = rows[c]
            r.update(window_start=months[0].start_time, window_end=months[-1].end_time.normalize(),
                     months=int(held.sum()), days=total_d, spend_gbp=total_s)
            if total_d < MIN_DAYS or held.sum() < MIN_MONTHS:
                reason[c] = "few_days"
                continue
            if total_s <= 0:
                reason[c] = "spend_not_positive"
                continue
            weekly = total_s / total_d * 7
            # bootstrap over months (ratio of sums on each resample; months not held count as nothing)
            sv, dv = np.where(held, s.fillna(0), 0.0), np.where(held, d, 0.0)
            bs, bd = sv[picks].sum(axis=1), dv[picks].sum(axis=1)
            ok = (bd > 0) & (bs > 0)
            sigma = float(np.std(np.log(bs[ok] / bd[ok] * 7 / weekly), ddof=1)) if ok.sum() > 1 else 0.0
            r.update(weekly_cost_gbp=weekly, source="ledger", sigma=sigma,
                     low_gbp=weekly * np.exp(-Z80 * sigma), high_gbp=weekly * np.exp(Z80 * sigma))
    for c, why in reason.items():
        rows[c]["reason"] = why
    out = pd.DataFrame([rows[c] for c in CATEGORIES], columns=COLUMNS)
    return out[out["weekly_cost_gbp"].notna()].reset_index(drop=True)


def as_costs(unit: pd.DataFrame) -> pd.DataFrame:
    """``estimate`` output as the cost table the projection reads (category, weekly_cost_gbp, base_year)."""
    return unit[["category", "weekly_cost_gbp", "base_year"]].copy()


def draw_factors(unit: pd.DataFrame, paths: int, seed: int) -> np.ndarray:
    """A multiplier per simulated path and placement type (paths, len(CATEGORIES)): lognormal with median 1
    and the type's ``sigma`` (1 where sigma is 0). Row p depends only on (seed, p): the first n rows are the
    same in a run of any size, so the scenarios' paths (the baseline's first n) meet the same unit costs."""
    sig = unit.set_index("category")["sigma"].reindex(CATEGORIES).fillna(0.0).to_numpy()
    z = np.random.default_rng([int(seed), 16]).standard_normal((paths, len(CATEGORIES)))
    return np.exp(z * sig[None, :])


def developer_notes(unit: pd.DataFrame) -> list[str]:
    """For the build log and ``cspack check``: which placement types use the params figure, and why."""
    fb = unit[unit["source"] == "params"]
    if not len(fb):
        return []
    if fb["reason"].isin(["no_ledger", "no_column", "no_months"]).all() and len(fb) == len(unit):
        why = fb["reason"].iloc[0]
        hint = (" (add a placement_category column to the cost-centre mapping, naming the SSDA903 placement "
                "category of each placement cost centre, to estimate them from the ledger)" if why == "no_column" else "")
        return [f"placement unit costs: {REASONS[why]}, so every placement type uses the params table "
                f"placement_unit_costs{hint}"]
    return [f"placement unit costs: {r.category} uses the params figure ({REASONS.get(r.reason, r.reason)})"
            for r in fb.itertuples()]


def mapping_notes(has_ledger: bool, mapping: pd.DataFrame | None) -> list[str]:
    """For ``cspack check`` (before any model is run): whether the ledger can give the placement unit costs,
    from the inputs alone (the day and spend thresholds are checked when the pack is built)."""
    if not has_ledger:
        return [f"placement unit costs: {REASONS['no_ledger']}, so the params table placement_unit_costs gives every "
                "weekly cost"]
    if mapping is None or "placement_category" not in mapping.columns:
        return developer_notes(pd.DataFrame({"category": CATEGORIES, "source": "params", "reason": "no_column"}))
    mapped = set(mapping["placement_category"].fillna("").astype(str).str.strip())
    unknown = sorted(mapped - set(CATEGORIES) - {""})
    out = [f"placement unit costs: {c} uses the params figure ({REASONS['no_cost_centre']})"
           for c in CATEGORIES if c not in mapped]
    if unknown:
        out.append(f"placement unit costs: the cost-centre mapping's placement_category holds {', '.join(unknown)}, "
                   f"not SSDA903 placement categories ({', '.join(CATEGORIES)}): those cost centres are not used")
    return out
