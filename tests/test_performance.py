"""The performance section: seed 004's measures rated from the transcribed return, key areas, and
every target of the service plans either a structured rule or unrated with its reason."""

import pandas as pd

from pipeline.performance import catalogue_rules, key_areas, measure_table

from .conftest import ROOT, SEED004


def test_seed004_measures_rated_as_the_golden_cases():
    t = measure_table(pd.read_csv(SEED004 / "measures.csv", dtype=str, keep_default_na=False), "2021-22").set_index("measure_ref")
    want = {"m01": "Review", "m02": "Action", "m03": "Strong", "m04": "Review", "m06": "Action", "m12": "Good"}
    assert {k: t.at[k, "rating"] for k in want} == want
    assert t.at["m06", "explanation"] == "15.1% against a target of 18.0% is 16.1% worse: Action."
    assert t.at["m05", "rating"] == "Not available" and "baseline" in t.at["m05", "explanation"]
    assert t.at["m08", "rating"] == "Not available" and "more than a year old" in t.at["m08", "explanation"]
    assert t.at["m09", "target"] == "93.0%" and t.at["m01", "national"] == 88.2
    good, bad = key_areas(t.reset_index())
    assert "children's homes" in good[0] and "Average cost of children in care" in bad[0]  # as seed 004 names it


def test_every_service_plan_target_is_a_rule_or_unrated_with_a_reason():
    for f in ("seed001", "seed002"):
        d = pd.read_csv(ROOT / "data" / "raw" / f / "key_performance_measures.csv", dtype=str, keep_default_na=False)
        texts = pd.concat([d[c] for c in d.columns if c.startswith("target")])
        rules = catalogue_rules(texts)
        assert len(rules) == texts.nunique()
        structured = rules["rule"].isin(["threshold", "thresholds", "range", "national", "quartile", "trend"])
        assert (structured | (rules["unrated_reason"] != "")).all()
    assert set(catalogue_rules(pd.Series(["Maintain upper-middle quartile performance", "15-20", "TBC"]))["rule"]) == \
        {"quartile", "range", "tbc"}
