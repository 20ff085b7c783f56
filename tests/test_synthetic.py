"""The synthetic authority: deterministic, calibrated, internally consistent, valid SSDA903."""

import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline import synthetic
from pipeline.ingest import ssda903
from pipeline.synthetic import Config, generate

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "raw" / "synthetic"


@pytest.fixture(scope="module")
def files():
    return generate(Config())


def _returns(files) -> dict[str, pd.DataFrame]:
    out = {}
    for y in synthetic.COLLECTION_YEARS:
        label = ssda903.collection_year_label(y)
        e = pd.read_csv(io.BytesIO(files[f"ssda903/{label}/episodes.csv"]), dtype=str, keep_default_na=False)
        for col in ("DECOM", "DEC"):
            e[f"{col}_date"] = pd.to_datetime(e[col].replace("", None), format=ssda903.DATE_FORMAT)
        out[label] = e
    return out


def test_same_seed_same_bytes_and_bundled_data_match_a_fresh_generation(files):
    assert generate(Config()) == files
    assert generate(Config(seed=7))["ssda903/2024-25/episodes.csv"] != files["ssda903/2024-25/episodes.csv"]
    on_disk = {str(p.relative_to(BUNDLED)): p.read_bytes() for p in BUNDLED.rglob("*") if p.is_file()}
    assert set(on_disk) - {"README.md"} == set(files), "bundled synthetic data has missing or extra files"
    stale = [p for p, b in files.items() if on_disk[p] != b]
    assert stale == [], f"regenerate with `cspack demo-data`: {stale[:5]}"


def test_everything_says_synthetic(files):
    meta = json.loads(files["metadata.json"])
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["notice"] and meta["calibrated_to"]
    for path, data in files.items():
        if path.startswith("returns/") and data.count(b"\n") > 1:
            df = pd.read_csv(io.BytesIO(data), dtype=str)
            assert df["source"].str.startswith("synthetic").all(), path
    assert "SYNTHETIC" in (BUNDLED / "README.md").read_text()


def test_calibrated_counts_within_2_percent_of_every_published_figure(files):
    returns = _returns(files)
    # children looked after at 31 March 2019: episodes open when the 2019-20 return starts
    e = returns["2019-20"]
    open_2019 = e[(e["DECOM_date"] < "2019-04-01")]["CHILD"].nunique()
    assert abs(open_2019 - 801) / 801 <= 0.02
    for y in range(2019, 2025):
        label = ssda903.collection_year_label(y)
        got = ssda903.year_counts(returns[label], label)
        stock, starts, ceased = synthetic.PUBLISHED[y + 1]
        for name, want in (("at_end", stock), ("starts", starts), ("ceased", ceased)):
            assert abs(got[name] - want) / want <= 0.02, (label, name, got[name], want)


def test_generated_returns_pass_the_project_episode_rules(files):
    for label, e in _returns(files).items():
        breaches = ssda903.check_episodes(e, label)
        assert breaches.empty, (label, breaches.head().to_dict("records"))
    r = _returns(files)
    assert "K3" in set(r["2024-25"]["PLACE"]) and "H5" in set(r["2023-24"]["PLACE"])
    assert "H5" not in set(r["2025-26"]["PLACE"]) and "Z1" not in set(r["2025-26"]["PLACE"])


def test_open_episode_appears_in_both_years(files):
    r = _returns(files)
    a, b = r["2022-23"], r["2023-24"]
    open_a = a[a["DEC"] == ""][["CHILD", "DECOM"]]
    both = open_a.merge(b[["CHILD", "DECOM", "DEC"]], on=["CHILD", "DECOM"])
    assert len(both) == len(open_a)  # every episode open at 31 March 2023 is in the 2023-24 return


def test_ledger_placement_lines_equal_placement_days_times_unit_costs(files):
    """Recomputed independently from the SSDA903 returns (episodes deduplicated across years)."""
    r = pd.concat(_returns(files).values(), ignore_index=True)
    r = r.sort_values("DEC", key=lambda s: s == "").drop_duplicates(["CHILD", "DECOM"], keep="first")
    r["category"] = ssda903.place_category(r["PLACE"], r["PLACE_PROVIDER"])
    costs = pd.read_csv(io.BytesIO(files["oracle/unit_costs.csv"]))
    cc = pd.read_csv(io.BytesIO(files["ledger/cost_centres.csv"]), dtype=str, keep_default_na=False)
    for fy, month in (("2021-22", "2021-06"), ("2024-25", "2025-01"), ("2026-27", "2026-09")):
        led = pd.read_csv(io.BytesIO(files[f"ledger/ledger_{fy}.csv"]), dtype=str)
        m0 = pd.Timestamp(month + "-01")
        m1 = m0 + pd.offsets.MonthBegin(1)
        end = r["DEC_date"].fillna(pd.Timestamp("2026-10-01"))
        days = (np.minimum(end, m1) - np.maximum(r["DECOM_date"], m0)).dt.days.clip(lower=0)
        per_cat = days.groupby(r["category"]).sum()
        for _, c in cc[cc["placement_category"] != ""].iterrows():
            weekly = costs[(costs["category"] == c["placement_category"]) & (costs["financial_year"] == fy)]["weekly_cost_gbp"].item()
            expected_pence = int(np.floor(per_cat.get(c["placement_category"], 0) * weekly * 100 / 7 + 0.5))
            line = led[(led["month"] == month) & (led["cost_centre"] == c["cost_centre"])]
            assert round(float(line["actual"].item()) * 100) == expected_pence, (month, c["placement_category"])


def test_budgets_reproduce_seed004_and_seed001(files):
    led = pd.read_csv(io.BytesIO(files["ledger/ledger_2021-22.csv"]))
    first = led[led["period"] == 1]
    assert round(first["budget_annual"].sum() / 1e6, 3) == 131.236
    placements = led[led["service_line_id"] == "placements"]["actual"].sum() / 1e6
    assert abs(placements - synthetic.PLACEMENT_SPEND_2021_22) < 0.01
    led23 = pd.read_csv(io.BytesIO(files["ledger/ledger_2023-24.csv"]))
    total23 = led23[led23["period"] == 1]["budget_annual"].sum() / 1e6
    assert abs(total23 - 148.851) / 148.851 < 0.02  # seed 001 net budget 2023-24


def test_placement_mix_and_exit_reasons_near_published_shares(files):
    e = _returns(files)["2024-25"]
    open_ = e[e["DEC"] == ""]
    cat = ssda903.place_category(open_["PLACE"], open_["PLACE_PROVIDER"]).value_counts(normalize=True) * 100
    foster = cat.reindex(["in_house_fostering", "agency_fostering", "kinship_fostering"]).sum()
    residential = cat.reindex(["in_house_childrens_home", "external_childrens_home", "secure"]).fillna(0).sum()
    far = (~open_["PL_POST"].isin(synthetic.HOME_SECTORS)).mean() * 100
    ceased = e[~e["REC"].isin(["", "X1"])]
    shares = {"returned home": ceased["REC"].eq("E4A").mean() * 100,
              "sgo": ceased["REC"].isin(["E45", "E46", "E47", "E48"]).mean() * 100,
              "adopted": ceased["REC"].isin(["E11", "E12"]).mean() * 100}
    # published Derbyshire 2025: foster 64%, secure and children's homes 17%, over 20 miles 31%,
    # returned home 18.4%, SGO 15.5%, adopted 9.8% (benchmarks_core.csv); tolerance 8 points
    for got, want in ((foster, 64), (residential, 17), (far, 31), (shares["returned home"], 18.4),
                      (shares["sgo"], 15.5), (shares["adopted"], 9.8)):
        assert abs(got - want) <= 8, (got, want)


def test_scale_multiplies_the_authority():
    small = generate(Config(scale=2.0))
    cal = pd.read_csv(io.BytesIO(small["oracle/calibration.csv"]))
    assert (cal["pct_difference_from_published"].abs() <= 2).all()
    assert cal.loc[cal["measure"].str.contains("31 March"), "achieved"].iloc[-1] == 2048


def test_messy_differs_in_bytes_not_in_content(files):
    messy = synthetic.messify(files, Config())
    assert messy["ledger/ledger_2021-22.csv"] != files["ledger/ledger_2021-22.csv"]
    assert messy["ledger/ledger_2021-22.csv"].decode("cp1252").startswith("Synthetic County Council (SYNTHETIC DATA)")
    assert b"\xa3" in messy["ledger/ledger_2021-22.csv"]  # the pound sign in cp1252
    clean = pd.read_csv(io.BytesIO(files["ssda903/2023-24/episodes.csv"]), dtype=str, keep_default_na=False)
    raw = messy["ssda903/2023-24/episodes.csv"]
    assert raw != files["ssda903/2023-24/episodes.csv"] and raw.startswith("\ufeff".encode())
    back = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    back = back[(back != "").any(axis=1)][clean.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(back, clean)
    assert messy["oracle/calibration.csv"] == files["oracle/calibration.csv"]


def test_oracle_holds_the_rates(files):
    entries = pd.read_csv(io.BytesIO(files["oracle/entry_rates.csv"]))
    assert set(entries["age_band"]) == set(synthetic.AGE_BANDS)
    assert (~entries["calibrated"]).sum() == 18 * 5  # April 2025 to September 2026 run free
    hz = pd.read_csv(io.BytesIO(files["oracle/exit_hazards.csv"]))
    assert len(hz) == 10 * 5 * 3 and (hz["relative_hazard"] > 0).all()
    costs = pd.read_csv(io.BytesIO(files["oracle/unit_costs.csv"]))
    assert costs["source"].str.len().min() > 10


def _episodes(rows):
    df = pd.DataFrame(rows, columns=["CHILD", "DECOM", "RNE", "LS", "PLACE", "DEC", "REC"])
    df["CIN"], df["PLACE_PROVIDER"], df["REASON_PLACE_CHANGE"] = "N1", "PR1", ""
    df["HOME_POST"], df["PL_POST"], df["URN"] = "DE4 3", "DE4 3", "XXXXXXX"
    return df


def test_episode_rules_catch_each_breach():
    ok = _episodes([("1", "01/05/2023", "S", "C1", "U4", "01/06/2023", "X1"),
                    ("1", "01/06/2023", "P", "C1", "U6", "", "")])
    assert ssda903.check_episodes(ok, "2023-24").empty
    bad = _episodes([("1", "01/05/2023", "S", "C1", "U4", "10/06/2023", "X1"),   # X1, next starts later
                     ("1", "01/06/2023", "P", "C1", "U6", "", ""),              # overlaps the first
                     ("2", "01/05/2023", "S", "C1", "K3", "01/04/2023", "E4A"),  # K3 before 2024-25; DEC < DECOM
                     ("3", "01/05/2023", "S", "C1", "U4", "05/05/2023", "")])    # DEC without REC
    rules = set(ssda903.check_episodes(bad, "2023-24")["rule"])
    assert {"x1_continues", "overlap", "codes", "dec_after_decom", "dec_rec_pair"} <= rules
    h5 = _episodes([("4", "01/05/2025", "S", "C1", "H5", "", "")])
    assert ssda903.check_episodes(h5, "2025-26")["rule"].tolist() == ["codes"]
    h5_2024 = _episodes([("4", "01/05/2024", "S", "C1", "H5", "", "")])
    assert ssda903.check_episodes(h5_2024, "2024-25").empty


def test_measure_returns_agree_with_the_ssda903_returns(files):
    m = pd.read_csv(io.BytesIO(files["returns/2025-26-Q4/measures.csv"]), dtype=str)
    cla = m[(m["measure_ref"] == "cla_number") & (m["period"] != "Target")].set_index("period")["value_raw"].str.replace(",", "").astype(int)
    r = _returns(files)
    assert cla["2024-2025"] == 1024  # Derbyshire's published 31 March 2025 count
    assert cla["2025-2026"] == ssda903.year_counts(r["2025-26"], "2025-26")["at_end"]
    ceased = r["2025-26"][~r["2025-26"]["REC"].isin(["", "X1"])]
    rh = m[(m["measure_ref"] == "ceased_pct_returned_home") & (m["period"] == "2025-2026")]["value_raw"].item()
    assert rh == f"{ceased['REC'].eq('E4A').mean() * 100:.1f}%"
    assert m[m["period"] == "Target"]["value_raw"].tolist()[2] == "To remain lower than national average"


def test_messy_returns_read_to_the_clean_tables(files):
    """Title rows, human headings, money as "£1.234"/"(0.5)"/"0.5-", blank rows, BOM, CRLF and shuffled
    columns: every quarterly return of two quarters reads to exactly the clean table."""
    from pipeline.ingest.inputs import read_input
    from pipeline.core.params import InputSpec

    messy = synthetic.messify(files, Config())
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        checked = 0
        for path in sorted(p for p in files if p.startswith(("returns/2021-22-Q1/", "returns/2026-27-Q2/"))):
            key = path.split("/")[-1][:-4]
            out = {}
            for kind, data in (("clean", files[path]), ("messy", messy[path])):
                p = Path(d) / f"{kind}_{key}.csv"
                p.write_bytes(data)
                out[kind] = read_input(InputSpec(key=key, path=p, rel_path=p.name, description="", source="",
                                                 synthetic=True))
            c, m = out["clean"], out["messy"]
            assert m.header_row == 4 and m.quarantined.empty and c.quarantined.empty, path
            assert m.rows_in == len(c.kept) + m.blank_rows
            pd.testing.assert_frame_equal(m.kept[list(c.kept.columns)], c.kept, obj=path)
            checked += 1
        assert checked >= 20
    assert "Controllable Budget £m" in messy["returns/2026-27-Q2/budget_lines.csv"].decode("utf-8")


def test_messy_demo_prepares_the_same_processed_tables(tmp_path):
    """The whole messy variant (ledger, returns, SSDA903) prepares to the same Parquet tables."""
    from tests.conftest import copy_project
    from pipeline.quarter.context import open_quarter

    root = copy_project(tmp_path / "proj")
    clean = open_quarter("2026-27-Q2", work_dir=str(tmp_path / "clean"), root=root)
    synthetic.write_demo(root / "data" / "raw" / "synthetic", Config(), messy=True)
    messy = open_quarter("2026-27-Q2", work_dir=str(tmp_path / "messy"), root=root)
    names = sorted(p.stem for p in (tmp_path / "clean" / "inputs").glob("*.parquet"))
    assert "ledger" in names and "ssda903_episodes" in names and "budget_lines" in names
    for name in names:
        a, b = clean.table(name), messy.table(name)
        sort = [c for c in ("month", "cost_centre", "CHILD", "DECOM", "MIS_START") if c in a] or list(a.columns[:1])
        a = a.sort_values(sort, kind="stable").reset_index(drop=True)
        b = b[list(a.columns)].sort_values(sort, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, obj=name)
    rc, rm = clean.register().set_index("input"), messy.register().set_index("input")
    assert (rc["rows_kept"] == rm["rows_kept"]).all() and rm["rows_quarantined"].sum() == 0
    assert rm.loc["ledger", "rows_dropped"] > 10  # subtotals and blank rows, counted
