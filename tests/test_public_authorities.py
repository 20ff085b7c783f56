"""Authority lookup for the public-data pack: old and new codes, messy names, unknown names listing the
nearest, batch selections, and the boundary-changed authorities labelled. Checked against plain reads of
DfE's own files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.public.authorities import UnknownAuthority, all_authorities, match, select

ROOT = Path(__file__).resolve().parents[1]
DFE = ROOT / "data" / "raw" / "published" / "dfe"


def _sn() -> pd.DataFrame:
    return pd.read_csv(DFE / "sn_model_2025_wide.csv", dtype=str, encoding="utf-8-sig")


def test_every_authority_in_dfe_model_once_with_a_current_code():
    auths = all_authorities(ROOT)
    sn = _sn()
    assert len(auths) == len(sn) == 153
    assert {a.old_code for a in auths} == set(sn["old_la_code"].str.strip())
    assert all(a.code[:3] in ("E06", "E08", "E09", "E10") and len(a.code) == 9 for a in auths)
    assert len({a.code for a in auths}) == 153
    # abolished authorities are not current (Cumbria, Northamptonshire)
    assert not {"Cumbria", "Northamptonshire"} & {a.name for a in auths}
    # the code comes from DfE's own children looked after file
    cla = pd.read_csv(DFE / "cla_number_and_rate_per_10k_children.csv", dtype=str, encoding="utf-8-sig")
    leeds = cla[(cla["la_name"] == "Leeds")]["new_la_code"].unique()
    assert match("Leeds", ROOT).code == leeds[0]


@pytest.mark.parametrize("query, name", [
    ("383", "Leeds"), ("E08000035", "Leeds"), ("e08000035", "Leeds"), ("  leeds  ", "Leeds"),
    ("Leeds City Council", "Leeds"), ("LEEDS CITY COUNCIL", "Leeds"),
    ("Derbyshire County Council", "Derbyshire"), ("830", "Derbyshire"),
    ("Windsor & Maidenhead", "Windsor and Maidenhead"),
    ("Royal Borough of Kensington and Chelsea", "Kensington and Chelsea"),
    ("City of Bristol", "Bristol, City of"), ("Bristol City Council", "Bristol, City of"),
    ("Kingston upon Hull", "Kingston upon Hull, City of"), ("Hull", "Kingston upon Hull, City of"),
    ("Herefordshire Council", "Herefordshire, County of"), ("Durham County Council", "County Durham"),
    ("St. Helens", "St Helens"), ("Bradford Metropolitan District Council", "Bradford"),
    ("BCP", "Bournemouth, Christchurch and Poole"), ("north northants", "North Northamptonshire"),
    ("City of London", "City of London"), ("Telford", "Telford and Wrekin"),
])
def test_match_is_forgiving(query, name):
    assert match(query, ROOT).name == name


def test_unknown_authority_lists_the_nearest_names():
    with pytest.raises(UnknownAuthority) as e:
        match("Leds", ROOT)
    assert "Leeds" in e.value.nearest
    assert "Leeds" in str(e.value) and "Leds" in str(e.value)
    with pytest.raises(UnknownAuthority) as e:
        match("Northamptonshire", ROOT)  # abolished in 2021: its successors are the nearest
    assert {"North Northamptonshire", "West Northamptonshire"} <= set(e.value.nearest)
    with pytest.raises(UnknownAuthority):
        match("999", ROOT)


def test_select_all_region_and_list():
    sn = _sn()
    assert len(select("all", ROOT)) == 153
    em = select("East Midlands", ROOT)
    assert sorted(a.old_code for a in em) == sorted(sn.loc[sn["region_name"] == "East Midlands", "old_la_code"])
    assert len(select("london", ROOT)) == (sn["region_name"] == "London").sum()
    assert {a.name for a in select("Inner London", ROOT)} | {a.name for a in select("Outer London", ROOT)} == \
        {a.name for a in select("London", ROOT)}
    got = select("Leeds, 830, E06000063, leeds", ROOT)
    assert [a.name for a in got] == ["Leeds", "Derbyshire", "Cumberland"]
    with pytest.raises(UnknownAuthority):
        select("Leeds, Nowhereshire", ROOT)


@pytest.mark.parametrize("name, year", [("Cumberland", 2023), ("Westmorland and Furness", 2023),
                                        ("North Northamptonshire", 2021), ("West Northamptonshire", 2021),
                                        ("Bournemouth, Christchurch and Poole", 2019), ("Dorset", 2019)])
def test_boundary_changed_authorities_are_labelled(name, year):
    a = match(name, ROOT)
    assert a.boundary_note and f"1 April {year}" in a.boundary_note and "not combined" in a.boundary_note
    assert match("Leeds", ROOT).boundary_note is None


def test_select_regions_by_prefix_and_mixed_lists():
    sn = _sn()
    yh = sn.loc[sn["region_name"] == "Yorkshire and The Humber", "old_la_code"]
    assert sorted(a.old_code for a in select("Yorkshire", ROOT)) == sorted(yh)
    ne = sn.loc[sn["region_name"] == "North East", "old_la_code"].tolist()
    got = select("North East, Leeds, 811", ROOT)  # 811: East Riding of Yorkshire
    assert [a.old_code for a in got] == [a.old_code for a in select("North East", ROOT)] + ["383", "811"]
    assert sorted(a.old_code for a in got[: len(ne)]) == sorted(ne)
    with pytest.raises(UnknownAuthority):
        select("East", ROOT)  # East Midlands or East of England: not one region, and no authority
