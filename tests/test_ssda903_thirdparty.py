"""SSDA903 histories cspack's developers did not make (issue 13): the DfE validator's fake return (CSV and
DfE's XML), Social Finance's five-year regional sample, and a multi-year history derived from the
validator's data with the faults of councils' own files. Every count is checked against a computation
written here in plain pandas, never against cspack's own numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.ingest import ssda903

FIX = Path(__file__).resolve().parent / "fixtures" / "ssda903"
FAKE = FIX / "validator-fake"
SF = FIX / "sf-regional-sample"
TOLERANCE = 0.02  # children in care kept within 2% of the independent count
MAX_QUARANTINE = 0.05


def read_csv(p) -> pd.DataFrame:
    return pd.read_csv(p, dtype=str, keep_default_na=False)


def dmy(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.where(s != ""), format="%d/%m/%Y")


def in_care(eps: pd.DataFrame, when: pd.Timestamp, start="DECOM_date", end="DEC_date") -> set:
    """Plain pandas: children with an episode begun by ``when`` and not ended by it."""
    m = (eps[start] <= when) & (eps[end].isna() | (eps[end] > when))
    return set(eps.loc[m, "CHILD"])


def overlaps(eps: pd.DataFrame) -> int:
    """Plain pandas: episodes that run past (or stay open beyond) the start of the child's next one."""
    s = eps.sort_values(["CHILD", "DECOM_date"])
    nxt = s.groupby("CHILD")["DECOM_date"].shift(-1)
    return int((nxt.notna() & (s["DEC_date"].isna() | (s["DEC_date"] > nxt))).sum())


def rule_count(m, rule) -> int:
    return int((m["flags"]["rule"] == rule).sum())


# ---- the DfE validator's fake return (one collection year, 2017-18) -----------------------------------
@pytest.fixture(scope="module")
def fake_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("fake") / "2017-18"
    d.mkdir()
    for name in ("episodes", "header", "uasc", "missing"):
        (d / f"{name}.csv").write_bytes((FAKE / f"{name}.csv").read_bytes())
    return d


def test_validator_fake_return_keeps_every_child_in_care(fake_folder):
    raw = read_csv(FAKE / "episodes.csv")
    raw["DECOM_date"], raw["DEC_date"] = dmy(raw["DECOM"]), dmy(raw["DEC"])
    m = ssda903.merge_returns({"2017-18": ssda903.read_return(fake_folder)})
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    # every row read is kept: no exact duplicates, no episode twice, every date readable
    assert r["rows read (all returns)"] == len(raw) == 5050
    assert not raw.duplicated(["CHILD", "DECOM"]).any() and raw["DECOM_date"].notna().all()
    assert r["rows quarantined"] == 0 and r["episodes kept"] == len(raw)
    # every open episode carries a reason for ending in this fixture: blanked, the child kept
    assert rule_count(m, "rec_blanked") == int(((raw["DEC"] == "") & (raw["REC"] != "")).sum()) == 1413
    assert rule_count(m, "overlap_truncated") == overlaps(raw)
    # children in care on 31 March 2018: history within 2% of the return's own open episodes
    end = pd.Timestamp(2018, 3, 31)
    own = set(raw.loc[raw["DEC"] == "", "CHILD"])
    kept = in_care(m["episodes"], end)
    assert abs(len(kept) - len(own)) <= TOLERANCE * len(own)
    assert len(own - kept) <= TOLERANCE * len(own)
    c = m["continuity"].iloc[0]
    assert (c["in_return"], c["in_history"], c["lost_to_quarantine"]) == (len(own), len(kept), 0)


def test_validator_fake_xml_submission_reads_like_its_own_elements(tmp_path):
    d = tmp_path / "2017-18"
    d.mkdir()
    (d / "fake_903.xml").write_bytes((FAKE / "fake_903.xml").read_bytes())
    root = ET.parse(FAKE / "fake_903.xml").getroot()
    episodes = [(c.findtext("HEADER/CHILDID"), e.findtext("DECOM"), e.findtext("DEC") or "")
                for c in root.iter("CHILD") for e in c.iter("EPISODE")]
    children = {c.findtext("HEADER/CHILDID") for c in root.iter("CHILD")}
    open_children = {c for c, _, dec in episodes if dec == ""}
    m = ssda903.merge_returns({"2017-18": ssda903.read_return(d)})
    assert len(m["episodes"]) == len(episodes) == 459
    assert set(m["header"]["CHILD"]) == children
    assert m["quarantine"].empty
    kept = in_care(m["episodes"], pd.Timestamp(2018, 3, 31))
    assert kept == open_children  # no two open episodes, no DEC after 31 March: exactly the same children
    duc = {c.findtext("HEADER/CHILDID") for c in root.iter("CHILD") if c.findtext("HEADER/DUC")}
    assert set(m["uasc"]["CHILD"]) == duc and len(duc) == 12


def test_xml_with_entity_declarations_is_refused(tmp_path):
    d = tmp_path / "2017-18"
    d.mkdir()
    (d / "return.xml").write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><EXPSSDA903/>')
    with pytest.raises(ValueError, match="return.xml: XML with a DOCTYPE"):
        ssda903.read_return(d)


# ---- Social Finance's five-year regional sample (issue 13's case) -------------------------------------
def layout_sf(root: Path) -> dict[str, pd.DataFrame]:
    eps, head = read_csv(SF / "episodes.csv"), read_csv(SF / "header.csv")
    out = {}
    for y in sorted(eps["YEAR"].unique()):
        label = ssda903.collection_year_label(int(y))
        d = root / label
        d.mkdir(parents=True)
        e = eps[eps["YEAR"] == y].drop(columns=["LA", "YEAR"])
        e.to_csv(d / "episodes.csv", index=False)
        head[head["YEAR"] == y].drop(columns=["LA", "YEAR"]).to_csv(d / "header.csv", index=False)
        out[label] = e
    return out


def independent_history(returns: dict[str, pd.DataFrame], fmt="%Y-%m-%d") -> pd.DataFrame:
    """Plain pandas: the latest return's version of each episode; an episode still open in its latest
    return while the next year's return exists (and so lists every child looked after that year) ended
    by that year's first day."""
    frames = []
    for label, e in returns.items():
        e = e.copy()
        e["year"] = int(label[:4])
        e["DECOM_date"] = pd.to_datetime(e["DECOM"], format=fmt)
        e["DEC_date"] = pd.to_datetime(e["DEC"].where(e["DEC"] != ""), format=fmt)
        frames.append(e)
    allr = pd.concat(frames)
    latest = allr.sort_values("year").drop_duplicates(["CHILD", "DECOM_date"], keep="last").copy()
    years = {int(y[:4]) for y in returns}
    gone = latest["DEC_date"].isna() & (latest["year"] + 1).isin(years)
    latest.loc[gone, "DEC_date"] = pd.to_datetime((latest.loc[gone, "year"] + 1).astype(str) + "-04-01")
    s = latest.sort_values(["CHILD", "DECOM_date"])
    nxt = s.groupby("CHILD")["DECOM_date"].shift(-1)
    over = nxt.notna() & (s["DEC_date"].isna() | (s["DEC_date"] > nxt))
    s.loc[over, "DEC_date"] = nxt[over]
    return s


def test_sf_five_year_sample_keeps_every_child_in_care(tmp_path):
    raw = layout_sf(tmp_path)
    years, notes = ssda903.find_returns(tmp_path)
    m = ssda903.merge_returns({y: ssda903.read_return(p) for y, p in years.items()}, notes)
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    allr = pd.concat([e.assign(cy=y) for y, e in raw.items()])
    assert r["rows read (all returns)"] == len(allr) == 3737
    assert r["rows quarantined"] <= MAX_QUARANTINE * len(allr)
    # reconciliation on the raw input: episodes in several returns, open episodes missing from the next
    n_returns = allr.groupby(["CHILD", "DECOM"])["cy"].nunique()
    assert r["episodes re-reported across returns (raw input)"] == int((n_returns > 1).sum())
    assert r["of which the same episode in a later return"] == len(allr) - len(n_returns) == 910
    keys = set(zip(allr["CHILD"], allr["DECOM"], allr["cy"]))
    nxt = {y: ssda903.collection_year_label(int(y[:4]) + 1) for y in raw}
    open_missing = {(c, d, y) for c, d, dec, y in zip(allr["CHILD"], allr["DECOM"], allr["DEC"], allr["cy"])
                    if dec == "" and nxt[y] in raw and (c, d, nxt[y]) not in keys}
    assert r["open episodes missing from the next return (raw input)"] == len(open_missing)
    # children in care at each 31 March: within 2% of the independent count (issue 13 found 545 on
    # 31 March 2018 and 62 on 31 March 2022 with its own plain-pandas count; cspack kept 110 and 0)
    hist = independent_history(raw)
    for y in raw:
        end = pd.Timestamp(int(y[:4]) + 1, 3, 31)
        want, got = in_care(hist, end), in_care(m["episodes"], end)
        assert len(want - got) <= TOLERANCE * len(want), y
        assert abs(len(got) - len(want)) <= TOLERANCE * len(want), y
    assert len(in_care(hist, pd.Timestamp(2018, 3, 31))) == 545
    assert len(in_care(hist, pd.Timestamp(2022, 3, 31))) == 62
    assert m["continuity"]["lost_to_quarantine"].sum() == 0
    assert r["of which overlaps truncated"] == int(m["episodes"]["fix"].str.contains("overlap_truncated").sum())


# ---- a multi-year history as councils hold it, derived from the validator's fake return ------------------
def derive_history(seed: int = 13, last: int = 2019) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame],
                                                             dict[str, set]]:
    """Clean yearly returns (2017-18 from the fake data; 2018-19 to ``last``-``last+1`` carrying its open
    episodes forward, some ending, some moving placement, and new entrants), CHILD codes as 8-digit
    numbers with leading zeros. Returns (episodes by year, headers by year, children open at each end)."""
    rng = np.random.default_rng(seed)
    e0, h0 = read_csv(FAKE / "episodes.csv"), read_csv(FAKE / "header.csv")
    e0 = e0.assign(REC=e0["REC"].where(e0["DEC"] != "", ""))  # a clean return: no reason on open episodes
    e0["DECOM_date"], e0["DEC_date"] = dmy(e0["DECOM"]), dmy(e0["DEC"])
    # a clean first year: drop episodes the validator's data overlap on purpose, and its X1 loose ends
    s = e0.sort_values(["CHILD", "DECOM_date"])
    nxt = s.groupby("CHILD")["DECOM_date"].shift(-1)
    bad = nxt.notna() & (s["DEC_date"].isna() | (s["DEC_date"] > nxt))
    bad_kids = set(s.loc[bad, "CHILD"]) | set(s.loc[(s["DEC_date"] > pd.Timestamp(2018, 3, 31)), "CHILD"])
    e0 = e0[~e0["CHILD"].isin(bad_kids)].copy()
    eps, heads = {"2017-18": e0}, {"2017-18": h0[h0["CHILD"].isin(set(e0["CHILD"]))]}
    cols = ssda903.EPISODE_COLUMNS
    for y in range(2018, last + 1):
        prev = eps[ssda903.collection_year_label(y - 1)]
        start, end = pd.Timestamp(y, 4, 1), pd.Timestamp(y + 1, 3, 31)
        carry = prev[prev["DEC"] == ""].copy()
        dob = dict(zip(heads[ssda903.collection_year_label(y - 1)]["CHILD"],
                       dmy(heads[ssda903.collection_year_label(y - 1)]["DOB"])))
        rows, new_dob = [], {}
        for r in carry.itertuples(index=False):
            u = rng.random()
            rec = r._asdict()
            at18 = dob[rec["CHILD"]] + pd.DateOffset(years=18)
            day = start + pd.Timedelta(days=int(rng.integers(0, 360)))
            if at18 <= start:
                continue  # an adult: not carried into a children's return
            if at18 <= end or u < 0.25:  # leaves care this year (at 18 at the latest)
                rows.append(rec | {"DEC": min(day, at18).strftime("%d/%m/%Y"), "REC": "E17" if day >= at18 else "E8"})
            elif u < 0.45:  # moves placement this year (X1, then a new episode the same day)
                d = day.strftime("%d/%m/%Y")
                rows.append(rec | {"DEC": d, "REC": "X1"})
                rows.append(rec | {"DECOM": d, "RNE": "P", "PLACE": "U4", "DEC": "", "REC": "", "REASON_PLACE_CHANGE": "CARPL"})
            else:
                rows.append(rec)
        new = carry.sample(frac=0.3, random_state=int(rng.integers(1_000_000)))
        for i, r in enumerate(new.itertuples(index=False)):
            rec = r._asdict()
            child = str(1_000_000 * (y - 2016) + 500_000 + i)  # a new child, unique across the years
            new_dob[child] = start - pd.DateOffset(years=int(rng.integers(1, 15)))  # aged 1 to 14 on entry
            rows.append(rec | {"CHILD": child, "RNE": "S", "DEC": "", "REC": "",
                               "DECOM": (start + pd.Timedelta(days=int(rng.integers(0, 360)))).strftime("%d/%m/%Y")})
        e = pd.DataFrame(rows)[cols]
        e["DECOM_date"], e["DEC_date"] = dmy(e["DECOM"]), dmy(e["DEC"])
        assert (e["DECOM_date"] <= end).all()
        label = ssda903.collection_year_label(y)
        eps[label] = e
        hp = heads[ssda903.collection_year_label(y - 1)].set_index("CHILD")
        h = hp.reindex([c for c in dict.fromkeys(e["CHILD"]) if c in hp.index]).reset_index(names="CHILD")
        hn = pd.DataFrame({"CHILD": list(new_dob), "SEX": "1", "DOB": [d.strftime("%d/%m/%Y") for d in new_dob.values()],
                           "ETHNIC": "WBRI", "UPN": "", "MOTHER": "", "MC_DOB": ""})
        heads[label] = pd.concat([h, hn], ignore_index=True).fillna("")
    pad = {y: e.assign(CHILD=e["CHILD"].str.zfill(8))[cols] for y, e in eps.items()}
    hpad = {y: h.assign(CHILD=h["CHILD"].str.zfill(8))[ssda903.HEADER_COLUMNS] for y, h in heads.items()}
    truth = {y: set(e.loc[e["DEC"] == "", "CHILD"]) for y, e in pad.items()}
    return pad, hpad, truth


def foreign_files(root: Path, eps: dict, heads: dict, rng) -> dict[str, int]:
    """Write the history with the faults of councils' own files; returns what was injected."""
    injected = {"rec_on_open": 0, "overlapping_x1": 0}
    for y, e in eps.items():
        e, h = e.copy(), heads[y].copy()
        if y == "2018-19":  # one year saved through Excel: leading zeros lost, ISO datetimes
            e["CHILD"] = e["CHILD"].str.lstrip("0")
            h["CHILD"] = h["CHILD"].str.lstrip("0")
            for c in ("DECOM", "DEC"):
                e[c] = dmy(e[c]).dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("")
            h["DOB"] = dmy(h["DOB"]).dt.strftime("%Y-%m-%d 00:00:00").fillna("")
        if y == "2019-20":  # lower-case codes, trailing spaces, a reason on open episodes, overlapping X1s
            e["PLACE"] = e["PLACE"].str.lower()
            e["CHILD"] = e["CHILD"] + np.where(rng.random(len(e)) < 0.1, " ", "")
            is_open = (e["DEC"] == "") & (rng.random(len(e)) < 0.2)
            e.loc[is_open, "REC"] = "E8"
            injected["rec_on_open"] = int(is_open.sum())
            x1 = e.index[e["REC"] == "X1"][:40]
            later = dmy(e.loc[x1, "DEC"]) + pd.Timedelta(days=5)
            e.loc[x1, "DEC"] = later.dt.strftime("%d/%m/%Y")
            injected["overlapping_x1"] = len(x1)
        d = root / y
        d.mkdir(parents=True)
        e.to_csv(d / "episodes.csv", index=False)
        h.to_csv(d / "header.csv", index=False)
    # stray folders councils keep beside the returns
    (root / "old").mkdir()
    (root / "old" / "episodes.csv").write_text("junk\n")
    copy = root / "2019-20 - Copy"
    copy.mkdir()
    (copy / "episodes.csv").write_bytes((root / "2019-20" / "episodes.csv").read_bytes())
    return injected


def test_a_foreign_style_multi_year_history_keeps_every_child_in_care(tmp_path):
    eps, heads, truth = derive_history()
    injected = foreign_files(tmp_path, eps, heads, np.random.default_rng(7))
    assert injected["rec_on_open"] > 20 and injected["overlapping_x1"] == 40
    years, notes = ssda903.find_returns(tmp_path)
    assert sorted(years) == ["2017-18", "2018-19", "2019-20"]
    assert sum("'old'" in n or "'2019-20 - Copy'" in n for n in notes) == 2
    m = ssda903.merge_returns({y: ssda903.read_return(p) for y, p in years.items()}, notes)
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    n_rows = sum(len(e) for e in eps.values())
    assert r["rows read (all returns)"] == n_rows
    assert r["rows quarantined"] < MAX_QUARANTINE * n_rows
    # the year saved through Excel got its zeros back: every child is one child across the years
    assert any("leading zeros" in n and n.startswith("2018-19") for n in m["notes"])
    assert set(m["episodes"]["CHILD"]) == set().union(*[set(e["CHILD"]) for e in eps.values()])
    for y, want in truth.items():
        got = in_care(m["episodes"], pd.Timestamp(int(y[:4]) + 1, 3, 31))
        assert len(want - got) <= TOLERANCE * len(want), y
        assert abs(len(got) - len(want)) <= TOLERANCE * len(want), y
    assert rule_count(m, "rec_blanked") == injected["rec_on_open"]
    assert rule_count(m, "overlap_truncated") == injected["overlapping_x1"]
    c = m["continuity"]
    assert (c["difference_pct"] <= 100 * TOLERANCE).all() and c["lost_to_quarantine"].sum() == 0
    # ISO datetimes were read (no DOB quarantined), and DOB checked against the first episode
    assert m["quarantine"].empty or not (m["quarantine"]["rule"] == "bad_date").any()
    assert m["header"]["DOB"].notna().all()


def test_leading_zeros_are_not_invented_when_no_return_has_them():
    ids = {"2018-19": {"123", "456", "789"}, "2019-20": {"123", "456", "790"}}
    assert ssda903.leading_zero_fixes(ids) == {}
    ids = {"2018-19": {"123", "456", "789", "1000"}, "2019-20": {"00000123", "00000456", "00000789", "00001000"}}
    assert ssda903.leading_zero_fixes(ids) == {"2018-19": {"123": "00000123", "456": "00000456", "789": "00000789",
                                                           "1000": "00001000"}}
