"""Who owns the placements forecast (quarter.budget_view: the view's placements line, owner_figures,
line_source, holder_forecast, the change of method) on the toy authority of tests/conftest.py, with a small
fixed set of placement cost paths in place of the placement model (tested on its own in test_placements.py
and on the bundled quarter in test_forecast_owner.py). Expected figures come from the toy ledger's raw rows
and the paths with plain pandas and numpy."""

import numpy as np
import pandas as pd
import pytest

from pipeline.quarter import budget_view as bv
from pipeline.quarter import placement_bundle as pb
from pipeline.quarter.context import open_quarter
from pipeline.report.sections import budget as b
from tests.conftest import toy_ledger_project, toy_ledger_rows

# the projected cost of the months left in 2026-27 (£m), one value per simulated path
PATHS = np.linspace(6.2, 8.6, 25)
MODEL_PATHS = PATHS + 0.4


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_ledger_project(tmp_path_factory.mktemp("owner") / "proj"), str(tmp_path_factory.mktemp("owner_w") / "w")


@pytest.fixture
def projected_placements(monkeypatch):
    """The placement projection available, its paths fixed (no SSDA903 input: the model is not run)."""
    monkeypatch.setattr(pb, "available", lambda ctx: True)
    monkeypatch.setattr(pb, "bundle", lambda ctx: {"cost_paths": pd.DataFrame({"2026-27": PATHS}),
                                                   "model_cost_paths": pd.DataFrame({"2026-27": MODEL_PATHS})})


def ctx_of(toy, setting="model"):
    ctx = open_quarter("2026-27-Q2", work_dir=toy[1], root=toy[0])
    ctx.params.settings.placements_forecast = setting
    return ctx


def raw_placements():
    now = pd.DataFrame(toy_ledger_rows("2026-27", 6))
    p = now[now["service_line_id"] == "placements"]
    return p["actual"].sum() / 1e6, p[p["period"] == 6]["forecast_full_year"].iloc[0] / 1e6


def test_the_projection_forecasts_the_line_and_the_holders_figure_is_shown_beside_it(toy, projected_placements):
    ctx = ctx_of(toy)
    ytd, holder = raw_placements()
    v = ytd + PATHS
    lo, mid, hi = np.quantile(v, 0.1), np.median(v), np.quantile(v, 0.9)
    d = bv.view(ctx).detail.set_index("line_id")
    assert d.at["placements", "full_year_forecast_gbpm"] == pytest.approx(mid)
    assert (d.at["placements", "low_gbpm"], d.at["placements", "high_gbpm"]) == (pytest.approx(lo), pytest.approx(hi))
    assert d.at["placements", "forecast_source"].startswith("placement projection")
    own = bv.owner_figures(ctx)
    assert own["holder"] == pytest.approx(holder) and own["ytd"] == pytest.approx(ytd) and own["budget"] == 12.0
    assert own["projection"] == pytest.approx(mid) and own["model"] == pytest.approx(np.median(ytd + MODEL_PATHS))
    assert own["holder_inside"] == bool(lo <= holder <= hi)
    assert (own["used_source"], own["used"]) == ("projection", pytest.approx(mid))
    assert bv.line_source(ctx) == ("projection", pytest.approx(mid)) and bv.holder_forecast(ctx) == pytest.approx(holder)
    # the budget total holds the projection, never the holder's figure
    assert bv.view(ctx).position.forecast == pytest.approx(mid + 5.7)


def test_budget_holder_setting_keeps_the_holders_forecast_in_the_total(toy, projected_placements):
    ctx = ctx_of(toy, "budget_holder")
    ytd, holder = raw_placements()
    assert pb.current_year_cost(ctx) is None and "placements" not in bv.projected(ctx)
    own = bv.owner_figures(ctx)
    assert (own["used_source"], own["used"]) == ("budget holder", pytest.approx(holder))
    assert own["projection"] == pytest.approx(np.median(ytd + PATHS))  # still reported beside it
    assert bv.view(ctx).position.forecast == pytest.approx(holder + 5.7)


def test_without_the_projection_the_line_is_profiled_and_no_owner_figures(toy):
    ctx = ctx_of(toy)
    assert bv.owner_figures(ctx) is None
    assert bv.line_source(ctx)[0] == "profile"


def test_the_change_of_method_is_split_from_the_change_in_spending(toy, projected_placements):
    ctx = ctx_of(toy)
    ytd, _ = raw_placements()
    now_placements = np.median(ytd + PATHS)
    # the earlier quarters' method (the spending profile) this quarter: £13.500m for placements (conftest.py)
    old_way = (13.5 - 12.0) + (5.7 - 6.0)
    total_now = (now_placements - 12.0) + (5.7 - 6.0)
    b.position_path(ctx)
    assert bv.path_method_now(ctx) == pytest.approx(old_way, abs=1e-6)
    text = b.render_movements(ctx, b.movements_table(ctx)).data
    assert f"the total would be an overspend of £{old_way:.3f}m" in text
    assert f"{b.gbpm(total_now - old_way, signed=True)} of the change since Quarter 1 is the change of method" in text
    assert f"{b.gbpm(old_way - 0.0, signed=True)} the like-for-like change in spending" in text
    # the chart's headline is the like-for-like movement, with the method's share beside it: here the method
    # lowers the total while spending raised it
    title, note = b.path_headline(0.0, total_now, 2, b.method_change(ctx))
    assert title == f"Like for like, the forecast under (-)/over spend has risen by {b.gbpm(old_way)} since Quarter 1"
    assert f"{b.gbpm(total_now - old_way, signed=True)} is the change of method" in note
    # and the placements line's sentence splits its own movement the same way
    line = b.movements_table(ctx).table.set_index("line_id").at["placements", "text"]
    assert (f"Of that change, {b.gbpm(total_now - old_way, signed=True)} is the change of forecasting method; like for "
            f"like, the forecast overspend rose by {b.gbpm((13.5 - 12.0) - 0.0)}.") in line
