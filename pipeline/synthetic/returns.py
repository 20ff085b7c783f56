"""Quarterly returns in seed 004's layouts: budget monitoring summary from the ledger, key measures from
the episodes, and synthetic savings, growth, risks, reserves, debt, traded services and deliverables."""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pandas as pd

from pipeline.core.paths import project_root
from pipeline.ingest.ssda903 import collection_year_label
from pipeline.synthetic.calibration import Config
from pipeline.synthetic.ledger import LEDGER_YEARS, SHORT_NAMES
from pipeline.synthetic.simulate import _days_in_month


def quarters_generated() -> list[tuple[int, int]]:
    """(financial year start, quarter) from 2019-20 Q1 to 2026-27 Q2."""
    return [(y, q) for y in LEDGER_YEARS for q in (1, 2, 3, 4) if (y, q) <= (2026, 2)]


def _quarter_end_month(y: int, q: int) -> str:
    m = 3 * q + 3
    return f"{y + (m > 12)}-{(m - 1) % 12 + 1:02d}"


def _seed_table(name: str) -> pd.DataFrame:
    return pd.read_csv(project_root() / "data" / "raw" / "seed004_2021-22-Q1" / f"{name}.csv", dtype=str,
                       keep_default_na=False)


def _perturb(df: pd.DataFrame, cols: list[str], rng, sd: float, scale: float) -> pd.DataFrame:
    out = df.copy()
    for c in cols:
        v = pd.to_numeric(out[c]) * scale * np.exp(rng.normal(0, sd, len(out)))
        out[c] = np.round(v, 3)
    return out


SYNTHETIC_SOURCE = "synthetic: cspack synthetic-authority generator (calibrated to Derbyshire); not real data"


def quarterly_returns(ledger: pd.DataFrame, episodes: pd.DataFrame, cfg: Config) -> dict[str, dict[str, pd.DataFrame]]:
    """For each quarter: the service-line budget monitoring summary from the ledger at the quarter's
    last month, and synthetic savings, growth, risks, reserves, aged debt, traded services,
    deliverables and key measures in seed 004's layouts."""
    out = {}
    led = ledger.assign(b=ledger["budget_annual"].astype(float), f=ledger["forecast_full_year"].astype(float))
    seeds = {n: _seed_table(n) for n in ("savings_initiatives", "growth_items", "financial_risks", "earmarked_reserves",
                                         "aged_debt", "traded_fully", "traded_partially", "deliverables")}
    for y, q in quarters_generated():
        label = f"{collection_year_label(y)}-Q{q}"
        rng = np.random.default_rng([cfg.seed, y, q])
        year_rng = np.random.default_rng([cfg.seed, y])
        m = led[led["month"] == _quarter_end_month(y, q)]
        lines = m.groupby(["service_line_id", "service_line"], sort=False)[["b", "f"]].sum().reset_index()
        lines = lines.sort_values("service_line_id", key=lambda s: s.map(list(SHORT_NAMES).index), kind="stable")
        tables = {"budget_lines": pd.DataFrame({
            "line_id": lines["service_line_id"], "service_line": lines["service_line"],
            "short_name": lines["service_line_id"].map(SHORT_NAMES),
            "controllable_budget_gbpm": (lines["b"] / 1e6).round(6), "full_year_forecast_gbpm": (lines["f"] / 1e6).round(6),
            "source": f"{SYNTHETIC_SOURCE}; ledger at {_quarter_end_month(y, q)}"})}
        funding = [("Covid-19 Funding", 4.850 * cfg.scale)] if y == 2021 else []
        tables["additional_funding"] = pd.DataFrame([(f, round(a, 3), SYNTHETIC_SOURCE) for f, a in funding],
                                                    columns=["funding_line", "amount_gbpm", "source"])
        sav = _perturb(seeds["savings_initiatives"], ["budget_reduction_gbpm"], year_rng, 0.3, cfg.scale)
        sav["forecast_achieved_gbpm"] = np.round(sav["budget_reduction_gbpm"] * np.clip(
            rng.beta(2, 2, len(sav)) + q * 0.1, 0, 1), 3)
        sav = sav.drop(columns=["published_shortfall_gbpm", "published_mark"]).assign(source=SYNTHETIC_SOURCE)
        tables["savings_initiatives"] = sav
        identified = float(sav["budget_reduction_gbpm"].sum())
        current = round(identified * float(year_rng.uniform(0.05, 0.3)), 3)
        tables["savings_targets"] = pd.DataFrame(
            [("Prior Year B/f", round(identified * float(year_rng.uniform(0.9, 1.5)), 3), SYNTHETIC_SOURCE),
             ("Current Year", current, SYNTHETIC_SOURCE)], columns=["component", "budget_reduction_gbpm", "source"])
        tables["debt_written_off"] = pd.DataFrame(
            [(f"year to {_quarter_end_month(y, q)}", round(float(rng.uniform(0.002, 0.02)) * cfg.scale * q, 3),
              SYNTHETIC_SOURCE)], columns=["period", "amount_gbpm", "source"])
        tables["growth_items"] = _perturb(seeds["growth_items"], ["amount_gbpm"], year_rng, 0.25, cfg.scale).assign(source=SYNTHETIC_SOURCE)
        risks = _perturb(seeds["financial_risks"], ["sensitivity_gbpm"], rng, 0.2, cfg.scale)
        risks["likelihood"] = np.clip(pd.to_numeric(risks["likelihood"]) + rng.integers(-1, 2, len(risks)), 1, 5)
        tables["financial_risks"] = risks.assign(source=SYNTHETIC_SOURCE)
        res = _perturb(seeds["earmarked_reserves"], ["balance_gbpm"], rng, 0.1, cfg.scale)
        tables["earmarked_reserves"] = res.assign(movement=rng.choice(["increased", "unchanged", "decreased"], len(res)),
                                                  source=SYNTHETIC_SOURCE)
        debt = _perturb(seeds["aged_debt"], ["amount_gbpm"], rng, 0.3, cfg.scale).drop(columns=["published_pct"])
        tables["aged_debt"] = debt.assign(movement=rng.choice(["increased", "unchanged", "decreased"], len(debt)),
                                          source=SYNTHETIC_SOURCE)
        tf = _perturb(seeds["traded_fully"], ["gross_expenditure_gbpm", "gross_income_gbpm"], rng, 0.03, cfg.scale)
        tables["traded_fully"] = tf.drop(columns=["published_contribution_gbpm"]).assign(source=SYNTHETIC_SOURCE)
        tp = _perturb(seeds["traded_partially"], ["income_target_gbpm", "projected_income_gbpm"], rng, 0.1, cfg.scale)
        tables["traded_partially"] = tp.drop(columns=["published_excess_gbpm"]).assign(source=SYNTHETIC_SOURCE)
        d = seeds["deliverables"].copy() if y <= 2021 else council_plan(y)
        d["rating"] = rng.choice(["Strong", "Good", "Good", "Good", "Review", "Action"], len(d))
        tables["deliverables"] = d.assign(source=SYNTHETIC_SOURCE)
        tables["measures"] = measure_return(episodes, y, q)
        out[label] = tables
    return out


# The synthetic authority's Council Plan deliverables from 2022-23 on (seed 004's list, Derbyshire's plan
# for 2021-25, is used up to 2021-22): written for the synthetic authority, none real, ten as in seed 004 so
# the random stream draws the same ratings. Due dates are set from the quarter's financial year (years after
# its start, month of the due date), so every quarter's return holds its current plan, none of it overdue.
# priority, deliverable, years after the financial year's start, month
COUNCIL_PLAN = [
    ("Children are safe and supported in their families",
     "Increase the number of the council's own foster carers, so that more children in care live with a family close to home",
     1, 3),
    ("Children are safe and supported in their families",
     "Open two more council children's homes, so that fewer children are placed more than 20 miles from home", 2, 3),
    ("Children are safe and supported in their families",
     "Roll out the family help model in every locality, joining early help and children's social care", 1, 9),
    ("Children are safe and supported in their families",
     "Reduce the use of agency social workers through the recruitment and retention offer", 1, 3),
    ("Children are safe and supported in their families",
     "Extend the reunification programme, so that more children in care return home safely", 1, 12),
    ("Effective early help for families and communities",
     "Refresh the placement sufficiency strategy with partners, setting out the placements needed for the next five years",
     1, 3),
    ("Effective early help for families and communities",
     "Put in place the support for children and young people in the domestic abuse strategy", 2, 3),
    ("Effective early help for families and communities",
     "Deliver the Pause programme with women who have had more than one child removed into care", 1, 9),
    ("Good education and inclusion for every child",
     "Agree with schools and partners what good inclusion looks like in mainstream schools, and the specialist "
     "provision each locality should have", 2, 3),
    ("Good education and inclusion for every child",
     "Improve the timeliness of education, health and care plans, so that more are issued within 20 weeks", 1, 3),
]


def council_plan(fy_start: int) -> pd.DataFrame:
    """The synthetic authority's Council Plan deliverables as the return for a quarter of the financial
    year starting in ``fy_start`` holds them (seed 004's columns; ratings drawn by the caller)."""
    rows = []
    for priority, text, years, month in COUNCIL_PLAN:
        yy = fy_start + years
        rows.append((priority, text, "", date(yy, month, _days_in_month(date(yy, month, 1))).isoformat()))
    return pd.DataFrame(rows, columns=["priority", "deliverable", "rating", "expected_completion"])


MEASURES = [  # ref, name, polarity, unit, target as a service plan writes it
    ("cla_number", "Children looked after", "lower", "number", "TBC"),
    ("cla_pct_foster", "Children looked after placed in foster care (including kinship)", "higher", "percent", "70.0%"),
    ("cla_pct_over20miles", "Children looked after placed more than 20 miles from home", "lower", "percent",
     "To remain lower than national average"),
    ("ceased_pct_returned_home", "Children ceasing care who returned home to parents (E4A)", "higher", "percent", "18.0%"),
    ("ceased_pct_sgo", "Children ceasing care through special guardianship orders", "higher", "percent",
     "Increasing annual trend"),
    ("foster_council_number", "Children in care living with council foster carers", "higher", "number",
     "Increasing annual trend"),
]
# measures the SSDA903 return cannot give (conference timeliness, workforce, inspections, audits): a smooth
# path per measure (level in 2024-25, change a year) with a fixed wobble from a hash of the measure and year,
# so they need no random stream of their own and the other generated files stay as they were.
# ref, name, polarity, unit, target, level, change a year, wobble, decimals
OPERATIONAL = [
    ("icpc_15_days", "Initial child protection conferences within 15 days", "higher", "percent",
     "Maintain upper-middle or better national quartile performance", 86.0, 0.8, 2.5, 1),
    ("assessments_45_days", "Children's social work assessments completed within 45 days", "higher", "percent",
     "Maintain upper-middle or better national quartile performance", 90.5, -0.3, 1.5, 1),
    ("sw_vacancy_rate", "Social worker vacancy rate (FTE, before agency cover)", "lower", "percent",
     "To remain lower than national average", 12.5, -0.6, 1.5, 1),
    ("sw_agency_rate", "Social workers who are agency workers (FTE)", "lower", "percent",
     "To remain lower than national average", 9.5, -0.4, 1.2, 1),
    ("sw_caseload", "Average social worker caseload (children and families teams)", "lower", "number", "15-20",
     17.6, 0.3, 0.8, 1),
    ("childrens_homes_good", "Council children's homes rated good or outstanding", "higher", "percent",
     "Maintain performance above 90%", 91.0, 0.5, 4.0, 1),
    ("reflective_reviews_good", "Practice areas in reflective case reviews judged good or better", "higher", "percent",
     "Maintain performance above 70%", 76.0, 1.0, 2.5, 1),
]


def _operational_value(ref: str, year: int, level: float, change: float, wobble: float) -> float:
    u = zlib.crc32(f"{ref}:{year}".encode()) / 0xFFFFFFFF  # in [0, 1], fixed for the measure and year
    return level + change * (year - 2024) + wobble * (2 * u - 1)


def _measure_values(episodes: pd.DataFrame, period_start: int, at: int) -> dict[str, float]:
    dec = episodes["dec"].fillna(10 ** 9)
    open_ = episodes[(episodes["day"] <= at) & (dec > at)]
    ceased = episodes[(dec >= period_start) & (dec <= at) & ~episodes["rec"].isin(["X1", ""])]
    foster = open_["category"].isin([0, 1, 2]).mean() * 100
    far = open_["far"].astype(bool).mean() * 100
    n_ceased = max(len(ceased), 1)
    return {"cla_number": float(open_["child"].nunique()), "cla_pct_foster": foster, "cla_pct_over20miles": far,
            "ceased_pct_returned_home": ceased["rec"].eq("E4A").sum() / n_ceased * 100,
            "ceased_pct_sgo": ceased["rec"].isin(["E45", "E46", "E47", "E48"]).sum() / n_ceased * 100,
            "foster_council_number": float(open_.loc[open_["category"] == 0, "child"].nunique())}


def measure_return(episodes: pd.DataFrame, y: int, q: int) -> pd.DataFrame:
    """Key measures as a service plan table holds them: the two previous years' year-end values,
    this year to date, and the target, with values written as text ("64.0%", "1,080")."""
    qe = date.fromisoformat(_quarter_end_month(y, q) + "-01")
    qe = date(qe.year, qe.month, _days_in_month(qe)).toordinal()
    rows = []
    periods = [(f"{yy}-{yy + 1}", date(yy, 4, 1).toordinal(), date(yy + 1, 3, 31).toordinal()) for yy in (y - 2, y - 1)]
    periods.append((f"{y}-{y + 1}", date(y, 4, 1).toordinal(), qe))
    values = {label: _measure_values(episodes, a, b) for label, a, b in periods}
    for ref, name, polarity, unit, target in MEASURES:
        for label, _a, _b in periods:
            v = values[label][ref]
            rows.append((ref, name, "no", polarity, unit, label, f"{v:,.0f}" if unit == "number" else f"{v:.1f}%"))
        rows.append((ref, name, "no", polarity, unit, "Target", target))
    for ref, name, polarity, unit, target, level, change, wobble, dp in OPERATIONAL:
        for label, _a, _b in periods:
            v = min(_operational_value(ref, int(label[:4]), level, change, wobble), 100.0)
            rows.append((ref, name, "no", polarity, unit, label, f"{v:.{dp}f}%" if unit == "percent" else f"{v:.{dp}f}"))
        rows.append((ref, name, "no", polarity, unit, "Target", target))
    return pd.DataFrame(rows, columns=["measure_ref", "measure_name", "name_inferred", "polarity", "unit", "period",
                                       "value_raw"]).assign(source=SYNTHETIC_SOURCE)
