"""Who owns the placements forecast (issue 14 point 5) and the forecast used (issue 15), on the default
quarter: the projection follows the forecast its backtest chose at each horizon (the average of no change,
Markov and ETS unless one is clearly better), the budget
holder's figure and the projection's are shown side by side, the budget total follows
settings.placements_forecast, and later years carry the backtest's verdict in words."""

import numpy as np
import pandas as pd
import pytest

from pipeline.finance import budget
from pipeline.quarter import budget_view as bv
from pipeline.quarter import placement_bundle as pb
from pipeline.quarter.context import open_quarter
from pipeline.report.sections import placements as ps

from .conftest import copy_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("owner") / "proj")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return str(tmp_path_factory.mktemp("owner_work") / "w")


def test_projection_follows_the_backtests_choice(project, work):
    ctx = open_quarter("2026-27-Q2", work_dir=work, root=project)
    b = pb.bundle(ctx)
    origin = pd.Timestamp(ctx.params.data_as_at)
    key = next(k for k, s in ctx.params.inputs.items() if s.kind == "ssda903")
    eps = ctx.table(f"{key}_episodes")
    # children in care at the quarter end, counted in plain pandas from the prepared episodes
    start, end = pd.to_datetime(eps["DECOM"]), pd.to_datetime(eps["DEC"])
    now = eps.loc[(start <= origin) & (end.isna() | (end > origin)), "CHILD"].nunique()
    fan, choice, mf = b["fan"], b["choice"], b["model_fan"]
    naive_months = fan["method"] == "naive"
    assert np.allclose(fan.loc[naive_months, "median"], now, atol=0.5)
    # the average's months: the median is the mean of no change, Markov and the ETS shown beside it
    avg = fan["method"] == "combined"
    want = (now + mf["markov"].to_numpy() + b["ets"]["mean"].to_numpy()) / 3
    assert np.allclose(fan.loc[avg, "median"], want[avg.to_numpy()], atol=0.5)
    assert np.allclose(mf["naive"], now)
    # the choice: the average unless one of the three beat it by more than two standard errors, the error
    # widened by sqrt(h / 3) because forecasts h months ahead from quarter ends three months apart overlap
    bt = b["backtest"]
    for r in choice.itertuples():
        g = bt[bt["horizon"] == r.horizon]
        a = g["actual"].astype(float)
        avg_err = ((g["naive"] + g["markov"] + g["ets"]) / 3 - a).abs()
        passed = {}
        for m in ("naive", "markov", "ets"):
            d = ((g[m] - a).abs() - avg_err) / a.mean() * 100
            se = d.std(ddof=1) / np.sqrt(len(d)) * np.sqrt(max(1, r.horizon / 3))
            if len(g) >= 3 and d.mean() < -2 * se:
                passed[m] = d.mean()
        assert r.method == (min(passed, key=passed.get) if passed else "combined")
    t = ps.backtest_table(bt, choice)
    assert t["replayed_wape"].notna().all() and t["used_coverage_80"].between(0, 100).all()


def test_holder_and_projection_side_by_side_and_the_budget_total_follows_the_setting(project, work):
    ctx = open_quarter("2026-27-Q2", work_dir=work, root=project)
    own = bv.owner_figures(ctx)
    led = budget.ledger_forecast(ctx.table(bv.ledger_key(ctx)), ctx.quarter.fy, ctx.quarter.q)
    holder = float(led.set_index("line_id").at["placements", "holder_forecast_gbpm"])
    assert own["holder"] == pytest.approx(holder)
    assert own["holder_inside"] == (own["low"] <= holder <= own["high"])
    assert own["setting"] == "model" and own["used"] == own["projection"]
    text = ps.headline(ctx).data
    assert f"The budget holder forecasts {ps.gbpm(holder)}" in text
    assert ("inside the projection's range" if own["holder_inside"] else "outside the projection's range") in text
    assert "The budget total uses the projection" in text
    assert "At 24 months" in text or "At 12 months" in text  # later years carry the backtest's verdict
    assert "`" not in text and "kind:" not in text
    # the budget line is the projection's figure
    d = bv.view(ctx).detail.set_index("line_id")
    assert d.at["placements", "full_year_forecast_gbpm"] == pytest.approx(own["projection"])

    ctx2 = open_quarter("2026-27-Q2", work_dir=work, root=project)
    ctx2.params.settings.placements_forecast = "budget_holder"
    assert pb.current_year_cost(ctx2) is None and not pb.uses_projection(ctx2)
    assert "placements" in ctx2.params.settings.projected_lines  # the params project the line...
    assert "placements" not in bv.projected(ctx2)  # ...but the setting says the holder's figure is used
    d2 = bv.view(ctx2).detail.set_index("line_id")
    # the budget holder's figure is the line's forecast: not the projection, not the profile projection
    assert d2.at["placements", "forecast_source"] == "budget holder"
    assert d2.at["placements", "full_year_forecast_gbpm"] == pytest.approx(holder)
    own2 = bv.owner_figures(ctx2)
    assert own2["used_source"] == "budget holder" and own2["used"] == pytest.approx(holder)
    assert "uses the budget holder's forecast" in ps.headline(ctx2).data
    # the other lines are projected as the params say
    assert set(bv.projected(ctx2)) == set(ctx2.params.settings.projected_lines) - {"placements"}

    ctx3 = open_quarter("2026-27-Q2", work_dir=work, root=project)
    ctx3.params.settings.placements_forecast = "holder"
    with pytest.raises(ValueError, match="placements_forecast"):
        pb.forecast_setting(ctx3)


def test_missing_returns_are_explained_in_reader_words(project, work, monkeypatch):
    ctx = open_quarter("2026-27-Q2", work_dir=work, root=project)
    monkeypatch.setattr(ps, "available", lambda c: False)
    text = ps.headline(ctx).data
    assert "children-looked-after (SSDA903) returns" in text and "kind" not in text and "`" not in text
