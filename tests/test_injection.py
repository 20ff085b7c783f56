"""Strings from data and commentary are rendered as text: markup injected through each input family of
the fixture project (budget lines, funding lines, deliverables, the funding source, commentary) never
reaches the pack as markup."""

import csv
import io

from pipeline.runner import run_quarter

PAYLOAD = '<img src=x onerror="alert(1)">'
SCRIPT = "<script>alert(2)</script>"


def _edit_csv(path, column, row, value):
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[row][column] = value
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def test_markup_in_every_input_family_is_shown_as_text(small_project):
    raw = small_project / "data" / "raw" / "seed004_2021-22-Q1"
    _edit_csv(raw / "budget_lines.csv", "service_line", 0, "Placements " + PAYLOAD)
    _edit_csv(raw / "budget_lines.csv", "short_name", 0, "Placements " + SCRIPT)
    _edit_csv(raw / "additional_funding.csv", "funding_line", 0, "Covid " + PAYLOAD)
    _edit_csv(raw / "deliverables.csv", "deliverable", 1, "Foster carers " + SCRIPT)
    comm = small_project / "params" / "commentary" / "2021-22-Q1.md"
    comm.write_text(comm.read_text() + "\n## Key variances: placements\n\n" + PAYLOAD + " " + SCRIPT + "\n")
    result = run_quarter("2021-22-Q1", small_project, echo=False, progress=False)
    page = (result.out_dir / "pack.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "<script" not in page.lower()
    assert "onerror=&quot;alert(1)&quot;" in page or "onerror=\"alert(1)\"&gt;" in page or "&lt;img src=x" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
