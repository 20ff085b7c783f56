"""pack.pdf: printed beside pack.html by headless Chromium (Debian's package), A4, with the title and page
numbers in the margins; the published quarter on at most 20 pages and the default on at most 24 (issue 14).
Page counts are read twice: by the exporter, and here from the PDF's page tree (/Count)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from pipeline.build.export import pdf_pages, write_pdf

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NEEDS = "Chromium is required for this test: run `make test` (it installs Debian's chromium)"


def _page_tree_count(pdf: bytes) -> int:
    """The page count the PDF's root page tree declares (the /Pages node with no /Parent)."""
    roots = [body for body in re.findall(rb"<<\s*/Type\s*/Pages\b(.*?)>>", pdf, re.S) if b"/Parent" not in body]
    assert len(roots) == 1, roots
    return int(re.search(rb"/Count\s+(\d+)", roots[0]).group(1))


def _media_boxes(pdf: bytes) -> set[tuple[float, float]]:
    return {(round(float(w)), round(float(h))) for w, h in
            re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)}


def test_without_chromium_no_pdf_and_a_reason(tmp_path, monkeypatch):
    page = tmp_path / "pack.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p></body></html>")
    monkeypatch.setenv("CSPACK_CHROMIUM", str(tmp_path / "no-such-browser"))
    r = write_pdf(page, tmp_path / "pack.pdf", "Title")
    assert r["written"] is False and "Chromium is not installed" in r["reason"]
    assert not (tmp_path / "pack.pdf").exists()


def test_a_page_per_forced_break_on_a4_with_margin_text(tmp_path):
    assert CHROMIUM, NEEDS
    sections = "".join(f'<section style="break-before: page"><h2>Part {i}</h2><p>{"Words. " * 40}</p></section>'
                       for i in range(3))
    page = tmp_path / "pack.html"
    page.write_text(f"<!DOCTYPE html><html lang='en-GB'><head><meta charset='utf-8'><title>t</title></head>"
                    f"<body>{sections}</body></html>", encoding="utf-8")
    r = write_pdf(page, tmp_path / "pack.pdf", "Performance and Budget Monitoring", "Testshire")
    data = (tmp_path / "pack.pdf").read_bytes()
    assert r["written"] is True and r["pages"] == 3
    assert _page_tree_count(data) == 3 == pdf_pages(tmp_path / "pack.pdf")
    assert _media_boxes(data) == {(596, 843)}  # A4 (595 x 842 pt) as Chromium writes it: 595.92 x 842.88


def _check_pack_pdf(result, most: int) -> int:
    pdf = result.out_dir / "pack.pdf"
    assert pdf.is_file(), (result.out_dir / "build.log").read_text(encoding="utf-8")[-2000:]
    data = pdf.read_bytes()
    pages = _page_tree_count(data)
    m = json.loads((result.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert m["pdf"]["written"] is True and m["pdf"]["pages"] == pages
    assert "pack.pdf" in m["outputs"]
    assert _media_boxes(data) == {(596, 843)}
    assert f"wrote pack.pdf ({pages} A4 pages)" in (result.out_dir / "build.log").read_text(encoding="utf-8")
    assert 4 <= pages <= most, f"{pages} pages; at most {most} wanted"
    return pages


@pytest.mark.e2e
def test_published_quarter_prints_on_at_most_20_a4_pages(published_pack):
    assert CHROMIUM, NEEDS
    _, result = published_pack
    _check_pack_pdf(result, 20)


@pytest.mark.e2e
def test_default_quarter_prints_on_at_most_24_a4_pages(built_pack):
    assert CHROMIUM, NEEDS
    _, result = built_pack
    _check_pack_pdf(result, 24)
