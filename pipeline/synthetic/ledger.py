"""The synthetic finance ledger: placement lines from placement days x unit costs, other service lines
from seed 004's budgets with drift and noise."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipeline.ingest.ssda903 import CATEGORIES, collection_year_label
from pipeline.placements.history import daily_stock
from pipeline.synthetic.calibration import Config
from pipeline.synthetic.simulate import _days_in_month

LEDGER_YEARS = list(range(2019, 2027))
# weekly unit cost per placement category in 2021-22 prices, with source or "assumption"
UNIT_COSTS = [
    ("in_house_fostering", 750.0, "PSSRU Unit Costs 2017: LA foster care £646 per child per week in 2016-17 "
     "(benchmarks_core foster_care_cost_per_child_per_week), uplifted to 2021-22"),
    ("agency_fostering", 850.0, "CMA children's social care market study interim report (2021): IFA placement about "
     "£820 per week c.2020 (benchmarks_core ifa_price_per_week), uplifted"),
    ("kinship_fostering", 420.0, "assumption: fostering allowance and support for connected carers"),
    ("in_house_childrens_home", 3100.0, "Derbyshire council-run children's home £3,642 per week c.2024-25 "
     "(benchmarks_core inhouse_childrens_home_cost_per_week, low confidence), deflated to 2021-22"),
    ("external_childrens_home", 5300.0, "NAO Managing children's residential care (2025): £6,106 per place per week "
     "2023-24 (benchmarks_core childrens_home_cost_per_place_per_week_derived), deflated to 2021-22"),
    ("secure", 7500.0, "assumption: secure children's home welfare placement"),
    ("supported_accommodation", 1400.0, "assumption: supported accommodation for 16 and 17 year olds"),
    ("placed_with_parents", 60.0, "assumption: support costs while placed with parents"),
    ("placed_for_adoption", 250.0, "assumption: adoption placement support"),
    ("other", 1200.0, "assumption: residential schools, mother and baby units, health placements"),
]
# uplift applied from each financial year to the next (assumption, close to CPI; children's homes rose faster)
UPLIFT = {2019: 0.02, 2020: 0.02, 2021: 0.0, 2022: 0.09, 2023: 0.07, 2024: 0.045, 2025: 0.035, 2026: 0.03}
PLACEMENT_BUDGET = {2019: 36.0, 2020: 38.5, 2021: 43.072, 2022: 49.0, 2023: 57.252, 2024: 62.0, 2025: 66.5, 2026: 70.0}
PLACEMENT_BUDGET_SOURCE = ("2021-22: seed 004 (£43.072m); 2023-24: seed 001, Early Help & Safeguarding agency and "
                           "contracted services £57.252m; other years: assumption")
# other service lines: seed 004 2021-22 controllable budget (£m), drift of spend against budget in 2021-22
# (seed 004's forecast percentage), division, and subjective split (shares of the budget)
OTHER_LINES = [
    ("disabilities", "Support for Children with Disabilities", 5.397, 0.125, "Early Help & Safeguarding",
     [("Employees", 0.45), ("Agency and contracted services", 0.40), ("Transfer payments", 0.10), ("Supplies and services", 0.05)]),
    ("safeguarding", "Children's Safeguarding services", 32.439, 0.056, "Early Help & Safeguarding",
     [("Employees", 0.78), ("Supplies and services", 0.08), ("Transport", 0.04), ("Agency and contracted services", 0.10)]),
    ("early_help", "Early Help & Preventative Services", 6.891, 0.028, "Early Help & Safeguarding",
     [("Employees", 0.85), ("Premises", 0.05), ("Supplies and services", 0.10)]),
    ("school_transport", "Home to School Transport", 15.915, 0.123, "Schools & Learning", [("Transport", 1.0)]),
    ("education_support", "Education support services", 4.092, 0.457, "Schools & Learning",
     [("Employees", 0.80), ("Supplies and services", 0.25), ("Premises", 0.10), ("Income", -0.15)]),
    ("management_support", "Management, Finance, ICT and other support services", 13.681, -0.032, "Strategic Services",
     [("Employees", 0.75), ("Supplies and services", 0.25)]),
    ("transformation", "Achieving Great Futures", 5.685, 0.0, "Performance, Quality and Partnerships",
     [("Agency and contracted services", 0.60), ("Employees", 0.40)]),
    ("pensions", "Pensions payable to former staff", 4.538, 0.051, "Strategic Services", [("Employees", 1.0)]),
    ("redundancy", "Redundancy", 0.033, 0.0, "Strategic Services", [("Employees", 1.0)]),
    ("grant_income", "Grant income", -2.295, 0.012, "Strategic Services", [("Grants", 1.0)]),
    ("unallocated", "Unallocated budget", 1.788, -0.789, "Strategic Services", [("Supplies and services", 1.0)]),
]
PLACEMENT_SUBJECTIVE = {"in_house_fostering": "Transfer payments", "kinship_fostering": "Transfer payments",
                        "in_house_childrens_home": "Employees", "placed_with_parents": "Transfer payments",
                        "placed_for_adoption": "Transfer payments"}  # others: agency and contracted services
SHORT_NAMES = {"placements": "Placements", "disabilities": "Children with disabilities", "safeguarding": "Safeguarding",
               "early_help": "Early help", "school_transport": "Home to school transport",
               "education_support": "Education support", "management_support": "Management and support",
               "transformation": "Achieving Great Futures", "pensions": "Pensions", "redundancy": "Redundancy",
               "grant_income": "Grant income", "unallocated": "Unallocated budget"}


PLACEMENT_SPEND_2021_22 = 57.833  # £m: seed 004 forecast, placements 53.133 + additional placements expected 4.700


def unit_cost_table(factor: float = 1.0) -> pd.DataFrame:
    """Weekly unit cost by category and financial year: the sourced 2021-22 costs times one
    calibration ``factor`` (so 2021-22 placement spend matches seed 004), uplifted year by year."""
    index = {2021: 1.0}
    for y in range(2022, 2027):
        index[y] = index[y - 1] * (1 + UPLIFT[y])
    for y in (2020, 2019):
        index[y] = index[y + 1] / (1 + UPLIFT[y + 1])
    rows = [(cat, collection_year_label(y), round(cost * factor * index[y], 2), cost, round(factor, 6), src)
            for cat, cost, src in UNIT_COSTS for y in LEDGER_YEARS]
    return pd.DataFrame(rows, columns=["category", "financial_year", "weekly_cost_gbp", "sourced_cost_2021_22",
                                       "calibration_factor", "source"])


def placement_days(episodes_cat: np.ndarray, start_day: np.ndarray, end_day: np.ndarray,
                   first: int, last: int) -> np.ndarray:
    """Occupied days per (day, category) from first to last (inclusive), by the pipeline's own
    ``placements.daily_stock``: a child is in a placement from its start day up to the day before it ends."""
    to_ts = lambda d: pd.to_datetime(np.asarray(d, dtype=np.int64) - 719163, unit="D")  # noqa: E731 (ordinal 719163 = 1970-01-01)
    spells = pd.DataFrame({"start": to_ts(start_day), "end": to_ts(end_day), "category": episodes_cat})
    return daily_stock(spells, to_ts([first])[0], to_ts([last])[0]).to_numpy()


def monthly_placement_costs(episodes: pd.DataFrame, categories: np.ndarray, costs: pd.DataFrame) -> pd.DataFrame:
    """Placement days and cost (integer pence) by month and category from episodes with ordinal
    ``day`` (start) and ``dec`` (end, NaN if open at 30 September 2026)."""
    first, last = date(LEDGER_YEARS[0], 4, 1).toordinal(), date(2026, 9, 30).toordinal()
    end = episodes["dec"].fillna(last + 1).to_numpy(np.int64)
    occ = placement_days(categories, episodes["day"].to_numpy(np.int64), end, first, last)
    days = pd.DataFrame(occ, columns=CATEGORIES)
    dates = pd.to_datetime(np.arange(first, last + 1) - 719163, unit="D")
    days["month"] = dates.strftime("%Y-%m")
    by_month = days.groupby("month")[CATEGORIES].sum().stack().rename("days").reset_index()
    by_month.columns = ["month", "category", "days"]
    by_month["financial_year"] = [collection_year_label(int(m[:4]) - (int(m[5:]) < 4)) for m in by_month["month"]]
    by_month = by_month.merge(costs[["category", "financial_year", "weekly_cost_gbp"]],
                              on=["category", "financial_year"], how="left")
    # pence, rounded half up once per month and category: days x weekly cost / 7
    by_month["cost_pence"] = np.floor(by_month["days"] * by_month["weekly_cost_gbp"] * 100 / 7 + 0.5).astype(np.int64)
    return by_month


def _money(pence: np.ndarray) -> np.ndarray:
    p = np.asarray(pence, dtype=np.int64)
    sign = np.where(p < 0, "-", "")
    a = np.abs(p)
    return np.char.add(np.char.add(sign, (a // 100).astype(str)), np.char.add(".", np.char.zfill((a % 100).astype(str), 2)))


def calibrated_unit_costs(episodes: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """The unit-cost table with the factor that makes 2021-22 placement spend equal seed 004's
    forecast (scaled by ``cfg.scale``)."""
    cats = episodes["category"].to_numpy(np.int64)
    raw = monthly_placement_costs(episodes, cats, unit_cost_table(1.0))
    spend = raw.loc[raw["financial_year"] == "2021-22", "cost_pence"].sum() / 1e8
    return unit_cost_table(PLACEMENT_SPEND_2021_22 * cfg.scale / spend)


def build_ledger(episodes: pd.DataFrame, cfg: Config, costs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly ledger lines 2019-20 to 2026-27 (to September 2026) and the cost-centre mapping."""
    rng = np.random.default_rng([cfg.seed, 101])
    pc = monthly_placement_costs(episodes, episodes["category"].to_numpy(np.int64), costs)
    centres = []
    for i, cat in enumerate(CATEGORIES):
        centres.append((f"CP{101 + i}", f"Placements - {cat.replace('_', ' ')}", "placements",
                        "Placements for Children in Care/unable to remain at home", "Early Help & Safeguarding",
                        PLACEMENT_SUBJECTIVE.get(cat, "Agency and contracted services"), cat))
    for j, (lid, name, _b, _d, division, split) in enumerate(OTHER_LINES):
        for k, (subj, _share) in enumerate(split):
            centres.append((f"C{200 + 10 * j + k}", f"{name} - {subj.lower()}", lid, name, division, subj, ""))
    cc = pd.DataFrame(centres, columns=["cost_centre", "cost_centre_name", "service_line_id", "service_line",
                                        "division", "subjective", "placement_category"])
    months = sorted(pc["month"].unique())
    rows = []
    for fy in LEDGER_YEARS:
        fyl = collection_year_label(fy)
        fy_months = [m for m in months if collection_year_label(int(m[:4]) - (int(m[5:]) < 4)) == fyl]
        # placements: budget split by last year's cost mix, actuals from placement days x unit costs
        prev = pc[pc["financial_year"] == collection_year_label(fy - 1)]
        prev = prev if len(prev) else pc[pc["financial_year"] == fyl]
        mix = prev.groupby("category")["cost_pence"].sum().reindex(CATEGORIES).fillna(0)
        mix = mix / mix.sum()
        for i, cat in enumerate(CATEGORIES):
            budget = PLACEMENT_BUDGET[fy] * cfg.scale * 1e8 * mix[cat]
            actual = pc[(pc["financial_year"] == fyl) & (pc["category"] == cat)].set_index("month")["cost_pence"]
            rows.append((fyl, f"CP{101 + i}", budget, actual.reindex(fy_months).to_numpy(np.int64), True))
        years_from = fy - 2021
        for j, (_lid, _name, b2021, drift2021, _div, split) in enumerate(OTHER_LINES):
            annual = b2021 * cfg.scale * 1e8 * 1.03 ** years_from
            drift = drift2021 if fy == 2021 else drift2021 * 0.5 + rng.normal(0, 0.02)
            for k, (_subj, share) in enumerate(split):
                noise = rng.normal(0, 0.04, len(fy_months))
                monthly = annual * share / 12 * (1 + drift) * (1 + noise)
                rows.append((fyl, f"C{200 + 10 * j + k}", annual * share, np.round(monthly).astype(np.int64), False))
    out = []
    for fyl, centre, budget, actual, is_placement in rows:
        n = len(actual)
        month_list = [m for m in months if collection_year_label(int(m[:4]) - (int(m[5:]) < 4)) == fyl]
        budget_pence = int(round(budget))
        ytd = np.cumsum(actual)
        period = np.arange(1, n + 1)
        if is_placement:
            month_days = np.array([_days_in_month(date(int(m[:4]), int(m[5:]), 1)) for m in month_list])
            remaining_days = 365 - np.cumsum(month_days)
            run_rate = actual / month_days
            forecast = ytd + np.round(run_rate * remaining_days).astype(np.int64)
            commitment = np.round(actual * 0.5).astype(np.int64)
        else:
            last3 = pd.Series(actual).rolling(3, min_periods=1).mean().to_numpy()
            forecast = ytd + np.round(last3 * (12 - period)).astype(np.int64)
            commitment = np.round(np.abs(budget_pence) / 12 * 0.05 * np.ones(n)).astype(np.int64)
        out.append(pd.DataFrame({
            "financial_year": fyl, "period": period, "month": month_list, "cost_centre": centre,
            "budget_annual": _money(np.full(n, budget_pence)), "budget_month": _money(np.full(n, round(budget_pence / 12))),
            "actual": _money(actual), "commitment": _money(commitment), "forecast_full_year": _money(forecast)}))
    ledger = pd.concat(out, ignore_index=True).merge(cc.drop(columns="placement_category"), on="cost_centre")
    ledger = ledger[["financial_year", "period", "month", "cost_centre", "cost_centre_name", "service_line_id",
                     "service_line", "division", "subjective", "budget_annual", "budget_month", "actual",
                     "commitment", "forecast_full_year"]].sort_values(["month", "cost_centre"], kind="stable")
    return ledger.reset_index(drop=True), cc
