"""The budget section (notebook 20) on the toy authority of tests/conftest.py: two service lines, a ledger of
two complete years and half of 2026-27. Every expected figure is worked out here from the toy ledger's raw
rows with plain pandas, not with the pipeline's own functions."""

import json
import re

import pandas as pd
import pytest

from pipeline.quarter.context import open_quarter
from pipeline.report.sections import budget as b
from tests.conftest import toy_ledger_project, toy_ledger_rows

COMMENTARY = "## Key variances: placements\n\nMore children came into care over the summer.\n"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = toy_ledger_project(tmp_path_factory.mktemp("toy") / "proj", commentary=COMMENTARY)
    return root, str(tmp_path_factory.mktemp("toy_work") / "w")


def ctx_of(toy):
    root, work = toy
    return open_quarter("2026-27-Q2", work_dir=work, root=root)


def raw(fy: str, months: int) -> pd.DataFrame:
    return pd.DataFrame(toy_ledger_rows(fy, months))


def expected_q2() -> dict:
    """Each line's forecast at 2026-27 Quarter 2 (£m), from the raw rows: placements (always projected) is its
    spend to September over the share of a year's spend the complete earlier years had reached by September;
    transport is its budget holder's September forecast."""
    now = raw("2026-27", 6)
    prior = pd.concat([raw("2024-25", 12), raw("2025-26", 12)])
    p_now = now[now["service_line_id"] == "placements"]
    p_prior = prior[prior["service_line_id"] == "placements"]
    shares = p_prior[p_prior["period"] <= 6].groupby("financial_year")["actual"].sum() / \
        p_prior.groupby("financial_year")["actual"].sum()
    ytd = p_now["actual"].sum() / 1e6
    t = now[(now["service_line_id"] == "transport") & (now["period"] == 6)]
    return {"placements": ytd / shares.mean(), "placements_ytd": ytd, "transport": t["forecast_full_year"].iloc[0] / 1e6}


def test_the_position_is_plain_figures_and_the_table_names_and_marks_them(toy):
    ctx = ctx_of(toy)
    e = expected_q2()
    p = b.budget_position(ctx)
    # the domain's table: snake_case columns, marks as words (item 5 of issue 17)
    assert all(re.fullmatch(r"[a-z0-9_]+", c) for c in p.lines.columns)
    assert dict(zip(p.lines["line_id"], p.lines["mark"])) == {"placements": "over", "transport": "within"}
    assert p.budget == pytest.approx(18.0) and p.forecast == pytest.approx(e["placements"] + e["transport"])
    assert p.n_over == 1 and p.n_lines == 2 and p.largest["line_id"] == "placements"
    t = b.forecast_rows(ctx)
    assert list(t.columns) == b.FORECAST_COLUMNS + ["row_kind"] and t["row_kind"].tolist() == ["line", "line", "total"]
    rows = t.set_index("Service line")
    pl = rows.loc["Placements for children in care"]
    assert pl["Full Year Forecast £m"] == pytest.approx(e["placements"], abs=1e-6)
    assert pl["Forecast Under (-)/Over Spend £m"] == pytest.approx(e["placements"] - 12.0, abs=1e-6)
    assert pl["Percentage Under (-)/Over Spend"] == pytest.approx((e["placements"] - 12.0) / 12.0 * 100, abs=1e-4)
    assert pl["Budget Performance"] == "☐ Over budget"
    tr = rows.loc["Home to school transport"]
    assert tr["Forecast Under (-)/Over Spend £m"] == pytest.approx(e["transport"] - 6.0)
    assert tr["Budget Performance"] == "☑ Within budget"
    total = rows.loc["Total"]
    assert total["Forecast Under (-)/Over Spend £m"] == pytest.approx(e["placements"] + e["transport"] - 18.0, abs=1e-6)
    assert total["Budget Performance"] == "☐ Over budget"
    # lines that cast: the note says how totals were made and nothing about casting
    note = b.casting_note(p)
    assert note.startswith("Totals are computed from unrounded figures, then rounded.") and "do not cast" not in note


def test_movements_since_quarter_1_are_computed_then_put_in_words(toy):
    ctx = ctx_of(toy)
    e = expected_q2()
    m = b.movements_table(ctx)
    # at Quarter 1 both lines were on budget: the profile gives placements £12.000m, transport's holder £6.000m
    assert m.label == "Quarter 1" and m.total_before == pytest.approx(0.0, abs=1e-6)
    t = m.table.set_index("line_id")
    assert t.at["placements", "change_gbpm"] == pytest.approx(e["placements"] - 12.0, abs=1e-6)
    assert t.at["transport", "change_gbpm"] == pytest.approx(e["transport"] - 6.0)
    change = round(e["placements"] - 12.0, 3)
    assert t.at["placements", "text"] == (f"The forecast on placements moved from a balanced position of £0.000m at Quarter 1 "
                                          f"to an overspend of £{change:.3f}m: a change of +£{change:.3f}m.")
    assert t.at["transport", "text"].startswith("The forecast on transport moved from a balanced position")
    assert list(m.published().columns) == ["Service line", "Forecast under (-)/over spend now £m", "At Quarter 1 £m",
                                          "Change £m"]


def test_variance_by_quarter_totals_each_quarter_end(toy):
    ctx = ctx_of(toy)
    e = expected_q2()
    t = b.variance_by_quarter(ctx).set_index(["financial_year", "quarter"])["forecast_variance_gbpm"]
    # 2025-26 ran exactly to budget and profile; 2026-27 Q1 too; Q2 is the new position
    assert list(t.index) == [("2025-26", q) for q in (1, 2, 3, 4)] + [("2026-27", 1), ("2026-27", 2)]
    assert t.iloc[:5].abs().max() == pytest.approx(0.0, abs=1e-6)
    assert t.loc[("2026-27", 2)] == pytest.approx(e["placements"] + e["transport"] - 18.0, abs=1e-6)


def test_key_variances_are_a_frame_then_sentences_with_the_commentary(toy):
    ctx = ctx_of(toy)
    e = expected_q2()
    kv = b.key_variance_rows(ctx)
    # both lines are material (>= £0.100m and >= 2.0% of budget), the larger variance first
    assert kv["line_id"].tolist() == ["placements", "transport"]
    assert kv["ytd_actual_gbpm"].iloc[0] == pytest.approx(e["placements_ytd"])
    assert kv["forecast_source"].tolist() == ["projection: profile of 2 prior years", "budget holder"]
    assert kv["movement"].iloc[0].startswith("The forecast on placements moved from a balanced position")
    text = b.render_key_variances(ctx, kv).data
    assert "2 lines of 2" in text and text.count("\n### ") == 2
    assert "### 1. Placements for children in care, overspend" in text
    assert "*Analyst's commentary:* More children came into care over the summer." in text
    assert "*No budget holder commentary was provided this quarter.*" in text  # transport has none, and it is recorded for the data section
    missing = json.loads((ctx.work_dir / "tables" / "missing_commentary.json").read_text())
    assert ["Key variances: Home to school transport", "## Key variances: transport"] in missing
    # a higher threshold leaves transport (£0.300m) out
    ctx.params.settings.material_variance_gbpm = 0.5
    assert b.key_variance_rows(ctx)["line_id"].tolist() == ["placements"]


def test_forecast_text_and_sources_say_where_each_forecast_comes_from(toy):
    ctx = ctx_of(toy)
    e = expected_q2()
    text = b.render_forecast_text(ctx, b.budget_position(ctx)).data
    assert f"£{e['placements'] + e['transport']:,.3f}m against a controllable budget of £18.000m" in text
    assert "1 of 2 service lines are forecast to overspend" in text
    assert "Forecasts come from the ledger to September 2026: 1 line uses the budget holder's forecast" in text
    assert "Placements for children in care (profile of 2 prior years" in text
    s = b.sources_table(ctx).set_index("Service line")
    assert s.at["Placements for children in care", "Budget holder's forecast £m"] == pytest.approx(12.6)
    assert s.at["Home to school transport", "Source of forecast"] == "budget holder"
