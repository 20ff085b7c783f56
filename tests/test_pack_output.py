"""The default pack, built end to end from the bundled data: HTML, tables.xlsx, manifest."""

import hashlib
import html
import json
import re

import openpyxl
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pack(published_pack):
    """Derbyshire's published Q1 2021-22: real figures to check."""
    root, result = published_pack
    return root, result.out_dir, (result.out_dir / "pack.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module", params=["published", "default"])
def any_pack(request, published_pack, built_pack):
    root, result = published_pack if request.param == "published" else built_pack
    return root, result.out_dir, (result.out_dir / "pack.html").read_text(encoding="utf-8")


def test_default_pack_is_the_latest_quarter_and_says_synthetic(built_pack):
    root, result = built_pack
    assert result.out_dir == root / "outputs" / "2026-27" / "Q2"
    page = result.pack.read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    assert "Synthetic data: 18 of the 28 inputs of this pack are synthetic" in text
    assert "calibrated to DfE's published counts for Derbyshire" in text
    assert "Synthetic data. 18 inputs in this pack are produced by cspack's synthetic-authority generator" in text
    assert "SSDA903 returns 2019-20 to 2026-27 (episodes and header), merged into one history" in text
    assert "8 collection years (2019-20 to 2026-27)" in text and "latest usable version was kept" in text
    assert "header found on row 1; 0 subtotal and total rows and 0 blank rows dropped by rule" in text
    assert "read as integer pence (no rounding)" in text
    assert "The forecast outturn for 2026-27 as at Quarter 2 is £" in text


def test_published_quarter_title_block(pack):
    root, out, page = pack
    assert out == root / "outputs" / "2021-22" / "Q1"
    assert "<title>Performance and Budget Monitoring / Forecast Outturn 2021-22 as at Quarter 1</title>" in page
    assert "Derbyshire County Council" in page and "30 June 2021" in page
    assert "Quarter 1 2021-22 (April to June 2021)" in page and "cspack 0.1.0" in page


def test_no_script_or_stylesheet_or_font_from_anywhere(any_pack):
    _, _, page = any_pack
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", page, re.I)


def test_no_code_cells_or_prompts_or_printed_logs(any_pack):
    _, _, page = any_pack
    for leak in ["jp-CodeMirrorEditor", "jp-InputPrompt", 'class="highlight', "jp-OutputPrompt", "In&nbsp;[", "open_quarter", "import ", "display(",
                 "injected-parameters", "work_dir", "Traceback"]:
        assert leak not in page, leak


def test_images_embedded_with_alt_text(any_pack):
    _, _, page = any_pack
    imgs = re.findall(r"<img[^>]*>", page)
    assert imgs, "the summary has a chart"
    for tag in imgs:
        assert 'src="data:image/png;base64,' in tag
        alt = re.search(r'alt="([^"]*)"', tag)
        assert alt and len(alt.group(1)) > 40, tag[:120]
        assert "No description has been provided" not in tag
    assert "Placements for Children in Care/unable to remain at home £" in html.unescape(page)


def test_title_block_contents_and_sections(any_pack):
    _, _, page = any_pack
    toc = re.search(r'<nav[^>]*class="toc".*?</nav>', page, re.S).group(0)
    links = re.findall(r'href="#([^"]+)"', toc)
    assert links[:1] == ["summary"] and "data-quality-and-method" in links
    for target in links:
        assert f'id="{target}"' in page
    assert "@page { size: A4" in page and "@media print" in page


def test_summary_and_data_overview_carry_real_numbers(pack):
    _, _, page = pack
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    text = re.sub(r"\s+", " ", text)
    assert "an overspend of £19.618m (14.9%)" in text
    assert "an overspend of £14.768m (10.9% of £136.086m)" in text
    assert "This pack read 35 inputs" in text
    assert "No synthetic data." in text
    assert "the published total is £150.854m: a rounding difference of £0.002m" in text
    assert "Key areas of success" in text  # the analyst's commentary


def test_commentary_html_is_shown_as_text(small_project):
    from pipeline.build.runner import run_quarter

    c = small_project / "params" / "commentary" / "2021-22-Q1.md"
    c.write_text("## Summary\n\nSee <img src=x onerror=alert(1)> and <script>alert(2)</script>.\n")
    result = run_quarter("2021-22-Q1", small_project, echo=False, progress=False)
    page = result.pack.read_text()
    assert "<script>alert(2)" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_tables_xlsx_has_every_table_with_numbers_as_numbers(pack):
    _, out, _ = pack
    wb = openpyxl.load_workbook(out / "tables.xlsx", read_only=True)
    assert wb.sheetnames[0] == "contents"
    assert {"summary_position", "data_inputs", "data_quality_findings", "data_quarantine"} <= set(wb.sheetnames)
    rows = list(wb["summary_position"].iter_rows(values_only=True))
    assert rows[0][1] == "Controllable Budget £m"
    total = rows[1]
    assert total[0] == "Total" and isinstance(total[1], float) and abs(total[1] - 131.236) < 1e-9
    assert abs(rows[-1][3] - 14.768) < 1e-9
    contents = list(wb["contents"].iter_rows(values_only=True))
    assert len(contents) - 1 == len(wb.sheetnames) - 1


def test_manifest_lets_anyone_rerun_the_pack(pack):
    root, out, _ = pack
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "ok" and m["quarter"] == "2021-22-Q1"
    assert m["params_file"]["path"] == "params/derbyshire-2021-22-Q1-published.yaml"
    assert len(m["inputs"]) == 35
    for i in m["inputs"][:5]:
        assert hashlib.sha256((root / i["path"]).read_bytes()).hexdigest() == i["sha256"]
        assert i["rows"] == i["rows_kept"] + i["rows_dropped"] + i["rows_quarantined"]
    assert {n["notebook"] for n in m["notebooks"]} == {"00_prepare.ipynb", "10_summary.ipynb", "15_performance.ipynb",
                                                      "20_budget.ipynb",
                                                      "30_placements.ipynb", "40_savings_risks_accuracy.ipynb",
                                                      "90_data_and_method.ipynb"}
    assert all(n["seconds"] > 0 and n["cells"] for n in m["notebooks"])
    assert m["packages"]["pandas"][0].isdigit() and "commit" in m["git"]
    assert (out / "notebooks" / "10_summary.ipynb").is_file()


def test_default_pack_carries_every_budget_table_in_xlsx_and_html(built_pack):
    _, result = built_pack
    wb = openpyxl.load_workbook(result.out_dir / "tables.xlsx", read_only=True)
    want = {"budget_forecast", "budget_forecast_sources", "budget_movements", "budget_forecast_by_quarter",
            "budget_savings", "budget_savings_targets", "budget_growth", "budget_risks", "budget_reserves",
            "budget_aged_debt", "budget_traded_fully", "budget_traded_partially", "forecast_accuracy",
            "placements_projection", "placements_mix", "placements_flows", "placements_unit_costs",
            "placements_cost_projection", "placements_scenarios", "placements_backtest",
            "placements_backtest_summary", "performance_measures", "performance_benchmark_cla",
            "performance_deliverables"}
    assert want <= set(wb.sheetnames)
    page = (result.out_dir / "pack.html").read_text(encoding="utf-8")
    for heading in ("Performance", "Key measures by council outcome", "Budget forecast", "Key variances", "Placements", "What-if scenarios", "Budget savings",
                    "Financial risks", "Earmarked reserves", "Debt position", "Traded services", "Forecast accuracy"):
        assert f">{heading}<" in page or f">{heading}</a>" in page, heading
    assert "☐ Over budget" in page and "✗ Shortfall" in page


def test_rebuilding_gives_byte_identical_pack_and_tables(published_pack):
    """Same inputs and parameters, a cold rebuild (the preparation deleted): the same bytes. Run
    times and timestamps live only in manifest.json and build.log."""
    import shutil

    from pipeline.build.runner import run_quarter

    root, result = published_pack
    before = {n: hashlib.sha256((result.out_dir / n).read_bytes()).hexdigest() for n in ("pack.html", "tables.xlsx")}
    shutil.rmtree(root / "data" / "processed" / "2021-22-Q1")
    again = run_quarter(root=root, echo=False, progress=False, params_file="params/derbyshire-2021-22-Q1-published.yaml")
    after = {n: hashlib.sha256((again.out_dir / n).read_bytes()).hexdigest() for n in ("pack.html", "tables.xlsx")}
    assert before == after
    wb = openpyxl.load_workbook(again.out_dir / "tables.xlsx", read_only=True)
    assert wb.properties.modified.year == 2000 and "contents" in wb.sheetnames
