"""Small counts are suppressed, and a published total cannot reveal them."""

import pandas as pd

from pipeline.disclosure import suppress


def test_a_count_of_3_is_suppressed_and_its_total_cannot_reveal_it():
    df = pd.DataFrame({"month": ["Apr"], "returned_home": [12], "adoption": [3], "other": [7], "total": [22]})
    out, n = suppress(df, ["returned_home", "adoption", "other"], 5, total_col="total")
    row = out.iloc[0]
    assert row["adoption"] == "c" and row["other"] == "c"  # the next smallest is suppressed too
    assert row["returned_home"] == "12" and row["total"] == "22" and n == 2
    # with both hidden, 22 - 12 = 10 is all the total reveals: 3 and 7 cannot be told apart


def test_zero_is_shown_and_two_small_cells_need_no_secondary():
    df = pd.DataFrame({"a": [0, 2], "b": [4, 9], "c": [10, 1]})
    out, n = suppress(df, ["a", "b", "c"], 5)
    assert out.iloc[0].tolist() == ["0", "c", "c"]  # 4 suppressed, then 10 as the secondary
    assert out.iloc[1].tolist() == ["c", "9", "c"] and n == 4
