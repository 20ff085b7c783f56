from datetime import date

import pytest

from pipeline.core.formatting import (
    and_list,
    first_lower,
    first_upper,
    gbpm,
    gbpm_plain,
    num_range,
    number,
    pct,
    spend_phrase,
)
from pipeline.core.quarters import Quarter, QuarterError


def test_quarter_parse_and_labels():
    q = Quarter.parse("2021-22-Q1")
    assert (q.fy, q.name, q.label) == ("2021-22", "Q1", "2021-22-Q1")
    assert q.start == date(2021, 4, 1) and q.end == date(2021, 6, 30)
    assert q.long_label == "Quarter 1 2021-22 (April to June 2021)"


def test_quarter_four_spans_the_calendar_year_and_orders():
    q4 = Quarter.parse("2024-25-Q4")
    assert q4.start == date(2025, 1, 1) and q4.end == date(2025, 3, 31)
    assert q4.next() == Quarter.parse("2025-26-Q1")
    assert Quarter.parse("2025-26-Q1").previous() == q4
    assert Quarter.parse("1999-00-Q2").fy == "1999-00"
    assert sorted([q4, Quarter.parse("2024-25-Q1")])[0].q == 1


@pytest.mark.parametrize("bad", ["2026-Q3", "2026-28-Q1", "2026-27-Q5", "2026/27 Q1", ""])
def test_bad_quarters_say_what_was_expected(bad):
    with pytest.raises(QuarterError, match="2026-27-Q2|not a financial year"):
        Quarter.parse(bad)


def test_money_and_percentages_follow_report_conventions():
    assert gbpm(14.768) == "£14.768m"
    assert gbpm(-0.441) == "-£0.441m"
    assert gbpm(0.0125) == "£0.013m"  # halves round away from zero, as reports do
    assert gbpm(-0.0004) == "£0.000m"  # never a negative zero
    assert gbpm(1234.5) == "£1,234.500m"
    assert gbpm_plain(-2.2954) == "-2.295"
    assert pct(0.6) == "0.6%" and pct(-78.94) == "-78.9%" and pct(100) == "100.0%"
    assert number(1056) == "1,056"
    assert num_range(15, 20) == "15 to 20"
    assert gbpm(float("nan")) == "not available"


def test_spend_phrase():
    assert spend_phrase(14.768) == "an overspend of £14.768m"
    assert spend_phrase(-0.441) == "an underspend of £0.441m"
    assert spend_phrase(0.0001) == "on budget"


def test_words_joined_for_a_sentence_and_a_capital_that_keeps_proper_nouns():
    assert [and_list(x) for x in (["a"], ["a", "b"], ["a", "b", "c"], [])] == ["a", "a and b", "a, b and c", ""]
    assert first_upper("the Markov model") == "The Markov model" and first_upper("") == ""
    assert first_lower("The ledger's spend") == "the ledger's spend" and first_lower("") == ""
