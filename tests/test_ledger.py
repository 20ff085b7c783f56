"""Ledger extracts as councils export them: messy CSV and Excel, subtotals, money as text,
unmapped cost centres. Part of the bad-input catalogue (tests/test_bad_inputs.py has the rest)."""

import io

import openpyxl
import pandas as pd
import pytest

from pipeline.ingest.ledger import LedgerError, read_ledger
from pipeline.synthetic import Config, generate, messify

MAPPING = pd.DataFrame({"cost_centre": ["C1", "C2"], "cost_centre_name": ["Fostering", "Transport"],
                        "service_line_id": ["placements", "school_transport"],
                        "service_line": ["Placements", "Home to School Transport"],
                        "division": ["EH&S", "S&L"], "subjective": ["Transfer payments", "Transport"]})


@pytest.fixture(scope="module")
def generated():
    files = generate(Config())
    return files, messify(files, Config())


def _write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return p


def test_messy_export_cleans_to_the_clean_generation(generated, tmp_path):
    files, messy = generated
    cc = pd.read_csv(io.BytesIO(files["ledger/cost_centres.csv"]), dtype=str, keep_default_na=False)
    for fy in ("2021-22", "2025-26"):
        clean = read_ledger(_write(tmp_path, "c.csv", files[f"ledger/ledger_{fy}.csv"]), cc)
        dirty = read_ledger(_write(tmp_path, "m.csv", messy[f"ledger/ledger_{fy}.csv"]), cc)
        assert dirty.encoding == "cp1252" and dirty.header_row == 5
        assert dirty.reconciles and clean.reconciles and dirty.total_rows > 10
        assert dirty.totals["agrees"].all()  # every subtotal equals its detail to the penny
        cols = list(clean.kept.columns)
        a = clean.kept.sort_values(["month", "cost_centre"]).reset_index(drop=True)
        b = dirty.kept[cols].sort_values(["month", "cost_centre"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
        assert int(a["actual"].sum()) == int(b["actual"].sum())  # totals agree to the penny


def test_excel_with_title_rows_and_two_sheets_is_read_with_calamine(tmp_path):
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Notes"
    notes.append(["This workbook holds the June extract"])
    ws = wb.create_sheet("Detail")
    ws.append(["Derbyshire-style report title"])
    ws.append([])
    ws.append(["Cost Centre", "Subjective", "Actual", "Annual Budget", "Month"])
    ws.append(["C1", "Transfer payments", "£1,234.56", "(10.00)", "2021-06"])
    ws.append(["C2", "Transport", 99.5, "-", "2021-06"])
    ws.append(["", "Total", "1,334.06", "", ""])
    path = tmp_path / "ledger.xlsx"
    wb.save(path)
    r = read_ledger(path, MAPPING)
    assert r.sheet == "Detail" and r.header_row == 3
    assert r.kept["actual"].tolist() == [123456, 9950] and r.kept["budget_annual"].tolist() == [-1000, 0]
    assert r.total_rows == 1 and r.totals["agrees"].all() and r.reconciles
    with pytest.raises(LedgerError, match=r"no sheet 'June'; sheets are Notes, Detail"):
        read_ledger(path, MAPPING, sheet="June")


def test_unmapped_cost_centres_are_one_error_listing_each_code_and_its_total(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Actual,Annual Budget\nC1,10.00,1\nX9,5.00,1\nX9,2.50,1\nZZ1,(1.00),1\n")
    with pytest.raises(LedgerError) as err:
        read_ledger(p, MAPPING)
    msg = str(err.value)
    assert "2 cost centre(s) not in the cost-centre mapping" in msg
    assert "X9 (actual £7.50)" in msg and "ZZ1 (actual £-1.00)" in msg and "C1 (" not in msg


def test_text_in_amounts_is_quarantined_with_row_column_value_and_reason(tmp_path):
    """A bad money cell sets aside that cell's value (row kept, budget intact); a blank cost centre
    sets aside the row."""
    p = _write(tmp_path, "l.csv", "Cost Centre,Actual,Annual Budget\nC1,10.00,1\nC2,ten pounds,1\n,3.00,1\n")
    r = read_ledger(p, MAPPING)
    c = r.cells.set_index("row")
    assert c.at[3, "column"] == "actual" and c.at[3, "value"] == "ten pounds"
    assert c.at[3, "reason"].startswith("expected an amount such as £1,234.56")
    q = r.quarantined.set_index("row")
    assert q.at[4, "column"] == "cost_centre" and q.at[4, "reason"] == "required value is blank"
    assert len(r.kept) == 2 and r.reconciles
    assert r.kept["budget_annual"].tolist() == [100, 100] and r.kept["actual"].isna().tolist() == [False, True]


def test_subtotal_that_disagrees_with_its_detail_is_reported(tmp_path):
    p = _write(tmp_path, "l.csv", "Cost Centre,Cost Centre Name,Actual\nC1,Fostering,10.00\nC2,Transport,5.00\n"
                                  ",Total Placements,16.00\n")
    r = read_ledger(p, MAPPING)
    row = r.totals.iloc[0]
    assert (row["shown_pence"], row["detail_pence"], bool(row["agrees"])) == (1600, 1500, False)


def test_months_are_dates_whatever_their_printed_form(tmp_path):
    p = _write(tmp_path, "l.csv", "Fin Year,Month,Cost Centre,Actual\n"
               "2026-27,2026-04,C1,1.00\n2026-27,May-26,C1,1.00\n2026-27,June 2026,C1,1.00\n2026-27,07/2026,C1,1.00\n"
               "2026-27,01/08/2026,C1,1.00\n2026-27,Smarch,C1,1.00\n2026-27,Mar-26,C2,1.00\n")
    r = read_ledger(p, MAPPING)
    assert list(r.kept["month"].dt.strftime("%Y-%m")) == ["2026-04", "2026-05", "2026-06", "2026-07", "2026-08"]
    q = r.quarantined.set_index("row")
    assert q.at[7, "reason"].startswith("expected a month such as 2026-04") and q.at[7, "value"] == "Smarch"
    assert q.at[8, "reason"] == "month outside financial year 2026-27 (April to March)"
    assert r.reconciles


def test_month_comes_from_period_when_the_export_has_none(tmp_path):
    p = _write(tmp_path, "l.csv", "Fin Year,Period,Cost Centre,Actual\n2026-27,1,C1,1.00\n2026-27,10,C1,1.00\n"
               "2026-27,13,C1,1.00\n")
    r = read_ledger(p, MAPPING)
    assert list(r.kept["month"].dt.strftime("%Y-%m")) == ["2026-04", "2027-01", "2027-03"]
