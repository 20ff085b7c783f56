"""The commentary is checked against the figures: a number quoted near a measure's name that is none of its
figures, or a word saying it rose, fell or held that its values contradict, is a finding and the pack says
so; deliverables overdue by more than a year or rated Strong while overdue are findings; part-year values
are labelled and rated as part years."""

from datetime import date

import pandas as pd

from pipeline.core.quarters import Quarter
from pipeline.measures import catalogue
from pipeline.measures.benchmarks import SERIES
from pipeline.measures.table import measure_table
from pipeline.quarter import freshness
from pipeline.report.commentary import commentary_mismatches, measure_figures
from pipeline.report.deliverables import deliverable_findings, long_overdue, strong_overdue
from pipeline.report.sections.performance import key_areas, period_label, with_periods
from pipeline.synthetic.returns import council_plan

from .conftest import ROOT

Q2 = Quarter.parse("2026-27-Q2")
DEFAULT = ROOT / "data" / "raw" / "synthetic" / "returns" / "2026-27-Q2"


def _return(rows):
    """A key measures return in the long layout: (ref, name, polarity, unit, period, value)."""
    return pd.DataFrame([(r, n, "no", p, u, per, v) for r, n, p, u, per, v in rows],
                        columns=["measure_ref", "measure_name", "name_inferred", "polarity", "unit", "period", "value_raw"])


RAW = _return([
    ("home", "Children ceasing care who returned home to parents", "higher", "percent", "2024-2025", "19.9%"),
    ("home", "Children ceasing care who returned home to parents", "higher", "percent", "2025-2026", "18.5%"),
    ("home", "Children ceasing care who returned home to parents", "higher", "percent", "2026-2027", "26.8%"),
    ("home", "Children ceasing care who returned home to parents", "higher", "percent", "Target", "18.0%"),
    ("sgo", "Children ceasing care through special guardianship orders", "higher", "percent", "2025-2026", "17.6%"),
    ("sgo", "Children ceasing care through special guardianship orders", "higher", "percent", "2026-2027", "14.4%"),
    ("sgo", "Children ceasing care through special guardianship orders", "higher", "percent", "Target", "Increasing annual trend"),
    ("cla", "Children looked after", "lower", "number", "2025-2026", "998"),
    ("cla", "Children looked after", "lower", "number", "2026-2027", "1,025"),
    ("cla", "Children looked after", "lower", "number", "Target", "TBC")])


def _figures(raw=RAW):
    return measure_figures(measure_table(raw, "2026-27"), raw)


def test_a_wrong_number_near_a_measure_is_found_and_a_right_one_passes():
    f = _figures()
    wrong = commentary_mismatches("Returns home to parents reached 21.4% this half year.", f)
    assert len(wrong) == 1 and "21.4%" in wrong[0] and "returned home" in wrong[0] and "26.8%" in wrong[0]
    assert commentary_mismatches("Returns home to parents reached 26.8% this half year.", f) == []
    assert commentary_mismatches("Returns home to parents reached 27% this half year.", f) == []  # as rounded
    assert commentary_mismatches("Special guardianship orders were 17.6% last year and 19.9% before.", f) != []
    # a plain number: 1,025 children looked after is right, 1,052 is not; years and quarters are not figures
    assert commentary_mismatches("Children looked after rose to 1,025 in 2026-27 (Quarter 2).", f) == []
    assert "1,052" in commentary_mismatches("Children looked after rose to 1,052 in 2026-27.", f)[0]
    # the change quoted in points or per cent is one of its figures: 17.6% to 14.4% is 3.2 points, 18.2% down
    assert commentary_mismatches("Special guardianship orders fell by 3.2 points (18.2%).", f) == []


def test_the_directors_examples_are_found():
    old = ("Illustrative commentary for the synthetic authority (not real): returns home held at the 18.0% target "
           "while special guardianship orders fell slightly for a second year; the placement strategy's step-down "
           "reviews are expected to show in Quarter 3.")
    got = commentary_mismatches(old, _figures())
    assert any("returned home" in g and "held steady" in g for g in got)
    assert any("special guardianship" in g and "slightly" in g for g in got)
    assert commentary_mismatches("Special guardianship orders rose to 14.4%.", _figures())[0].startswith(
        "it says Children ceasing care through special guardianship orders rose, but it fell")


def test_no_measure_named_no_check():
    assert commentary_mismatches("Recruitment is 12.5% ahead of plan; the offer started in July 2026.", _figures()) == []


def test_the_default_quarters_commentary_matches_its_figures():
    raw = pd.read_csv(DEFAULT / "measures.csv", dtype=str, keep_default_na=False)
    cat = catalogue.load(ROOT / "params" / "measures" / "catalogue.csv", set(SERIES))
    f = measure_figures(measure_table(raw, "2026-27", cat=cat), raw, cat)
    text = (ROOT / "params" / "commentary" / "2026-27-Q2.md").read_text(encoding="utf-8")
    assert commentary_mismatches(text, f) == []
    assert "26.8%" in text and "14.4%" in text  # it quotes the figures it is checked against


def test_deliverables_long_overdue_or_strong_while_overdue_are_findings():
    d = pd.DataFrame({"deliverable": ["a", "b", "c", "d"], "rating": ["Strong", "Good", "Strong", "Good"],
                      "expected_completion": ["2022-03-31", "2026-03-31", "2026-06-30", "2027-03-31"]})
    assert list(long_overdue(d, Q2)) == [True, False, False, False]  # before 1 July 2025
    assert list(strong_overdue(d, Q2)) == [True, False, True, False]
    f = deliverable_findings(d, Q2)
    assert [x["count"] for x in f] == [1, 2] and all(x["level"] == "warning" for x in f)
    assert "no. 1" in f[0]["finding"] and "no. 1 and 3" in f[1]["finding"]
    assert deliverable_findings(d.iloc[[1, 3]].assign(rating="Good"), Q2) == []


def test_the_default_quarters_deliverables_are_current():
    d = pd.read_csv(DEFAULT / "deliverables.csv", dtype=str, keep_default_na=False)
    due = pd.to_datetime(d["expected_completion"])
    assert (due >= pd.Timestamp("2027-03-31")).all() and len(d) == 10
    assert not d["deliverable"].str.contains("Derbyshire|Covid|coronavirus", case=False).any()
    assert d["source"].str.contains("synthetic").all()
    assert deliverable_findings(d, Q2) == []
    # every later quarter's plan is current too: nothing due before its financial year ends
    for y in (2022, 2025, 2026):
        assert (pd.to_datetime(council_plan(y)["expected_completion"]) >= pd.Timestamp(date(y + 1, 3, 31))).all()


def test_a_return_whose_items_are_all_past_due_does_not_read_as_current():
    old = pd.DataFrame({"expected_completion": ["2022-03-31", "2024-09-30"]})
    assert freshness._all_past_due(lambda k: old, "deliverables", Q2) == date(2024, 9, 30)
    assert freshness._all_past_due(lambda k: old.assign(expected_completion=["2022-03-31", "2027-03-31"]),
                                   "deliverables", Q2) is None


def test_part_year_values_are_labelled_and_rated_as_part_years():
    assert period_label("2026-2027", Q2, snapshot=False) == "2026-27 to September"
    assert period_label("2026-2027", Q2, snapshot=True) == "at 30 September 2026"
    assert period_label("2025-2026", Q2, snapshot=True) == "at 31 March 2026"
    assert period_label("2025-2026", Q2, snapshot=False) == "2025-26"
    assert period_label("2026-2027", Quarter.parse("2026-27-Q4"), snapshot=False) == "2026-27"
    t = measure_table(RAW, "2026-27")
    t["definition"] = ["Of children ceasing care in the year, the percentage who returned home",
                       "Of children ceasing care in the year, the percentage through an SGO",
                       "Number of children looked after at the period end"]
    w = with_periods(t, Q2).set_index("measure_ref")
    assert w.at["home", "latest_label"] == "2026-27 to September" and w.at["cla", "latest_label"] == "at 30 September 2026"
    assert w.at["cla", "direction"] == "worsened since 31 March 2026 (998)"
    assert "April to September 2026 only, set against a full-year target" in w.at["home", "explanation"]
    assert "set against last year's full-year figure" in w.at["sgo", "explanation"]
    assert w["part_year"].all()
    q4 = with_periods(t, Quarter.parse("2026-27-Q4")).set_index("measure_ref")
    assert not q4["part_year"].any() and "Part year" not in q4.at["home", "explanation"]


def test_key_areas_name_every_strong_measure_beyond_the_three_described():
    t = pd.DataFrame({"measure": list("ABCDE"), "rating": ["Strong"] * 4 + ["Good"], "better_by": [40, 30, 20, 10, 1.0],
                      "explanation": ["x"] * 5, "national": [float("nan")] * 5, "latest": [1.0] * 5,
                      "polarity": ["higher"] * 5, "unit": ["percent"] * 5, "national_from": [""] * 5})
    good, _ = key_areas(t)
    assert len(good) == 4 and good[:3] == ["**A**: x", "**B**: x", "**C**: x"]
    assert "D (★ Strong)" in good[3] and "E (✓ Good)" in good[3] and "three furthest better" in good[3]


def test_a_published_reports_own_commentary_raises_nothing_and_a_changed_figure_in_it_is_found():
    """Derbyshire's published Quarter 1 2021-22 text (third party, transcribed): long sentences full of
    counts, money and dates, none a contradiction of its measures; with one figure changed, that one is found."""
    from pipeline.core.params import load_params
    from pipeline.quarter.context import read_commentary

    p = load_params(None, ROOT, path="params/derbyshire-2021-22-Q1-published.yaml")
    raw = pd.read_csv(p.inputs["measures"].path, dtype=str, keep_default_na=False)
    cat = catalogue.load(ROOT / "params" / "measures" / "catalogue.csv", set(SERIES))
    t = measure_table(raw, p.quarter.fy, cat=cat)
    f = measure_figures(t, raw, cat)
    sections = read_commentary(p.commentary)
    assert sum(len(x) for x in sections.values()) > 10_000
    assert [w for text in sections.values() for w in commentary_mismatches(text, f)] == []
    row = t[t["measure"].str.contains("returned home")].iloc[0]
    said = f"The share of children ceasing care who returned home to parents was {row.latest + 4:.1f}% this year."
    assert commentary_mismatches(sections["summary"] + "\n\n" + said, f) != []
    assert commentary_mismatches(sections["summary"] + "\n\n" + said.replace(f"{row.latest + 4:.1f}", f"{row.latest:.1f}"), f) == []


def test_abbreviations_in_a_table_are_spelled_out_under_it():
    from pipeline.report import abbreviations

    t = pd.read_csv(DEFAULT / "traded_partially.csv", dtype=str, keep_default_na=False)
    words = abbreviations.used(t)
    assert "SORE" in words and "SEMH" in words  # the default quarter's traded services use them
    n = abbreviations.note(t)
    assert "SORE: Sport, Outdoor and Residential Education" in n and "SEMH: social, emotional and mental health" in n
    assert abbreviations.note(pd.DataFrame({"a": ["Swimming", "Sensory"]})) == ""  # whole words only
    assert abbreviations.used(["School Catering + FSM checking"]) == ["FSM"]


def test_the_pack_prints_a_note_before_commentary_that_contradicts_the_figures(monkeypatch, capsys):
    from pathlib import Path
    from types import SimpleNamespace

    from pipeline.report import commentary as c

    text = "Returns home to parents held at 18.0% while special guardianship orders rose to 14.4%."
    ctx = SimpleNamespace(commentary=lambda section: text,
                          params=SimpleNamespace(commentary=Path("2026-27-Q2.md"), inputs={}))
    monkeypatch.setattr(c, "figures_of", lambda ctx: _figures())
    shown = c.commentary(ctx, "Performance").data
    assert shown.startswith("*Note: this commentary does not match this quarter's figures") and shown.endswith(text)
    assert "held steady, but it moved from 18.5%" in shown and "rose, but it fell" in shown
    log = capsys.readouterr().err
    assert log.count("cspack: the commentary under '## Performance' in 2026-27-Q2.md does not match") == 2
    monkeypatch.setattr(c, "figures_of", lambda ctx: _figures())
    right = "Returns home to parents rose to 26.8%; special guardianship orders fell to 14.4%."
    ctx.commentary = lambda section: right
    assert c.commentary(ctx, "Performance").data == right


def test_check_findings_name_the_heading_in_the_readers_words(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from pipeline.report import commentary as c

    f = tmp_path / "2026-27-Q2.md"
    f.write_text("## Summary\n\nAll well.\n\n## Performance\n\nReturns home to parents reached 21.4%.\n", encoding="utf-8")
    ctx = SimpleNamespace(params=SimpleNamespace(commentary=f, inputs={}))
    monkeypatch.setattr(c, "figures_of", lambda ctx: _figures())
    got = c.commentary_findings(ctx)
    assert len(got) == 1 and got[0]["level"] == "warning" and got[0]["input"] == "commentary"
    assert got[0]["finding"].startswith("the commentary under the heading Performance: it quotes 21.4%")
    assert ".md" not in got[0]["finding"] and "#" not in got[0]["finding"]
