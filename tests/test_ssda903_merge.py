"""Merging SSDA903 returns across collection years: each rule on injected defects."""

from pathlib import Path

import pytest

from pipeline import ssda903

ROOT = Path(__file__).resolve().parents[1]
SYN = ROOT / "data" / "raw" / "synthetic" / "ssda903"


@pytest.fixture
def returns():
    return {p.name: ssda903.read_return(p) for p in sorted(SYN.iterdir()) if p.name in ("2022-23", "2023-24", "2024-25")}


def test_clean_returns_merge_with_every_row_accounted_for(returns):
    m = ssda903.merge_returns(returns)
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    assert r["rows read (all returns)"] == sum(len(x["episodes"]) for x in returns.values())
    assert r["rows read (all returns)"] == r["rows quarantined"] + r["rows dropped by rule"] + r["episodes kept"]
    assert r["rows dropped by rule"] == r["of which the same episode in a later return"]  # clean returns
    assert r["rows quarantined"] == 0 and r["of which overlaps truncated"] == 0 and r["of which vanished from the next return"] == 0
    e = m["episodes"]
    assert not e.duplicated(["CHILD", "DECOM"]).any()
    # an episode open at 31 March 2023 is kept in its closed, later version where it closed
    open_22 = returns["2022-23"]["episodes"].query("DEC == ''")
    closed_later = e.merge(open_22[["CHILD", "DECOM"]], on=["CHILD", "DECOM"])
    assert (closed_later["collection_year"] != "2022-23").all()
    assert set(m["header"]["SEX"]) <= {"M", "F", "U"}  # 1/2 of earlier years recoded


def test_overlap_is_truncated_at_the_next_start_and_flagged(returns):
    e = returns["2023-24"]["episodes"]
    second = e.sort_values(["CHILD", "DECOM_date"]).groupby("CHILD").nth(1)
    second = second[second["DECOM_date"] < ssda903.pd.Timestamp(2024, 3, 1)]
    child, nxt_start = second.iloc[0]["CHILD"], second.iloc[0]["DECOM"]
    first = e[e["CHILD"] == child].sort_values("DECOM_date").index[0]
    e.loc[first, ["DEC", "REC"]] = ["31/03/2024", "E4A"]  # now runs past the next episode's start
    e["DEC_date"] = ssda903.pd.to_datetime(e["DEC"].replace("", None), format=ssda903.DATE_FORMAT)
    m = ssda903.merge_returns(returns)
    fixed = m["episodes"].query("fix == 'overlap_truncated'")
    assert len(fixed) >= 1
    row = fixed[fixed["CHILD"] == child].iloc[0]
    assert row["DEC"] == nxt_start and row["REC"] == "X1"


def test_a_code_not_valid_for_its_year_and_an_unpaired_rec_are_flagged_and_the_rows_kept(returns):
    # rules run on the history's latest version of each episode: episodes closed in 2023-24, open in 2024-25
    e, last = returns["2023-24"]["episodes"], returns["2024-25"]["episodes"]
    closed = e.index[e["DEC"] != ""]
    e.loc[closed[0], "PLACE"] = "K3"  # supported accommodation code only from 2024-25
    e.loc[closed[1], "REC"] = ""  # ended with no reason
    open_ = last.index[last["DEC"] == ""][0]
    last.loc[open_, "REC"] = "E4A"  # a reason for ending on an open episode
    m = ssda903.merge_returns(returns)
    assert m["quarantine"].empty
    f = m["flags"]
    k3 = f[f["rule"] == "codes"].iloc[0]
    assert (k3["column"], k3["value"], k3["collection_year"], k3["row"]) == ("PLACE", "K3", "2023-24", closed[0] + 2)
    assert "not valid for the collection year" in k3["reason"]
    assert len(f[f["rule"].isin(["rec_x1", "rec_missing"]) & (f["collection_year"] == "2023-24")]) == 1
    blanked = f[f["rule"] == "rec_blanked"]
    assert (blanked["collection_year"].tolist(), blanked["value"].tolist()) == (["2024-25"], ["E4A"])
    kept = m["episodes"]
    for frame, i in ((e, closed[0]), (e, closed[1]), (last, open_)):  # every one of them still in the history
        assert ((kept["CHILD"] == frame.loc[i, "CHILD"]) & (kept["DECOM"] == frame.loc[i, "DECOM"])).any()
    assert kept.loc[(kept["CHILD"] == last.loc[open_, "CHILD"]) & (kept["DECOM"] == last.loc[open_, "DECOM"]),
                    "REC"].tolist() == [""]


def test_an_open_episode_missing_from_the_next_return_is_flagged_vanished(returns):
    a = returns["2022-23"]["episodes"]
    victim = a[a["DEC"] == ""].iloc[0]
    b = returns["2023-24"]["episodes"]
    gone = b.index[(b["CHILD"] == victim["CHILD"]) & (b["DECOM"] == victim["DECOM"])]
    returns["2023-24"]["episodes"] = b.drop(gone)
    m = ssda903.merge_returns(returns)
    flagged = m["episodes"].query("fix == 'vanished'")
    assert list(zip(flagged["CHILD"], flagged["DECOM"])) == [(victim["CHILD"], victim["DECOM"])]
