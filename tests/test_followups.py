"""Follow-ups to issue 14: readers' labels for every finding level, full chart titles, the aged-debt
direction against the previous quarter, and the stale notice in the title block."""

import pandas as pd
import pytest

from pipeline.quarter.context import open_quarter
from pipeline.report.sections import data_and_method as sections

from .conftest import copy_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("followups") / "proj")


@pytest.fixture(scope="module")
def ctx(project, tmp_path_factory):
    return open_quarter("2025-26-Q2", work_dir=str(tmp_path_factory.mktemp("w")), root=project)


def test_error_findings_are_labelled_for_readers(ctx, monkeypatch):
    real = ctx.findings()
    error = {c: "" for c in real.columns}
    error.update(input="budget", check="required columns", finding="A column the pack needs is missing.",
                 level="error")
    f = pd.concat([real, pd.DataFrame([error])], ignore_index=True)
    monkeypatch.setattr(type(ctx), "findings", lambda self: f)
    html = sections.findings_table(ctx).data
    published = ctx.tables.load("data_quality_findings")
    levels = set(published["Level"])
    assert "error" not in levels and "Must fix" in levels
    assert levels <= {"Note", "Check", "Must fix"}
    # every level the findings hold has a reader's label, and the key beneath the table explains it
    assert set(real["level"]) <= set(sections.LEVEL_LABELS)
    assert ">Must fix<" in html and "Must fix: " in html


def test_debt_direction_is_against_the_previous_quarter():
    from pipeline.report.sections.savings_risks_accuracy import debt_direction

    # the bundled synthetic history's last eight quarters: up over the series, down this quarter
    s = pd.Series([0.052, 0.054, 0.057, 0.050, 0.050, 0.059, 0.082, 0.072],
                  index=["2024-25-Q3", "2024-25-Q4", "2025-26-Q1", "2025-26-Q2", "2025-26-Q3", "2025-26-Q4",
                         "2026-27-Q1", "2026-27-Q2"])
    title, since = debt_direction(s)
    assert title == "Debt outstanding has fallen this quarter, from £0.082m to £0.072m"
    assert since == "up from £0.052m in Quarter 3 2024-25"
    assert debt_direction(s.iloc[-3:-1])[0].startswith("Debt outstanding has risen this quarter")
    assert debt_direction(s.iloc[-3:-1])[1] == ""  # two quarters: no separate change since the start
    flat = pd.Series([0.05, 0.06, 0.06], index=["2025-26-Q1", "2025-26-Q2", "2025-26-Q3"])
    assert debt_direction(flat) == ("Debt outstanding is unchanged this quarter at £0.060m",
                                    "up from £0.050m in Quarter 1 2025-26")


def test_debt_chart_title_and_thousands_axis_on_the_bundled_history(monkeypatch, tmp_path):
    from pipeline.quarter import budget_view as bv
    from pipeline.report.sections import savings_risks_accuracy as b

    ctx = open_quarter("", work_dir=str(tmp_path / "w"))  # the latest quarter of the bundled data
    h = bv.history(ctx, "aged_debt")
    # independent totals with plain pandas: the last two quarters shown
    tot = h.groupby("quarter")["amount_gbpm"].sum().sort_index().iloc[-8:]
    seen = {}
    real = b.titled

    def spy(fig, ax, title, subtitle):
        real(fig, ax, title, subtitle)
        fig.canvas.draw()
        seen.update(title=title, subtitle=subtitle, ylabel=ax.get_ylabel(),
                    ticks=[t.get_text() for t in ax.get_yticklabels() if t.get_text()])

    monkeypatch.setattr(b, "titled", spy)
    b._debt_chart(ctx, h)
    word = "fallen" if tot.iloc[-1] < tot.iloc[-2] else "risen" if tot.iloc[-1] > tot.iloc[-2] else "unchanged"
    assert word in seen["title"]
    if tot.max() < 1:
        assert seen["ylabel"].endswith("£ thousands")
        assert seen["ticks"] and all(t.startswith("£") and t.endswith("k") for t in seen["ticks"])
        assert not any("." in t for t in seen["ticks"])  # whole thousands, not steps of £0.025m


def test_performance_chart_titles_are_full_and_value_axes_carry_units(monkeypatch, tmp_path):
    from pipeline.report.sections import performance as p

    ctx = open_quarter("", work_dir=str(tmp_path / "w"))  # the default pack's latest quarter
    drawn = []
    real = p.chart

    def spy(fig, alt, *a, **k):
        drawn.append({"suptitle": fig._suptitle.get_text() if fig._suptitle is not None else "",
                      "panels": [(ax.get_title(loc="left"), ax.get_ylabel(), ax.get_ylim()) for ax in fig.axes
                                 if ax.axison],
                      "alt": alt})
        return real(fig, alt, *a, **k)

    monkeypatch.setattr(p, "chart", spy)
    p.outcome_sections(ctx)
    t = p.measures_table(ctx)
    names = set(t["measure"])
    units = dict(zip(t["measure"], t["unit"]))
    assert drawn
    multiples = [d for d in drawn if d["alt"].startswith("Small multiples")]
    strips = [d for d in drawn if d["alt"].startswith("Strip charts")]
    assert multiples and strips
    assert any(len(n) > 45 for d in multiples for n, _, _ in d["panels"])  # long names reach the chart
    for d in drawn:
        assert not d["suptitle"].rstrip().endswith(("...", "…")), d["suptitle"]
        for title, _, _ in d["panels"]:
            assert not title.rstrip().endswith(("...", "…")), title
    for d in multiples:
        for title, ylabel, (lo, _) in d["panels"]:
            assert title in names  # each panel is titled with the measure's full name
            u = units[title]
            assert ylabel == p.axis_unit(u, title)
            if u in ("percent", "days", "number", "points"):
                assert ylabel
            if u == "number":
                assert lo == 0  # counts: a zero baseline
    for d in strips:  # the strips' headline names its measure in full
        head = d["suptitle"].split(": ", 1)[1]
        assert any(n in head for n in names)


def test_axis_unit_words():
    from pipeline.report.sections.performance import axis_unit

    assert axis_unit("percent") == "Per cent" and axis_unit("days") == "Days" and axis_unit("number") == "Number"
    assert axis_unit("rate", "Children looked after per 10,000 children") == "Per 10,000 children"
    assert axis_unit("rate", "Re-referral rate") == ""


def _coverage(project):
    from datetime import date

    from pipeline.quarter.freshness import Coverage

    return [
        Coverage("ledger", "ledger", date(2026, 9, 30), "the ledger runs to September 2026 (the last month with "
                 "actuals)", False, True),
        Coverage("budget_lines", "quarter file", date(2026, 9, 30),
                 "the budget lines return is for Quarter 2 2026-27", False, True),
        Coverage("catalogue", "reference", None, "catalogue: reference data, not tied to a quarter", True, False),
        Coverage("aged_debt", "quarter file", date(2026, 9, 30), "the aged debt return is for Quarter 2 2026-27",
                 False, True),
        Coverage("measures", "quarter file", date(2026, 12, 31), "the measures return is for Quarter 3 2026-27",
                 True, True),  # allowed but reaches the quarter: not named
        Coverage("deliverables", "quarter file", date(2026, 9, 30),
                 "the deliverables return is for Quarter 2 2026-27", False, False),  # not allowed: refused earlier
    ]


def test_stale_words_name_what_each_allowed_input_covers(project):
    from pipeline.build.export import stale_words
    from pipeline.core.params import load_params

    params = load_params("2025-26-Q2", project)
    cov = _coverage(project)
    text = stale_words(params, cov)
    assert text.startswith("this pack is for Quarter 2 2025-26 (to 30 September 2025), but ")
    assert "the ledger runs to September 2026 (the last month with actuals)" in text
    assert "the budget lines and aged debt returns are for Quarter 2 2026-27" in text
    assert "measures" not in text and "deliverables" not in text and "catalogue" not in text
    assert "_" not in text  # no params keys reach the reader
    assert stale_words(params, [c for c in cov if c.input in ("catalogue", "measures")]) == ""


def test_title_block_says_not_up_to_date(project, tmp_path):
    import nbformat

    from pipeline.build.export import export_pack, stale_words
    from pipeline.core.params import load_params

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## Summary\n\nSome text.")])
    path = tmp_path / "00_summary.ipynb"
    nbformat.write(nb, path)
    meta = {"title": "Performance and Budget Monitoring", "authority": "Testshire County Council",
            "portfolio": "Children's Services", "quarter_long": "Quarter 2 2025-26", "data_as_at": "1 October 2025",
            "version": "cspack test", "synthetic": ""}
    plain = export_pack([path], meta)
    assert "Not up to date" not in plain
    assert "Not up to date" not in export_pack([path], {**meta, "stale": ""})
    words = stale_words(load_params("2025-26-Q2", project), _coverage(project))
    html = export_pack([path], {**meta, "stale": words})
    head = html[html.index('<header class="title-block">'):html.index("</header>")]
    assert '<p class="banner stale"><strong>Not up to date:</strong> this pack is for Quarter 2 2025-26' in head
    assert "the budget lines and aged debt returns are for Quarter 2 2026-27" in head
    assert html.count("Not up to date:") == 1


def test_a_build_with_allow_stale_says_so_in_its_title_block(tmp_path_factory):
    """A real (short) build: Quarter 3 scaffolded on Quarter 2's inputs, every stale input allowed."""
    import re

    from pipeline.build.runner import run_quarter
    from pipeline.cli import main
    from pipeline.core.params import load_params
    from pipeline.quarter.freshness import assess, stale_inputs

    root = copy_project(tmp_path_factory.mktemp("stale") / "proj")
    mp = pytest.MonkeyPatch()
    mp.setenv("CSPACK_ROOT", str(root))
    try:
        assert main(["new-quarter", "2026-27-Q3"]) == 0
    finally:
        mp.undo()
    p = root / "params" / "2026-27-Q3.yaml"
    params = load_params("2026-27-Q3", root)
    ctx = open_quarter("2026-27-Q3", work_dir=str(tmp_path_factory.mktemp("w3")), root=root)
    stale = [c.input for c in stale_inputs(assess(params, ctx.table))]
    assert "ledger" in stale
    text = re.sub(r"(?m)^allow_stale:.*\n", "", p.read_text())
    p.write_text(text + f"allow_stale: [{', '.join(stale)}]\n")
    nbs = sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    result = run_quarter("2026-27-Q3", root, echo=False, progress=False,
                         notebooks=[n for n in nbs if n.name.startswith(("00_", "10_"))])
    html = result.pack.read_text(encoding="utf-8")
    head = html[html.index('<header class="title-block">'):html.index("</header>")]
    assert "<strong>Not up to date:</strong> this pack is for Quarter 3 2026-27 (to 31 December 2026), but " in head
    assert "the ledger runs to September 2026" in head
    assert "returns are for Quarter 2 2026-27" in head
    assert "allow_stale" not in head and "budget_lines" not in head


def test_forecast_accuracy_without_a_ledger_speaks_of_inputs_not_params():
    """The published quarter has no ledger: the note names no params (issue 14: "this quarter's params name no
    ledger")."""
    from pipeline.report.sections.savings_risks_accuracy import render_accuracy

    (note,) = render_accuracy(None, None)
    assert "params" not in note.data and "no ledger is among this quarter's inputs" in note.data


def test_the_benchmark_note_for_a_synthetic_authority_is_a_sentence(monkeypatch, tmp_path):
    """Issue 14 (sloppy text): "improved since 2024. the authority the synthetic data are calibrated to; published
    DfE figures." became a sentence of its own."""
    import re

    from pipeline.report.sections import performance as p

    ctx = open_quarter("", work_dir=str(tmp_path / "w"))  # the default (synthetic) quarter
    text = p.benchmark_strip(ctx)[0].data
    assert not re.search(r"[\w)%]\. [a-z]", text), text
    assert "These are DfE's published figures for " in text and "the authority the synthetic data are calibrated to." in text


def test_the_period_each_input_covers_names_inputs_as_the_register_does(ctx):
    """Issue 14 (written for readers): the table named inputs by their params keys ("budget lines", "ssda903")."""
    from pipeline.quarter import freshness

    cov = freshness.assess(ctx.params, ctx.table)
    t = sections.periods_table(ctx)
    assert len(t) == len(cov) >= 5
    for c, shown in zip(cov, t["Input"]):
        want = ctx.params.inputs[c.input].description
        assert shown == want, (c.input, shown)
        assert "_" not in shown and shown != c.input.replace("_", " ")


def test_sources_read_as_sources_not_as_developer_notes():
    """Issue 14 (written for readers): the register's source notes printed a capitals tag, a repository path,
    code names with underscores and seed numbers."""
    st = sections.source_text
    assert st("SYNTHETIC: cspack synthetic-authority generator, seed 2026 (data/raw/synthetic/README.md)") == \
        "synthetic data: cspack synthetic-authority generator"
    got = st("Derived from DfE CSC_outcomes_and_enablers files; DfE explore-education-statistics via "
             "dfe-analytical-services/CSC_outcomes_and_enablers; ONS mid-year estimates via the same repository")
    assert got == ("Derived from DfE CSC outcomes and enablers files; DfE explore-education-statistics; "
                   "ONS mid-year estimates")
    assert st("Derbyshire County Council, Cabinet Member report 7 September 2021 (seed 004), section 4.3") == \
        "Derbyshire County Council, Cabinet Member report 7 September 2021, section 4.3"
    assert st("ONS mid-2021 estimates, table 2") == "ONS mid-2021 estimates, table 2"  # plain text untouched
