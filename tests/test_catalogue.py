"""The measure catalogue: every measure of seeds 000 and 001 with its definition, polarity, outcome,
objective, benchmark series and target per year; every target text a structured rule or unrated with
its reason; returns matched to it; seed 001's published actuals rated against it."""

import re

import pandas as pd
import pytest

from pipeline.ingest.inputs import InputError
from pipeline.measures import catalogue
from pipeline.measures.benchmarks import SERIES
from pipeline.measures.table import measure_table

from .conftest import ROOT, SEED004

CAT = ROOT / "params" / "measures" / "catalogue.csv"
# seed 000, copied into the repository with its source note (tests read only the repository)
SEED000 = ROOT / "data" / "raw" / "seed000" / "service_plan_2024-25.txt"


@pytest.fixture(scope="module")
def cat():
    return catalogue.load(CAT, set(SERIES))


def test_every_measure_of_seed000_is_in_the_catalogue_with_its_outcome(cat):
    lines = SEED000.read_text(encoding="utf-8").splitlines()
    measure_lines = [i + 1 for i, ln in enumerate(lines) if ln.startswith("- ") and "(target for 2024-25" in ln]
    assert len(measure_lines) == 16
    cited = {int(n) for s in cat["source"] for n in re.findall(r"Seed 000 [^;]*line (\d+)", s)}
    assert set(measure_lines) == cited
    outcome_of_line = {}
    current = ""
    for i, ln in enumerate(lines, 1):
        if re.fullmatch(r"Outcome \d", ln.strip()):
            current = ln.strip()
        outcome_of_line[i] = current
    for _, r in cat.iterrows():
        for n in re.findall(r"Seed 000 [^;]*line (\d+)", r["source"]):
            assert r["outcome"].startswith(outcome_of_line[int(n)] + ":"), (r["id"], r["outcome"])
            assert r["outcome_basis"] == "stated"


def test_every_measure_of_seed001_is_in_the_catalogue_with_its_targets(cat):
    s1 = pd.read_csv(ROOT / "data" / "raw" / "seed001" / "key_performance_measures.csv", dtype=str, keep_default_na=False)
    long = catalogue.service_plan_measures(s1, cat)  # raises if a measure is not in the catalogue
    assert long["measure_ref"].nunique() == len(s1) == 49
    by_id = cat.set_index("id")
    for _, r in s1.iterrows():
        cid = catalogue.matcher(cat)[catalogue._key(r["measure"])]
        assert by_id.at[cid, "target_2022-23"] == r["target_2022_23"]
        assert by_id.at[cid, "target_2023-24"] == r["target_2023_24"]


def test_every_catalogue_target_is_a_rule_or_unrated_with_its_reason(cat):
    rules = catalogue.rules(cat)
    assert len(rules) > 150
    structured = rules["rule"].isin(["threshold", "range", "national", "quartile", "trend"])
    assert (structured | (rules["unrated_reason"] != "")).all()
    assert not (rules["rule"] == "unparsed").any(), rules[rules["rule"] == "unparsed"]
    seed000 = rules[rules["id"].isin(cat.loc[cat["source"].str.contains("Seed 000"), "id"]) & (rules["year"] == "2024-25")]
    assert len(seed000) == 16 and seed000["rule"].isin(["threshold", "national", "quartile", "trend", "gap"]).all()


def test_catalogue_fields_are_complete(cat):
    assert len(cat) >= 60 and cat["id"].is_unique
    for col in ("name", "definition", "unit", "polarity", "frequency", "outcome", "objective", "source"):
        blank = cat[(cat[col] == "") & (cat["id"] != "edi_measures" if col == "unit" else True)]
        assert blank.empty, (col, list(blank["id"]))
    assert set(cat["benchmark"]) - {""} <= set(SERIES)
    assert (cat["benchmark"] != "").sum() >= 6


def test_a_bad_catalogue_row_names_its_row_and_column(tmp_path, cat):
    bad = cat.copy()
    bad.loc[3, "polarity"] = "up"
    bad.loc[5, "benchmark"] = "no_such_series"
    f = tmp_path / "catalogue.csv"
    bad.to_csv(f, index=False)
    with pytest.raises(InputError) as e:
        catalogue.load(f, set(SERIES))
    assert "row 5, column polarity: 'up', expected higher or lower" in str(e.value)
    assert "row 7, column benchmark: 'no_such_series'" in str(e.value)


def test_returns_are_matched_to_the_catalogue(cat):
    seed004 = pd.read_csv(SEED004 / "measures.csv", dtype=str, keep_default_na=False)
    ids = catalogue.match(seed004, cat)
    assert set(ids) == set(seed004["measure_ref"])
    priority = cat.set_index("id")["priority_2021_25"]  # seed 004's own grouping, Council Plan 2021-25
    assert {ids[m]: priority[ids[m]] for m in ("m01", "m09", "m11")} == {
        "primary_good_pct": "High performing, value for money and resident focused services",
        "antenatal_contacts": "Effective early help for individuals and communities",
        "gcse_4_english_maths": "A prosperous and green Derbyshire"}
    assert all(priority[i] for i in ids.values())
    syn = pd.read_csv(ROOT / "data" / "raw" / "synthetic" / "returns" / "2026-27-Q2" / "measures.csv", dtype=str,
                      keep_default_na=False)
    assert set(catalogue.match(syn, cat)) == set(syn["measure_ref"])


def _bench(sn):
    from pipeline.measures.benchmarks import benchmark, dfe_period, series_for

    files = {"dfe_icpc": "c4_children_in_need_section_47s_and_icpcs_2013_to_2025.csv",
             "dfe_workforce": "csww_indicators_2017_to_2025.csv", "dfe_ceased": "la_children_who_ceased_during_the_year.csv"}
    dfe = ROOT / "data" / "raw" / "published" / "dfe"

    def bench(key, period, value, polarity):
        s = series_for(key, pd.read_csv(dfe / files[SERIES[key]["input"]], dtype=str, keep_default_na=False))
        use = dfe_period(period, SERIES[key]["basis"])
        b = benchmark(s, "E10000007", use, polarity, *sn, value=value)
        return {"england": b.england, "region": b.region, "region_name": b.region_name, "sn_mean": b.sn_mean,
                "sn_count": b.sn_count, "band": b.band, "rank": b.rank, "of": b.of, "period": use,
                "note": ""}
    return bench


def test_seed001_actuals_rated_with_catalogue_targets_and_dfe_benchmarks(cat):
    dfe = ROOT / "data" / "raw" / "published" / "dfe"
    sn = (pd.read_csv(dfe / "sn_model_2025_wide.csv", dtype=str, keep_default_na=False),
          pd.read_csv(dfe / "New_Statistical_Neighbour_Groupings_April_2021.csv", dtype=str, keep_default_na=False,
                      encoding="utf-8-sig"))
    s1 = pd.read_csv(ROOT / "data" / "raw" / "seed001" / "key_performance_measures.csv", dtype=str, keep_default_na=False)
    t = measure_table(catalogue.service_plan_measures(s1, cat), "2022-23", cat=cat, bench=_bench(sn)).set_index("catalogue_id")
    # ICPC within 15 days, 90.8% (Dec 22) against "To maintain above national performance": England from DfE
    icpc = t.loc["icpc_15_days"]
    assert icpc["latest"] == 90.8 and icpc["national_from"] == "DfE 2023" and icpc["quartile_band"] in "ABCD"
    assert icpc["rating"] == "Strong" and "the national average" in icpc["explanation"]
    # caseload 18 in the 15-20 range: Good; outcome and objective from the catalogue
    assert t.at["sw_caseload", "rating"] == "Good" and t.at["sw_caseload", "outcome"].startswith("Outcome 5")
    assert t.at["foster_council_number", "objective"].startswith("12 ")
    # children in care with council foster carers 380 against 354 the year before, target an increasing trend:
    # rated with the printed key against last year's figure, 7.3% better (more than 5%) is Strong
    assert t.at["foster_council_number", "rating"] == "Strong" and t.at["foster_council_number", "direction"].startswith("improved")
    assert (t["rating"] != "Not available").sum() >= 15
