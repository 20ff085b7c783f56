"""Hostile and ordinary-but-awkward inputs (issue 18, the input-reading half): money as finance systems
print it, ledger layouts, and measures and returns. Each case asserts the exact outcome: the right
numbers (checked against the clean input or a plain-pandas count), or refused with a message naming
file, row and column. Cases are numbered H01... and counted with test_bad_inputs.py's 58."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from pipeline.cli import check_quarter
from pipeline.core.params import InputSpec, load_params
from pipeline.finance import budget
from pipeline.ingest.inputs import InputError, read_input
from pipeline.ingest.ledger import LedgerError, read_ledger
from pipeline.ingest.parsing import ParseError, money_convention, read_money
from pipeline.quarter.context import QuarterContext

ROOT = Path(__file__).resolve().parents[1]
LEDGER = ROOT / "data" / "raw" / "synthetic" / "ledger"
MAPPING = pd.DataFrame({"cost_centre": ["C1", "C2"], "cost_centre_name": ["Fostering", "Transport"],
                        "service_line_id": ["placements", "school_transport"],
                        "service_line": ["Placements", "Home to School Transport"],
                        "division": ["EH&S", "S&L"], "subjective": ["Transfer payments", "Transport"]})


def _write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return p


def cells(r):
    return list(zip(r.cells["row"], r.cells["column"], r.cells["reason"]))


# ---- the money reader (H01-H13) ---------------------------------------------------------------------
@pytest.mark.parametrize("n,text,pence", [
    ("H01", "711,562.43CR", -71156243),  # a credit
    ("H02", "711,562.43 DR", 71156243),  # a debit
    ("H03", "\u2212711,562.43", -71156243),  # Unicode minus
    ("H04", "(1\u00a0234.56)", -123456),  # brackets, no-break space as thousands separator
    ("H05", "1\u2009234\u202f567.89-", -123456789),  # thin and narrow no-break spaces, trailing minus
])
def test_money_as_finance_systems_print_it(n, text, pence):
    assert read_money(text).pence == pence


@pytest.mark.parametrize("n,text,message", [
    ("H10", "inf", "expected an amount, got 'inf' (not a finite number"),
    ("H11", "1e400", "expected an amount written out in full, got '1e400' (scientific notation loses the pence"),
    ("H12", "NaN", "expected an amount, got 'NaN' (not a finite number"),
    ("H13", "99999999999999999", "expected an amount under £10 trillion"),
])
def test_impossible_amounts_are_refused(n, text, message):
    with pytest.raises(ParseError) as err:
        read_money(text)
    assert str(err.value).startswith(message)


def test_H06_european_decimals_are_decided_by_the_file_never_the_cell(tmp_path):
    p = _write(tmp_path, "l.csv", "Kostenstelle;Cost Centre;Actual;Annual Budget\n"
                                  "x;C1;1.234,56;12.000,00\nx;C2;(2,50);1.234\n", encoding="utf-8")
    r = read_ledger(p, MAPPING)
    assert r.delimiter == ";" and r.decimal == ","
    assert r.kept["actual"].tolist() == [123456, -250] and r.kept["budget_annual"].tolist() == [1200000, 123400]
    assert any("decimal comma" in n for n in r.notes) and any("semicolon" in n for n in r.notes)
    # "1.234" alone could be either; a file where no cell decides is read the UK way
    assert money_convention(["1.234", "5"])[0] == "."


def test_H07_a_file_mixing_decimal_point_and_decimal_comma_is_refused(tmp_path):
    p = _write(tmp_path, "ledger_x.csv", "Cost Centre,Actual\nC1,\"1,234.56\"\nC2,\"12,5\"\n")
    with pytest.raises(LedgerError, match=r"^ledger_x.csv: money is written both with a decimal point \(1 cells, "
                                          r"e.g. '1,234.56'\) and with a decimal comma \(1 cells, e.g. '12,5'\)"):
        read_ledger(p, MAPPING)


def test_H08_formula_noise_in_a_csv_is_rounded_to_the_penny_and_flagged(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Actual,Annual Budget\nC1,284303.63500000003,1.00\n")
    r = read_ledger(p, MAPPING)
    assert r.kept["actual"].tolist() == [28430364] and r.cells.empty
    assert r.fixes[["row", "column"]].values.tolist() == [[2, "actual"]]
    assert r.fixes["note"].item() == "284303.63500000003 rounded to the penny (284,303.64)"


def test_H09_an_xlsx_formula_result_is_rounded_and_flagged_and_its_row_kept(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Cost Centre", "Actual", "Annual Budget", "Forecast"])
    ws.append(["C1", 100.25, 284303.63500000003, 6256602.0])
    ws.append(["C2", 3.30499999999, 10, 12.5])  # a formula's result: more than pence in a number cell
    ws.append(["C1", 1e-10, -2.5e-11, 0.0])  # a formula's zero (=A1-B1) with floating-point noise
    p = tmp_path / "ledger.xlsx"
    wb.save(p)
    r = read_ledger(p, MAPPING)
    assert r.kept["budget_annual"].tolist() == [28430364, 1000, 0]  # the row is kept, budget and forecast intact
    assert r.kept["forecast_full_year"].tolist() == [625660200, 1250, 0]
    assert r.kept["actual"].tolist() == [10025, 330, 0]
    assert sorted(r.fixes["note"]) == ["-0.000000000025 rounded to the penny (0.00)",
                                       "0.0000000001 rounded to the penny (0.00)",
                                       "284303.635 rounded to the penny (284,303.64)",
                                       "3.30499999999 rounded to the penny (3.30)"]
    assert r.cells.empty


# ---- ledger structure (H14-H31) ---------------------------------------------------------------------
def test_H14_budget_merged_over_month_and_annual_is_resolved(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Ledger at September 2026"])
    ws.append(["Cost Centre", "Actual", "Budget", None, "Forecast"])
    ws.append([None, None, "Month", "Annual", None])
    ws.merge_cells("C2:D2")
    ws.append(["C1", "1,000.00", "500.00", "6,000.00", "6,100.00"])
    ws.append(["C2", "2,000.00", "250.00", "3,000.00", "2,900.00"])
    p = tmp_path / "ledger.xlsx"
    wb.save(p)
    r = read_ledger(p, MAPPING)
    assert r.kept["budget_annual"].tolist() == [600000, 300000]  # the annual column, not the month's
    assert r.kept["budget_month"].tolist() == [50000, 25000]
    assert r.header_row == 3 and r.rows_read == 2 and r.reconciles
    assert "two header rows (rows 2-3) read as one: 'Budget Month', 'Budget Annual'" in r.notes


def test_H18_csv_group_row_above_the_header(tmp_path):
    p = _write(tmp_path, "l.csv", ",,Budget,,\nCost Centre,Actual,Month,Annual,Forecast\nC1,1.00,2.00,24.00,25.00\n")
    r = read_ledger(p, MAPPING)
    assert (r.kept["budget_month"].item(), r.kept["budget_annual"].item()) == (200, 2400) and r.header_row == 2


def test_H15_a_two_row_header_that_cannot_be_resolved_is_refused(tmp_path):
    p = _write(tmp_path, "ledger_q.csv", "Cost Centre,Actual,Budget,\n,,Quarter,Annual\nC1,1.00,2.00,3.00\n")
    with pytest.raises(LedgerError, match=r"^ledger_q.csv, rows 1-2, column 3: a two-row header whose combined "
                                          r"heading 'Budget Quarter' is not a ledger column"):
        read_ledger(p, MAPPING)


def test_H16_a_hidden_draft_sheet_is_never_chosen(tmp_path):
    wb = openpyxl.Workbook()
    draft = wb.active
    draft.title = "Draft"
    draft.append(["Cost Centre", "Actual"])
    draft.append(["C1", 90.0])
    draft.sheet_state = "hidden"
    final = wb.create_sheet("Final")
    final.append(["Cost Centre", "Actual"])
    final.append(["C1", 100.0])
    p = tmp_path / "ledger.xlsx"
    wb.save(p)
    r = read_ledger(p, MAPPING)
    assert r.sheet == "Final" and r.kept["actual"].tolist() == [10000]
    assert "hidden sheet(s) not read: Draft" in r.notes
    final.sheet_state = "hidden"
    draft.sheet_state = "visible"
    wb.active = 0
    wb.save(p)
    assert read_ledger(p, MAPPING).sheet == "Draft"


def test_H17_an_exact_duplicate_row_is_dropped_not_counted_twice(tmp_path):
    p = _write(tmp_path, "l.csv", "Month,Cost Centre,Actual,Annual Budget\n2026-04,C1,10.00,6256602.00\n"
                                  "2026-04,C2,5.00,1.00\n2026-04,C1,10.00,6256602.00\n")
    r = read_ledger(p, MAPPING)
    assert r.kept["budget_annual"].tolist() == [625660200, 100] and r.duplicate_rows == 1 and r.reconciles
    assert any(n.startswith("1 row(s) exact copies of an earlier row, dropped") and "rows 4" in n for n in r.notes)


def test_H19_a_ragged_row_is_quarantined_with_its_reason(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Actual,Annual Budget\nC1,1.00,2815470.98\nC2,1.00,2,815,470.98\n")
    r = read_ledger(p, MAPPING)
    q = r.quarantined
    assert q["row"].tolist() == [3] and q["column"].item() == "(whole row)"
    assert q["reason"].item().startswith("5 fields against 3 headings: a value with an unquoted comma (such as "
                                         "2,815,470.98) shifts the columns")
    assert len(r.kept) == 1 and r.reconciles


def test_H20_a_blank_month_is_filled_from_the_period_and_flagged(tmp_path):
    p = _write(tmp_path, "l.csv", "Fin Year,Period,Month,Cost Centre,Actual\n2026-27,5,2026-08,C1,1.00\n"
                                  "2026-27,6,,C1,2.00\n")
    r = read_ledger(p, MAPPING)
    assert list(r.kept["month"].dt.strftime("%Y-%m")) == ["2026-08", "2026-09"] and r.quarantined.empty
    assert r.fixes["note"].item() == "blank month filled from period 6 (September 2026)"


def test_H21_a_blank_month_without_a_period_is_quarantined(tmp_path):
    p = _write(tmp_path, "l.csv", "Month,Cost Centre,Actual\n2026-08,C1,1.00\n,C1,2.00\n")
    r = read_ledger(p, MAPPING)
    assert list(zip(r.quarantined["row"], r.quarantined["reason"])) == [
        (3, "month is blank and there is no period column to take it from")]


def test_H22_sap_result_rows_are_subtotals(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Cost Centre Name,Actual\nC1,Fostering,10.00\nC1 Result,,10.00\n"
                                  "C2,Transport,5.00\nResult,,5.00\nOverall Result,,15.00\n")
    r = read_ledger(p, MAPPING)
    assert r.kept["actual"].tolist() == [1000, 500] and r.total_rows == 3 and r.reconciles
    assert r.totals["agrees"].all() and len(r.totals) == 3


def test_H26_subtotals_printed_above_their_detail_reconcile(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Cost Centre Name,Actual\n,Total Placements,15.00\nC1,Fostering,10.00\n"
                                  "C1,Fostering,5.00\n,Total Transport,2.00\nC2,Transport,2.00\n,Grand Total,17.00\n")
    r = read_ledger(p, MAPPING)
    assert r.kept["actual"].tolist() == [1000, 500, 200] and r.total_rows == 3 and r.reconciles
    assert r.totals[["row", "detail_pence", "agrees", "position"]].values.tolist() == [
        [2, 1500, True, "above"], [5, 200, True, "above"], [7, 1700, True, "all"]]
    # a subtotal that agrees with neither side is reported against the rows before it
    p = _write(tmp_path, "l.csv", "Cost Centre,Cost Centre Name,Actual\nC1,Fostering,10.00\n,Total,11.00\nC2,T,2.00\n")
    assert read_ledger(p, MAPPING).totals[["detail_pence", "agrees", "position"]].values.tolist() == [[1000, False, "below"]]


def test_H23_unrecognised_extra_columns_are_ignored_with_a_note(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Journal Ref,Supplier,Actual\nC1,J1,ACME,1.00\n")
    r = read_ledger(p, MAPPING)
    assert r.kept["actual"].tolist() == [100] and "Supplier" not in r.kept
    assert "column(s) not used by the pack, ignored: Journal Ref, Supplier" in r.notes


def test_H24_utf16_tab_separated_unicode_text_is_read(tmp_path):
    p = _write(tmp_path, "l.txt.csv", "Cost Centre\tCost Centre Name\tActual\nC1\tCafé £\t1,234.56\n",
               encoding="utf-16")
    r = read_ledger(p, MAPPING)
    assert r.encoding == "utf-16" and r.delimiter == "\t" and r.kept["actual"].tolist() == [123456]
    assert r.kept["cost_centre_name"].tolist() == ["Café £"]


def test_H25_encoding_and_separator_are_named_in_errors(tmp_path):
    p = _write(tmp_path, "ledger_w.csv", "Cost Centre;Actual;Annual Budget\nC1;1,00;2,00\nX9;1,00;2,00\n",
               encoding="cp1252")
    with pytest.raises(LedgerError, match=r"^ledger_w.csv \(semicolon-separated\): 1 cost centre\(s\) not in"):
        read_ledger(p, MAPPING)
    p = _write(tmp_path, "ledger_c.csv", "Cost Centre;Cost Centre Name;Actual\nX9;Caf\xe9;1,00\n", encoding="cp1252")
    with pytest.raises(LedgerError, match=r"^ledger_c.csv \(read as cp1252, semicolon-separated\): 1 cost centre"):
        read_ledger(p, MAPPING)


def test_H27_excel_serial_months_in_a_csv_are_read(tmp_path):
    p = _write(tmp_path, "l.csv", "Fin Year,Month,Cost Centre,Actual\n2026-27,46235,C1,1.00\n2026-27,46266,C1,1.00\n")
    r = read_ledger(p, MAPPING)
    assert list(r.kept["month"].dt.strftime("%Y-%m")) == ["2026-08", "2026-09"] and r.quarantined.empty


def test_H28_an_impossible_serial_is_quarantined_naming_the_row_not_a_timestamp_error(tmp_path):
    p = _write(tmp_path, "l.csv", "Fin Year,Month,Cost Centre,Actual\n2026-27,99999,C1,1.00\n2026-27,461103,C1,1.00\n")
    r = read_ledger(p, MAPPING)
    assert r.quarantined["row"].tolist() == [2, 3]
    assert r.quarantined["reason"].str.startswith("expected a month such as 2026-04").all()


def test_H29_a_mapping_with_human_headings_is_read(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Actual\nC1,1.00\n")
    human = MAPPING.rename(columns={"cost_centre": "Cost Centre", "service_line": "Service Line",
                                    "service_line_id": "Service Line Code", "cost_centre_name": "Cost Centre Name",
                                    "division": "Division", "subjective": "Subjective"})
    r = read_ledger(p, human)
    assert r.kept[["service_line_id", "service_line", "division"]].values.tolist() == [["placements", "Placements", "EH&S"]]


def test_H30_a_mapping_without_a_cost_centre_column_is_one_clear_error(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Actual\nC1,1.00\n")
    with pytest.raises(LedgerError, match=r"^map.csv: no cost_centre column; found Code, Service Line\. Expected headings"):
        read_ledger(p, pd.DataFrame({"Code": ["C1"], "Service Line": ["A"]}), mapping_name="map.csv")


def test_H31_date_cells_in_an_xlsx_month_column(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Fin Year", "Month", "Cost Centre", "Actual"])
    ws.append(["2026-27", datetime.datetime(2026, 9, 1), "C1", 1])
    ws.append(["2026-27", datetime.datetime(2026, 9, 30, 12, 0), "C1", 2])
    p = tmp_path / "ledger.xlsx"
    wb.save(p)
    r = read_ledger(p, MAPPING)
    assert list(r.kept["month"].dt.strftime("%Y-%m")) == ["2026-09", "2026-09"] and r.kept["actual"].tolist() == [100, 200]


# ---- measures and returns (H32-H44) -----------------------------------------------------------------
M_HEAD = "measure_ref,measure_name,polarity,unit,period,value_raw\n"


def read(tmp_path, key, text):
    p = tmp_path / f"{key}.csv"
    p.write_text(text, encoding="utf-8")
    return read_input(InputSpec(key=key, path=p, rel_path=f"returns/{key}.csv", description="", source="t",
                                synthetic=False))


def reasons(res):
    return list(zip(res.quarantined["row"], res.quarantined["column"], res.quarantined["reason"]))


def test_H32_a_fraction_for_a_percentage_is_read_as_a_percentage_with_a_note(tmp_path):
    res = read(tmp_path, "measures", M_HEAD + "f,Foster,higher,percent,2024-2025,69.1%\n"
                                              "f,Foster,higher,percent,2025-2026,70.2%\nf,Foster,higher,percent,2026-2027,0.696\n")
    assert res.kept["value_raw"].tolist() == ["69.1%", "70.2%", "69.6%"] and res.fixed == 1
    assert res.notes == ["row 4: '0.696' for a percentage measure (f) read as 69.6%: a fraction, where the measure's "
                         "other values are percentages"]


def test_H33_an_unsettled_fraction_is_quarantined_not_rated(tmp_path):
    res = read(tmp_path, "measures", M_HEAD + "f,Foster,higher,percent,2026-2027,0.696\n")
    assert reasons(res) == [(2, "value_raw", "'0.696' for a percentage measure looks like a fraction (69.6%?) and the "
                                             "measure's other values do not settle it; write it as a percentage such as 69.6%")]


def test_H34_two_values_for_one_measure_and_period_are_both_quarantined(tmp_path):
    res = read(tmp_path, "measures", M_HEAD + "n,Number,lower,number,2026-2027,\"1,006\"\n"
                                              "n,Number,lower,number,2025-2026,\"1,008\"\nn,Number,lower,number,2026-27,990\n")
    shown = "two values for one measure and period: row 2 ('1,006') and row 4 ('990'); keep the right one"
    assert reasons(res) == [(2, "period", shown), (4, "period", shown)] and res.kept["period"].tolist() == ["2025-2026"]


def test_H35_an_identical_repeat_is_quarantined_as_a_duplicate(tmp_path):
    res = read(tmp_path, "measures", M_HEAD + "n,Number,lower,number,2026-2027,5\nn,Number,lower,number,2026-2027,5\n")
    assert reasons(res) == [(3, "period", "duplicate of row 2 (same measure, period and value)")] and len(res.kept) == 1


def test_H36_year_and_target_wording_is_read(tmp_path):
    res = read(tmp_path, "measures", M_HEAD + "n,N,lower,number,2026/27,5\nn,N,lower,number,Target 2026-27,4\n"
                                              "n,N,lower,number,2025-26,6\n")
    assert res.kept["period"].tolist() == ["2026-2027", "Target 26-27", "2025-2026"] and res.quarantined.empty


def test_H37_a_quarter_or_unknown_period_is_quarantined_with_a_reason_never_dropped(tmp_path):
    res = read(tmp_path, "measures", M_HEAD + "n,N,lower,number,Q2 2026-27,5\nn,N,lower,number,Last year,6\n")
    assert [r[:2] for r in reasons(res)] == [(2, "period"), (3, "period")]
    assert reasons(res)[0][2].startswith("'Q2 2026-27' is a quarter: the measures table holds one value a year")
    assert reasons(res)[1][2].startswith("period 'Last year' not recognised; expected a year such as 2026-2027")
    assert res.rows_in == 2 and len(res.kept) == 0


def test_H38_a_negative_count_is_quarantined(tmp_path):
    res = read(tmp_path, "measures", M_HEAD + "n,Children looked after,lower,number,2026-2027,-12\n")
    assert reasons(res) == [(2, "value_raw", "a count or rate cannot be negative")]


def test_H39_likelihood_three_and_a_half_is_refused_not_truncated(tmp_path):
    res = read(tmp_path, "financial_risks", "service,risk,sensitivity_gbpm,likelihood\nA,R,0.5,3.5\nB,R,0.5,3\n")
    assert reasons(res) == [(2, "likelihood", "expected a whole number from 1 to 5, not a fraction")]
    assert res.kept["likelihood"].tolist() == [3.0]


def test_H40_red_amber_green_ratings_are_refused_naming_file_row_and_column(tmp_path):
    with pytest.raises(InputError) as err:
        read(tmp_path, "deliverables", "deliverable,rating\nA,Good\nB,Amber\nC,Green\n")
    msg = str(err.value)
    assert msg.startswith("returns/deliverables.csv (input 'deliverables'), column rating: 2 rating(s) not on the "
                          "pack's scale (Strong, Good, Review, Action, or blank for not rated): row 3: 'Amber'; row 4: 'Green'.")
    assert "Green as Good, Amber as Review, Red as Action" in msg


def test_H41_rating_case_and_symbols_are_read_as_the_word(tmp_path):
    res = read(tmp_path, "deliverables", "deliverable,rating\nA,good\nB,✗ Action\nC,\nD,STRONG\n")
    assert res.kept["rating"].tolist() == ["Good", "Action", "", "Strong"]


def test_H42_a_total_row_in_a_return_is_not_a_service_line(tmp_path):
    res = read(tmp_path, "budget_lines", "line_id,service_line,short_name,controllable_budget_gbpm,"
                                         "full_year_forecast_gbpm,source\na,A,A,1.0,2.0,s\nb,B,B,3.0,4.0,s\n"
                                         ",Total,,4.0,6.0,s\n")
    assert res.kept["line_id"].tolist() == ["a", "b"] and res.total_rows == 1 and res.quarantined.empty
    assert res.rows_in == len(res.kept) + res.total_rows + res.blank_rows
    assert res.notes[0].startswith("1 total row(s) of the return not read as lines (row 4 ('Total'))")


def test_H43_infinity_and_overflow_in_a_return_are_quarantined(tmp_path):
    res = read(tmp_path, "growth_items", "item,amount_gbpm,kind\nA,inf,x\nB,1e400,x\nC,nan,x\nD,0.5,x\n")
    assert reasons(res) == [(2, "amount_gbpm", "expected a number"), (3, "amount_gbpm", "expected a number"),
                            (4, "amount_gbpm", "expected a number")] and res.kept["amount_gbpm"].tolist() == [0.5]


def test_H44_credits_and_unicode_minus_in_a_return(tmp_path):
    res = read(tmp_path, "additional_funding", "funding_line,amount_gbpm,source\nA,0.5CR,s\nB,\u22121.25,s\nC,2.0 DR,s\n")
    assert res.kept["amount_gbpm"].tolist() == [-0.5, -1.25, 2.0]


# ---- the bundled ledger folder, prepared (H45-H52) --------------------------------------------------
PARAMS = """\
authority: Testshire County Council
authority_code: E99999999
portfolio: Children's Services
quarter: 2026-27-Q2
data_as_at: 2026-09-30
commentary: params/commentary/2026-27-Q2.md
inputs:
  ledger:
    path: data/raw/ledger
    kind: ledger
    source: "synthetic ledger"
    synthetic: true
  cost_centres:
    path: data/raw/ledger/cost_centres.csv
    source: "synthetic ledger"
    synthetic: true
"""


@pytest.fixture
def ledger_project(tmp_path):
    root = tmp_path / "proj"
    shutil.copytree(LEDGER, root / "data" / "raw" / "ledger")
    (root / "params" / "commentary").mkdir(parents=True)
    (root / "params" / "2026-27-Q2.yaml").write_text(PARAMS)
    (root / "params" / "commentary" / "2026-27-Q2.md").write_text("## Summary\n\nNothing.\n")
    (root / "data" / "processed").mkdir(parents=True)
    return root


def prepare(root):
    params = load_params("2026-27-Q2", root)
    ctx = QuarterContext(params=params, root=root, work_dir=root / "data" / "processed" / "2026-27-Q2")
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    return ctx, ctx.prepare()


def edit(root, fn, name="ledger_2026-27.csv"):
    p = root / "data" / "raw" / "ledger" / name
    lines = p.read_text(encoding="utf-8").splitlines()
    p.write_text("\n".join(fn(lines)) + "\n", encoding="utf-8")


def lines_at_q2(ctx):
    t = budget.ledger_forecast(ctx.table("ledger"), "2026-27", 2).set_index("line_id")
    return t[["controllable_budget_gbpm", "full_year_forecast_gbpm"]]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean") / "proj"
    shutil.copytree(LEDGER, root / "data" / "raw" / "ledger")
    (root / "params" / "commentary").mkdir(parents=True)
    (root / "params" / "2026-27-Q2.yaml").write_text(PARAMS)
    (root / "params" / "commentary" / "2026-27-Q2.md").write_text("## Summary\n\nNothing.\n")
    ctx, reg = prepare(root)
    return ctx.table("ledger"), lines_at_q2(ctx)


def test_H45_credits_printed_CR_and_with_a_unicode_minus_give_the_same_pack_numbers(ledger_project, clean):
    def credits(lines):
        out = [lines[0]]
        for i, line in enumerate(lines[1:]):
            cells = line.split(",")
            cells = [(f'"{float(c[1:]):,.2f}CR"' if i % 2 else "\u2212" + c[1:]) if c.startswith("-") else c
                     for c in cells]
            out.append(",".join(cells))
        return out

    edit(ledger_project, credits)
    raw = pd.read_csv(LEDGER / "ledger_2026-27.csv")
    ctx, reg = prepare(ledger_project)
    pd.testing.assert_frame_equal(ctx.table("ledger"), clean[0])
    pd.testing.assert_frame_equal(lines_at_q2(ctx), clean[1])
    # independently: grant income's September budget, with plain pandas from the clean file
    sept = raw[(raw["month"] == "2026-09") & (raw["service_line_id"] == "grant_income")]
    assert clean[1].at["grant_income", "controllable_budget_gbpm"] == pytest.approx(sept["budget_annual"].sum() / 1e6)
    assert clean[1].at["grant_income", "controllable_budget_gbpm"] < 0


def test_H46_a_lost_budget_in_this_year_stops_the_build_naming_file_row_and_column(ledger_project):
    edit(ledger_project, lambda ls: [ls[0]] + [ls[1].replace("2815470.98", "2815470.98XX")] + ls[2:])
    with pytest.raises(InputError) as err:
        prepare(ledger_project)
    msg = str(err.value)
    assert ("1 ledger value(s) of 2026-27 up to September 2026 could not be read, so the service lines they belong "
            "to would be published with a wrong budget, forecast or spend: data/raw/ledger/ledger_2026-27.csv, "
            "row 2, column budget_annual: '2815470.98XX'") in msg


def test_H47_a_lost_value_in_an_earlier_year_is_a_warning_and_the_rest_of_its_row_is_kept(ledger_project, clean):
    edit(ledger_project, lambda ls: [ls[0]] + [ls[1].replace(",2289235.55,", ",2289235.55??,")] + ls[2:],
         "ledger_2019-20.csv")
    ctx, reg = prepare(ledger_project)
    q = ctx.quarantine()
    assert q[["file", "row", "column"]].values.tolist() == [["data/raw/ledger/ledger_2019-20.csv", 2, "budget_annual"]]
    assert q["reason"].item().startswith("value set aside, row kept: expected an amount")
    led = ctx.table("ledger")
    assert len(led) == len(clean[0]) and led["budget_annual"].isna().sum() == 1
    pd.testing.assert_frame_equal(lines_at_q2(ctx), clean[1])  # this quarter's figures are unchanged
    f = ctx.findings()
    assert (f["check"] == "money cells set aside").sum() == 1


def test_H48_the_same_year_in_two_ledger_files_is_an_error_naming_both(ledger_project):
    folder = ledger_project / "data" / "raw" / "ledger"
    shutil.copy(folder / "ledger_2026-27.csv", folder / "ledger_2026-27 - Copy.csv")
    with pytest.raises(InputError, match=r"data/raw/ledger/ledger_2026-27 - Copy.csv and "
                                         r"data/raw/ledger/ledger_2026-27.csv both hold financial year 2026-27"):
        prepare(ledger_project)


def test_H49_a_duplicated_detail_row_is_not_summed(ledger_project, clean):
    edit(ledger_project, lambda ls: ls + [ls[1]])
    ctx, reg = prepare(ledger_project)
    pd.testing.assert_frame_equal(ctx.table("ledger"), clean[0])
    r = reg.set_index("input").loc["ledger"]
    assert r["rows_in"] == r["rows_kept"] + r["rows_dropped"] + r["rows_quarantined"]
    assert (ctx.findings()["finding"].str.contains("1 exact duplicate rows dropped")).sum() == 1


def test_H50_september_with_a_blank_month_stays_in_the_year(ledger_project, clean):
    edit(ledger_project, lambda ls: [ls[0]] + [l.replace(",2026-09,", ",,") for l in ls[1:]])
    ctx, reg = prepare(ledger_project)
    pd.testing.assert_frame_equal(lines_at_q2(ctx), clean[1])
    assert reg.set_index("input").at["ledger", "rows_fixed"] == 34


def test_H51_a_ragged_row_in_this_year_stops_the_build(ledger_project):
    edit(ledger_project, lambda ls: [ls[0]] + [ls[1].replace("2815470.98", "2,815,470.98")] + ls[2:])
    with pytest.raises(InputError, match=r"ledger_2026-27.csv, row 2, column \(whole row\): .*16 fields against 14 "
                                         r"headings"):
        prepare(ledger_project)


def test_H52_cspack_check_reports_a_human_mapping_error_without_a_traceback(ledger_project):
    m = ledger_project / "data" / "raw" / "ledger" / "cost_centres.csv"
    m.write_text("Code,Service\nC200,Disabilities\n")
    code, lines = check_quarter("2026-27-Q2", ledger_project)
    assert code == 1
    assert ("ERROR 1 input(s) of 2026-27-Q2.yaml could not be read:\n  - data/raw/ledger/cost_centres.csv (input "
            "'cost_centres'): no cost_centre column; found Code, Service") in lines[-1]
    assert "Traceback" not in "\n".join(lines)


def test_H53_a_service_line_of_this_quarter_that_cannot_be_read_stops_the_build(ledger_project):
    """The returns' budget lines: a line lost to the quarantine would publish totals without it."""
    (ledger_project / "data" / "raw" / "lines.csv").write_text(
        "line_id,service_line,short_name,controllable_budget_gbpm,full_year_forecast_gbpm,source\n"
        "a,A,A,1.0,2.0,s\nb,Grant income,B,-2.660534CR,-2.4,s\nc,C,C,1.0,1e400,s\n")
    p = ledger_project / "params" / "2026-27-Q2.yaml"
    p.write_text(p.read_text() + "  budget_lines:\n    path: data/raw/lines.csv\n    source: t\n")
    with pytest.raises(InputError) as err:
        prepare(ledger_project)
    assert ("data/raw/lines.csv (input 'budget_lines'): 2 service line(s) could not be read, and the pack would be "
            "published without them: row 3, column controllable_budget_gbpm: '-2.660534CR' (expected a number); "
            "row 4, column full_year_forecast_gbpm: '1e400' (expected a number)") in str(err.value)


def test_H54_a_return_written_with_decimal_commas_is_read_by_the_file_not_the_cell(tmp_path):
    res = read(tmp_path, "growth_items", 'item,amount_gbpm,kind\nA,"0,5",x\nB,"1,234",x\nC,2,x\n')
    assert res.kept["amount_gbpm"].tolist() == [0.5, 1.234, 2.0]  # "1,234" is 1.234 in this file, not 1234
    assert res.notes == ["numbers written with a decimal comma (European style) throughout the file, read as such"]
    with pytest.raises(InputError, match=r"^returns/growth_items.csv \(input 'growth_items'\): money is written both "
                                         r"with a decimal point"):
        read(tmp_path, "growth_items", 'item,amount_gbpm,kind\nA,"0,5",x\nB,1.25,x\n')


def test_H55_excel_error_cells_are_refused_never_read_as_a_nil_amount(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["B3"], ws["C3"], ws["D3"] = "Cost Centre", "Actual", "Annual Budget"
    ws["B4"], ws["C4"], ws["D4"] = "C1", 5.0, "#REF!"
    ws["B5"], ws["C5"], ws["D5"] = "C2", "#N/A", 7.0
    p = tmp_path / "ledger.xlsx"
    wb.save(p)
    r = read_ledger(p, MAPPING)
    assert sorted((row, col) for row, col, _ in cells(r)) == [(4, "budget_annual"), (5, "actual")]
    assert r.cells["reason"].str.contains("not a finite number").all()
    assert r.kept["budget_annual"].isna().tolist() == [True, False]  # missing, not £0


def test_H56_financial_years_as_systems_print_them(tmp_path):
    p = _write(tmp_path, "l.csv", "Fin Year,Period,Cost Centre,Actual\n2026/27,1,C1,1.00\nFY2026-2027,2,C1,1.00\n"
                                  "26/27,3,C1,1.00\n2026-28,4,C1,1.00\n")
    r = read_ledger(p, MAPPING)
    assert r.kept["financial_year"].tolist() == ["2026-27"] * 3
    assert list(r.kept["month"].dt.strftime("%Y-%m")) == ["2026-04", "2026-05", "2026-06"]
    assert list(zip(r.quarantined["row"], r.quarantined["column"], r.quarantined["reason"])) == [
        (5, "financial_year", "expected a financial year such as 2026-27 (or 2026/27, 2026-2027)")]


HOSTILE_CELLS = ["", "-", "4611-03", "461103", "99999", "46266", "46266.0", "2026-13", "1e400", "inf", "nan", "-5",
                 "0", "13", "99", "2026/27", "2026-28", "FY26/27", "#REF!", "\u2212", "(", ")", "CR", "1,2,3",
                 "1.234,56", "1,234.56", "12.345", "284303.63500000003", "Result", "Total", "\x00", "=1+1", "Q2 2026-27"]


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(*[st.one_of(st.sampled_from(HOSTILE_CELLS), st.text(max_size=8))] * 5),
                min_size=1, max_size=6))
def test_H57_any_cells_give_a_reconciled_read_or_a_ledger_error_never_a_traceback(tmp_path, rows):
    """Whatever the cells of fin year, period, month, actual and budget hold, the reader returns a read
    that reconciles (rows read = kept + dropped + quarantined) or stops with a LedgerError."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Fin Year", "Period", "Month", "Cost Centre", "Actual", "Annual Budget"])
    for fy, period, month, actual, budget_ in rows:
        w.writerow([fy, period, month, "C1", actual, budget_])
    p = _write(tmp_path, "fuzz.csv", buf.getvalue())
    try:
        r = read_ledger(p, MAPPING)
    except LedgerError:
        return
    assert r.reconciles
    assert r.kept["actual"].dropna().abs().lt(10 ** 15).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["measures", "financial_risks", "budget_lines", "deliverables"]),
       st.lists(st.lists(st.one_of(st.sampled_from(HOSTILE_CELLS + ["percent", "number", "0.696", "Amber", "3.5",
                                                                    "2026-2027", "Target"]), st.text(max_size=6)),
                         min_size=6, max_size=6), min_size=1, max_size=6))
def test_H58_any_cells_in_a_return_give_a_counted_read_or_an_input_error(tmp_path, key, rows):
    import csv
    import io

    head = {"measures": ["measure_ref", "measure_name", "polarity", "unit", "period", "value_raw"],
            "financial_risks": ["service", "risk", "sensitivity_gbpm", "likelihood", "source", "x"],
            "budget_lines": ["line_id", "service_line", "short_name", "controllable_budget_gbpm",
                             "full_year_forecast_gbpm", "source"],
            "deliverables": ["deliverable", "rating", "priority", "expected_completion", "source", "x"]}[key]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    w.writerows([[c.replace("\x00", "") for c in r] for r in rows])
    try:
        res = read(tmp_path, key, buf.getvalue())
    except InputError:
        return
    quarantined = res.quarantined["row"].nunique()
    assert res.rows_in == len(res.kept) + res.blank_rows + res.total_rows + quarantined


def test_H59_a_line_named_total_something_with_its_own_figures_stays_a_line(tmp_path):
    head = "item,amount_gbpm,kind\n"
    res = read(tmp_path, "growth_items", head + "Social workers,1.0,x\nTotal transport uplift,0.4,x\n"
                                                "Total growth items,1.4,x\nTotal (£m),1.4,x\n")
    assert res.kept["item"].tolist() == ["Social workers", "Total transport uplift"] and res.total_rows == 2
    res = read(tmp_path, "measures", M_HEAD + "t,Total number of children in care,lower,number,2026-2027,5\n")
    assert len(res.kept) == 1 and res.total_rows == 0  # a measure's name is never a total row


def test_H60_periods_as_systems_print_them_and_a_period_that_is_not_one(tmp_path):
    """Without a month column the month comes from the period: a period that cannot be read is
    quarantined naming row and column, never a row with no month left out of the year unseen."""
    p = _write(tmp_path, "l.csv", "Fin Year,Period,Cost Centre,Actual\n2026-27,P06,C1,1.00\n2026-27,Period 7,C1,1.00\n"
                                  "2026-27,06.0,C1,1.00\n2026-27,Sept,C1,1.00\n2026-27,,C1,1.00\n2026-27,17,C1,1.00\n")
    r = read_ledger(p, MAPPING)
    assert list(r.kept["month"].dt.strftime("%Y-%m")) == ["2026-09", "2026-10", "2026-09"]
    assert r.kept["period"].tolist() == [6, 7, 6]
    assert list(zip(r.quarantined["row"], r.quarantined["column"], r.quarantined["reason"])) == [
        (5, "period", "expected a period number from 1 to 16"), (7, "period", "expected a period number from 1 to 16"),
        (6, "period", "period is blank and there is no month column")]
    assert r.reconciles


def test_H61_a_cost_centre_mapped_to_two_lines_is_refused_never_first_wins(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Actual\nC1,1.00\n")
    two = pd.concat([MAPPING, MAPPING.iloc[[0]].assign(service_line_id="school_transport")], ignore_index=True)
    with pytest.raises(LedgerError, match=r"^map.csv: cost centre\(s\) C1 mapped to more than one service line"):
        read_ledger(p, two, mapping_name="map.csv")
    same = pd.concat([MAPPING, MAPPING.iloc[[0]]], ignore_index=True)  # an exact repeat is harmless
    assert read_ledger(p, same).kept["service_line_id"].tolist() == ["placements"]


def test_H62_a_semicolon_return_is_named_as_such(tmp_path):
    with pytest.raises(InputError, match=r"^returns/growth_items.csv \(input 'growth_items'\): missing column\(s\) "
                                         r"item, amount_gbpm, kind; found item;amount_gbpm;kind; the fields look "
                                         r"separated by semicolons: save the file as comma-separated CSV$"):
        read(tmp_path, "growth_items", "item;amount_gbpm;kind\nA;0,5;x\n")


# ---- the held-back set (H63-H95): each a copy of the default quarter's ledger, returns or params with
# one change, as a council (or an attacker) would send it. Added 30 November 2026 after running each
# through `cspack check`; the cases marked "was:" failed before this session's fixes.
import csv as _csv  # noqa: E402
import io as _io  # noqa: E402


def led_rows(root, name="ledger_2026-27.csv"):
    return list(_csv.reader(_io.StringIO((root / "data" / "raw" / "ledger" / name).read_text(encoding="utf-8"))))


def put_rows(root, rows, name="ledger_2026-27.csv", newline="\n", bom=False):
    buf = _io.StringIO()
    _csv.writer(buf, lineterminator=newline).writerows(rows)
    (root / "data" / "raw" / "ledger" / name).write_bytes((("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8"))


MONEY_COLS = {9, 10, 11, 12, 13}  # budget_annual, budget_month, actual, commitment, forecast_full_year


def to_xlsx(root, rows, sheets=(("Ledger", None),), typed=True, before=()):
    """The year's ledger as a workbook instead of its CSV: ``before`` rows above the header; ``typed``
    numbers as number cells (else every cell text, "number stored as text")."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, lines in sheets:
        ws = wb.create_sheet(title)
        if lines is not None:
            for line in lines:
                ws.append(line)
            continue
        for line in before:
            ws.append(line)
        ws.append(rows[0])
        for r in rows[1:]:
            ws.append([float(c) if typed and j in MONEY_COLS and c else (int(c) if typed and j == 1 else c)
                       for j, c in enumerate(r)])
    folder = root / "data" / "raw" / "ledger"
    (folder / "ledger_2026-27.csv").unlink()
    wb.save(folder / "ledger_2026-27.xlsx")
    return folder / "ledger_2026-27.xlsx", wb


def same_figures(ctx, clean):
    """The quarter's budget and forecast by line, and every cost centre's actual by month, equal the clean
    ledger's."""
    pd.testing.assert_frame_equal(lines_at_q2(ctx), clean[1])
    got = ctx.table("ledger").groupby(["cost_centre", "month"])["actual"].sum()
    want = clean[0].groupby(["cost_centre", "month"])["actual"].sum()
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index())


def finding(ctx, text):
    return [f for f in ctx.findings()["finding"] if text in f]


def test_H63_a_workbook_with_a_merged_title_and_a_blank_row_above_the_header(ledger_project, clean):
    rows = led_rows(ledger_project)
    path, wb = to_xlsx(ledger_project, rows, before=[["Children's Services ledger 2026-27"], []])
    wb["Ledger"].merge_cells("A1:N1")
    wb.save(path)
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)
    assert finding(ctx, "two header rows") == []  # was: "two header rows (rows 2-3) read as one: " (a blank row)


def test_H64_a_title_line_directly_above_the_csv_header(ledger_project, clean):
    """was: refused, "a two-row header whose combined heading "Children's ... financial_year" is not a
    ledger column" (the header's Month column made it look like a second heading row)."""
    put_rows(ledger_project, [["Children's Services ledger 2026-27"]] + led_rows(ledger_project))
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)


def test_H65_a_cost_centre_merged_down_over_its_months(ledger_project, clean):
    """was: refused, 170 cells "required value is blank" (a merged cell holds its value in its first cell)."""
    rows = led_rows(ledger_project)
    rows = [rows[0]] + sorted(rows[1:], key=lambda r: (r[3], r[2]))
    path, wb = to_xlsx(ledger_project, rows)
    ws, start, merged = wb["Ledger"], 2, 0
    for i in range(3, len(rows) + 2):
        if i == len(rows) + 1 or ws.cell(i, 4).value != ws.cell(start, 4).value:
            if i - 1 > start:
                ws.merge_cells(start_row=start, start_column=4, end_row=i - 1, end_column=4)
                merged += i - 1 - start
            start = i
    wb.save(path)
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)
    assert merged == 170
    assert finding(ctx, "170 cell(s) under a value merged down over several rows read as that value on each row")


def test_H66_a_byte_order_mark_and_windows_line_endings(ledger_project, clean):
    put_rows(ledger_project, led_rows(ledger_project), newline="\r\n", bom=True)
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)


def test_H67_a_grand_total_row_at_the_bottom_is_dropped_and_reconciled(ledger_project, clean):
    rows = led_rows(ledger_project)
    total = [""] * 14
    total[4] = "Grand Total"
    for j in MONEY_COLS:
        total[j] = f"{sum(float(r[j]) for r in rows[1:] if r[j]):.2f}"
    put_rows(ledger_project, rows + [total])
    ctx, reg = prepare(ledger_project)
    same_figures(ctx, clean)
    assert reg.set_index("input").at["ledger", "rows_dropped"] == 1


def test_H68_an_unlabelled_totals_row_in_this_year_stops_the_build_naming_its_cells(ledger_project):
    rows = led_rows(ledger_project)
    total = [""] * 14
    for j in MONEY_COLS:
        total[j] = f"{sum(float(r[j]) for r in rows[1:] if r[j]):.2f}"
    put_rows(ledger_project, rows + [total])
    with pytest.raises(InputError) as err:
        prepare(ledger_project)
    assert ("2 ledger value(s) of 2026-27 up to September 2026 could not be read, so the service lines they belong to "
            "would be published with a wrong budget, forecast or spend: data/raw/ledger/ledger_2026-27.csv, row 206, "
            "column cost_centre: '' (required value is blank); data/raw/ledger/ledger_2026-27.csv, row 206, column "
            "month: '' (month is blank and the period does not give one)") in str(err.value)


def test_H69_a_percent_sign_in_a_money_cell_stops_the_build_naming_the_cell(ledger_project):
    rows = led_rows(ledger_project)
    rows[1][9] += "%"
    put_rows(ledger_project, rows)
    with pytest.raises(InputError, match=r"data/raw/ledger/ledger_2026-27.csv, row 2, column budget_annual: "
                                         r"'2815470.98%' \(expected an amount such as"):
        prepare(ledger_project)


@pytest.mark.parametrize("style", ["%d/%m/%y", "%d-%b-%y"])
def test_H70_months_as_30_09_26_and_30_SEP_26(ledger_project, clean, style):
    """was: refused, 204 cells "expected a month such as 2026-04" (UK dates with a two-digit year, and
    Oracle's DD-MON-YY)."""
    rows = led_rows(ledger_project)
    for r in rows[1:]:
        end = pd.Timestamp(r[2] + "-01") + pd.offsets.MonthEnd(0)
        r[2] = end.strftime(style).upper()
    put_rows(ledger_project, rows)
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)


def test_H71_periods_written_P6_with_the_month_column_blank(ledger_project, clean):
    rows = led_rows(ledger_project)
    for r in rows[1:]:
        r[1], r[2] = f"P{int(r[1])}", ""
    put_rows(ledger_project, rows)
    ctx, reg = prepare(ledger_project)
    same_figures(ctx, clean)
    assert reg.set_index("input").at["ledger", "rows_fixed"] == 204
    assert finding(ctx, "204 values read by a documented rule (row 2: blank month filled from period 1 (April 2026)")


def test_H72_the_ledger_on_a_sheet_named_with_a_trailing_space_after_a_notes_sheet(ledger_project, clean):
    to_xlsx(ledger_project, led_rows(ledger_project),
            sheets=(("Notes", [["This workbook holds the ledger extract"]]), ("Ledger ", None)))
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)
    assert (ctx.table("ledger")["financial_year"] == "2026-27").sum() == 204


def test_H73_a_workbook_of_numbers_stored_as_text_and_a_percent_formatted_money_cell(ledger_project, clean):
    path, wb = to_xlsx(ledger_project, led_rows(ledger_project), typed=False)
    ws = wb["Ledger"]
    ws.cell(2, 10).value = 2815470.98
    ws.cell(2, 10).number_format = "0.00%"  # shown as 281547098.00%, the cell's value is still the amount
    wb.save(path)
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)


@pytest.mark.parametrize("heading,unit", [("Annual Budget (£000)", "£000"), ("Budget £m", "£m"),
                                          ("Forecast 000s", "000s")])
def test_H74_amounts_in_thousands_or_millions_are_refused_naming_the_heading(ledger_project, heading, unit):
    """was: "Annual Budget (£000)" ignored as a column the pack does not use, every budget nil, exit 0."""
    rows = led_rows(ledger_project)
    j = 13 if heading.startswith("Forecast") else 9
    rows[0][j] = heading
    for r in rows[1:]:
        r[j] = f"{float(r[j]) / 1000:.3f}"
    put_rows(ledger_project, rows)
    with pytest.raises(InputError) as err:
        prepare(ledger_project)
    assert (f"ledger_2026-27.csv, row 1, column {j + 1}: heading {heading!r} gives amounts in {unit}; cspack reads a "
            "ledger in pounds and pence") in str(err.value)


def test_H75_this_years_ledger_without_a_budget_column_is_refused(ledger_project):
    """was: read, every service line's budget nil (£0.000m), `cspack check` exit 0."""
    put_rows(ledger_project, [[c for j, c in enumerate(r) if j not in (9, 10)] for r in led_rows(ledger_project)])
    with pytest.raises(InputError, match=r"data/raw/ledger/ledger_2026-27.csv: holds 2026-27 but has no annual budget "
                                         r"column \(a heading such as 'Annual Budget'\), so every service line would "
                                         r"be published with a nil budget"):
        prepare(ledger_project)


def test_H76_a_row_of_this_year_labelled_with_last_year_stops_the_build(ledger_project):
    """was: quarantined as last year's (a warning), so April's spend on C200 (£258,457.85) left the
    year to date with `cspack check` exit 0."""
    rows = led_rows(ledger_project)
    rows[1][0] = "2025-26"
    put_rows(ledger_project, rows)
    with pytest.raises(InputError, match=r"ledger_2026-27.csv, row 2, column month: '2026-04' \(month outside "
                                         r"financial year 2025-26 \(April to March\)\)"):
        prepare(ledger_project)


def test_H77_a_currency_code_before_the_amounts_stops_the_build_naming_the_cells(ledger_project):
    rows = led_rows(ledger_project)
    for r in rows[1:]:
        r[9] = "GBP " + r[9]
    put_rows(ledger_project, rows)
    with pytest.raises(InputError) as err:
        prepare(ledger_project)
    msg = str(err.value)
    assert msg.count("column budget_annual: 'GBP ") == 10 and "204 ledger value(s) of 2026-27" in msg


def test_H78_a_mapping_with_a_byte_order_mark_crlf_and_empty_trailing_columns(ledger_project, clean):
    p = ledger_project / "data" / "raw" / "ledger" / "cost_centres.csv"
    text = p.read_text(encoding="utf-8")
    p.write_bytes(("\ufeff" + "\r\n".join(line + ",," for line in text.splitlines()) + "\r\n").encode("utf-8"))
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)


def test_H79_an_empty_file_and_a_folder_named_like_a_ledger_file(ledger_project, clean):
    folder = ledger_project / "data" / "raw" / "ledger"
    (folder / "ledger_2018-19.csv").mkdir()  # a folder is not a ledger file: not read
    ctx, _ = prepare(ledger_project)
    same_figures(ctx, clean)
    (folder / "ledger_2027-28.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"ledger_2027-28.csv: the file is empty"):
        prepare(ledger_project)


def test_H80_a_return_given_as_a_workbook_is_refused_with_what_to_do(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["measure_ref", "period", "value_raw"])
    wb.active.append(["cla_pct_foster", "2026-2027", 0.703])
    wb.active["C2"].number_format = "0.0%"
    p = tmp_path / "measures.xlsx"
    wb.save(p)
    with pytest.raises(InputError, match=r"^returns/measures.xlsx \(input 'measures'\): expected a .csv file, got an "
                                         r"Excel workbook; save the sheet as CSV UTF-8"):
        read_input(InputSpec(key="measures", path=p, rel_path="returns/measures.xlsx", description="", source="t",
                             synthetic=False))


def test_H81_percentages_with_a_space_before_the_sign_and_a_unicode_minus(tmp_path):
    """was: "\u221212.5%" not a recognised value (quarantined)."""
    from pipeline.ingest.parsing import parse_measure_value

    got = [(v.status, v.value, v.unit) for v in map(parse_measure_value, ["69.6 %", "\u221212.5%", "\u2013 3.2", "70.3%"])]
    assert got == [("value", 69.6, "percent"), ("value", -12.5, "percent"), ("unparsed", None, None),
                   ("value", 70.3, "percent")]


def test_H82_a_percent_sign_in_a_budget_return_stops_the_build(tmp_path):
    text = (ROOT / "data/raw/synthetic/returns/2026-27-Q2/budget_lines.csv").read_text(encoding="utf-8")
    res = read(tmp_path, "budget_lines", text.replace(",70.0,90.068736,", ",70.0%,90.068736,"))
    assert reasons(res) == [(2, "controllable_budget_gbpm", "expected a number")]


def test_H83_a_return_with_a_byte_order_mark_and_crlf_reads_the_same(tmp_path):
    text = (ROOT / "data/raw/synthetic/returns/2026-27-Q2/budget_lines.csv").read_text(encoding="utf-8")
    plain = read(tmp_path, "budget_lines", text).kept
    p = tmp_path / "budget_lines.csv"
    p.write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8"))
    other = read_input(InputSpec(key="budget_lines", path=p, rel_path="returns/budget_lines.csv", description="",
                                 source="t", synthetic=False)).kept
    pd.testing.assert_frame_equal(plain, other)
    independent = pd.read_csv(ROOT / "data/raw/synthetic/returns/2026-27-Q2/budget_lines.csv")
    assert plain["controllable_budget_gbpm"].tolist() == independent["controllable_budget_gbpm"].tolist()


# ---- params and paths ------------------------------------------------------------------------------
def _params_text(root):
    return (root / "params" / "2026-27-Q2.yaml").read_text(encoding="utf-8")


def _set_params(root, text):
    (root / "params" / "2026-27-Q2.yaml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("n,change,message", [
    ("H84", lambda t: t + "settings:\n  projected_lines: " + "[" * 5000 + "]" * 5000 + "\n",
     r"^params/2026-27-Q2.yaml: not valid YAML: nested too deeply$"),
    ("H85", lambda t: t + "settings:\n  placement_paths: 1000\n  placement_paths: 5\n",
     r"^params/2026-27-Q2.yaml, line \d+: not valid YAML: the key 'placement_paths' is written twice \(first on line "
     r"\d+\): keep one$"),
    ("H86", lambda t: t.replace("authority_code: E99999999", 'authority_code: !!python/object/apply:os.system ["id"]'),
     r"^params/2026-27-Q2.yaml, line 2: not valid YAML: could not determine a constructor for the tag "
     r"'tag:yaml.org,2002:python/object/apply:os.system'$"),
    ("H87", lambda t: t + "settings:\n  extra:\n" + "".join("  " * (i + 2) + f"k{i}:\n" for i in range(60)),
     r"^params/2026-27-Q2.yaml: settings.extra is not a known setting"),
    ("H88", lambda t: t.replace("    path: data/raw/ledger/cost_centres.csv",
                                "    path: data/raw/ledger/cost_centres.csv\n    path: data/raw/ledger/x.csv"),
     r"^params/2026-27-Q2.yaml, line \d+: not valid YAML: the key 'path' is written twice"),
])
def test_hostile_params_are_one_line_errors(ledger_project, n, change, message):
    """H84 deeply nested YAML, H85 a setting written twice (was: the second silently won), H86 a Python
    tag, H87 a deeply nested unknown setting, H88 an input's path written twice (was: the second won)."""
    from pipeline.core.params import ParamsError

    _set_params(ledger_project, change(_params_text(ledger_project)))
    with pytest.raises(ParamsError, match=message) as err:
        load_params("2026-27-Q2", ledger_project)
    assert "\n" not in str(err.value)


def test_H89_a_path_climbing_out_with_dot_dot_is_refused_and_one_staying_inside_is_read(ledger_project):
    from pipeline.core.params import ParamsError

    text = _params_text(ledger_project)
    climb = "../" * (len(ledger_project.resolve().parts) + 2) + "etc/passwd"
    _set_params(ledger_project, text.replace("path: data/raw/ledger/cost_centres.csv", f"path: data/raw/{climb}"))
    with pytest.raises(ParamsError, match=r"inputs.cost_centres: data/raw/(\.\./)+etc/passwd lies outside the project's "
                                          r"data/ and params/ folders"):
        load_params("2026-27-Q2", ledger_project)
    _set_params(ledger_project, text.replace("path: data/raw/ledger/cost_centres.csv",
                                             "path: data/raw/../raw/ledger/../ledger/cost_centres.csv"))
    assert load_params("2026-27-Q2", ledger_project).inputs["cost_centres"].path == \
        (ledger_project / "data/raw/ledger/cost_centres.csv").resolve()


def test_H90_a_1_gb_sparse_file_is_refused_by_its_size_before_it_is_read(ledger_project):
    """was: `cspack check` read it, holding 5.3 GB of memory (a 1 GB sparse budget-lines return) and 3.7 GB
    (a 1 GB ledger file), for minutes."""
    from pipeline.core.params import ParamsError

    p = ledger_project / "data" / "raw" / "ledger" / "ledger_2026-27.csv"
    p.unlink()
    with open(p, "wb") as f:
        f.write(b"financial_year,period,month\n")
        f.truncate(1 << 30)
    with pytest.raises(ParamsError, match=r"inputs.ledger: data/raw/ledger/ledger_2026-27.csv is 1,073,741,824 bytes, "
                                          r"more than the 250,000,000 an input file may hold"):
        load_params("2026-27-Q2", ledger_project)


def test_H91_a_file_name_that_is_not_utf8_is_named_with_its_byte_escaped(ledger_project):
    """was: `cspack check` exit 1 with "'utf-8' codec can't encode character '\\udce9' in position 21:
    surrogates not allowed", naming no file."""
    import os

    from pipeline.core.params import ParamsError

    folder = ledger_project / "data" / "raw" / "ledger"
    shutil.copyfile(folder / "ledger_2026-27.csv", os.path.join(os.fsencode(folder), b"ledger_2026-27 copie \xe9.csv"))
    with pytest.raises(ParamsError, match=r"inputs.ledger: the name of data/raw/ledger/ledger_2026-27 copie \\xe9.csv "
                                          r"is not UTF-8 text") as err:
        load_params("2026-27-Q2", ledger_project)
    str(err.value).encode("utf-8")  # printable


def test_H92_cspack_check_answers_hostile_params_in_one_line_with_exit_2(ledger_project, monkeypatch, capsys):
    from pipeline import cli

    monkeypatch.setenv("CSPACK_ROOT", str(ledger_project))
    _set_params(ledger_project, _params_text(ledger_project) + "settings:\n  projected_lines: " + "[" * 5000 + "]" * 5000)
    assert cli.main(["check"]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert out.err.strip() == "cspack: params/2026-27-Q2.yaml: not valid YAML: nested too deeply"


def test_H96_a_cell_of_5_mb_is_one_clear_error_naming_the_line(tmp_path, ledger_project):
    """was: "cspack: unexpected error: Error: field larger than field limit (131072)", naming no file."""
    text = (ROOT / "data/raw/synthetic/returns/2026-27-Q2/deliverables.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    lines.insert(2, '"High performing services","' + "A" * 5_000_000 + '",Good,2026-03-31,x')
    with pytest.raises(InputError, match=r"^returns/deliverables.csv \(input 'deliverables'\): line 3: not a readable "
                                         r"CSV row \(field larger than field limit \(131072\)\)"):
        read(tmp_path, "deliverables", "\n".join(lines) + "\n")
    rows = led_rows(ledger_project)
    rows[3][4] = "A" * 200_000
    put_rows(ledger_project, rows)
    with pytest.raises(InputError, match=r"ledger_2026-27.csv: line 4: not a readable CSV row"):
        prepare(ledger_project)


def test_H97_a_commentary_saved_as_windows_1252_is_named_with_its_line(ledger_project):
    """was: "cspack: unexpected error: CommentaryError: ..." pointing to the error log."""
    from pipeline.core.params import ParamsError

    (ledger_project / "params" / "commentary" / "2026-27-Q2.md").write_bytes(
        "## Summary\n\nSavings of £2m were found.\n".encode("cp1252"))
    with pytest.raises(ParamsError, match=r"commentary: params/commentary/2026-27-Q2.md is not UTF-8 text \(line 3, "
                                          r"byte 23: b'\\xa3'\); save it as UTF-8"):
        load_params("2026-27-Q2", ledger_project)


def test_H98_a_symlink_loop_in_the_ledger_folder_is_named(ledger_project):
    """was: "cspack: unexpected error: RuntimeError: Symlink loop from ...\"."""
    import os

    from pipeline.core.params import ParamsError

    os.symlink("loop", ledger_project / "data" / "raw" / "ledger" / "loop")
    with pytest.raises(ParamsError, match=r"inputs.ledger: data/raw/ledger/loop is unreadable \(Too many levels of "
                                          r"symbolic links\), not a regular file"):
        load_params("2026-27-Q2", ledger_project)


def test_H99_actuals_dated_after_the_quarter_leave_its_figures_unchanged(ledger_project, clean):
    rows = led_rows(ledger_project)
    late = list(rows[1])
    late[1], late[2], late[11] = "10", "2027-01", "999999.00"
    put_rows(ledger_project, rows + [late])
    ctx, _ = prepare(ledger_project)
    pd.testing.assert_frame_equal(lines_at_q2(ctx), clean[1])
