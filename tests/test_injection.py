"""Strings from data and commentary are rendered as text: markup injected through each input family of
the fixture project (budget lines, funding lines, deliverables, the funding source, commentary) never
reaches the pack as markup, and a formula never reaches tables.xlsx as a formula."""

import csv
import io

from pipeline.build.runner import run_quarter

PAYLOAD = '<img src=x onerror="alert(1)">'
SCRIPT = "<script>alert(2)</script>"
FORMULA = '=HYPERLINK("http://evil.example/","click")'


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


def test_markup_in_the_ledger_and_ssda903_is_shown_as_text(tmp_path):
    """The default quarter with markup in the ledger's service-line and cost-centre names and in SSDA903
    codes and postcodes: the pack and tables.xlsx carry it only as text (or not at all)."""
    import pandas as pd
    import yaml

    from .conftest import copy_project

    root = copy_project(tmp_path / "proj")
    params = root / "params" / "2026-27-Q2.yaml"
    p = yaml.safe_load(params.read_text(encoding="utf-8"))
    p["settings"]["placement_paths"] = 100  # the model's size does not matter here
    params.write_text(yaml.safe_dump(p, sort_keys=False), encoding="utf-8")
    led_file = root / "data" / "raw" / "synthetic" / "ledger" / "ledger_2026-27.csv"
    led = pd.read_csv(led_file, dtype=str, keep_default_na=False)
    first = led["service_line_id"] == led.at[0, "service_line_id"]
    led.loc[first, "service_line"] = led.loc[first, "service_line"] + " " + PAYLOAD
    led.loc[0, "cost_centre_name"] = "Centre " + SCRIPT
    led.to_csv(led_file, index=False)
    eps_file = root / "data" / "raw" / "synthetic" / "ssda903" / "2026-27" / "episodes.csv"
    eps = pd.read_csv(eps_file, dtype=str, keep_default_na=False)
    eps.loc[0, "PLACE"] = PAYLOAD
    eps.loc[1, "HOME_POST"] = SCRIPT
    eps.loc[2, "DECOM"] = FORMULA  # an unreadable start date: quarantined, so listed in tables.xlsx's quarantine sheet
    eps.to_csv(eps_file, index=False)
    result = run_quarter(None, root, echo=False, progress=False)
    page = (result.out_dir / "pack.html").read_text(encoding="utf-8")
    assert "<img src=x" not in page and "<script" not in page.lower()
    assert "&lt;img src=x" in page  # the service line's name reached the budget table, as text
    import zipfile

    with zipfile.ZipFile(result.out_dir / "tables.xlsx") as z:
        xml = b"".join(z.read(n) for n in z.namelist() if n.endswith(".xml"))
    assert b"<img src=x" not in xml and b"<script" not in xml.lower()
    assert b"&lt;img src=x" in xml  # the quarantined PLACE code is listed, as text
    # no cell of tables.xlsx is a formula: the injected =HYPERLINK and the pack's own "= Unchanged" are text
    assert b"<f>" not in xml and b"<f " not in xml
    assert b"=HYPERLINK(" in xml
