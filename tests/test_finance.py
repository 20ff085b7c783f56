import pandas as pd
import pytest

from pipeline.finance.position import line_variances, position, variance_pct
from tests.conftest import SEED004


def seed_lines():
    return pd.read_csv(SEED004 / "budget_lines.csv")


def test_zero_budget_with_spend_is_100_percent():
    assert variance_pct(4.700, 0.0) == 100.0
    assert variance_pct(0.0, 0.0) == 0.0
    assert variance_pct(-0.5, 0.0) == -100.0


def test_negative_budget_takes_percentage_against_absolute_value():
    # seed 004 grant income: variance -0.027 on a budget of -2.295 is -1.2%
    assert round(variance_pct(-0.027, -2.295), 1) == -1.2


def test_seed004_percentages_reproduce_the_published_column():
    t = line_variances(seed_lines())
    assert (t["variance_pct"].round(1) - t["published_variance_pct"]).abs().max() < 0.05 + 1e-9


def test_published_variance_preferred_over_difference_of_rounded_columns():
    t = line_variances(seed_lines()).set_index("line_id")
    assert t.at["safeguarding", "variance_gbpm"] == pytest.approx(1.803)  # 34.241 - 32.439 = 1.802
    no_pub = line_variances(seed_lines().drop(columns="published_variance_gbpm")).set_index("line_id")
    assert no_pub.at["safeguarding", "variance_gbpm"] == pytest.approx(1.802)


def test_position_reproduces_seed004_totals():
    funding = pd.read_csv(SEED004 / "additional_funding.csv")
    totals = pd.read_csv(SEED004 / "budget_totals.csv")
    p = position(seed_lines(), funding, totals)
    assert p.total_source == "published"
    assert p.budget == pytest.approx(131.236) and p.forecast == pytest.approx(150.854)
    assert p.variance == pytest.approx(19.618)
    assert round(p.variance_pct, 1) == 14.9
    assert p.budget_after == pytest.approx(136.086)
    assert p.variance_after == pytest.approx(14.768)
    assert round(p.variance_after_pct, 1) == 10.9
    assert p.largest["short_name"] == "Placements" and p.n_over == 8
    assert p.lines_forecast == pytest.approx(150.856)  # the rounded lines do not cast


def test_position_without_published_totals_sums_lines():
    p = position(seed_lines())
    assert p.total_source == "lines" and p.forecast == pytest.approx(150.856)
    assert p.additional_funding == 0 and p.variance_after == pytest.approx(p.variance)
