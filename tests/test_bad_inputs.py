"""The catalogue of bad inputs: each case asserts the exact error or quarantine reason.
(Further cases live in test_ledger.py, test_ssda903_merge.py and test_params_inputs.py.)"""

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from pipeline.core.params import InputSpec, ParamsError, load_params
from pipeline.ingest import ssda903
from pipeline.ingest.inputs import InputError, read_input
from pipeline.ingest.ledger import LedgerError, read_ledger
from pipeline.ingest.parsing import dfe_values
from pipeline.quarter import quality

LINES_HEADER = "line_id,service_line,short_name,controllable_budget_gbpm,full_year_forecast_gbpm,source\n"
MAPPING = pd.DataFrame({"cost_centre": ["C1", "C2"], "service_line_id": ["a", "b"], "service_line": ["A", "B"],
                        "division": ["D", "D"], "subjective": ["S", "S"], "cost_centre_name": ["n1", "n2"]})


def table(tmp_path, key, text, name=None, encoding="utf-8"):
    p = tmp_path / (name or f"{key}.csv")
    p.write_bytes(text.encode(encoding))
    return read_input(InputSpec(key=key, path=p, rel_path=p.name, description="", source="t", synthetic=False))


def reasons(res):
    return list(zip(res.quarantined["row"], res.quarantined["column"], res.quarantined["reason"]))


# ---- tables -----------------------------------------------------------------------------------------
def test_01_missing_column(tmp_path):
    with pytest.raises(InputError, match=r"missing column\(s\) short_name; found line_id, service_line"):
        table(tmp_path, "budget_lines", "line_id,service_line,controllable_budget_gbpm,full_year_forecast_gbpm,source\n")


def test_02_renamed_column(tmp_path):
    with pytest.raises(InputError, match=r"missing column\(s\) controllable_budget_gbpm; found .*Controllable Budget"):
        table(tmp_path, "budget_lines", "line_id,service_line,short_name,Controllable Budget,full_year_forecast_gbpm,source\n")


def test_03_extra_column_is_kept(tmp_path):
    res = table(tmp_path, "budget_lines", LINES_HEADER.strip() + ",owner\na,A,A,1,2,s,Jo\n")
    assert list(res.kept["owner"]) == ["Jo"] and res.quarantined.empty


def test_04_empty_file(tmp_path):
    with pytest.raises(InputError, match="the file is empty; expected a header row and data"):
        table(tmp_path, "budget_lines", "")


def test_05_header_only(tmp_path):
    res = table(tmp_path, "budget_lines", LINES_HEADER)
    assert res.rows_in == 0 and len(res.kept) == 0 and res.quarantined.empty


def test_06_wrong_encoding(tmp_path):
    with pytest.raises(InputError, match=r"not UTF-8 text at byte \d+; save it as UTF-8 CSV"):
        table(tmp_path, "budget_lines", LINES_HEADER + "a,Caf\xe9 £,A,1,2,s\n", encoding="cp1252")


def test_07_byte_order_mark_is_accepted(tmp_path):
    res = table(tmp_path, "budget_lines", "\ufeff" + LINES_HEADER + "a,A,A,1,2,s\n")
    assert res.columns[0] == "line_id" and len(res.kept) == 1


def test_08_text_in_numbers(tmp_path):
    res = table(tmp_path, "budget_lines", LINES_HEADER + "a,A,A,one,2,s\n")
    assert reasons(res) == [(2, "controllable_budget_gbpm", "expected a number")]


def test_09_numbers_as_finance_systems_print_them(tmp_path):
    res = table(tmp_path, "budget_lines", LINES_HEADER + 'a,A,A,(1.5),2,s\nb,B,B,0.25-,"£1,234.5",s\nc,C,C,-,2,s\n'
                'd,D,D,1.5.2,2,s\n')
    assert res.kept["controllable_budget_gbpm"].tolist() == [-1.5, -0.25, 0.0]
    assert res.kept["full_year_forecast_gbpm"].tolist()[1] == 1234.5
    assert reasons(res) == [(5, "controllable_budget_gbpm", "expected a number")]


def test_09b_title_rows_blank_rows_and_human_headings(tmp_path):
    text = ("Synthetic County Council,,,,,\nBudget monitoring Q2,,,,,\n,,,,,\n"
            "Line ID,Service Line,Short Name,Controllable Budget £m,Full Year Forecast (£m),Source\n"
            "a,A,A,1,2,s\n,,,,,\nb,B,B,x,2,s\n")
    res = table(tmp_path, "budget_lines", text)
    assert res.header_row == 4 and res.rows_in == 3 and res.blank_rows == 1 and len(res.kept) == 1
    assert reasons(res) == [(7, "controllable_budget_gbpm", "expected a number")]  # the file's own row number


def test_10_negative_where_not_allowed(tmp_path):
    res = table(tmp_path, "growth_items", "item,amount_gbpm,kind\nSocial workers,-1.300,ongoing\nOK,0.5,one-off\n")
    assert reasons(res) == [(2, "amount_gbpm", "negative where only zero or more is allowed")] and len(res.kept) == 1


def test_11_value_out_of_range(tmp_path):
    res = table(tmp_path, "financial_risks", "service,risk,sensitivity_gbpm,likelihood\nAll,Breach,0.5,7\n")
    assert reasons(res) == [(2, "likelihood", "expected a value from 1 to 5")]


def test_12_duplicate_rows(tmp_path):
    res = table(tmp_path, "budget_lines", LINES_HEADER + "a,A,A,1,2,s\nb,B,B,1,2,s\na,A,A,1,2,s\n")
    assert reasons(res) == [(4, "line_id", "duplicate of row 2")] and len(res.kept) == 2


def test_13_blank_required_value(tmp_path):
    res = table(tmp_path, "budget_lines", LINES_HEADER + "a,,A,1,2,s\n")
    assert reasons(res) == [(2, "service_line", "required value is blank")]


def test_14_not_a_csv(tmp_path):
    p = tmp_path / "budget_lines.xlsx"
    p.write_bytes(b"PK")
    with pytest.raises(InputError, match=r"expected a \.csv file"):
        read_input(InputSpec("budget_lines", p, p.name, "", "t", False))


# ---- params -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,edit,message", [
    (15, lambda t: t.replace("authority: Testshire County Council\n", ""), "missing key\\(s\\) authority"),
    (16, lambda t: t + "\n  broken: [", "not valid YAML"),
    (17, lambda t: t.replace("quarter: 2021-22-Q1", "quarter: 2021-22-Q2"), "says 2021-22-Q2 but the file is named for 2021-22-Q1"),
    (18, lambda t: t.replace("data_as_at: 2021-06-30", "data_as_at: 30/06/2021"), "data_as_at': expected a date like 2021-06-30"),
    (19, lambda t: t.replace("seed004_2021-22-Q1/deliverables.csv", "seed004_2021-22-Q1/nope.csv"), "inputs.deliverables: file .*nope.csv does not exist"),
    (20, lambda t: t.replace('    source: "seed 004, Appendix 2"\n', ""), "inputs.deliverables: 'source' is required"),
])
def test_params_errors(small_project, n, edit, message):
    f = small_project / "params" / "2021-22-Q1.yaml"
    f.write_text(edit(f.read_text()))
    with pytest.raises(ParamsError, match=message):
        load_params("2021-22-Q1", small_project)


# ---- ledger -----------------------------------------------------------------------------------------
def ledger(tmp_path, text, encoding="utf-8", mapping=MAPPING):
    p = tmp_path / "ledger.csv"
    p.write_bytes(text.encode(encoding))
    return read_ledger(p, mapping)


def test_21_ledger_without_a_header(tmp_path):
    with pytest.raises(LedgerError, match="no header row with a cost centre and an actual column in the first 30 rows"):
        ledger(tmp_path, "a,b,c\n1,2,3\n")


def test_22_ledger_empty(tmp_path):
    with pytest.raises(LedgerError, match="the file is empty"):
        ledger(tmp_path, "\n\n")


def test_23_ledger_header_only(tmp_path):
    r = ledger(tmp_path, "Cost Centre,Actual,Annual Budget\n")
    assert r.rows_read == 0 and len(r.kept) == 0 and r.reconciles


def test_24_two_columns_meaning_the_same(tmp_path):
    with pytest.raises(LedgerError, match=r"row 1, column 3: two columns mean 'actual' \('Actuals'\)"):
        ledger(tmp_path, "Cost Centre,Actual,Actuals\nC1,1,1\n")


def test_25_ledger_three_decimals(tmp_path):
    r = ledger(tmp_path, "Cost Centre,Actual\nC1,12.345\n")
    assert r.cells["reason"].item() == "expected pounds and pence (at most two decimals), got '12.345'"
    assert r.kept["actual"].isna().all() and r.quarantined.empty  # the value set aside, the row kept


def test_26_corrupt_workbook(tmp_path):
    p = tmp_path / "ledger.xlsx"
    p.write_bytes(b"not really a workbook")
    with pytest.raises(LedgerError, match="not a readable Excel workbook"):
        read_ledger(p, MAPPING)


def test_27_workbook_without_a_ledger_sheet(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["Summary only"])
    p = tmp_path / "ledger.xlsx"
    wb.save(p)
    with pytest.raises(LedgerError, match="no visible sheet has a ledger header .*; sheets are Sheet"):
        read_ledger(p, MAPPING)


def test_28_cp1252_ledger_with_pound_signs(tmp_path):
    r = ledger(tmp_path, "Cost Centre,Actual\nC1,£1,234.00\n".replace("£1,234.00", '"£1,234.00"'), encoding="cp1252")
    assert r.encoding == "cp1252" and r.kept["actual"].tolist() == [123400]


def test_29_hundred_thousand_row_ledger_reconciles(tmp_path):
    n = 100_000
    rng = np.random.default_rng(1)
    pence = rng.integers(-10**7, 10**7, n)
    df = pd.DataFrame({"Cost Centre": np.where(np.arange(n) % 2, "C1", "C2"),
                       "Actual": [f"{p / 100:.2f}" for p in pence], "Month": "2024-05"})
    p = tmp_path / "big.csv"
    df.to_csv(p, index=False)
    r = read_ledger(p, MAPPING)
    assert len(r.kept) == n and r.reconciles and int(r.kept["actual"].sum()) == int(pence.sum())


# ---- SSDA903 ----------------------------------------------------------------------------------------
EP = {"CIN": "N1", "PLACE_PROVIDER": "PR1", "REASON_PLACE_CHANGE": "", "HOME_POST": "DE4 3", "PL_POST": "DE4 3",
      "URN": "XXXXXXX", "LS": "C2", "RNE": "S", "PLACE": "U4", "DEC": "", "REC": ""}


def write_return(root: Path, year: str, episodes: list[dict], header: bool = True) -> None:
    d = root / year
    d.mkdir(parents=True)
    eps = pd.DataFrame([EP | e for e in episodes])[ssda903.EPISODE_COLUMNS]
    eps.to_csv(d / "episodes.csv", index=False)
    if header:
        kids = sorted(set(eps["CHILD"]))
        pd.DataFrame({"CHILD": kids, "SEX": "1", "DOB": "01/01/2010", "ETHNIC": "WBRI", "UPN": "", "MOTHER": "",
                      "MC_DOB": ""}).to_csv(d / "header.csv", index=False)


def merged(tmp_path, episodes, year="2023-24"):
    write_return(tmp_path / "r", year, episodes)
    return ssda903.merge_returns({year: ssda903.read_return(tmp_path / "r" / year)})


def quarantined(m):
    return sorted(zip(m["quarantine"]["rule"], m["quarantine"]["column"], m["quarantine"]["value"]))


@pytest.mark.parametrize("n,episode,expect", [
    (32, {"CHILD": "1", "DECOM": "01/05/2023", "DEC": "01/04/2023", "REC": "E4A"}, [("dec_after_decom", "DEC", "01/04/2023")]),
    (34, {"CHILD": "1", "DECOM": "01/05/2031"}, [("in_year", "DECOM", "01/05/2031")]),
    (35, {"CHILD": "1", "DECOM": "2023/13/45"}, [("bad_date", "DECOM", "2023/13/45")]),
])
def test_ssda903_rules_quarantine(tmp_path, n, episode, expect):
    m = merged(tmp_path, [episode])
    assert quarantined(m) == expect
    assert len(m["episodes"]) == 0


# a code not valid for its year, or an ended episode with no reason, is flagged and the row kept (issue 13)
@pytest.mark.parametrize("n,episode,expect", [
    (30, {"CHILD": "1", "DECOM": "01/05/2023", "PLACE": "X9"}, [("codes", "PLACE", "X9")]),
    (31, {"CHILD": "1", "DECOM": "01/05/2023", "PLACE": "K3"}, [("codes", "PLACE", "K3")]),
    (33, {"CHILD": "1", "DECOM": "01/05/2023", "DEC": "01/06/2023"}, [("rec_missing", "REC", "")]),
    (36, {"CHILD": "1", "DECOM": "01/05/2023", "LS": "Q7"}, [("codes", "LS", "Q7")]),
    (37, {"CHILD": "1", "DECOM": "01/05/2023", "RNE": "Z"}, [("codes", "RNE", "Z")]),
])
def test_ssda903_rules_flag_and_keep(tmp_path, n, episode, expect):
    m = merged(tmp_path, [episode])
    assert quarantined(m) == [] and len(m["episodes"]) == 1
    assert sorted(zip(m["flags"]["rule"], m["flags"]["column"], m["flags"]["value"])) == expect


def test_38_x1_with_no_continuing_episode_is_kept_and_flagged(tmp_path):
    m = merged(tmp_path, [{"CHILD": "1", "DECOM": "01/05/2023", "DEC": "01/06/2023", "REC": "X1"},
                          {"CHILD": "1", "DECOM": "03/06/2023", "RNE": "P"}])
    assert quarantined(m) == [] and len(m["episodes"]) == 2
    assert list(zip(m["flags"]["rule"], m["flags"]["value"])) == [("x1_no_continuation", "X1")]


def test_39_overlap_is_truncated_and_flagged(tmp_path):
    m = merged(tmp_path, [{"CHILD": "1", "DECOM": "01/05/2023", "DEC": "01/08/2023", "REC": "E4A"},
                          {"CHILD": "1", "DECOM": "01/07/2023", "RNE": "P"}])
    first = m["episodes"].iloc[0]
    assert (first["DEC"], first["REC"], first["fix"]) == ("01/07/2023", "X1", "overlap_truncated")


def test_40_mixed_date_formats_are_read(tmp_path):
    m = merged(tmp_path, [{"CHILD": "1", "DECOM": "2023-05-01", "DEC": "01/06/2023", "REC": "X1"},
                          {"CHILD": "1", "DECOM": "01/06/2023", "RNE": "P"}])
    assert m["quarantine"].empty and list(m["episodes"]["DECOM_date"].dt.day) == [1, 1]


def test_41_exact_duplicate_rows_are_dropped_and_counted(tmp_path):
    m = merged(tmp_path, [{"CHILD": "1", "DECOM": "01/05/2023"}, {"CHILD": "1", "DECOM": "01/05/2023"}])
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    assert r["of which exact duplicate rows within a return"] == 1 and r["episodes kept"] == 1


def test_42_missing_header_file(tmp_path):
    write_return(tmp_path, "2023-24", [{"CHILD": "1", "DECOM": "01/05/2023"}], header=False)
    with pytest.raises(ValueError, match="2023-24: no header.csv in this collection year's folder"):
        ssda903.read_return(tmp_path / "2023-24")


def test_43_missing_episode_column(tmp_path):
    d = tmp_path / "2023-24"
    d.mkdir()
    (d / "episodes.csv").write_text("CHILD,DECOM\n1,01/05/2023\n")
    (d / "header.csv").write_text("CHILD,SEX\n1,1\n")
    with pytest.raises(ValueError, match=r"2023-24/episodes.csv: missing column\(s\) RNE, LS"):
        ssda903.read_return(d)


def test_44_file_row_numbers_survive_blank_rows(tmp_path):
    write_return(tmp_path / "r", "2023-24", [{"CHILD": "1", "DECOM": "01/05/2023"}, {"CHILD": "2", "DECOM": "2023/13/45"}])
    p = tmp_path / "r" / "2023-24" / "episodes.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join([lines[0], lines[1], ",,,,,,,,,,,,", lines[2]]) + "\n")
    m = ssda903.merge_returns({"2023-24": ssda903.read_return(p.parent)})
    assert m["quarantine"]["row"].tolist() == [4]


# ---- measures and DfE markers -----------------------------------------------------------------------
def test_45_unreadable_measure_values_and_targets_are_reported_not_guessed():
    df = pd.DataFrame({"v": ["about a third", "12%"], "t": ["soonish", "91%"]})
    (f,) = quality.measure_value_findings("m", df, ["v"], ["t"])
    assert f["count"] == 2 and '"about a third"; "soonish"' in f["finding"]


def test_46_dfe_markers_stay_missing_with_their_meaning():
    d = dfe_values(["12", "c", "x", "z", "low", "1,234", ""])
    assert d["value"].tolist()[:1] == [12.0] and d["value"].iloc[5] == 1234.0
    assert d["value"].iloc[1:5].isna().all() and not (d["value"] == 0).any()
    assert d["meaning"].iloc[1] == "confidential: suppressed to protect individuals"
    assert d["marker"].tolist() == ["", "c", "x", "z", "low", "", ""]


# ---- SSDA903 header, UASC and missing tables (47-56) --------------------------------------------------
def write_tables(tmp_path, header_rows=None, uasc_rows=None, missing_rows=None, episodes=None, year="2023-24"):
    d = tmp_path / "r" / year
    write_return(tmp_path / "r", year, episodes or [{"CHILD": "1", "DECOM": "01/05/2023"}], header=header_rows is None)
    if header_rows is not None:
        pd.DataFrame(header_rows, columns=ssda903.HEADER_COLUMNS).fillna("").to_csv(d / "header.csv", index=False)
    if uasc_rows is not None:
        pd.DataFrame(uasc_rows, columns=ssda903.UASC_COLUMNS).to_csv(d / "uasc.csv", index=False)
    if missing_rows is not None:
        pd.DataFrame(missing_rows, columns=ssda903.MISSING_COLUMNS).to_csv(d / "missing.csv", index=False)
    return ssda903.merge_returns({year: ssda903.read_return(d)})


def by_table(m, table):
    q = m["quarantine"]
    q = q[q["table"] == table]
    return sorted(zip(q["rule"], q["column"], q["value"]))


H = {"CHILD": "1", "SEX": "1", "DOB": "01/01/2010", "ETHNIC": "WBRI", "UPN": "", "MOTHER": "", "MC_DOB": ""}


@pytest.mark.parametrize("n,row,expect", [
    (47, {"DOB": "31/02/2010"}, [("bad_date", "DOB", "31/02/2010")]),
    (48, {"DOB": "01/01/2030"}, [("dob_future", "DOB", "01/01/2030")]),
])
def test_header_rules_quarantine(tmp_path, n, row, expect):
    m = write_tables(tmp_path, header_rows=[H | row])
    assert by_table(m, "header") == expect
    # the episode is kept but its child has no usable header, and that is counted
    r = dict(zip(m["reconciliation"]["item"], m["reconciliation"]["count"]))
    assert r["episodes kept"] == 1 and r["of which the child has no usable header row"] == 1


@pytest.mark.parametrize("n,row,sex", [
    (49, {"SEX": "9"}, None), (50, {"ETHNIC": "XXXX"}, "M"),
    (51, {"SEX": "M"}, "M"),  # M/F only from 2024-25 (1/2 before): a system re-extracting old years writes M/F
])
def test_header_codes_are_flagged_and_the_date_of_birth_kept(tmp_path, n, row, sex):
    m = write_tables(tmp_path, header_rows=[H | row])
    assert by_table(m, "header") == []
    column, value = next(iter(row.items()))
    assert list(zip(m["flags"]["rule"], m["flags"]["column"], m["flags"]["value"])) == [("header_codes", column, value)]
    h = m["header"].iloc[0]
    assert h["DOB"] == pd.Timestamp(2010, 1, 1) and (pd.isna(h["SEX"]) if sex is None else h["SEX"] == sex)


def test_52_two_different_header_rows_for_one_child(tmp_path):
    m = write_tables(tmp_path, header_rows=[H, H | {"ETHNIC": "WIRI"}])
    assert by_table(m, "header") == [("duplicate_child", "CHILD", "1")]
    assert m["header"]["ETHNIC"].tolist() == ["WBRI"]
    t = m["tables"].set_index("table").loc["header"]
    assert (t["rows_read"], t["rows_kept"], t["rows_quarantined"]) == (2, 1, 1)


def test_53_episode_starting_after_18th_birthday_is_quarantined(tmp_path):
    m = write_tables(tmp_path, header_rows=[H | {"DOB": "01/04/2005"}],
                     episodes=[{"CHILD": "1", "DECOM": "01/05/2023"}])
    assert quarantined(m) == [("under_18", "DECOM", "01/05/2023")]
    assert len(m["episodes"]) == 0


@pytest.mark.parametrize("n,row,expect", [
    (54, ["1", "1", "01/01/2007", "01/01/2026"], [("duc_by_18", "DUC", "01/01/2026")]),
    (55, ["1", "1", "01/01/2007", "first of Jan"], [("bad_date", "DUC", "first of Jan")]),
])
def test_uasc_rules(tmp_path, n, row, expect):
    m = write_tables(tmp_path, uasc_rows=[row, ["2", "2", "01/01/2007", "01/01/2025"]])
    assert by_table(m, "uasc") == expect and len(m["uasc"]) == 1


@pytest.mark.parametrize("n,row,expect", [
    (56, ["1", "1", "01/01/2010", "Q", "01/06/2023", "02/06/2023"], [("codes", "MISSING", "Q")]),
    (57, ["1", "1", "01/01/2010", "M", "05/06/2023", "02/06/2023"], [("mis_end_after_start", "MIS_END", "02/06/2023")]),
    (58, ["1", "1", "01/01/2010", "A", "01/06/2024", ""], [("in_year", "MIS_START", "01/06/2024")]),
])
def test_missing_rules(tmp_path, n, row, expect):
    m = write_tables(tmp_path, missing_rows=[row, ["1", "1", "01/01/2010", "M", "01/07/2023", ""]])
    assert by_table(m, "missing") == expect
    assert len(m["missing"]) == 1 and m["missing"]["MIS_END"].isna().all()
