"""The public-data pack's care leavers, missing from care, unaccompanied asylum-seeking children and fostering
places (DfE's LAIT, copied into data/raw/published/lait) and every reason children ceased to be looked after,
checked against plain pandas reads of the copied files: the authority's figure, England's, its region's, its
statistical neighbours' mean and its rank; a suppressed figure is never zero; a boundary-changed authority's
series starts with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.public import render
from pipeline.public.authorities import match
from pipeline.public.figures import compute
from pipeline.public.pack import load_public_data

ROOT = Path(__file__).resolve().parents[1]
PUB = ROOT / "data" / "raw" / "published"
LEEDS, YORKSHIRE = "383", "982"


@pytest.fixture(scope="module")
def data():
    return load_public_data(ROOT)


@pytest.fixture(scope="module")
def leeds(data):
    return compute(data, match("Leeds", ROOT))


@pytest.fixture(scope="module")
def lait():
    return pd.read_csv(PUB / "lait/lait_csc_measures_la_2016_2025.csv", dtype=str, keep_default_na=False)


def _neighbours(old: str) -> list[str]:
    sn = pd.read_csv(PUB / "dfe/sn_model_2025_wide.csv", dtype=str, encoding="utf-8-sig")
    row = sn[sn["old_la_code"] == old].iloc[0]
    return [row[f"SN_{i}"] for i in range(1, 11)]


def _value(lait, measure, year, number) -> float:
    r = lait[(lait["measure"] == measure) & (lait["year"] == year) & (lait["la_number"] == number)]
    return float(r["value"].iloc[0]) if len(r) and r["value"].iloc[0] != "-" else np.nan


@pytest.mark.parametrize("key,measure,higher", [
    ("care_leavers_accommodation", "CareLeaverAcc", True), ("care_leavers_eet", "CareLeaverEET", True),
    ("care_leavers_not_in_touch", "CareLeavers_LA_NotInTouch", False), ("staying_put", "StayingPut", True),
    ("missing_pct", "Children_missing", False)])
def test_lait_percentages_against_plain_reads(leeds, lait, key, measure, higher):
    b = leeds.benchmarks.set_index("key").loc[key]
    assert b["period"] == "2025"
    assert b["value"] == _value(lait, measure, "2025", LEEDS)
    assert b["england"] == _value(lait, measure, "2025", "970")
    assert b["region"] == _value(lait, measure, "2025", YORKSHIRE)
    nb = [_value(lait, measure, "2025", o) for o in _neighbours(LEEDS)]
    nb = [v for v in nb if not np.isnan(v)]
    assert b["neighbours"] == pytest.approx(np.mean(nb)) and b["neighbours_with_value"] == len(nb)
    # rank among every current authority with a figure (1 = best), ties sharing the better rank
    cla = pd.read_csv(PUB / "dfe/cla_number_and_rate_per_10k_children.csv", dtype=str, encoding="utf-8-sig")
    current = set(cla.loc[cla["geographic_level"] == "Local authority", "old_la_code"])
    las = lait[(lait["measure"] == measure) & (lait["year"] == "2025") & lait["la_number"].isin(current)
               & (lait["value"] != "-")]
    vals = las["value"].astype(float)
    mine = _value(lait, measure, "2025", LEEDS)
    assert b["rank"] == 1 + int(((vals > mine) if higher else (vals < mine)).sum()) and b["of"] == len(las)


def test_a_suppressed_figure_is_never_zero(leeds, lait):
    # Leeds's share away from placement without authorisation is suppressed ("-") for 2025: the latest shown is 2024
    raw = lait[(lait["measure"] == "Children_Away") & (lait["year"] == "2025") & (lait["la_number"] == LEEDS)]
    assert raw["value"].tolist() == ["-"]
    b = leeds.benchmarks.set_index("key").loc["away_pct"]
    assert b["period"] == "2024" and b["value"] == _value(lait, "Children_Away", "2024", LEEDS)
    t = leeds.trends[(leeds.trends["key"] == "away_pct") & (leeds.trends["period"] == "2025")]
    assert t["authority"].isna().all()
    assert "no published figure for Leeds" in render.benchmark_table(leeds, "Missing from care").data


def test_asylum_seeking_children_and_foster_places_per_10000(leeds, lait):
    cla = pd.read_csv(PUB / "dfe/cla_number_and_rate_per_10k_children.csv", dtype=str, encoding="utf-8-sig")
    pop = cla[(cla["old_la_code"] == LEEDS) & (cla["time_period"] == "2025")
              & (cla["population_type"] == "Children looked after on 31 March each year")]
    pop = float(pop["population_estimate"].iloc[0])
    b = leeds.benchmarks.set_index("key")
    assert b.loc["uasc_rate", "value"] == round(_value(lait, "Unacc_Asylmn_Seek_Childn", "2025", LEEDS) / pop * 1e4, 1)
    assert b.loc["foster_places_rate", "value"] == round(_value(lait, "Number_Foster_Places(New)", "2025", LEEDS)
                                                         / pop * 1e4, 1)
    filled = _value(lait, "Number_Foster_Places_Filled(New)", "2025", LEEDS)
    places = _value(lait, "Number_Foster_Places(New)", "2025", LEEDS)
    assert b.loc["foster_places_filled", "value"] == round(filled / places * 100, 1)
    eng = _value(lait, "Number_Foster_Places_Filled(New)", "2025", "970") / _value(
        lait, "Number_Foster_Places(New)", "2025", "970") * 100
    assert b.loc["foster_places_filled", "england"] == round(eng, 1)
    assert set(b.loc[["uasc_rate", "foster_places_rate", "foster_places_filled"], "theme"]) == {
        "Children looked after", "Fostering places"}


def test_every_reason_for_ceasing_care_against_plain_reads(leeds):
    d = pd.read_csv(PUB / "dfe/la_children_who_ceased_during_the_year.csv", dtype=str, encoding="utf-8-sig",
                    keep_default_na=False)
    d = d[(d["cla_group"] == "Reason episode ceased") & (d["characteristic"] != "Total")]
    year = d.loc[d["old_la_code"] == LEEDS, "time_period"].max()
    c = leeds.ceased_reasons.set_index("reason")
    assert c.attrs["year"] == int(year)
    mine = d[(d["old_la_code"] == LEEDS) & (d["time_period"] == year)]
    assert len(c) == len(mine) == mine["characteristic"].nunique() and len(c) >= 15
    pct = pd.to_numeric(mine.set_index("characteristic")["percentage"], errors="coerce")
    eng = pd.to_numeric(d[(d["geographic_level"] == "National") & (d["time_period"] == year)]
                        .set_index("characteristic")["percentage"], errors="coerce")
    reg = pd.to_numeric(d[(d["geographic_level"] == "Regional") & (d["time_period"] == year)
                          & (d["region_code"] == mine["region_code"].iloc[0])].set_index("characteristic")["percentage"],
                        errors="coerce")
    nbr = d[(d["time_period"] == year) & d["old_la_code"].isin(_neighbours(LEEDS))].copy()
    nbr["p"] = pd.to_numeric(nbr["percentage"], errors="coerce")
    nb = nbr.groupby("characteristic")["p"].mean()
    for reason in mine["characteristic"]:
        for got, want in ((c.loc[reason, "pct"], pct[reason]), (c.loc[reason, "england"], eng[reason]),
                          (c.loc[reason, "region"], reg[reason]), (c.loc[reason, "neighbours"], nb[reason])):
            assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want), reason
    html = render.ceased_reasons_table(leeds).data
    assert "Sentenced to custody" in html and "Care taken by another local authority" in html


def test_a_boundary_changed_authority_has_no_figure_before_it_existed(data, lait):
    cumberland = compute(data, match("Cumberland", ROOT))
    t = cumberland.trends[cumberland.trends["key"].isin(["care_leavers_eet", "missing_pct", "uasc_rate"])]
    assert t.loc[t["period"].astype(int) < 2024, "authority"].isna().all()
    assert t.loc[t["period"] == "2025", "authority"].notna().all()
    # Cumbria's (909) figures are never Cumberland's (942)
    b = cumberland.benchmarks.set_index("key").loc["care_leavers_eet"]
    assert b["value"] == _value(lait, "CareLeaverEET", "2025", "942") != _value(lait, "CareLeaverEET", "2022", "909")
