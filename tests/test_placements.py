"""Placements: stock and flows on small hand-built episode histories, the as-at truncation, the
entry and exit models recovering known rates, the simulation's determinism and common random
numbers, scenario arithmetic, baselines and the backtest."""

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest.ssda903 import CATEGORIES
from pipeline.placements import backtest as pl_backtest
from pipeline.placements import baselines as pl_baselines
from pipeline.placements import history as pl_history
from pipeline.placements import model as pl_model
from pipeline.placements import simulation as pl_simulation

FOSTER_IH = CATEGORIES.index("in_house_fostering")
HOME_EXT = CATEGORIES.index("external_childrens_home")


def spells(rows):
    """rows: (child, start, end or None, category index, REC, dob, next_category or -1, new_period)."""
    df = pd.DataFrame(rows, columns=["CHILD", "start", "end", "category", "REC", "dob", "next_category", "new_period"])
    for c in ("start", "end", "dob"):
        df[c] = pd.to_datetime(df[c])
    df["period_start"] = df.groupby((df["new_period"]).cumsum())["start"].transform("min")
    return df


def test_prepare_joins_x1_continuations_into_one_period_and_reads_categories():
    eps = pd.DataFrame({"CHILD": ["1", "1", "2"], "DECOM": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01"]),
                        "DEC": pd.to_datetime(["2024-03-01", pd.NaT, pd.NaT]), "PLACE": ["U4", "K2", "U1"],
                        "PLACE_PROVIDER": ["PR1", "PR4", "PR1"], "REC": ["X1", "", ""]})
    header = pd.DataFrame({"CHILD": ["1", "2"], "DOB": pd.to_datetime(["2010-05-01", "2015-01-01"])})
    s = pl_history.prepare(eps, header).set_index(["CHILD", "start"])
    assert s.loc[("1", pd.Timestamp("2024-03-01")), "period_start"] == pd.Timestamp("2024-01-01")
    assert s.loc[("1", pd.Timestamp("2024-01-01")), "next_category"] == HOME_EXT
    assert s.loc[("1", pd.Timestamp("2024-01-01")), "category"] == FOSTER_IH
    assert s["new_period"].to_dict() == {("1", pd.Timestamp("2024-01-01")): True, ("2", pd.Timestamp("2024-02-01")): True,
                                         ("1", pd.Timestamp("2024-03-01")): False}


def test_spell_order_and_simulation_do_not_depend_on_child_codes():
    """Codes are pseudonyms under a secret key: relabelling the children (another key) must give the same
    spells in the same order and the same simulated futures."""
    rng = np.random.default_rng(3)
    n = 300
    eps = pd.DataFrame({"CHILD": [str(i) for i in range(n)],
                        "DECOM": pd.to_datetime("2020-04-01") + pd.to_timedelta(rng.integers(0, 1400, n), "D"),
                        "PLACE": rng.choice(["U1", "U4", "K2", "R1"], n), "PLACE_PROVIDER": rng.choice(["PR1", "PR4"], n),
                        "REC": ""})
    eps["DEC"] = pd.NaT
    header = pd.DataFrame({"CHILD": eps["CHILD"], "DOB": pd.to_datetime("2009-01-01")
                           + pd.to_timedelta(rng.integers(0, 12, n) * 30, "D")})
    relabel = {c: f"z{(int(c) * 7919) % 1009:04d}" for c in eps["CHILD"]}
    a = pl_history.prepare(eps, header)
    b = pl_history.prepare(eps.assign(CHILD=eps["CHILD"].map(relabel)), header.assign(CHILD=header["CHILD"].map(relabel)))
    pd.testing.assert_frame_equal(a.drop(columns="CHILD"), b.drop(columns="CHILD"))
    day = pd.Timestamp("2024-03-31")
    pd.testing.assert_frame_equal(pl_simulation.state_at(a, day), pl_simulation.state_at(b, day))


def test_daily_stock_open_across_year_end_and_a_move_on_one_day():
    s = spells([("1", "2024-03-01", "2024-04-10", FOSTER_IH, "X1", "2010-01-01", HOME_EXT, True),
                ("1", "2024-04-10", None, HOME_EXT, "", "2010-01-01", -1, False)])
    d = pl_history.daily_stock(s, pd.Timestamp("2024-03-30"), pd.Timestamp("2024-04-12"))
    assert d.sum(axis=1).eq(1).all()  # one child every day, never two on the day of the move
    assert d.loc["2024-04-09", "in_house_fostering"] == 1 and d.loc["2024-04-10", "external_childrens_home"] == 1
    assert d.loc["2024-03-31", "in_house_fostering"] == 1 and d.loc["2024-04-01", "in_house_fostering"] == 1


def test_a_child_with_two_periods_of_care_is_two_starts_and_counted_once_a_day():
    s = spells([("1", "2023-01-01", "2023-06-01", FOSTER_IH, "E4A", "2012-01-01", -1, True),
                ("1", "2024-01-01", None, FOSTER_IH, "", "2012-01-01", -1, True)])
    f = pl_history.monthly_flows(s, pd.Timestamp("2023-01-01"), pd.Timestamp("2024-02-28"))
    assert f["starts"].sum() == 2 and f.loc[pd.Period("2023-06", "M"), "ceased_returned_home"] == 1
    d = pl_history.daily_stock(s, pd.Timestamp("2023-01-01"), pd.Timestamp("2024-02-28")).sum(axis=1)
    assert d.loc["2023-05-31"] == 1 and d.loc["2023-06-01"] == 0 and d.loc["2024-01-01"] == 1 and d.max() == 1


def test_age_on_each_day_crosses_a_band_boundary():
    s = spells([("1", "2024-01-01", None, FOSTER_IH, "", "2014-03-15", -1, True)])  # 10th birthday 15 March 2024
    d = pl_history.daily_stock(s, pd.Timestamp("2024-03-13"), pd.Timestamp("2024-03-17"), by="age_band")
    assert list(d["5_to_9"]) == [1, 1, 0, 0, 0] and list(d["10_to_15"]) == [0, 0, 1, 1, 1]
    both = pl_history.daily_stock(s, pd.Timestamp("2024-03-13"), pd.Timestamp("2024-03-17"), by="both")
    assert both.loc["2024-03-16", "in_house_fostering|10_to_15"] == 1


def test_leaving_at_18_is_its_own_reason():
    s = spells([("1", "2020-01-01", "2024-03-15", FOSTER_IH, "E17", "2006-03-15", -1, True),
                ("2", "2020-01-01", "2024-03-15", FOSTER_IH, "E4A", "2010-03-15", -1, True)])
    f = pl_history.monthly_flows(s, pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-31")).iloc[0]
    assert f["ceased_age_18"] == 1 and f["ceased_returned_home"] == 1


def test_as_at_removes_later_starts_and_blanks_later_ends():
    s = spells([("1", "2024-01-01", "2024-06-01", FOSTER_IH, "E4A", "2010-01-01", -1, True),
                ("2", "2024-05-01", None, FOSTER_IH, "", "2010-01-01", -1, True)])
    k = pl_history.as_at(s, pd.Timestamp("2024-03-31"))
    assert list(k["CHILD"]) == ["1"] and pd.isna(k["end"].iloc[0]) and k["REC"].iloc[0] == ""
    assert len(s) == 2 and pd.notna(s["end"].iloc[0])  # the original is not changed


def synthetic_history(n_children=1500, monthly_exit=0.03, entries=40, seed=1, months=60):
    """Children entering at a constant Poisson rate and leaving with a constant monthly hazard."""
    rng = np.random.default_rng(seed)
    rows = []
    start0 = pd.Timestamp("2019-04-01")
    cid = 0
    for _i in range(n_children):  # the stock at the start
        st = start0 - pd.Timedelta(days=int(rng.integers(1, 700)))
        rows.append((cid, st, 6 + rng.random() * 6))
        cid += 1
    for m in range(months):
        for _ in range(rng.poisson(entries)):
            rows.append((cid, (pd.Period(start0, "M") + m).to_timestamp() + pd.Timedelta(days=int(rng.integers(0, 28))),
                         rng.random() * 9))
            cid += 1
    out = []
    end_all = (pd.Period(start0, "M") + months).to_timestamp()
    for child, st, age in rows:
        # months in care ~ geometric with the hazard, counted from the first whole month
        k = rng.geometric(monthly_exit)
        first_full = (pd.Period(st, "M") + (0 if st.day == 1 else 1)).to_timestamp()
        end = (pd.Period(first_full, "M") + k - 1).to_timestamp() + pd.Timedelta(days=14)
        out.append((str(child), st, end if end < end_all else pd.NaT, FOSTER_IH, "E4A" if end < end_all else "",
                    st - pd.Timedelta(days=int(age * 365.25)), -1, True))
    return spells(out)


@pytest.fixture(scope="module")
def known_rates():
    return synthetic_history()


def test_hazard_and_entry_models_recover_known_rates(known_rates):
    origin = pd.Timestamp("2024-03-31")
    m = pl_model.fit(known_rates, origin, horizon=12)
    # the exit hazard of the children fostered in-house, averaged over the age and time-in-care cells seen
    cm = pl_model.child_months(known_rates, pd.Period("2021-04", "M"), pd.Period("2024-03", "M"))
    cells = m.exit_table[FOSTER_IH][cm["age_band"], cm["duration_band"]]
    assert cells.mean() == pytest.approx(0.03, rel=0.15)
    assert m.entry_mean.sum(axis=1).mean() == pytest.approx(40, rel=0.1)


def test_simulation_is_deterministic_for_a_seed_and_a_path_is_the_same_in_any_run(known_rates):
    origin = pd.Timestamp("2024-03-31")
    m = pl_model.fit(known_rates, origin, horizon=12)
    st = pl_simulation.state_at(known_rates, origin)
    a = pl_simulation.simulate(m, st, paths=40, seed=7)
    b = pl_simulation.simulate(m, st, paths=40, seed=7)
    c = pl_simulation.simulate(m, st, paths=20, seed=7)
    d = pl_simulation.simulate(m, st, paths=40, seed=8)
    assert (a["stock"] == b["stock"]).all() and (a["stock"][:20] == c["stock"]).all()
    assert not (a["stock"] == d["stock"]).all()
    # stock balance on every path: opening + starts - exits = closing (no moves in or out of care)
    tot = a["stock"].sum(axis=2)
    opening = np.concatenate([np.full((40, 1), len(st)), tot[:, :-1]], axis=1)
    assert (opening + a["starts"] - a["exits"].sum(axis=2) == tot).all()


def test_scenario_arithmetic(known_rates):
    origin = pd.Timestamp("2024-03-31")
    m = pl_model.fit(known_rates, origin, horizon=24)
    st = pl_simulation.state_at(known_rates, origin)
    costs = pd.DataFrame({"category": CATEGORIES, "weekly_cost_gbp": 700.0, "base_year": "2024-25"})
    costs.loc[costs["category"] == "agency_fostering", "weekly_cost_gbp"] = 1000.0
    counts = np.bincount(st["category"], minlength=len(CATEGORIES))
    base = pl_simulation.simulate(m, st, paths=30, seed=3)
    c0 = pl_simulation.projected_cost(base["stock"], m.months, costs, 0.0, counts)
    # inflation: the same stock, each later year dearer by exactly the uplift
    c1 = pl_simulation.projected_cost(base["stock"], m.months, costs, 0.10, counts)
    assert (c1["2025-26"] / c0["2025-26"]).to_numpy() == pytest.approx(1.10)
    # more returns home: fewer children in care on every path (common random numbers)
    more = pl_simulation.simulate(m, st, paths=30, seed=3, scenario=pl_simulation.Scenario(returns_home_uplift=0.5))
    assert (more["stock"][:, -1].sum(axis=1) <= base["stock"][:, -1].sum(axis=1)).all()
    assert more["stock"][:, -1].sum() < base["stock"][:, -1].sum()
    # cost of a day: days x weekly cost / 7
    one = np.zeros((1, 1, len(CATEGORIES)), dtype=int)
    one[0, 0, FOSTER_IH] = 7
    c = pl_simulation.projected_cost(one, pd.period_range("2024-04", periods=1, freq="M"), costs, 0.0,
                          np.eye(len(CATEGORIES), dtype=int)[FOSTER_IH] * 7)
    assert c["2024-25"].iloc[0] == pytest.approx(7 * 30 * 100 / 1e6)


def test_in_house_carers_scenario_moves_agency_placements():
    st = pd.DataFrame({"category": [CATEGORIES.index("agency_fostering")] * 30, "age_days": [3000] * 30,
                       "care_days": [400] * 30})
    m = pl_model.Fitted(pd.Timestamp("2024-03-31"), pd.DataFrame(), np.full((12, 5), 1e-9), 0.0,
                  np.full((5, len(CATEGORIES)), 1 / len(CATEGORIES)), np.zeros((len(CATEGORIES), 5, 3)),
                  np.zeros((len(CATEGORIES), 5, 3)), np.full((len(CATEGORIES), len(CATEGORIES)), 0.1),
                  np.full((len(CATEGORIES), 4), 0.25), pd.period_range("2024-04", periods=12, freq="M"),
                  (pd.Timestamp("2021-04-01"), pd.Timestamp("2024-03-31")))
    out = pl_simulation.simulate(m, st, paths=5, seed=1, scenario=pl_simulation.Scenario(in_house_carers=12))
    assert (out["stock"][:, -1, FOSTER_IH] == 12).all() and (out["stock"][:, 5, FOSTER_IH] == 6).all()
    assert (out["stock"][:, -1].sum(axis=1) == 30).all()


def test_markov_and_backtest_on_a_steady_state(known_rates):
    origin = pd.Timestamp("2023-03-31")
    mk = pl_baselines.markov_forecast(known_rates, origin, 12)
    now = len(pl_simulation.state_at(known_rates, origin))
    assert abs(mk[-1] - now) / now < 0.1
    bt = pl_backtest.backtest(known_rates, [pd.Timestamp("2023-03-31"), pd.Timestamp("2023-06-30")], pd.Timestamp("2024-03-31"),
                     horizons=(3, 6, 12), paths=50)
    assert set(bt["horizon"]) == {3, 6, 12} and len(bt) == 5  # the June origin has no 12-month outcome yet
    s = pl_backtest.backtest_summary(bt)
    assert (s["model_wape"] < 10).all() and s["coverage_95"].min() >= 50
    assert pl_backtest.wape(np.array([90, 110]), np.array([100, 100])) == pytest.approx(10.0)
    # by placement type (the benchmarks' accuracy by type): the types add up to the totals
    bc = pl_backtest.backtest(known_rates, [pd.Timestamp("2023-03-31")], pd.Timestamp("2024-03-31"), horizons=(3, 12),
                              paths=50, by_category=True)
    cols = lambda k: [f"cat_{k}_{c}" for c in CATEGORIES]  # noqa: E731
    assert np.allclose(bc[cols("actual")].sum(axis=1), bc["actual"]) and np.allclose(bc[cols("naive")].sum(axis=1), bc["naive"])
    assert np.allclose(bc[cols("markov")].sum(axis=1), bc["markov"])
    # the outcome by type counted in plain pandas: children whose spell covers the outcome day, by category
    day = pd.Timestamp("2024-03-31")
    k = known_rates[(known_rates["start"] <= day) & (known_rates["end"].isna() | (known_rates["end"] > day))]
    want = k["category"].value_counts().reindex(range(len(CATEGORIES)), fill_value=0).to_numpy()
    assert np.allclose(bc.loc[bc["horizon"] == 12, cols("actual")].to_numpy()[0], want)


def test_publish_suppresses_small_counts_of_children_but_returns_the_exact_frame():
    """Notebook 30 computes a named DataFrame, publishes it, then renders it: the workbook gets the
    counts of children with 1 to threshold-1 suppressed (and a second cell where one would reveal it),
    the chart the exact counts."""
    from types import SimpleNamespace

    from pipeline.ingest.ssda903 import CATEGORIES
    from pipeline.report.sections import placements as ps

    sent = {}
    ctx = SimpleNamespace(params=SimpleNamespace(settings=SimpleNamespace(small_count_threshold=5)),
                          publish=lambda name, df, title, section, child_counts=None: sent.update(
                              {name: (df, title, section, child_counts)}))
    mix = pd.DataFrame({"month": pd.to_datetime(["2026-08-31", "2026-09-30"]),
                        **{c: [40 + i, 3 if i == 0 else 41 + i] for i, c in enumerate(CATEGORIES)}})
    back = ps.publish(ctx, "placements_mix", mix)
    assert back is mix and back[CATEGORIES[0]].tolist() == [40, 3]
    out, title, section, cols = sent["placements_mix"]
    assert cols == CATEGORIES and section == "Placements" and "suppressed" in title
    assert out[CATEGORIES[0]].tolist() == ["40", "c"]
    # one suppressed part in a row of parts: the smallest other one is suppressed too (no recovery by subtraction)
    row = out.iloc[1][CATEGORIES]
    assert (row == "c").sum() == 2 and out.at[1, CATEGORIES[1]] == "c"
    flows = pd.DataFrame({"month": pd.to_datetime(["2026-09-01"]), "starts": [2], "moves": [7], "ceased": [9],
                          "ceased_returned_home": [6], "ceased_adoption": [3]})
    ps.publish(ctx, "placements_flows", flows)
    out, _, _, cols = sent["placements_flows"]
    assert out.at[0, "starts"] == "c" and out.at[0, "moves"] == "7"
    assert out.at[0, "ceased_adoption"] == "c" and out.at[0, "ceased_returned_home"] == "c"
    assert set(cols) == {"ceased_returned_home", "ceased_adoption", "ceased", "starts", "moves"}
    # a table that counts no children is published as it is
    ps.publish(ctx, "placements_projection", mix)
    assert sent["placements_projection"][0] is mix and sent["placements_projection"][3] is None
