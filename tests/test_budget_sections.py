"""The budget section on every quarter of a synthetic year: every table published (so it reaches
tables.xlsx), movements against the previous quarter, the forecast path and accuracy charts."""

import re

import pytest
from IPython.display import Image

from pipeline.quarter import budget_view as bv
from pipeline.quarter import placement_bundle as pb
from pipeline.quarter.context import open_quarter
from pipeline.report.sections import budget as b
from pipeline.report.sections import savings_risks_accuracy as sra

from .conftest import copy_project

ALL_TABLES = {"budget_forecast", "budget_forecast_sources", "budget_movements", "budget_forecast_by_quarter",
              "budget_savings", "budget_savings_targets", "budget_growth", "budget_risks", "budget_reserves",
              "budget_aged_debt", "budget_traded_fully", "budget_traded_partially", "forecast_accuracy"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("budget") / "proj")


def run_section(ctx):
    shown = [b.forecast_text(ctx), b.forecast_table(ctx), b.movement_view(ctx), b.path_figure(ctx),
             b.forecast_sources(ctx), b.key_variances(ctx)]
    for f in (sra.savings, sra.growth, sra.risks, sra.reserves, sra.debt, sra.traded, sra.accuracy):
        shown += f(ctx)
    return shown


@pytest.mark.parametrize("label", ["2025-26-Q1", "2025-26-Q2", "2025-26-Q3", "2025-26-Q4"])
def test_every_table_for_every_quarter_of_a_year(project, tmp_path, label, monkeypatch):
    # the placement model is tested in test_placements.py and once below; here the budget's own methods
    monkeypatch.setattr(pb, "available", lambda ctx: False)
    ctx = open_quarter(label, work_dir=str(tmp_path / "w"), root=project)
    shown = run_section(ctx)
    assert {e["name"] for e in ctx.tables.entries()} >= ALL_TABLES
    images = [s for s in shown if isinstance(s, Image)]
    assert len(images) == 3  # forecast by quarter, aged debt over time, forecast accuracy
    q = int(label[-1])
    moves = b.movement_view(ctx).data
    assert (f"since Quarter {q - 1}." if q > 1 else "since Quarter 4 2024-25.") in moves
    assert not re.search(r"\bQ\d\b|\d{4}-\d{2}-Q\d", moves)  # quarters in words, never codes
    by_q = ctx.tables.load("budget_forecast_by_quarter")
    assert set(by_q.loc[by_q["financial_year"] == "2025-26", "quarter"]) == set(range(1, q + 1))
    acc = ctx.tables.load("forecast_accuracy")
    assert acc["financial_year"].max() == "2024-25"  # completed years only, before this one
    # quarters whose total forecast is the outturn in every year (recomputed here) are not in the measure
    tot = acc[acc["line_id"] == "total"]
    zero = {q for q, e in tot.groupby("quarter")["error_gbpm"] if (e.abs() < 0.0005).all()}
    text, table = sra.accuracy(ctx)[:2]
    assert zero and all(f"Quarter {q} forecast less outturn" not in table.data for q in zero)
    assert "the forecast equalled the outturn in every year" in text.data and "No published report" not in text.data
    assert "budget holders' forecasts" in text.data and "tables.xlsx" not in table.data
    # the savings initiatives carry note numbers but the synthetic inputs give no key: no Note column
    sv = sra.savings_tables(ctx)
    assert "Note" not in sv.table.columns and sv.notes is None
    # the table and the summary agree: one source of budget lines
    table = ctx.tables.load("budget_forecast")
    total = table[table["Service line"] == "Total"].iloc[0]
    lines = bv.view(ctx).position.lines
    assert total["Full Year Forecast £m"] == pytest.approx(lines["full_year_forecast_gbpm"].sum())


def test_placements_line_is_projected_and_labelled(project, tmp_path, monkeypatch):
    monkeypatch.setattr(pb, "available", lambda ctx: False)
    ctx = open_quarter("2025-26-Q2", work_dir=str(tmp_path / "w"), root=project)
    d = bv.view(ctx).detail.set_index("line_id")
    assert d.at["placements", "forecast_source"].startswith("projection: profile of")
    assert (d.drop(index="placements")["forecast_source"] == "budget holder").all()
    text = b.forecast_text(ctx).data
    assert "uses the profile method until the placement cost projection" in text
    kv = b.key_variances(ctx).data
    assert "children were in care on 30 September 2025, against" in kv and "from the cost per day" in kv
    assert "a year earlier (30 September 2024)" in kv and "at the start of the year (31 March 2025)" in kv
    assert "add a" not in kv and "`" not in kv and ".md" not in kv


def test_published_quarter_has_no_ledger_and_says_what_it_cannot_show(project, tmp_path):
    ctx = open_quarter(work_dir=str(tmp_path / "w"), root=project,
                       params_file="params/derbyshire-2021-22-Q1-published.yaml")
    assert bv.view(ctx).source == "returns"
    assert "cannot be shown" in b.movement_view(ctx).data
    assert "no ledger" in sra.accuracy(ctx)[0].data
    kv = b.key_variances(ctx).data
    # at least £0.200m and 2%: the lines seed 004 explains (4.4.1-4.4.8) plus additional placements
    assert kv.count("\n### ") == 9 and "#### " not in kv and "Early Help" not in kv
    assert "Dedicated Schools Grant of £1.112m" in kv  # the analyst's commentary, from the commentary file


def test_commentary_in_key_variances_is_rendered_safely(tmp_path):
    ctx = open_quarter(work_dir=str(tmp_path / "w"), root=copy_project(tmp_path / "own"),
                       params_file="params/derbyshire-2021-22-Q1-published.yaml")
    ctx.params.commentary.write_text("## Key variances: pensions\n\n<script>alert(1)</script> **Pension** costs.\n")
    kv = b.key_variances(ctx).data
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **Pension** costs." in kv and "<script>" not in kv


def test_placements_line_uses_the_placement_projection_when_it_can(project, tmp_path):
    ctx = open_quarter("2026-27-Q2", work_dir=str(tmp_path / "w"), root=project)
    d = bv.view(ctx).detail.set_index("line_id")
    r = d.loc["placements"]
    rest = pb.current_year_cost(ctx)
    assert r["forecast_source"] == "placement projection (children in care from the SSDA903 returns; see Placements)"
    assert r["full_year_forecast_gbpm"] == pytest.approx(r["ytd_actual_gbpm"] + rest["median"])
    assert r["low_gbpm"] < r["full_year_forecast_gbpm"] < r["high_gbpm"]
    assert "forecast by the placement projection (see Placements)" in b.forecast_text(ctx).data
    moves = b.movement_view(ctx).data
    assert "of the change since Quarter 1 is the change of method" in moves and "Forecast that way this quarter" in moves
    # the change of method is stated with the like-for-like movement, on the line, in the key variances and the
    # chart's headline, from the same figures (recomputed here from the path and the position)
    mc = b.method_change(ctx)
    path = bv.position_path(ctx)
    q1 = path[(path["financial_year"] == "2026-27") & (path["quarter"] == 1)]["variance_gbpm"].sum()
    lfl = bv.path_method_now(ctx) - q1
    assert mc.like_for_like(q1) == pytest.approx(lfl) and mc.total_now == pytest.approx(bv.view(ctx).position.variance)
    title, note = b.path_headline(q1, mc.total_now, 2, mc)
    assert title.startswith("Like for like") and f"£{abs(lfl):.3f}m" in title and "change of method" in note
    kv = b.key_variances(ctx).data
    assert "is the change of forecasting method; like for like" in kv
    # each 80% range beside its own figure: the placement projection's beside the forecast used, the profile
    # projection's (which contains its own centre) beside the profile projection
    src = b.sources_table(ctx).set_index("Service line").loc[r["service_line"]]
    assert src["Forecast used: 80% range low £m"] == pytest.approx(r["low_gbpm"])
    assert src["Profile projection: 80% range low £m"] <= src["Profile projection £m"] <= \
        src["Profile projection: 80% range high £m"]
    assert src["Profile projection: 80% range low £m"] != pytest.approx(r["low_gbpm"])
    shown = b.render_sources(b.sources_table(ctx)).data
    assert "Range of the forecast used (80%) £m" in shown and "Range of the profile projection (80%) £m" in shown
    # the accuracy section says the placement projection is not what it tests
    assert "which this table does not test" in sra.accuracy(ctx)[0].data
    # one figure per quarter: the path's current quarter is the total the pack prints (issue 14: the chart
    # showed the profile projection's total for Q2 beside the table's)
    b.path_figure(ctx)
    by_q = ctx.tables.load("budget_forecast_by_quarter").set_index(["financial_year", "quarter"])
    assert by_q.loc[("2026-27", 2), "forecast_variance_gbpm"] == pytest.approx(bv.view(ctx).position.variance)
    # computed once and cached in the work folder, keyed by inputs, settings and code
    assert (ctx.work_dir / "derived" / "placements" / "key.txt").read_text() == pb.cache_key(ctx)
