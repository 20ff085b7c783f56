"""finance.position on small cases: the one Position (issue 17, item 5) and what it derives, checked against
figures worked out by hand in the test."""

import math

import pandas as pd
import pytest

from pipeline.finance.position import casting_gaps, line_variances, position


def lines(*rows):
    return pd.DataFrame(rows, columns=["line_id", "service_line", "controllable_budget_gbpm", "full_year_forecast_gbpm"])


def test_counts_overspends_as_printed_and_names_the_largest():
    # b's £0.0004m prints as 0.000 (within); c's £0.0006m prints as 0.001 (over)
    p = position(lines(("a", "A", 10.0, 12.0), ("b", "B", 1.0, 1.0004), ("c", "C", 1.0, 1.0006), ("d", "D", 5.0, 4.0)))
    assert p.n_lines == 4 and p.n_over == 2
    assert p.lines["mark"].tolist() == ["over", "within", "over", "within"]
    assert p.largest["line_id"] == "a"
    assert p.variance == pytest.approx(2.0 + 0.0004 + 0.0006 - 1.0)
    assert p.largest_share == pytest.approx(2.0 / p.variance)


def test_funding_after_and_a_nil_variance():
    funding = pd.DataFrame({"funding_line": ["Grant"], "amount_gbpm": [1.5], "note": ["kept out"]})
    p = position(lines(("a", "A", 10.0, 11.5)), funding)
    assert list(p.funding.columns) == ["funding_line", "amount_gbpm"]
    assert p.additional_funding == 1.5 and p.budget_after == 11.5 and p.variance_after == pytest.approx(0.0)
    assert p.variance_after_pct == pytest.approx(0.0)
    nil = position(lines(("a", "A", 3.0, 3.0)))
    assert math.isnan(nil.largest_share) and nil.n_over == 0 and nil.additional_funding == 0.0


def test_published_totals_win_and_the_lines_casting_is_measured():
    totals = pd.DataFrame({"row": ["Total"], "controllable_budget_gbpm": [3.001], "full_year_forecast_gbpm": [4.0]})
    p = position(lines(("a", "A", 1.0004, 1.0), ("b", "B", 1.0004, 1.5), ("c", "C", 1.0004, 1.5)), totals=totals)
    assert p.total_source == "published" and p.budget == 3.001 and p.lines_budget == pytest.approx(3.0012)
    c = casting_gaps(p)
    # three lines of 1.000 as printed add to 3.000, not the published 3.001; 1.0 + 1.5 + 1.5 casts to 4.000
    assert c["shown_budget"] == pytest.approx(3.0) and not c["budget_casts"]
    assert c["shown_forecast"] == pytest.approx(4.0) and c["forecast_casts"]


def test_line_variances_keeps_the_index_and_prefers_the_published_variance():
    t = line_variances(lines(("a", "A", 2.0, 2.5), ("b", "B", 2.0, 1.0)).set_index(pd.Index([7, 9])).assign(
        published_variance_gbpm=[0.501, None]))
    assert list(t.index) == [7, 9]
    assert t["variance_gbpm"].tolist() == pytest.approx([0.501, -1.0])
    assert t["variance_pct"].tolist() == pytest.approx([25.05, -50.0])
