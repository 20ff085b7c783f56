import pandas as pd

from pipeline.core.quarters import Quarter
from pipeline.finance.position import position
from pipeline.quarter import quality
from pipeline.report import narrative
from pipeline.report.sections.data_and_method import condense_markers, merge_sources
from tests.conftest import SEED004


def test_budget_findings_report_rounding_and_casting():
    lines = pd.read_csv(SEED004 / "budget_lines.csv")
    totals = pd.read_csv(SEED004 / "budget_totals.csv")
    f = {x["check"]: x for x in quality.budget_findings(lines, totals)}
    assert "differ from forecast minus budget by up to £0.001m" in f["variance = forecast - budget"]["finding"]
    assert "Children's Safeguarding services" in f["variance = forecast - budget"]["finding"]
    cast = f["lines cast to the published total (forecast)"]
    assert cast["count"] == 1 and "£150.856m" in cast["finding"] and "£0.002m" in cast["finding"]
    assert f["lines cast to the published total (budget)"]["count"] == 0


def test_marker_findings_count_dfe_markers():
    df = pd.DataFrame({"la_name": ["A", "B", "C"], "value": ["12", "c", "x"], "rate": ["low", "z", "3.1"]})
    (f,) = quality.marker_findings("f", df)
    assert f["count"] == 4 and "1 'c'" in f["finding"] and "never zero" in f["finding"]


def test_measure_value_findings_parse_and_report_the_unreadable():
    df = pd.DataFrame({"v": ["18 (Dec 22)", "48.1 (P)", "TBC", "£2,964,938.51", "", "about half"],
                       "t": ["15-20", "Maintain >70%", "sometime soon", "", "TBC", "91%"]})
    (f,) = quality.measure_value_findings("m", df, ["v"], ["t"])
    assert f["count"] == 2 and f["level"] == "warning"
    assert f["finding"].startswith("5 values read (3 numbers with their unit, as-of date and flags; 1 marked")
    assert "5 targets read as rules" in f["finding"] and '"about half"; "sometime soon"' in f["finding"]


def test_budget_summary_carries_the_numbers():
    p = position(pd.read_csv(SEED004 / "budget_lines.csv"), pd.read_csv(SEED004 / "additional_funding.csv"),
                 pd.read_csv(SEED004 / "budget_totals.csv"))
    text = narrative.budget_summary(p, Quarter.parse("2021-22-Q1"))
    for s in ["2021-22 as at Quarter 1", "£150.854m", "£131.236m", "an overspend of £19.618m (14.9%)",
              "£4.850m of additional funding (Covid-19 Funding)", "an overspend of £14.768m (10.9% of £136.086m)",
              "£10.061m", "8 of 13 service lines"]:
        assert s in text, s
    assert text.count("(") == text.count(")")  # issue 14: "(20.3% of its budget, 87.5% of the total." left open
    assert "of the total)." in text


def test_deliverables_summary_counts_unrated():
    d = pd.DataFrame({"rating": ["Good", "Good", None, "Review"]})
    assert narrative.deliverables_summary(d) == ("Owners rate the 4 Council Plan deliverables led by the portfolio: "
                                                 "2 Good, 1 Review; 1 has no rating this quarter.")


def test_deliverables_due_before_the_quarter_are_marked_overdue():
    d = pd.DataFrame({"rating": ["Strong", "Good", "Review"],
                      "expected_completion": ["2022-03-31", "2027-03-31", "2026-06-30"]})
    text = narrative.deliverables_summary(d, Quarter.parse("2026-27-Q2"))
    assert text.endswith("2 of them were due to be completed before this quarter began and are marked overdue.")


def test_dates_in_words_and_text_for_readers():
    from pipeline.core.formatting import period_words, reader_text

    assert period_words("year to 2026-09") == "year to September 2026"
    assert period_words("due 2022-03-31, in 2026-27") == "due 31 March 2022, in 2026-27"
    assert reader_text("seed 2026 (data/raw/synthetic/README.md)") == "seed 2026"
    assert reader_text("header.csv of each collection year") == "header of each collection year"
    assert reader_text("ledger:ledger_2019-20.csv") == "ledger 2019-20"
    assert reader_text("rates (calibrated, see data/raw/synthetic/oracle/unit_costs.csv).") == "rates (calibrated)."


def test_synthetic_notice_follows_the_register():
    reg = pd.DataFrame({"input": ["ledger", "dfe"], "synthetic": ["True", "False"]})
    assert narrative.synthetic_notice(reg).startswith("**Synthetic data.** 1 input")
    assert narrative.synthetic_notice(reg.assign(synthetic="False")).startswith("**No synthetic data.**")


def test_merge_sources_and_condense_markers():
    assert merge_sources(["R, section 4.3", "R, section 4.5", "Other"]) == "R (section 4.3, section 4.5); Other"
    df = pd.DataFrame({"Input": ["a", "b", "c"], "Check": ["suppression markers", "x", "suppression markers"],
                       "Finding": ["1,000 cells hold", "y", "5 cells hold"], "Level": ["Note"] * 3})
    out = condense_markers(df)
    assert len(out) == 2 and "1,005 cells in 2 files" in out.iloc[0]["Finding"]
