"""Small counts are suppressed, and a published total cannot reveal them."""

import pandas as pd

from pipeline.report.disclosure import suppress


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


def test_publishing_an_unsuppressed_small_count_of_children_is_refused(tmp_path):
    import pytest

    from pipeline.core.tables import DisclosureError, TableStore

    store = TableStore(tmp_path)
    raw = pd.DataFrame({"month": ["Apr", "May"], "starts": [12, 3]})
    with pytest.raises(DisclosureError, match=r"'starts' shows 1 count.*row 2: 3"):
        store.publish("flows", raw, "Flows", "Placements", child_counts=["starts"])
    assert not (tmp_path / "tables" / "flows.parquet").exists()
    shown, _ = suppress(raw, ["starts"], 5, secondary=False)
    store.publish("flows", shown, "Flows", "Placements", child_counts=["starts"])
    assert store.check_disclosure() == 1
    # a table changed after publishing is caught again at export
    pd.DataFrame({"month": ["Apr"], "starts": [2]}).to_parquet(tmp_path / "tables" / "flows.parquet")
    with pytest.raises(DisclosureError):
        store.check_disclosure()


def test_every_table_counting_children_in_the_default_pack_is_checked(built_pack):
    from pipeline.core.tables import TableStore

    root, result = built_pack
    store = TableStore(root / "data" / "processed" / result.quarter)
    marked = {e["name"] for e in store.entries() if e.get("child_counts")}
    assert {"placements_mix", "placements_flows"} <= marked
    assert store.check_disclosure() == len(marked)
    flows = store.load("placements_flows")
    assert (flows[[c for c in flows if c.startswith("ceased_")]] == "c").any().any()  # small counts were there, now hidden
