"""Hostile inputs against the outputs and the params (issue 18, "Safe outputs" for tables.xlsx and
"Params and paths"): no live formula in tables.xlsx, YAML bombs refused, paths kept inside the project,
only regular files read, commentary bounded and split in linear time, OS errors in one line."""

import re
import zipfile

import openpyxl
import pandas as pd
import pytest

from pipeline.tables import TableStore

HOSTILE = ['=HYPERLINK("http://evil.example/","click")', "= Unchanged", "+1", "-x", "@SUM(A1)",
           "=1+1", "\t=cmd", "plain text"]


def test_tables_xlsx_has_no_formula_cell_and_keeps_every_value(tmp_path):
    store = TableStore(tmp_path)
    df = pd.DataFrame({"label": HOSTILE, "value": [1.5, 2, -3, 4, 5, 6, 7, 8]})
    store.publish("hostile", df, "Hostile strings", "Summary")
    # a heading can be hostile too, and a control character must not stop the export
    store.publish("headings", pd.DataFrame({"=SUM(A1:A2)": ["a\x07b"], "n": [1]}), "=cmd|' /C calc'!A0", "Summary")
    out = tmp_path / "tables.xlsx"
    store.write_xlsx(out)
    with zipfile.ZipFile(out) as z:
        sheets = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/sheet")}
    assert len(sheets) == 3
    for name, xml in sheets.items():
        assert not re.search(r"<f[ >]", xml), f"{name} holds a formula element"
    wb = openpyxl.load_workbook(out)
    ws = wb["hostile"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("label", "value")
    assert [r[0] for r in rows[1:]] == HOSTILE  # every string kept exactly, as text
    assert [r[1] for r in rows[1:]] == [1.5, 2, -3, 4, 5, 6, 7, 8]  # numbers stay numbers
    for row in ws.iter_rows(min_row=2, max_col=1):
        c = row[0]
        assert c.data_type == "s"
        assert c.quotePrefix == (c.value != "plain text")  # Excel keeps a re-edited cell as text
    h = wb["headings"]
    assert h["A1"].value == "=SUM(A1:A2)" and h["A1"].data_type == "s"
    assert h["A2"].value == "a\ufffdb"
    assert wb["contents"]["B3"].value == "=cmd|' /C calc'!A0" and wb["contents"]["B3"].data_type == "s"
