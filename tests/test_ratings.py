"""The rating key of seed 004: golden cases from its Quarter 1 report, and each kind of target."""

import pytest

from pipeline.measures.ratings import rate


@pytest.mark.parametrize("value,target,polarity,unit,expect,sentence", [
    (15.1, "18.0%", "higher", "percent", "Action", "15.1% against a target of 18.0% is 16.1% worse: Action."),
    (100.0, "91.0%", "higher", "percent", "Strong", "100.0% against a target of 91.0% is 9.9% better: Strong."),
    (319, "350", "higher", "number", "Review", "319 against a target of 350 is 8.9% worse: Review."),
    (95.7, "96.0%", "higher", "percent", "Good", "95.7% against a target of 96.0% is 0.3% worse: Good."),
    (93.5, "93.0%", "higher", "percent", "Good", "93.5% against a target of 93.0% is 0.5% better: Good."),
    (81.2, "84.0%", "higher", "percent", "Review", "81.2% against a target of 84.0% is 3.3% worse: Review."),
    (55.0, "68.0%", "higher", "percent", "Action", "55.0% against a target of 68.0% is 19.1% worse: Action."),
])
def test_golden_seed004(value, target, polarity, unit, expect, sentence):
    r = rate(value, target, polarity, unit)
    assert r.rating == expect and r.sentence == sentence


def test_the_2_percent_rule_above_95():
    assert rate(98.0, "96.0%", "higher", "percent").rating == "Strong"  # 2.1% better, target above 95%
    assert rate(92.0, "90.0%", "higher", "percent").rating == "Good"  # 2.2% better, target 90%


def test_polarity_and_operators():
    assert rate(10.0, "<12%", "lower", "percent").rating == "Strong"  # 16.7% better (lower)
    assert rate(13.0, "<12%", "lower", "percent").rating == "Review"  # 8.3% worse
    assert rate(80.0, ">75%", "higher", "percent").rating == "Strong"
    assert rate(71.0, "Maintain >70%", "higher", "percent").rating == "Good"
    assert rate(46091, "£41,000", "lower", "gbp").rating == "Action"


def test_points_basis_is_a_setting():
    r = rate(15.1, "18.0%", "higher", "percent", basis="points")
    assert r.rating == "Review" and "2.9 points worse" in r.sentence  # 2.9 points: Review, not Action


def test_range_national_quartile_trend_and_unrated():
    assert rate(17, "15-20", "lower", "number").rating == "Good"
    assert rate(23, "15-20", "lower", "number").rating in ("Review", "Action")
    assert rate(60.0, "To remain lower than national average", "lower", "percent", national=67.0).rating == "Strong"
    assert rate(70.0, "To remain lower than national average", "lower", "percent", national=67.0).rating == "Review"
    assert rate(70.0, "Above national average", "higher", "percent").rating == "Not available"
    assert rate(1, "Maintain upper-middle quartile performance", "higher", quartile_band="B").rating == "Good"
    assert rate(1, "top quartile", "higher", quartile_band="C").rating == "Action"
    # trend targets follow the same key against last year's figure (issue 14: 15.3% against 15.4% was Action)
    assert rate(12.0, "Increasing annual trend", "higher", "percent", previous=10.0).rating == "Strong"  # 20% better
    assert rate(9.0, "Reduction from the previous year", "lower", "percent", previous=10.0).rating == "Strong"
    assert rate(10.3, "Increasing annual trend", "higher", "percent", previous=10.0).rating == "Good"  # 3% better
    assert rate(11.0, "Reducing annual trend", "lower", "percent", previous=10.0).rating == "Review"  # 10%: not more
    assert rate(12.0, "Reducing annual trend", "lower", "percent", previous=10.0).rating == "Action"  # 20% worse
    r = rate(15.3, "Increasing annual trend", "higher", "percent", previous=15.4)
    assert r.rating == "Good" and r.sentence == ("15.3% against last year's figure of 15.4% is 0.6% worse, with a target "
                                                 "to rise: Good.")
    for t in ("Baseline Year", "TBC", "To be monitored", "Narrow difference to national gap compared to previous year"):
        r = rate(50.0, t, "higher", "percent")
        assert r.rating == "Not available" and r.sentence
    assert rate(None, "90%", "higher").rating == "Not available"
    assert rate(1.0, "something odd", "higher").sentence.startswith("The target 'something odd' is not in a form")
