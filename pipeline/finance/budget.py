"""Budget monitoring and forecast outturn (seed 004, sections 4.3-4.10), computed rather than typed.

Conventions (DESIGN.md, Finance): £m to three decimals; under (-) / over spend; a percentage of the
controllable budget to one decimal, 100.0% for spend against a zero budget, against the absolute
value of a negative (income) budget; totals from unrounded data. Every mark is a symbol and a word.

Forecasts per service line come from the ledger when there is one: the budget holder's forecast
where the ledger carries it, otherwise a projection from the year-to-date actuals and the monthly
spending profile of the prior years, with a range. Without a ledger (a published quarter transcribed
from a report), the budget lines input is used as published."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.formatting import gbpm
from pipeline.finance.position import forecast_table as finance_forecast_table
from pipeline.finance.position import variance_pct

PENCE_PER_M = 100_000_000

# ---- marks: a symbol and a word, never colour alone ----------------------------------------------------
BUDGET_MARKS = {"within": "☑ Within budget", "over": "☐ Over budget"}
SAVINGS_MARKS = {"achieved": "✓ Achieved", "shortfall": "✗ Shortfall"}
MOVEMENT_MARKS = {"increased": "↑ Increased", "unchanged": "= Unchanged", "decreased": "▼ Decreased"}
TRADED_MARKS = {"contribution": "✓ Contribution", "breakeven": "= Break-even", "deficit": "✗ Deficit"}


def _r3(x: float) -> float:
    """Rounded to £0.001m, half away from zero, as the report prints it."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return math.nan
    return float(np.sign(x) * math.floor(abs(x) * 1000 + 0.5) / 1000)


def budget_mark(variance_gbpm: float) -> str:
    """``over`` when the forecast exceeds the budget by at least £0.001m as printed, else ``within``."""
    return "over" if _r3(variance_gbpm) > 0 else "within"


def movement(now: float, before: float | None, tolerance: float = 0.0005) -> str:
    """``increased`` / ``unchanged`` / ``decreased`` comparing two £m balances."""
    if before is None or (isinstance(before, float) and math.isnan(before)):
        return ""
    if now - before > tolerance:
        return "increased"
    if before - now > tolerance:
        return "decreased"
    return "unchanged"


# ---- the forecast table -------------------------------------------------------------------------------
TABLE_COLUMNS = ["Service line", "Controllable Budget £m", "Full Year Forecast £m", "Forecast Under (-)/Over Spend £m",
                 "Percentage Under (-)/Over Spend", "Budget Performance"]


def lines_table(lines: pd.DataFrame) -> pd.DataFrame:
    """Budget lines (``service_line``, ``controllable_budget_gbpm``, ``full_year_forecast_gbpm``, optional
    ``published_variance_gbpm``) with ``variance_gbpm``, ``variance_pct`` and ``mark``. The variance is
    the forecast less the budget unless the source published its own (computed by the council from
    unrounded figures, so more exact than the difference of its rounded columns)."""
    out = finance_forecast_table(lines.reset_index(drop=True))
    out["mark"] = [budget_mark(v) for v in out["variance_gbpm"]]
    return out


@dataclass
class Position:
    lines: pd.DataFrame  # lines_table output
    budget: float
    forecast: float
    variance: float
    variance_pct: float
    funding: pd.DataFrame  # funding_line, amount_gbpm
    total_source: str  # "lines" or "published"
    lines_budget: float
    lines_forecast: float

    @property
    def additional_funding(self) -> float:
        return float(self.funding["amount_gbpm"].sum()) if len(self.funding) else 0.0

    @property
    def budget_after(self) -> float:
        return self.budget + self.additional_funding

    @property
    def variance_after(self) -> float:
        return self.forecast - self.budget_after

    @property
    def variance_after_pct(self) -> float:
        return variance_pct(self.variance_after, self.budget_after)


def budget_position(lines: pd.DataFrame, funding: pd.DataFrame | None = None,
                    totals: pd.DataFrame | None = None) -> Position:
    """Totals before and after additional funding, from the unrounded lines; where the source supplies
    its own published "Total" row (from unrounded figures we only have rounded) that total is used and
    the rounded lines' sums are kept to report the casting difference."""
    t = lines_table(lines)
    lb, lf = float(t["controllable_budget_gbpm"].sum()), float(t["full_year_forecast_gbpm"].sum())
    budget, forecast, source = lb, lf, "lines"
    if totals is not None and (totals["row"] == "Total").any():
        row = totals[totals["row"] == "Total"].iloc[0]
        budget, forecast, source = float(row["controllable_budget_gbpm"]), float(row["full_year_forecast_gbpm"]), "published"
    f = funding if funding is not None else pd.DataFrame(columns=["funding_line", "amount_gbpm"])
    return Position(t, budget, forecast, forecast - budget, variance_pct(forecast - budget, budget),
                    f[["funding_line", "amount_gbpm"]].reset_index(drop=True), source, lb, lf)


def forecast_table(p: Position) -> pd.DataFrame:
    """The table as councils publish it: lines, Total, additional funding lines, Total after use of
    additional funding. ``row_kind`` says which is which (line, total, funding, total_after)."""
    t = p.lines
    rows = [{"Service line": r.service_line, "Controllable Budget £m": r.controllable_budget_gbpm,
             "Full Year Forecast £m": r.full_year_forecast_gbpm, "Forecast Under (-)/Over Spend £m": r.variance_gbpm,
             "Percentage Under (-)/Over Spend": r.variance_pct, "Budget Performance": BUDGET_MARKS[r.mark],
             "row_kind": "line"} for r in t.itertuples()]
    rows.append({"Service line": "Total", "Controllable Budget £m": p.budget, "Full Year Forecast £m": p.forecast,
                 "Forecast Under (-)/Over Spend £m": p.variance, "Percentage Under (-)/Over Spend": p.variance_pct,
                 "Budget Performance": BUDGET_MARKS[budget_mark(p.variance)], "row_kind": "total"})
    for f in p.funding.itertuples():
        rows.append({"Service line": f.funding_line, "Controllable Budget £m": f.amount_gbpm, "Full Year Forecast £m": None,
                     "Forecast Under (-)/Over Spend £m": None, "Percentage Under (-)/Over Spend": None,
                     "Budget Performance": "", "row_kind": "funding"})
    if len(p.funding):
        rows.append({"Service line": "Total after use of additional funding", "Controllable Budget £m": p.budget_after,
                     "Full Year Forecast £m": p.forecast, "Forecast Under (-)/Over Spend £m": p.variance_after,
                     "Percentage Under (-)/Over Spend": p.variance_after_pct,
                     "Budget Performance": BUDGET_MARKS[budget_mark(p.variance_after)], "row_kind": "total_after"})
    return pd.DataFrame(rows)


def casting_note(p: Position) -> str:
    """Say where rounded lines do not cast to the total (never force them)."""
    shown_b = sum(_r3(x) for x in p.lines["controllable_budget_gbpm"])
    shown_f = sum(_r3(x) for x in p.lines["full_year_forecast_gbpm"])
    gaps = []
    if abs(shown_b - _r3(p.budget)) >= 0.0005:
        gaps.append(f"budget lines add to £{shown_b:,.3f}m against the total £{_r3(p.budget):,.3f}m")
    if abs(shown_f - _r3(p.forecast)) >= 0.0005:
        gaps.append(f"forecast lines add to £{shown_f:,.3f}m against the total £{_r3(p.forecast):,.3f}m")
    base = ("Totals are computed from unrounded figures, then rounded"
            + (" (as published by the council)" if p.total_source == "published" else "") + ".")
    if gaps:
        base += " Rounded lines do not cast exactly: " + "; ".join(gaps) + "."
    return base + " Under (-) / over spend; percentages of the controllable budget."


# ---- forecasts from the ledger -----------------------------------------------------------------------
def quarter_end_month(fy: str, q: int) -> pd.Timestamp:
    """2026-27 Q2 -> 2026-09-01 (the month of the quarter's last ledger period)."""
    start = int(fy[:4])
    m = 3 * q + 3
    return pd.Timestamp(start + (m > 12), (m - 1) % 12 + 1, 1)


def _m(pence) -> float:
    return float(pence) / PENCE_PER_M


def ledger_lines(ledger: pd.DataFrame, fy: str, as_at: pd.Timestamp) -> pd.DataFrame:
    """Per service line at a month: budget (annual, that month), year-to-date actual, budget holder's
    forecast (NaN where the ledger has none), months of actuals. £m from integer pence."""
    led = ledger[(ledger["financial_year"] == fy) & (ledger["month"] <= as_at)]
    if not len(led):
        raise ValueError(f"the ledger has no {fy} rows up to {as_at:%B %Y}")
    order = list(dict.fromkeys(ledger["service_line_id"]))
    g = led.groupby("service_line_id", sort=False)
    last = led[led["month"] == led["month"].max()]
    gl = last.groupby("service_line_id", sort=False)
    names = led.drop_duplicates("service_line_id").set_index("service_line_id")["service_line"]
    res = pd.DataFrame({
        "service_line": names,
        "controllable_budget_gbpm": gl["budget_annual"].sum().astype("float64") / PENCE_PER_M,
        "ytd_actual_gbpm": g["actual"].sum().astype("float64") / PENCE_PER_M,
        "months": g["month"].nunique(),
        "holder_forecast_gbpm": (gl["forecast_full_year"].sum(min_count=1).astype("float64") / PENCE_PER_M
                                 if "forecast_full_year" in last else np.nan),
    })
    res = res.reindex([o for o in order if o in res.index])
    res.index.name = "line_id"
    return res.reset_index()


def spending_shares(ledger: pd.DataFrame) -> pd.DataFrame:
    """For every complete year (12 months) and line: the share of the year's actual spend reached by
    the end of each period (1 = April ... 12 = March). Columns: line_id, financial_year, period, share."""
    months = ledger.groupby("financial_year")["month"].nunique()
    years = set(months.index[months >= 12])
    p = ledger[ledger["financial_year"].isin(years)]
    if not len(p):
        return pd.DataFrame(columns=["line_id", "financial_year", "period", "share"])
    pos = (p["month"].dt.year - p["financial_year"].str[:4].astype(int)) * 12 + p["month"].dt.month - 4 + 1
    g = (pd.DataFrame({"line_id": p["service_line_id"], "financial_year": p["financial_year"], "period": pos.clip(1, 12),
                       "actual": p["actual"].astype("float64")})
         .groupby(["line_id", "financial_year", "period"])["actual"].sum().unstack("period", fill_value=0.0)
         .reindex(columns=range(1, 13), fill_value=0.0))
    cum = g.cumsum(axis=1)
    annual = cum[12]
    share = cum.div(annual.where(annual > 0), axis=0)
    out = share.stack().rename("share").reset_index()
    return out[out["share"] > 0]


def profile_projection(ledger: pd.DataFrame, fy: str, as_at: pd.Timestamp, coverage: float = 0.8,
                       current: pd.DataFrame | None = None, shares: pd.DataFrame | None = None) -> pd.DataFrame:
    """Full-year projection per line from year-to-date actuals and the share of the year's spend that
    prior complete years had reached by the same month: projection = YTD / mean share; the range runs
    over the projections each prior year's share implies (its ``coverage`` central interval, from a
    normal fit when there are three or more prior years). With no complete prior year the projection
    is straight-line (YTD x 12 / months) and has no range. Columns: line_id, projection_gbpm, low_gbpm,
    high_gbpm, method, prior_years. ``current`` (``ledger_lines``) and ``shares`` (``spending_shares``)
    may be passed in when already computed."""
    from statistics import NormalDist

    cur = current if current is not None else ledger_lines(ledger, fy, as_at)
    period = int((as_at.year - int(fy[:4])) * 12 + as_at.month - 4) + 1
    sh = shares if shares is not None else spending_shares(ledger)
    sh = sh[(sh["financial_year"] < fy) & (sh["period"] == min(period, 12))]
    share_of = sh.groupby("line_id")["share"].apply(list).to_dict()
    z = NormalDist().inv_cdf(0.5 + coverage / 2)
    rows = []
    for r in cur.itertuples():
        shares_l = share_of.get(r.line_id, [])
        ytd = r.ytd_actual_gbpm
        if shares_l:
            proj = np.array([ytd / x for x in shares_l])
            centre = ytd / float(np.mean(shares_l))
            if len(proj) >= 3:
                sd = float(np.std(proj, ddof=1))
                low, high = centre - z * sd, centre + z * sd
            else:
                low, high = float(proj.min()), float(proj.max())
            method = f"profile of {len(shares_l)} prior year{'s' if len(shares_l) != 1 else ''}"
        else:
            centre, low, high = ytd * 12 / max(period, 1), math.nan, math.nan
            method = "straight line (no prior-year profile)"
        rows.append({"line_id": r.line_id, "projection_gbpm": centre, "low_gbpm": low, "high_gbpm": high,
                     "method": method, "prior_years": len(shares_l)})
    return pd.DataFrame(rows)


def ledger_forecast(ledger: pd.DataFrame, fy: str, q: int, projected_lines: tuple[str, ...] = (),
                    shares: pd.DataFrame | None = None) -> pd.DataFrame:
    """Budget lines for a quarter from the ledger: the budget holder's forecast where the ledger has one
    (``forecast_source`` = "budget holder"), else the profile projection; ``projected_lines`` are lines
    always projected (the placements line until the placement cost projection exists). The profile
    projection and its range are kept beside every line as a cross-check."""
    as_at = quarter_end_month(fy, q)
    cur = ledger_lines(ledger, fy, as_at)
    proj = profile_projection(ledger, fy, as_at, current=cur, shares=shares)
    out = cur.merge(proj, on="line_id", how="left")
    use_holder = out["holder_forecast_gbpm"].notna() & ~out["line_id"].isin(projected_lines)
    out["full_year_forecast_gbpm"] = out["holder_forecast_gbpm"].where(use_holder, out["projection_gbpm"])
    out["forecast_source"] = np.where(use_holder, "budget holder", "projection: " + out["method"])
    return out


def forecast_path(ledger: pd.DataFrame, fy: str, upto_q: int, projected_lines: tuple[str, ...] = ()) -> pd.DataFrame:
    """The total and per-line forecast at each quarter end of a year up to ``upto_q``, made the same way
    as this quarter's (``ledger_forecast``): fy, quarter, line_id, service_line, budget, forecast, variance."""
    rows = []
    shares = spending_shares(ledger)
    for q in range(1, upto_q + 1):
        if not (ledger["month"] == quarter_end_month(fy, q)).any():
            continue
        t = ledger_forecast(ledger, fy, q, projected_lines, shares)
        rows.append(t.assign(financial_year=fy, quarter=q)[
            ["financial_year", "quarter", "line_id", "service_line", "controllable_budget_gbpm",
             "full_year_forecast_gbpm", "forecast_source"]])
    if not rows:
        return pd.DataFrame(columns=["financial_year", "quarter", "line_id", "service_line", "controllable_budget_gbpm",
                                     "full_year_forecast_gbpm", "forecast_source", "variance_gbpm"])
    out = pd.concat(rows, ignore_index=True)
    out["variance_gbpm"] = out["full_year_forecast_gbpm"] - out["controllable_budget_gbpm"]
    return out


def in_sentence(name: str) -> str:
    """A line name inside a sentence: sentence-case names lose their capital ("Home to school
    transport" -> "home to school transport"); title-case names and acronyms stay ("Achieving Great
    Futures", "ICT")."""
    words = str(name).split()
    if len(words) and words[0][:1].isupper() and words[0][1:2].islower() and not any(w[:1].isupper() for w in words[1:]):
        return words[0][0].lower() + str(name)[1:]
    return str(name)


def movements(now: pd.DataFrame, before: pd.DataFrame, label_before: str) -> pd.DataFrame:
    """Per line: the forecast variance now and at the previous quarter end, the change, and a sentence
    ("The forecast overspend on home to school transport rose by £0.412m since Q1")."""

    b = before.set_index("line_id")["variance_gbpm"]
    rows = []
    for r in now.itertuples():
        prev = b.get(r.line_id, math.nan)
        change = r.variance_gbpm - prev if pd.notna(prev) else math.nan
        name = in_sentence(getattr(r, "short_name", None) or r.service_line)
        if pd.isna(change):
            text = f"{r.service_line}: no forecast at {label_before} to compare."
        else:
            kind = "overspend" if _r3(r.variance_gbpm) > 0 else ("underspend" if _r3(r.variance_gbpm) < 0 else "position")
            if _r3(change) == 0:
                text = f"The forecast {kind} on {name} is unchanged since {label_before}."
            else:
                was = "overspend" if _r3(prev) > 0 else ("underspend" if _r3(prev) < 0 else "balanced position")
                if kind == was:
                    grew = (change > 0) == (kind == "overspend")
                    text = (f"The forecast {kind} on {name} {'rose' if grew else 'fell'} by {gbpm(abs(change))} since "
                            f"{label_before}.")
                else:
                    text = (f"The forecast on {name} moved from {'an ' + was if was != 'balanced position' else 'a balanced position'}"
                            f" of {gbpm(abs(prev))} at {label_before} to "
                            f"{'an ' + kind if kind != 'position' else 'balance'}"
                            f"{' of ' + gbpm(abs(r.variance_gbpm)) if kind != 'position' else ''}: a change of "
                            f"{gbpm(change, signed=True)}.")
        rows.append({"line_id": r.line_id, "service_line": r.service_line, "variance_gbpm": r.variance_gbpm,
                     "previous_variance_gbpm": prev, "change_gbpm": change, "text": text})
    return pd.DataFrame(rows)


def forecast_accuracy(ledger: pd.DataFrame, before_fy: str, projected_lines: tuple[str, ...] = ()) -> pd.DataFrame:
    """For each complete year before ``before_fy`` (12 months in the ledger): each quarter's forecast
    outturn, made as the pack makes it (``ledger_forecast``: budget holders' forecasts at the quarter
    end; ``projected_lines`` and lines without one projected from earlier years' spending profile),
    against the final outturn (the year's actuals), by line and in total. Columns: financial_year,
    quarter, line_id, service_line, forecast_gbpm, outturn_gbpm, error_gbpm (forecast - outturn),
    error_pct (of outturn). Vectorised over years and quarters (the same figures as calling
    ``ledger_forecast`` for each, which a test checks)."""
    cols = ["financial_year", "quarter", "line_id", "service_line", "forecast_gbpm", "outturn_gbpm"]
    months = ledger.groupby("financial_year")["month"].nunique()
    years = [y for y in sorted(months.index) if months[y] >= 12 and y < before_fy]
    if not years:
        return pd.DataFrame(columns=cols + ["error_gbpm", "error_pct"])
    led = ledger[ledger["financial_year"].isin(years)]
    period = (led["month"].dt.year - led["financial_year"].str[:4].astype(int)) * 12 + led["month"].dt.month - 4 + 1
    key = [led["service_line_id"].rename("line_id"), led["financial_year"], period.rename("period")]
    act = led["actual"].astype("float64").groupby(key).sum().unstack("period", fill_value=0.0).reindex(
        columns=range(1, 13), fill_value=0.0)
    cum = act.cumsum(axis=1)
    if "forecast_full_year" in led:
        fc = led["forecast_full_year"].astype("float64").groupby(key).sum(min_count=1).unstack("period").reindex(
            columns=range(1, 13))
    else:
        fc = pd.DataFrame(np.nan, index=cum.index, columns=range(1, 13))
    # mean share of the year's spend reached by each period, over the complete years before each year
    shares = spending_shares(ledger)
    sp = shares.pivot_table(index=["line_id", "period"], columns="financial_year", values="share")
    sp = sp.reindex(columns=sorted(sp.columns))
    prior_mean = sp.T.expanding().mean().shift(1).T  # column Y: mean over years before Y
    names = led.drop_duplicates("service_line_id").set_index("service_line_id")["service_line"]
    rows = []
    for q in (1, 2, 3, 4):
        p = 3 * q
        ytd = cum[p]
        mean = pd.Series([prior_mean.at[(lid, p), y] if (lid, p) in prior_mean.index and y in prior_mean.columns
                          else np.nan for lid, y in ytd.index], index=ytd.index)
        proj = (ytd / mean).where(mean.notna(), ytd * 12 / p)
        holder = fc[p]
        use = holder.notna() & ~ytd.index.get_level_values("line_id").isin(projected_lines)
        rows.append(pd.DataFrame({"quarter": q, "forecast_gbpm": holder.where(use, proj) / PENCE_PER_M,
                                  "outturn_gbpm": cum[12] / PENCE_PER_M}))
    df = pd.concat(rows).reset_index()
    df["service_line"] = df["line_id"].map(names)
    df = df[cols].sort_values(["financial_year", "quarter"], kind="stable").reset_index(drop=True)
    tot = df.groupby(["financial_year", "quarter"], as_index=False)[["forecast_gbpm", "outturn_gbpm"]].sum()
    tot["line_id"], tot["service_line"] = "total", "Total"
    df = pd.concat([df, tot[cols]], ignore_index=True)
    df["error_gbpm"] = df["forecast_gbpm"] - df["outturn_gbpm"]
    df["error_pct"] = np.where(df["outturn_gbpm"] != 0, df["error_gbpm"] / df["outturn_gbpm"].abs() * 100, np.nan)
    return df


# ---- savings, growth, risks, reserves, debt, traded services ---------------------------------------
def savings_table(initiatives: pd.DataFrame, targets: pd.DataFrame | None) -> tuple[pd.DataFrame, dict]:
    """Initiatives with shortfall (-) / additional savings and a mark; the total position; the shortfall
    of identified savings against the target (targets brought forward + current year)."""
    t = initiatives.copy().reset_index(drop=True)
    t["shortfall_gbpm"] = t["forecast_achieved_gbpm"] - t["budget_reduction_gbpm"]
    t["mark"] = np.where(t["shortfall_gbpm"].map(_r3) < 0, "shortfall", "achieved")
    identified = float(t["budget_reduction_gbpm"].sum())
    achieved = float(t["forecast_achieved_gbpm"].sum())
    target = float(targets["budget_reduction_gbpm"].sum()) if targets is not None and len(targets) else math.nan
    summary = {"identified": identified, "achieved": achieved, "shortfall": achieved - identified, "target": target,
               "unidentified": target - identified if not math.isnan(target) else math.nan,
               "n_shortfall": int((t["mark"] == "shortfall").sum()), "n": len(t)}
    rows = [{"Initiative": r.initiative, "Note": "" if pd.isna(getattr(r, "note", "")) else str(getattr(r, "note", "")),
             "Budget Reduction Amount £m": r.budget_reduction_gbpm, "Forecast to be Achieved £m": r.forecast_achieved_gbpm,
             "Shortfall (-)/Additional Savings Achieved £m": r.shortfall_gbpm, "Mark": SAVINGS_MARKS[r.mark]}
            for r in t.itertuples()]
    rows.append({"Initiative": "Total Position", "Note": "", "Budget Reduction Amount £m": identified,
                 "Forecast to be Achieved £m": achieved, "Shortfall (-)/Additional Savings Achieved £m": achieved - identified,
                 "Mark": SAVINGS_MARKS["shortfall" if _r3(achieved - identified) < 0 else "achieved"]})
    if not math.isnan(target):
        rows.append({"Initiative": "Shortfall/(Surplus) of Identified Savings", "Note": "",
                     "Budget Reduction Amount £m": target - identified, "Forecast to be Achieved £m": 0.0,
                     "Shortfall (-)/Additional Savings Achieved £m": -(target - identified), "Mark": ""})
    return pd.DataFrame(rows), summary


LIKELIHOOD_PROBABILITY = {1: 0.1, 2: 0.3, 3: 0.5, 4: 0.7, 5: 0.9}


def risk_table(risks: pd.DataFrame, variance_gbpm: float,
               probability: dict[int, float] | None = None) -> tuple[pd.DataFrame, dict]:
    """Risks with an expected impact (sensitivity x the probability its likelihood stands for) and the
    risk-adjusted outturn: the forecast variance, plus expected impacts (central), up to plus every
    sensitivity (all occur)."""
    prob = probability or LIKELIHOOD_PROBABILITY
    t = risks.copy().reset_index(drop=True)
    t["likelihood"] = t["likelihood"].astype(int)
    t["probability"] = t["likelihood"].map(prob)
    t["expected_gbpm"] = t["sensitivity_gbpm"] * t["probability"]
    summary = {"variance": variance_gbpm, "expected": float(t["expected_gbpm"].sum()),
               "all": float(t["sensitivity_gbpm"].sum()),
               "central": variance_gbpm + float(t["expected_gbpm"].sum()),
               "high": variance_gbpm + float(t["sensitivity_gbpm"].sum())}
    return t, summary


def reserves_table(reserves: pd.DataFrame, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Reserves with their movement over the quarter: from the previous quarter's balances when given,
    else as the source states it. A Total Reserves row (its movement from the totals)."""
    t = reserves.copy().reset_index(drop=True)
    if previous is not None and len(previous):
        before = previous.set_index("reserve")["balance_gbpm"]
        t["movement"] = [movement(b, before.get(r, math.nan)) or m for r, b, m in
                         zip(t["reserve"], t["balance_gbpm"], t.get("movement", [""] * len(t)))]
        total_move = movement(float(t["balance_gbpm"].sum()), float(previous["balance_gbpm"].sum()))
    else:
        moves = set(t.get("movement", pd.Series(dtype=str)).dropna())
        total_move = moves.pop() if len(moves) == 1 else ""
    rows = [{"Reserve": r.reserve, "£m": r.balance_gbpm, "Movement": MOVEMENT_MARKS.get(str(r.movement), "")}
            for r in t.itertuples()]
    rows.append({"Reserve": "Total Reserves", "£m": float(t["balance_gbpm"].sum()),
                 "Movement": MOVEMENT_MARKS.get(total_move, "")})
    return pd.DataFrame(rows)


def debt_table(debt: pd.DataFrame) -> pd.DataFrame:
    """The aged debt profile with each band's share of the total, its movement mark, and the total."""
    t = debt.copy().reset_index(drop=True)
    total = float(t["amount_gbpm"].sum())
    rows = [{"Age of debt": r.age_band, "£m": r.amount_gbpm, "% of total": 100 * r.amount_gbpm / total if total else math.nan,
             "Movement": MOVEMENT_MARKS.get(str(getattr(r, "movement", "")), "")} for r in t.itertuples()]
    rows.append({"Age of debt": "Total", "£m": total, "% of total": 100.0 if total else math.nan, "Movement": ""})
    return pd.DataFrame(rows)


def traded_tables(fully: pd.DataFrame | None, partially: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fully traded areas: contribution (+) / deficit (-) to general overheads = income - expenditure;
    partially traded: excess (+) / shortfall (-) against the income target. Each with a mark."""
    def mark(v):
        r = _r3(v)
        return TRADED_MARKS["contribution" if r > 0 else "deficit" if r < 0 else "breakeven"]

    f = pd.DataFrame()
    if fully is not None and len(fully):
        c = fully["gross_income_gbpm"] - fully["gross_expenditure_gbpm"]
        f = pd.DataFrame({"Service area": fully["service_area"], "Trading area": fully["trading_area"],
                          "Projected Gross Controllable Expenditure £m": fully["gross_expenditure_gbpm"],
                          "Projected Gross Controllable Income £m": fully["gross_income_gbpm"],
                          "Forecast Contribution/Deficit(-) to General Overheads £m": c,
                          "Performance": c.map(mark),
                          "Transferred to Earmarked Reserves?": fully.get("to_earmarked_reserves", "")})
    p = pd.DataFrame()
    if partially is not None and len(partially):
        e = partially["projected_income_gbpm"] - partially["income_target_gbpm"]
        p = pd.DataFrame({"Service area": partially["service_area"], "Trading area": partially["trading_area"],
                          "Budgeted Income Target £m": partially["income_target_gbpm"],
                          "Projected Actual Income £m": partially["projected_income_gbpm"],
                          "Forecast Excess/Shortfall(-) compared to Target £m": e, "Performance": e.map(
                              lambda v: "✓ Excess" if _r3(v) > 0 else "✗ Shortfall" if _r3(v) < 0 else "= On target")})
    return f, p


# ---- material variances ------------------------------------------------------------------------------
def material_lines(lines: pd.DataFrame, min_gbpm: float = 0.1, min_pct: float = 2.0) -> pd.DataFrame:
    """Lines whose forecast variance is at least ``min_gbpm`` (either way) and at least ``min_pct`` of
    the budget, largest first."""
    t = lines[(lines["variance_gbpm"].abs() >= min_gbpm - 1e-9) & (lines["variance_pct"].abs() >= min_pct - 1e-9)]
    return t.reindex(t["variance_gbpm"].abs().sort_values(ascending=False).index)


# ---- placement drivers: numbers and unit cost --------------------------------------------------------
def placement_days(episodes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Days in care between ``start`` and ``end`` inclusive over all episodes (DECOM, DEC as dates;
    an open episode runs to ``end``). An episode's last day (DEC) is not counted: the child moved on."""
    s = episodes["DECOM"].clip(lower=start)
    e = episodes["DEC"].fillna(end + pd.Timedelta(days=1)).clip(upper=end + pd.Timedelta(days=1))
    return int((e - s).dt.days.clip(lower=0).sum())


def placement_drivers(episodes: pd.DataFrame, ledger: pd.DataFrame, fy: str, q: int, line_id: str = "placements") -> dict:
    """Why placement spend moved, year to date against the same months last year: placement days
    (numbers) and spend per placement day (unit cost); the volume effect = change in days x last
    year's cost per day, the unit cost effect = this year's days x the change in cost per day (the two
    add up to the change in spend). Children in care at the quarter end against a year earlier."""
    start = pd.Timestamp(int(fy[:4]), 4, 1)
    end = quarter_end_month(fy, q) + pd.offsets.MonthEnd(0)
    prev_start, prev_end = start - pd.DateOffset(years=1), end - pd.DateOffset(years=1)
    days_now, days_prev = placement_days(episodes, start, end), placement_days(episodes, prev_start, prev_end)

    def in_care(day):
        return int(episodes.loc[(episodes["DECOM"] <= day) & (episodes["DEC"].isna() | (episodes["DEC"] > day)), "CHILD"].nunique())

    led = ledger[ledger["service_line_id"] == line_id]
    spend_now = _m(led.loc[(led["month"] >= start) & (led["month"] <= end), "actual"].sum())
    spend_prev = _m(led.loc[(led["month"] >= prev_start) & (led["month"] <= prev_end), "actual"].sum())
    out = {"days_now": days_now, "days_prev": days_prev, "spend_now": spend_now, "spend_prev": spend_prev,
           "children_now": in_care(end), "children_prev": in_care(prev_end), "end": end, "prev_end": prev_end,
           # the last 31 March, the date the measures return's previous year is counted on
           "year_start_end": start - pd.Timedelta(days=1), "children_year_start": in_care(start - pd.Timedelta(days=1))}
    if days_now and days_prev and spend_prev:
        cpd_now, cpd_prev = spend_now * 1e6 / days_now, spend_prev * 1e6 / days_prev
        out.update(cost_per_day_now=cpd_now, cost_per_day_prev=cpd_prev,
                   volume_effect=(days_now - days_prev) * cpd_prev / 1e6, price_effect=days_now * (cpd_now - cpd_prev) / 1e6)
    return out
