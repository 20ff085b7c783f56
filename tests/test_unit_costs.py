"""Placement unit costs from the ledger (pipeline.placements.unit_costs): spend over placement days against
plain pandas on a small constructed ledger and episode history, the fallbacks to the params figures, and the
cost projection's range with each path's own unit costs."""

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements import simulation as pl_simulation
from pipeline.placements import unit_costs as uc
from pipeline.report.sections.placement_costs import source_text

AS_AT = pd.Timestamp("2026-09-30")
IH, AG, EXT, SEC = (CATEGORIES.index(c) for c in ("in_house_fostering", "agency_fostering",
                                                  "external_childrens_home", "secure"))


def _spells() -> pd.DataFrame:
    """Children's placements (the columns ``history.prepare`` gives), some starting before the window, some
    ending in it, some open."""
    rows = [  # child, start, end (None: open), category
        ("a", "2024-05-01", None, IH), ("b", "2025-11-15", None, IH), ("c", "2025-01-01", "2026-02-10", IH),
        ("d", "2025-06-01", None, AG), ("e", "2026-03-03", "2026-08-20", AG), ("f", "2023-01-01", None, AG),
        ("g", "2025-09-01", None, EXT), ("h", "2026-01-10", None, EXT),
        ("i", "2026-05-01", "2026-06-01", CATEGORIES.index("other")),  # 31 days: too few
    ]
    df = pd.DataFrame(rows, columns=["CHILD", "start", "end", "category"])
    df["start"], df["end"] = pd.to_datetime(df["start"]), pd.to_datetime(df["end"])
    df["REC"], df["dob"] = "", pd.Timestamp("2012-01-01")
    df["period_start"], df["next_category"], df["new_period"] = df["start"], -1, True
    return df


MAPPING = pd.DataFrame({"cost_centre": ["P1", "P2", "P2B", "P3", "P4", "P9", "X1"],
                        "service_line_id": ["placements"] * 6 + ["other"],
                        "placement_category": ["in_house_fostering", "agency_fostering", "agency_fostering",
                                               "external_childrens_home", "secure", "other", ""]})


def _ledger(seed: int = 1) -> pd.DataFrame:
    """Monthly actuals (pence) from September 2025 (outside the window) to October 2026 (after the quarter)."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2025-09-01", "2026-10-01", freq="MS")
    base = {"P1": 2_000_000, "P2": 3_000_000, "P2B": 500_000, "P3": 9_000_000, "P4": 1_500_000, "P9": 100_000,
            "X1": 7_000_000}
    rows = [{"cost_centre": cc, "month": m, "actual": int(b * rng.uniform(0.7, 1.3))}
            for m in months for cc, b in base.items()]
    led = pd.DataFrame(rows)
    led["financial_year"] = [f"{m.year - (m.month < 4)}-{(m.year - (m.month < 4) + 1) % 100:02d}" for m in led["month"]]
    return led


PARAMS = pd.DataFrame({"category": CATEGORIES, "weekly_cost_gbp": [1000.0 + 100 * i for i in range(len(CATEGORIES))],
                       "base_year": "2026-27", "source": "assumed"})


def _days_plain(spells: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    """Placement days by month and category, one row per child-day (a child counts from the start day to the
    day before the end)."""
    rows = []
    for r in spells.itertuples():
        end = (r.end - pd.Timedelta(days=1)) if pd.notna(r.end) else pd.Timestamp(last)
        days = pd.date_range(max(r.start, pd.Timestamp(first)), min(end, pd.Timestamp(last)), freq="D")
        rows.append(pd.DataFrame({"day": days, "category": CATEGORIES[r.category]}))
    d = pd.concat(rows)
    d["month"] = d["day"].dt.to_period("M")
    return d.groupby(["month", "category"]).size().unstack(fill_value=0)


def test_unit_cost_is_spend_over_days_with_plain_pandas():
    spells, led = _spells(), _ledger()
    out = uc.estimate(spells, led, MAPPING, PARAMS, AS_AT, inflation=0.0).set_index("category")
    days = _days_plain(spells, "2025-10-01", "2026-09-30")
    window = led[(led["month"] >= "2025-10-01") & (led["month"] <= "2026-09-01")]
    spend = window.merge(MAPPING, on="cost_centre").groupby("placement_category")["actual"].sum() / 100
    for c in ("in_house_fostering", "agency_fostering", "external_childrens_home"):
        assert out.at[c, "source"] == "ledger"
        assert out.at[c, "weekly_cost_gbp"] == pytest.approx(spend[c] / days[c].sum() * 7, rel=1e-12)
        assert out.at[c, "days"] == days[c].sum() and out.at[c, "months"] == 12
        assert out.at[c, "low_gbp"] < out.at[c, "weekly_cost_gbp"] < out.at[c, "high_gbp"]
        assert out.at[c, "sigma"] > 0
    assert out.at["agency_fostering", "spend_gbp"] == pytest.approx(spend["agency_fostering"])  # two cost centres
    r = out.loc["in_house_fostering"].copy()
    r["category"] = "in_house_fostering"
    assert source_text(r) == "The ledger's spend over placement days, the 12 months to September 2026"


def test_spend_of_earlier_financial_years_is_restated_to_this_years_prices():
    spells, led = _spells(), _ledger()
    out = uc.estimate(spells, led, MAPPING, PARAMS, AS_AT, inflation=0.05).set_index("category")
    days = _days_plain(spells, "2025-10-01", "2026-09-30")["in_house_fostering"].sum()
    w = led[(led["cost_centre"] == "P1") & (led["month"] >= "2025-10-01") & (led["month"] <= "2026-09-01")]
    spend = (w["actual"] / 100 * np.where(w["financial_year"] == "2025-26", 1.05, 1.0)).sum()
    assert out.at["in_house_fostering", "weekly_cost_gbp"] == pytest.approx(spend / days * 7, rel=1e-12)
    assert out.at["in_house_fostering", "base_year"] == "2026-27"
    # a params figure of another base year is restated the same way
    par = PARAMS.assign(base_year="2024-25")
    out = uc.estimate(spells, None, None, par, AS_AT, inflation=0.05).set_index("category")
    assert out.at["secure", "weekly_cost_gbp"] == pytest.approx(PARAMS.set_index("category").at["secure", "weekly_cost_gbp"] * 1.05 ** 2)


def test_fallbacks_give_the_params_figure_with_the_reason():
    spells, led = _spells(), _ledger()
    out = uc.estimate(spells, led, MAPPING, PARAMS, AS_AT, inflation=0.0).set_index("category")
    par = PARAMS.set_index("category")["weekly_cost_gbp"]
    expect = {"kinship_fostering": "no_cost_centre",  # no cost centre mapped to it
              "secure": "few_days",  # spend but no child placed: zero days
              "other": "few_days"}  # 31 days, under the threshold
    for c, why in expect.items():
        assert out.at[c, "source"] == "params" and out.at[c, "reason"] == why
        assert out.at[c, "weekly_cost_gbp"] == par[c] and out.at[c, "sigma"] == 0
    assert out.at["secure", "days"] == 0 and out.at["other", "days"] == 31
    r = out.loc["kinship_fostering"]
    assert source_text(r) == "The council's assumed rate (no ledger cost centre for this placement type)"
    # spend not positive: a credit larger than the spend
    neg = led.copy()
    neg.loc[neg["cost_centre"] == "P3", "actual"] *= -1
    out = uc.estimate(spells, neg, MAPPING, PARAMS, AS_AT, inflation=0.0).set_index("category")
    assert out.at["external_childrens_home", "reason"] == "spend_not_positive"
    assert out.at["external_childrens_home", "weekly_cost_gbp"] == par["external_childrens_home"]
    assert any("external_childrens_home uses the params figure" in n for n in uc.developer_notes(out.reset_index()))


def test_no_placement_category_column_or_no_ledger_means_params_everywhere():
    spells, led = _spells(), _ledger()
    par = PARAMS.set_index("category")["weekly_cost_gbp"]
    for ledger, mapping, why in ((led, MAPPING.drop(columns="placement_category"), "no_column"),
                                 (led, None, "no_column"), (None, None, "no_ledger")):
        out = uc.estimate(spells, ledger, mapping, PARAMS, AS_AT, inflation=0.0)
        assert (out["source"] == "params").all() and (out["reason"] == why).all()
        assert (out.set_index("category")["weekly_cost_gbp"] == par).all()
        notes = uc.developer_notes(out)
        assert len(notes) == 1 and "every placement type uses the params table" in notes[0]
        assert (uc.draw_factors(out, 50, 3) == 1).all()  # no measured uncertainty: no draws
    # cspack check says the same before any model runs
    assert "placement_category" in uc.mapping_notes(True, MAPPING.drop(columns="placement_category"))[0]
    notes = uc.mapping_notes(True, MAPPING)
    assert any("kinship_fostering" in n for n in notes) and not any("agency_fostering" in n for n in notes)


def test_the_window_is_the_last_twelve_complete_months_held():
    led = _ledger()
    w = uc.window(led["month"], AS_AT)
    assert (w[0], w[-1]) == (pd.Period("2025-10", "M"), pd.Period("2026-09", "M"))
    w = uc.window(led["month"], pd.Timestamp("2026-09-29"))  # September not complete
    assert w[-1] == pd.Period("2026-08", "M") and len(w) == 12
    w = uc.window(led[led["month"] <= "2026-07-01"]["month"], AS_AT)  # the ledger ends in July
    assert w[-1] == pd.Period("2026-07", "M")
    assert not len(uc.window(led["month"], pd.Timestamp("2020-01-31")))


def _paths(n: int = 400, seed: int = 5):
    rng = np.random.default_rng(seed)
    months = pd.period_range("2026-10", "2028-03", freq="M")
    level = rng.normal(1, 0.05, (n, 1, 1))
    stock = np.maximum(rng.poisson(30, (n, len(months), len(CATEGORIES))) * level, 0).round().astype(int)
    return stock, months, np.full(len(CATEGORIES), 30)


def test_cost_range_with_unit_cost_uncertainty_is_wider_and_holds_the_point():
    spells, led = _spells(), _ledger()
    unit = uc.estimate(spells, led, MAPPING, PARAMS, AS_AT, inflation=0.0)
    unit.loc[unit["category"] == "external_childrens_home", "sigma"] = 0.15  # a noisy ledger's rate
    stock, months, counts = _paths()
    costs = uc.as_costs(unit)
    fixed = pl_simulation.projected_cost(stock, months, costs, 0.03, counts)
    drawn = pl_simulation.projected_cost(stock, months, costs, 0.03, counts, uc.draw_factors(unit, len(stock), 2026))
    for y in fixed.columns:
        lo0, hi0 = np.quantile(fixed[y], [0.1, 0.9])
        lo, hi = np.quantile(drawn[y], [0.1, 0.9])
        point = float(np.median(fixed[y]))
        assert hi - lo > (hi0 - lo0) * 1.2
        assert lo < point < hi
        assert abs(np.median(drawn[y]) / point - 1) < 0.02  # the median stays close to the point


def test_draws_are_deterministic_and_tied_to_the_path():
    unit = uc.estimate(_spells(), _ledger(), MAPPING, PARAMS, AS_AT, inflation=0.0, seed=11)
    again = uc.estimate(_spells(), _ledger(), MAPPING, PARAMS, AS_AT, inflation=0.0, seed=11)
    pd.testing.assert_frame_equal(unit, again)
    a, b = uc.draw_factors(unit, 500, 7), uc.draw_factors(unit, 120, 7)
    assert (a[:120] == b).all() and (a == uc.draw_factors(unit, 500, 7)).all()
    assert not (a == uc.draw_factors(unit, 500, 8)).all()
    # a scenario on the baseline's first paths meets the same unit costs: with the same stock, no difference
    stock, months, counts = _paths(500)
    costs = uc.as_costs(unit)
    full = pl_simulation.projected_cost(stock, months, costs, 0.0, counts, a)
    part = pl_simulation.projected_cost(stock[:120], months, costs, 0.0, counts, a[:120])
    pd.testing.assert_frame_equal(full.iloc[:120], part)
    # the params figure's categories never move
    fixed = unit["sigma"].eq(0).to_numpy()
    assert (a[:, [CATEGORIES.index(c) for c in unit.loc[fixed, "category"]]] == 1).all()


def test_projected_cost_refuses_a_category_without_a_unit_cost():
    stock, months, counts = _paths(10)
    with pytest.raises(ValueError, match="no weekly unit cost for secure"):
        pl_simulation.projected_cost(stock, months, PARAMS[PARAMS["category"] != "secure"], 0.0, counts)


def test_default_pack_unit_costs_recover_the_generators_rates(built_pack):
    """On the bundled synthetic authority the ledger's placement spend is the generator's placement days
    times its unit cost of each year (data/raw/synthetic/oracle/unit_costs.csv). The pack's weekly cost per
    type, in 2026-27 prices, must therefore lie between the generator's 2026-27 rate and its 2025-26 rate
    uplifted by the params inflation (the window holds six months of each), and say where it comes from."""
    root, result = built_pack
    x = pd.read_excel(result.out_dir / "tables.xlsx", sheet_name="placements_unit_costs", engine="openpyxl")
    oracle = pd.read_csv(root / "data" / "raw" / "synthetic" / "oracle" / "unit_costs.csv")
    rate = oracle.pivot(index="category", columns="financial_year", values="weekly_cost_gbp")
    from pipeline.ingest.ssda903 import CATEGORY_LABELS
    x = x.set_index("Placement type")
    assert len(x) == len(CATEGORIES)
    for c in CATEGORIES:
        r = x.loc[CATEGORY_LABELS[c]]
        a, b = sorted([rate.at[c, "2026-27"], rate.at[c, "2025-26"] * 1.035])
        assert a * 0.999 <= r["Weekly cost £"] <= b * 1.001, (c, r["Weekly cost £"], a, b)
        assert r["80% range low £"] <= r["Weekly cost £"] <= r["80% range high £"]
        assert r["Where it comes from"] == "The ledger's spend over placement days, the 12 months to September 2026"
    html = result.pack.read_text(encoding="utf-8")
    body = html.split("Unit costs by placement type", 1)[1].split("What-if scenarios", 1)[0]
    assert "the 12 months to September 2026" in body and "October 2025 to September 2026" in body
    for word in ("placement_unit_costs", "placement_category", "params", "cost_centres", ".csv"):
        assert word not in body
    assert "The ranges carry the uncertainty in the weekly costs" in body


def _fake_ctx(monkeypatch, unit, cost_paths=None, fixed_paths=None):
    """A quarter context holding only what the unit-cost table and notes read, the bundle replaced."""
    from types import SimpleNamespace

    from pipeline.report.sections import placement_costs as sec

    days = pd.DataFrame({"financial_year": "2026-27", "quarter": 1, "category": CATEGORIES, "days": 700,
                         "weekly_cost_gbp": 1.0, "cost_gbpm": 0.1})
    b = {"unit_costs": unit, "days_cost": days, "cost_paths": cost_paths, "cost_paths_units_fixed": fixed_paths}
    monkeypatch.setattr(sec, "bundle", lambda ctx: b)
    settings = SimpleNamespace(placement_inflation=0.035, placement_paths=100, placement_seed=1)
    ctx = SimpleNamespace(quarter=SimpleNamespace(fy="2026-27"), params=SimpleNamespace(settings=settings),
                          table=lambda key: PARAMS.assign(source="Council rates 2026-27, see placement_unit_costs.csv"))
    return sec, ctx


def test_the_pack_table_says_where_each_rate_comes_from_without_developer_words(monkeypatch, capsys):
    unit = uc.estimate(_spells(), _ledger(), MAPPING.drop(columns="placement_category"), PARAMS, AS_AT, 0.0)
    sec, ctx = _fake_ctx(monkeypatch, unit)
    t = sec.unit_costs_frame(ctx)
    assert (t["Weekly cost £"].to_numpy() == PARAMS["weekly_cost_gbp"].to_numpy()).all()
    html = sec.render_unit_costs(ctx, t).data
    # one source for every type: said once under the table, not repeated on every row
    assert html.count("the council&#x27;s assumed rate (the ledger&#x27;s cost centres are not linked to placement "
                      "types)") == 1 and "Where it comes from" not in html
    assert html.count(">not measured<") == len(CATEGORIES) and "1,000" in html and "1,900" in html
    for word in ("placement_unit_costs", "placement_category", "params", ".csv", "_"):
        assert word not in html.replace("cspack-table", "").replace("table-note", ""), word
    assert "placement_category column" in capsys.readouterr().err  # the analyst's note goes to the build log
    assert "taken as exact" in sec.unit_cost_range_note(ctx)


def test_the_cost_note_states_the_widening_only_beyond_noise(monkeypatch):
    unit = uc.estimate(_spells(), _ledger(), MAPPING, PARAMS, AS_AT, 0.0)
    fixed = pd.DataFrame({"2026-27": np.linspace(10, 12, 101), "2027-28": np.linspace(20, 24, 101)})
    wide = pd.DataFrame({"2026-27": np.linspace(9.5, 12.5, 101), "2027-28": np.linspace(20, 24.02, 101)})
    sec, ctx = _fake_ctx(monkeypatch, unit, wide, fixed)
    w = sec.unit_cost_widening(ctx).set_index("financial_year")
    assert w.at["2026-27", "width_gbpm"] == pytest.approx(2.4) and w.at["2026-27", "width_units_fixed_gbpm"] == pytest.approx(1.6)
    note = sec.unit_cost_range_note(ctx)
    assert "widen the 80% range by £0.800m for 2026-27 (for 2027-28, by no more than the simulation's own noise)" in note
    sec, ctx = _fake_ctx(monkeypatch, unit, fixed, fixed)
    assert "within the simulation's own noise" in sec.unit_cost_range_note(ctx)


def test_an_unreadable_actual_leaves_its_month_out_and_a_ledger_without_months_gives_params():
    spells, led = _spells(), _ledger()
    bad = led.copy()
    bad["actual"] = bad["actual"].astype("Int64")
    hit = (bad["cost_centre"] == "P2B") & (bad["month"] == "2026-01-01")  # one of agency fostering's two centres
    bad.loc[hit, "actual"] = pd.NA
    out = uc.estimate(spells, bad, MAPPING, PARAMS, AS_AT, inflation=0.0).set_index("category")
    days = _days_plain(spells, "2025-10-01", "2026-09-30")["agency_fostering"]
    w = led[(led["month"] >= "2025-10-01") & (led["month"] <= "2026-09-01") & (led["month"] != "2026-01-01")
            & led["cost_centre"].isin(["P2", "P2B"])]
    assert out.at["agency_fostering", "months"] == 11
    assert out.at["agency_fostering", "weekly_cost_gbp"] == pytest.approx(
        w["actual"].sum() / 100 / days.drop(pd.Period("2026-01", "M")).sum() * 7, rel=1e-12)
    assert out.at["in_house_fostering", "months"] == 12  # other types keep the month
    early = uc.estimate(spells, led, MAPPING, PARAMS, pd.Timestamp("2025-08-31"), inflation=0.0)
    assert (early["reason"] == "no_months").all() and (early["source"] == "params").all()
    assert "(add a" not in uc.developer_notes(early)[0]
