"""Model guards (issue 13): a window too short for the entrant GLM is widened or simplified, fitted
entrants outside a sane band fall back to the observed level, the simulation refuses a run it cannot
hold, ETS (one of the three forecasts averaged) never goes below zero, ``prepare`` takes ``ssda903.merge_returns`` output
as it is (day-first dates), and statsmodels' warnings are captured, not printed."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import ssda903
from pipeline.placements import baselines as pl_baselines
from pipeline.placements import history as pl_history
from pipeline.placements import model as pl_model
from pipeline.placements import simulation as pl_simulation


def history(months, per_month, seed=1, start="2020-04-01", growth=0.0):
    """Independent small histories: entrants Poisson(per_month x exp(growth x years)), stays of 1 to 30
    months, ages 0 to 17, three categories."""
    rng = np.random.default_rng(seed)
    rows, k = [], 0
    for i, m in enumerate(pd.date_range(start, periods=months, freq="MS")):
        for _ in range(rng.poisson(per_month * np.exp(growth * i / 12))):
            s = m + pd.Timedelta(days=int(rng.integers(0, 28)))
            end = s + pd.Timedelta(days=int(rng.integers(30, 900)))
            dob = s - pd.Timedelta(days=int(rng.integers(0, 17 * 365)))
            rows.append((str(k), s, end, int(rng.integers(0, 3)), "E11" if rng.random() < .5 else "E4A", dob, -1, True))
            k += 1
    df = pd.DataFrame(rows, columns=["CHILD", "start", "end", "category", "REC", "dob", "next_category", "new_period"])
    df["period_start"] = df["start"]
    return df


def observed_last_year(sp, origin):
    """Entrants a month in the twelve months to ``origin``, counted in plain pandas."""
    lo = (pd.Timestamp(origin) - pd.DateOffset(years=1)).to_period("M").to_timestamp(how="end")
    return ((sp["start"] > lo) & (sp["start"] <= origin)).sum() / 12


def test_window_of_one_year_is_widened_to_two_and_entrants_stay_near_the_observed():
    sp = history(48, 10 / 12)
    origin = pd.Timestamp("2024-03-31")
    m = pl_model.fit(pl_history.as_at(sp, origin), origin, horizon=24, window_years=1)
    assert m.window[0] == pd.Timestamp("2022-04-01")  # 24 months, not 12
    assert any("too short" in n for n in m.notes)
    obs = observed_last_year(sp, origin)
    assert 0.25 * obs <= m.entry_mean.sum(axis=1).mean() <= 4 * obs
    # and the simulation runs with sane numbers (no runaway entrants)
    sim = pl_simulation.simulate(m, pl_simulation.state_at(pl_history.as_at(sp, origin), origin), paths=50, seed=1)
    assert sim["starts"].sum(axis=1).mean() < 24 * 4 * obs + 10


def test_history_shorter_than_the_glm_needs_uses_the_observed_average():
    sp = history(12, 10 / 12)
    origin = pd.Timestamp("2021-03-31")
    m = pl_model.fit(pl_history.as_at(sp, origin), origin, horizon=12, window_years=3)
    obs = ((sp["start"] <= origin).sum()) / 12
    assert np.allclose(m.entry_mean.sum(axis=1), obs)
    assert any("only 12 months" in n for n in m.notes)


def test_entrants_outside_the_band_fall_back_to_the_observed_level():
    # entrants tripling a year; extrapolating the trend (trend_weight 1) over three years leaves the band
    sp = history(36, 2, growth=1.1, seed=4)
    origin = pd.Timestamp("2023-03-31")
    m = pl_model.fit(pl_history.as_at(sp, origin), origin, horizon=36, trend_weight=1.0)
    obs = observed_last_year(sp, origin)
    assert any("outside 0.25 to 4 times" in n for n in m.notes)
    assert m.entry_mean.sum(axis=1).mean() == pytest.approx(obs)
    # the same history without trend extrapolation stays inside the band and keeps the GLM
    m2 = pl_model.fit(pl_history.as_at(sp, origin), origin, horizon=36)
    assert not any("outside" in n for n in m2.notes)


def test_simulate_refuses_a_run_it_cannot_hold_instead_of_being_killed():
    sp = history(36, 3)
    origin = pd.Timestamp("2023-03-31")
    m = pl_model.fit(pl_history.as_at(sp, origin), origin, horizon=24)
    m.entry_mean = m.entry_mean * 1e6
    with pytest.raises(ValueError, match="GB"):
        pl_simulation.simulate(m, pl_simulation.state_at(pl_history.as_at(sp, origin), origin), paths=1000)


def test_statsmodels_warnings_are_captured_not_printed():
    sp = history(12, 10 / 12)
    origin = pd.Timestamp("2021-03-31")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = pl_model.fit(pl_history.as_at(sp, origin), origin, horizon=12)
    assert not [x for x in w if "statsmodels" in (x.filename or "")]
    assert any("PerfectSeparation" in x for x in m.warnings)  # three thin categories: separation is reported


def test_ets_cross_check_never_goes_below_zero():
    # a steep fall: Holt's trend on its own goes negative within two years
    idx = pd.date_range("2020-01-31", periods=36, freq="ME")
    totals = pd.Series(np.linspace(400, 40, 36) + np.random.default_rng(2).normal(0, 3, 36), index=idx)
    out = pl_baselines.ets_forecast(totals, 36)
    assert (out[["mean", "low_80", "high_80"]] >= 0).all().all()
    assert out["mean"].min() == 0  # it would have gone negative: cut at zero, and said
    assert any("cut at zero" in n for n in out.attrs["notes"])
    short = pl_baselines.ets_forecast(totals.iloc[:10], 6)
    assert (short["mean"] == totals.iloc[9]).all() and short.attrs["notes"]


def _write_return(folder, episodes, header):
    folder.mkdir(parents=True)
    pd.DataFrame(episodes, columns=ssda903.EPISODE_COLUMNS).to_csv(folder / "episodes.csv", index=False)
    pd.DataFrame(header, columns=ssda903.HEADER_COLUMNS).to_csv(folder / "header.csv", index=False)


def test_prepare_takes_merge_returns_output_with_day_first_dates(tmp_path):
    # the first date has day <= 12: 05/04/2023 is 5 April (month-first guessing would read 4 May)
    ep = [["A1", "05/04/2023", "L", "C2", "N1", "U1", "PR1", "09/06/2023", "X1", "CHILD", "", "", ""],
          ["A1", "09/06/2023", "T", "C2", "N1", "K2", "PR4", "", "", "", "", "", ""],
          ["B2", "11/02/2024", "S", "C2", "N1", "U4", "PR4", "03/03/2024", "E4A", "", "", "", ""]]
    hd = [["A1", "1", "02/03/2012", "WBRI", "", "", ""], ["B2", "2", "07/08/2015", "WBRI", "", "", ""]]
    _write_return(tmp_path / "2023-24", ep, hd)
    m = ssda903.merge_returns({"2023-24": ssda903.read_return(tmp_path / "2023-24")})
    s = pl_history.prepare(m["episodes"], m["header"])
    a = s[s["start"] == pd.Timestamp("2023-04-05")]
    assert len(a) == 1 and a["end"].iloc[0] == pd.Timestamp("2023-06-09")
    assert a["dob"].iloc[0] == pd.Timestamp("2012-03-02")
    assert s.loc[s["start"] == pd.Timestamp("2023-06-09"), "period_start"].iloc[0] == pd.Timestamp("2023-04-05")
    # text dates only (no *_date columns), day first or ISO, read the same
    eps = m["episodes"].drop(columns=["DECOM_date", "DEC_date"])
    iso = eps.assign(DECOM=pd.to_datetime(eps["DECOM"], format="%d/%m/%Y").dt.strftime("%Y-%m-%d"))
    for e in (eps, iso):
        pd.testing.assert_frame_equal(pl_history.prepare(e, m["header"]), s)


def test_prepare_on_a_bundled_return_keeps_every_child_in_care_counted_in_plain_pandas():
    folder = Path(__file__).resolve().parents[1] / "data" / "raw" / "synthetic" / "ssda903" / "2024-25"
    m = ssda903.merge_returns({"2024-25": ssda903.read_return(folder)})
    s = pl_history.prepare(m["episodes"], m["header"])
    raw = pd.read_csv(folder / "episodes.csv", dtype=str, keep_default_na=False)
    kept = raw[raw["CHILD"].isin(set(m["episodes"]["CHILD"]))]
    start = pd.to_datetime(kept["DECOM"], format="%d/%m/%Y")
    end = pd.to_datetime(kept["DEC"].replace("", None), format="%d/%m/%Y")
    for day in (pd.Timestamp("2024-06-30"), pd.Timestamp("2025-03-30")):
        independent = kept.loc[(start <= day) & (end.isna() | (end > day)), "CHILD"].nunique()
        assert len(pl_simulation.state_at(s, day)) == independent
