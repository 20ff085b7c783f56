"""Budget monitoring and forecast outturn (seed 004, sections 4.3-4.10), computed rather than typed.

Conventions (docs/methods.md, the budget section): £m to three decimals; under (-) / over spend; a percentage of the
controllable budget to one decimal, 100.0% for spend against a zero budget, against the absolute
value of a negative (income) budget; totals from unrounded data. Functions return plain figures with
snake_case columns and marks as words (``over``, ``shortfall``, ``increased``); ``report.sections`` names the
columns for readers, adds the symbols and writes the sentences. The budget position itself is
``finance.position``.

Forecasts per service line come from the ledger when there is one: the budget holder's forecast
where the ledger carries it, otherwise a projection from the year-to-date actuals and the monthly
spending profile of the prior years, with a range. Without a ledger (a published quarter transcribed
from a report), the budget lines input is used as published."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.finance.position import r3 as _r3

PENCE_PER_M = 100_000_000


def movement(now: float, before: float | None, tolerance: float = 0.0005) -> str:
    """``increased`` / ``unchanged`` / ``decreased`` comparing two £m balances."""
    if before is None or (isinstance(before, float) and math.isnan(before)):
        return ""
    if now - before > tolerance:
        return "increased"
    if before - now > tolerance:
        return "decreased"
    return "unchanged"


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


def movements(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    """Per line of ``now``: the forecast variance now and at the previous quarter end (``before``), and the
    change (NaN where ``before`` has no forecast for the line). Columns: line_id, service_line,
    variance_gbpm, previous_variance_gbpm, change_gbpm."""
    b = before.set_index("line_id")["variance_gbpm"]
    prev = now["line_id"].map(b).astype("float64")
    return pd.DataFrame({"line_id": now["line_id"].to_numpy(), "service_line": now["service_line"].to_numpy(),
                         "variance_gbpm": now["variance_gbpm"].to_numpy(), "previous_variance_gbpm": prev.to_numpy(),
                         "change_gbpm": (now["variance_gbpm"] - prev).to_numpy()})


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
    """Initiatives with shortfall (-) / additional savings and a mark (``achieved`` / ``shortfall``); the
    total position; the shortfall of identified savings against the target (targets brought forward +
    current year). The table's columns: initiative, note, budget_reduction_gbpm, forecast_achieved_gbpm,
    shortfall_gbpm, mark, row_kind (``initiative``, ``total``, and ``unidentified``: the target less the
    initiatives, when there are targets); the summary's keys: identified, achieved, shortfall, target,
    unidentified, n_shortfall, n."""
    t = initiatives.copy().reset_index(drop=True)
    t["shortfall_gbpm"] = t["forecast_achieved_gbpm"] - t["budget_reduction_gbpm"]
    t["mark"] = np.where(t["shortfall_gbpm"].map(_r3) < 0, "shortfall", "achieved")
    identified = float(t["budget_reduction_gbpm"].sum())
    achieved = float(t["forecast_achieved_gbpm"].sum())
    target = float(targets["budget_reduction_gbpm"].sum()) if targets is not None and len(targets) else math.nan
    summary = {"identified": identified, "achieved": achieved, "shortfall": achieved - identified, "target": target,
               "unidentified": target - identified if not math.isnan(target) else math.nan,
               "n_shortfall": int((t["mark"] == "shortfall").sum()), "n": len(t)}
    rows = [{"initiative": r.initiative, "note": "" if pd.isna(getattr(r, "note", "")) else str(getattr(r, "note", "")),
             "budget_reduction_gbpm": r.budget_reduction_gbpm, "forecast_achieved_gbpm": r.forecast_achieved_gbpm,
             "shortfall_gbpm": r.shortfall_gbpm, "mark": r.mark, "row_kind": "initiative"} for r in t.itertuples()]
    rows.append({"initiative": "", "note": "", "budget_reduction_gbpm": identified, "forecast_achieved_gbpm": achieved,
                 "shortfall_gbpm": achieved - identified,
                 "mark": "shortfall" if _r3(achieved - identified) < 0 else "achieved", "row_kind": "total"})
    if not math.isnan(target):
        rows.append({"initiative": "", "note": "", "budget_reduction_gbpm": target - identified,
                     "forecast_achieved_gbpm": 0.0, "shortfall_gbpm": -(target - identified), "mark": "",
                     "row_kind": "unidentified"})
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
    """Reserves with their movement over the quarter (``movement``: ``increased`` / ``unchanged`` /
    ``decreased`` / ""): from the previous quarter's balances when given, else as the source states it;
    and a total row (``row_kind`` ``total``, its movement from the totals). Columns: reserve, balance_gbpm,
    movement, row_kind (``reserve``, ``total``)."""
    t = reserves.copy().reset_index(drop=True)
    if previous is not None and len(previous):
        before = previous.set_index("reserve")["balance_gbpm"]
        t["movement"] = [movement(b, before.get(r, math.nan)) or m for r, b, m in
                         zip(t["reserve"], t["balance_gbpm"], t.get("movement", [""] * len(t)))]
        total_move = movement(float(t["balance_gbpm"].sum()), float(previous["balance_gbpm"].sum()))
    else:
        moves = set(t.get("movement", pd.Series(dtype=str)).dropna())
        total_move = moves.pop() if len(moves) == 1 else ""
    rows = [{"reserve": r.reserve, "balance_gbpm": r.balance_gbpm, "movement": _word(getattr(r, "movement", "")),
             "row_kind": "reserve"} for r in t.itertuples()]
    rows.append({"reserve": "", "balance_gbpm": float(t["balance_gbpm"].sum()), "movement": _word(total_move),
                 "row_kind": "total"})
    return pd.DataFrame(rows)


def _word(movement_word) -> str:
    """A movement as one of ``increased``, ``unchanged``, ``decreased``, or "" (none given, or not a movement)."""
    w = str(movement_word)
    return w if w in ("increased", "unchanged", "decreased") else ""


def debt_table(debt: pd.DataFrame) -> pd.DataFrame:
    """The aged debt profile with each band's share of the total (%), its movement (``movement``, a word or
    ""), and a total row. Columns: age_band, amount_gbpm, share_pct, movement, row_kind (``band``, ``total``)."""
    t = debt.copy().reset_index(drop=True)
    total = float(t["amount_gbpm"].sum())
    rows = [{"age_band": r.age_band, "amount_gbpm": r.amount_gbpm,
             "share_pct": 100 * r.amount_gbpm / total if total else math.nan,
             "movement": _word(getattr(r, "movement", "")), "row_kind": "band"} for r in t.itertuples()]
    rows.append({"age_band": "", "amount_gbpm": total, "share_pct": 100.0 if total else math.nan, "movement": "",
                 "row_kind": "total"})
    return pd.DataFrame(rows)


def traded_tables(fully: pd.DataFrame | None, partially: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fully traded areas: contribution (+) / deficit (-) to general overheads = income - expenditure
    (``contribution_gbpm``; ``result`` ``contribution`` / ``breakeven`` / ``deficit``); partially traded:
    excess (+) / shortfall (-) against the income target (``excess_gbpm``; ``result`` ``excess`` /
    ``on_target`` / ``shortfall``). An empty frame for an input that is missing or empty."""
    def result(v, up, level, down):
        r = _r3(v)
        return up if r > 0 else down if r < 0 else level

    f = pd.DataFrame()
    if fully is not None and len(fully):
        c = fully["gross_income_gbpm"] - fully["gross_expenditure_gbpm"]
        f = pd.DataFrame({"service_area": fully["service_area"], "trading_area": fully["trading_area"],
                          "gross_expenditure_gbpm": fully["gross_expenditure_gbpm"],
                          "gross_income_gbpm": fully["gross_income_gbpm"], "contribution_gbpm": c,
                          "result": c.map(lambda v: result(v, "contribution", "breakeven", "deficit")),
                          "to_earmarked_reserves": fully.get("to_earmarked_reserves", "")})
    p = pd.DataFrame()
    if partially is not None and len(partially):
        e = partially["projected_income_gbpm"] - partially["income_target_gbpm"]
        p = pd.DataFrame({"service_area": partially["service_area"], "trading_area": partially["trading_area"],
                          "income_target_gbpm": partially["income_target_gbpm"],
                          "projected_income_gbpm": partially["projected_income_gbpm"], "excess_gbpm": e,
                          "result": e.map(lambda v: result(v, "excess", "on_target", "shortfall"))})
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
