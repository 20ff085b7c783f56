"""Merging SSDA903 returns across collection years: each rule on injected defects."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.ingest import ssda903

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
    second = second[second["DECOM_date"] < pd.Timestamp(2024, 3, 1)]
    child, nxt_start = second.iloc[0]["CHILD"], second.iloc[0]["DECOM"]
    first = e[e["CHILD"] == child].sort_values("DECOM_date").index[0]
    e.loc[first, ["DEC", "REC"]] = ["31/03/2024", "E4A"]  # now runs past the next episode's start
    e["DEC_date"] = pd.to_datetime(e["DEC"].replace("", None), format=ssda903.DATE_FORMAT)
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


def test_an_open_episode_missing_from_the_next_return_is_ended_on_that_years_first_day(returns):
    a = returns["2022-23"]["episodes"]
    victim = a[a["DEC"] == ""].iloc[0]
    for y in ("2023-24", "2024-25"):  # gone from every later return (the child's whole record)
        b = returns[y]["episodes"]
        returns[y]["episodes"] = b[b["CHILD"] != victim["CHILD"]]
    m = ssda903.merge_returns(returns)
    flagged = m["episodes"][m["episodes"]["fix"].str.contains("vanished_closed")]
    assert list(zip(flagged["CHILD"], flagged["DECOM"])) == [(victim["CHILD"], victim["DECOM"])]
    # the 2023-24 return lists every child looked after in 2023-24: the episode ended by its first day
    assert flagged["DEC_date"].tolist() == [pd.Timestamp(2023, 4, 1)]
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    assert r["open episodes missing from the next return (raw input)"] == 1


def test_an_episode_left_out_of_one_return_but_open_in_a_later_one_stays_open(returns):
    a = returns["2022-23"]["episodes"]
    last = returns["2024-25"]["episodes"]
    open_later = set(zip(last.loc[last["DEC"] == "", "CHILD"], last.loc[last["DEC"] == "", "DECOM"]))
    victim = next(r for r in a[a["DEC"] == ""].itertuples() if (r.CHILD, r.DECOM) in open_later)
    b = returns["2023-24"]["episodes"]
    returns["2023-24"]["episodes"] = b[b["CHILD"] != victim.CHILD]
    m = ssda903.merge_returns(returns)
    e = m["episodes"]
    row = e[(e["CHILD"] == victim.CHILD) & (e["DECOM"] == victim.DECOM)].iloc[0]
    assert row["collection_year"] == "2024-25" and pd.isna(row["DEC_date"]) and row["fix"] == ""
    c = m["continuity"].set_index("collection_year")
    # the 2023-24 return left the child out: the history has one child more in care on 31 March 2024
    assert c.at["2023-24", "in_history"] - c.at["2023-24", "in_return"] == 1
    assert c.at["2023-24", "only_in_history"] == 1 and c.at["2023-24", "lost_to_quarantine"] == 0


def test_the_episode_schema_knows_every_fix_and_flag_and_nothing_else(returns):
    from pipeline.ingest.schemas import SchemaError, conform

    m = ssda903.merge_returns(returns)
    eps = m["episodes"].drop(columns=["DECOM", "DEC"]).rename(columns={"DECOM_date": "DECOM", "DEC_date": "DEC"})
    eps = eps[[c for c in ssda903.EPISODE_COLUMNS + ["collection_year", "fix"] if c in eps]].head(3).copy()
    names = list(ssda903.FIXES) + list(ssda903.FLAGS)
    for i, fix in enumerate(["", ";".join(names), names[-1]]):
        eps.iloc[i, eps.columns.get_loc("fix")] = fix
    conform(eps, "ssda903_episodes")
    for bad in ("vanished", "rec_blanked;", "overlap_truncated;typo"):
        eps.iloc[0, eps.columns.get_loc("fix")] = bad
        with pytest.raises(SchemaError):
            conform(eps, "ssda903_episodes")
