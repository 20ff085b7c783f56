"""The public-data pack's figures checked against independent plain-pandas reads of the copied published
files (not cspack's own readers), and a boundary-changed authority: labelled, its series never spliced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.placements import aggregate
from pipeline.public import render
from pipeline.public.authorities import match
from pipeline.public.figures import compute
from pipeline.public.pack import load_public_data

ROOT = Path(__file__).resolve().parents[1]
PUB = ROOT / "data" / "raw" / "published"


def _csv(rel: str) -> pd.DataFrame:
    return pd.read_csv(PUB / rel, dtype=str, encoding="utf-8-sig", keep_default_na=False)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.str.replace(",", ""), errors="coerce")


@pytest.fixture(scope="module")
def data():
    return load_public_data(ROOT)


@pytest.fixture(scope="module")
def leeds(data):
    return compute(data, match("Leeds", ROOT))


@pytest.fixture(scope="module")
def cumberland(data):
    return compute(data, match("Cumberland", ROOT))


def _cla_rates(year: str) -> pd.DataFrame:
    d = _csv("dfe/cla_number_and_rate_per_10k_children.csv")
    return d[(d["time_period"] == year) & (d["population_type"] == "Children looked after on 31 March each year")]


def test_cla_rate_band_rank_and_neighbours_match_plain_reads(leeds):
    d = _cla_rates("2025")
    las = d[d["geographic_level"] == "Local authority"].set_index("old_la_code")
    rate = _num(las["rate_per_10000"])
    eng = float(_num(d.loc[d["geographic_level"] == "National", "rate_per_10000"]).iloc[0])
    sn = _csv("dfe/sn_model_2025_wide.csv").set_index("old_la_code")
    sn_codes = [sn.loc["383", f"SN_{i}"] for i in range(1, 11)]
    row = leeds.benchmarks.set_index("key").loc["cla_rate"]
    assert row["value"] == rate["383"] == 85
    assert row["england"] == eng == 67
    assert row["neighbours"] == pytest.approx(rate.reindex(sn_codes).mean())
    # rank 1 = lowest rate among authorities with a published rate; band = quarter of that ranking
    ranked = rate.dropna().rank(method="min")
    assert row["rank"] == ranked["383"] and row["of"] == rate.notna().sum()
    assert row["band"] == "ABCD"[int(np.ceil(ranked["383"] / rate.notna().sum() * 4)) - 1]
    prev = _num(_cla_rates("2024").set_index("old_la_code")["rate_per_10000"])["383"]
    assert leeds.summary["cla_rate_change"] == 85 - prev
    assert leeds.summary["cla_number"] == float(_num(las["children_count"])["383"]) == 1498


def test_children_in_need_rate_is_count_over_dfe_population(leeds):
    cin = _csv("dfe/b1_children_in_need_2013_to_2025.csv")
    cin = cin[(cin["time_period"] == "2025") & (cin["old_la_code"] == "383")]
    pop = _cla_rates("2025").set_index("old_la_code")["population_estimate"]
    want = round(float(_num(cin["At31_episodes"]).iloc[0]) / float(_num(pop)["383"]) * 10000, 1)
    assert leeds.benchmarks.set_index("key").loc["cin_rate", "value"] == pytest.approx(want)


def test_workforce_and_icpc_match_plain_reads(leeds):
    w = _csv("dfe/csww_indicators_2017_to_2025.csv")
    w = w[(w["time_period"] == "2025") & (w["old_la_code"] == "383")]
    b = leeds.benchmarks.set_index("key")
    assert b.loc["sw_vacancy", "value"] == pytest.approx(float(w["vacancy_rate_fte"].iloc[0]))
    assert b.loc["sw_caseload", "value"] == pytest.approx(float(w["caseload_fte"].iloc[0]))
    c4 = _csv("dfe/c4_children_in_need_section_47s_and_icpcs_2013_to_2025.csv")
    c4 = c4[(c4["time_period"] == "2025") & (c4["old_la_code"] == "383")].iloc[0]
    within = (float(c4["Duration_0-10_days"]) + float(c4["Duration_11-15_days"])) / float(c4["ICPC"]) * 100
    assert b.loc["icpc_15_days", "value"] == pytest.approx(round(within, 1))


def test_placement_mix_spend_and_sufficiency_match_plain_reads(leeds):
    p = _csv("placements_la/cla_placements_at_31_march_la_2010_2025.csv")
    p = p[(p["release_year"] == "2025") & (p["time_period"] == "2025") & (p["old_la_code"] == "383")
          & (p["cla_group"] == "Placement")].set_index("characteristic")
    foster = float(p.loc["Foster placements", "number"]) / float(p.loc["Total", "number"]) * 100
    got = leeds.placements.set_index("placement")
    assert got.loc["Foster placements", "authority_pct"] == pytest.approx(foster)

    f = _csv("finance/lait_s251_finance_la_2015-16_to_2024-25.csv")
    lac = f[(f["measure"] == "TotalLACFinance") & (f["period"] == "2024-25 (OT)") & (f["la_number"] == "383.0")]
    children = float(_num(_cla_rates("2025").set_index("old_la_code")["children_count"])["383"])
    per_child = float(lac["value"].iloc[0]) / children
    spend = leeds.spend.set_index("source")
    assert leeds.summary["spend_per_child_in_care"] == pytest.approx(per_child)
    assert spend.loc["TotalLACFinance"].iloc[0]["authority"] == pytest.approx(per_child)
    rescare = f[(f["measure"] == "RescareFinance") & (f["period"] == "2024-25 (OT)") & (f["la_number"] == "383.0")]
    assert spend.loc["RescareFinance", "authority"] == float(rescare["value"].iloc[0])

    o = _csv("ofsted/ofsted_providers_by_la_type_sector_2014_2025.csv")
    homes = o[(o["year"] == "2025") & (o["local_authority"] == "Leeds")
              & o["provision_type"].str.lower().isin(["children's home", "secure children's home",
                                                      "residential special school (registered as a children's home)"])]
    assert leeds.sufficiency["places"] == pytest.approx(_num(homes["places_total"]).sum())
    assert leeds.sufficiency["children_in_homes"] == float(p.loc["Secure homes and children's homes", "number"])


def test_history_is_latest_published_and_projection_is_the_aggregate_one(leeds, data):
    h = _csv("cla_history/cla_la_all_vintages_long.csv")
    h = h[(h["new_la_code"] == "E08000035") & (h["measure"] == "cla_at_31_march")]
    latest = h.sort_values("release_year").groupby("time_period")["value"].last().astype(float)
    got = leeds.cla_history.set_index("year")["cla_at_31_march"]
    assert got.index.min() == 2010 and got.index.max() == 2025
    assert (got.to_numpy() == latest.reindex(got.index.astype(str)).to_numpy()).all()
    one = aggregate.project(data.panel, "E08000035", 2025)  # the public function, slow, once
    assert leeds.projection["point"].to_numpy() == pytest.approx(one["point"].to_numpy())
    assert leeds.summary["projection_next_year"] == pytest.approx(one["point"].iloc[0])
    assert len(leeds.backtest) == 10 and leeds.backtest["year"].min() == 2015


def test_boundary_changed_authority_is_labelled_and_never_spliced(cumberland):
    a = cumberland.authority
    assert a.name == "Cumberland" and "Cumbria" in a.boundary_note
    # its own series starts at its first count; Cumbria's counts are kept apart, never added in
    assert cumberland.cla_history["year"].min() == 2024
    pred = cumberland.predecessors
    assert set(pred["authority"]) == {"Cumbria"} and pred["year"].max() == 2023
    assert not set(pred["year"]) & set(cumberland.cla_history["year"])
    # no change since the year before where that year belongs to the former county
    b = cumberland.benchmarks.set_index("key")
    assert b.loc["ceased_sgo", "period"] == "2024" and b.loc["ceased_sgo", "direction"] == ""
    assert np.isnan(b.loc["ceased_sgo", "previous"])
    assert cumberland.backtest.empty  # too short a series of its own to have been tested
    note = render.title_note(cumberland).data
    assert "Boundary change" in note and "not combined" in note
    text = render.projection_text(cumberland).data
    assert "not added" in text


def test_the_summary_gives_bands_only_for_the_latest_published_year(data):
    """City of London's 2025 rate of children looked after is not published: its pack shows 31 March 2024,
    and the summary (the batch index) gives neither a 2025 rate nor a band taken from 2024 beside it."""
    d = _cla_rates("2025")
    city = d[d["la_name"] == "City of London"]
    assert len(city) == 1 and pd.isna(_num(city["rate_per_10000"])).all()  # plain read: not published for 2025
    f = compute(data, match("City of London", ROOT))
    cla = f.benchmarks[f.benchmarks["key"] == "cla_rate"].iloc[0]
    assert str(cla["period"]) == "2024" and cla["band"] in set("ABCD")  # the pack still shows 2024's figure
    assert np.isnan(f.summary["cla_rate_per_10k"])
    assert "Children looked after per 10,000 children" not in f.summary["bands"]
    current = f.benchmarks[f.benchmarks["period"].astype(str) == f.benchmarks["latest_published"].astype(str)]
    assert set(f.summary["bands"]) == set(current["measure"])
