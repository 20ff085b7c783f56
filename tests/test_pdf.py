"""pack.pdf: printed beside pack.html by headless Chromium (Debian's package), A4, with the title and page
numbers in the margins; the published quarter on at most 20 pages and the default on at most 24 (issue 14).
Page counts are read twice: by the exporter, and here from the PDF's page tree (/Count)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from pipeline.build.export import export_pack, pdf_pages, write_pdf

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


# ---- nothing stranded at a page's foot (issue 14 point 7) ---------------------------------------------
class _Heads(HTMLParser):
    """The text of every heading and table caption, and the words of every table's column headings."""

    def __init__(self):
        super().__init__()
        self.cur, self.buf, self.heads, self.thead, self.cols = None, [], [], False, set()

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "h3", "h4", "caption"):
            self.cur, self.buf = tag, []
        elif tag == "thead":
            self.thead = True
        elif tag == "th" and self.thead:
            self.cur, self.buf = "th", []

    def handle_endtag(self, tag):
        if tag == "thead":
            self.thead = False
        if tag == self.cur:
            text = " ".join("".join(self.buf).split()).rstrip("¶").strip()
            if tag == "th":
                self.cols.update(text.split())
            elif text:
                self.heads.append(text)
            self.cur = None

    def handle_data(self, data):
        if self.cur:
            self.buf.append(data)


def stranded(html: str, pdf) -> list[tuple[int, str]]:
    """(page, heading) for each page whose last content, above the margin text, is a heading or a table's
    caption (with at most its column headings under it): a title printed with nothing under it. Read from
    the PDF's own text and picture positions (poppler's pdftohtml)."""
    assert shutil.which("pdftohtml"), "poppler's pdftohtml is required: run `make test` (it installs poppler-utils)"
    h = _Heads()
    h.feed(html)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["pdftohtml", "-xml", "-q", str(pdf), f"{d}/p"], check=True)
        root = ET.parse(f"{d}/p.xml").getroot()
    found = []
    for page in root.findall("page")[:-1]:
        height = float(page.get("height"))
        lines: list[list] = []  # from the foot up: [top, texts, has a picture, all bold]
        items = []
        for el in page:
            if el.tag in ("text", "image"):
                top = float(el.get("top"))
                if 0.05 * height < top < 0.95 * height:  # not the margin's title, authority, page number
                    items.append((top + float(el.get("height")), top, el.tag == "image",
                                  " ".join("".join(el.itertext()).split()), el.find("b") is not None))
        for _, top, image, text, bold in sorted(items, reverse=True):
            if lines and abs(lines[-1][0] - top) < 4:
                lines[-1][1].append(text)
                lines[-1][2] |= image
                lines[-1][3] &= bold
            else:
                lines.append([top, [text], image, bold])
        i = 0
        while i < len(lines) and not lines[i][2] and all(w in h.cols for t in lines[i][1] for w in t.split()):
            i += 1  # a table's column headings under its caption
        if i == len(lines) or lines[i][2] or not lines[i][3]:
            continue
        text = " ".join(lines[i][1])
        hit = next((hd for hd in h.heads if len(text) >= 6 and text in hd), None)
        if hit:
            found.append((int(page.get("number")), hit))
    return found


def _split_years(pdf) -> list[str]:
    """Financial years alone in a table cell printed over two lines ("2019-" then "20"), which pdftotext
    joins as a line "201920". (A year split at the end of a line of prose is not caught: see docs/print.md.)"""
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [m.group(0) for m in re.finditer(r"(?m)^\s*20(\d\d)(\d\d)\s*$", text)
            if int(m.group(2)) == int(m.group(1)) + 1]


@pytest.mark.e2e
@pytest.mark.parametrize("which", ["default", "published"])
def test_no_heading_or_table_caption_ends_a_printed_page(which, built_pack, published_pack):
    """Measured before the fix on the default pack: the caption and column headings of Outcome 5's
    measures table ended page 4, and "Placement mix and flows" ended page 12 (its chart on page 13)."""
    assert CHROMIUM, NEEDS
    _, result = built_pack if which == "default" else published_pack
    html = result.pack.read_text(encoding="utf-8")
    assert stranded(html, result.out_dir / "pack.pdf") == []
    assert _split_years(result.out_dir / "pack.pdf") == []


def _notebook_pack(tmp_path, cells) -> str:
    import nbformat

    path = tmp_path / "00_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    meta = {"title": "Performance and Budget Monitoring", "authority": "Testshire County Council",
            "portfolio": "Children's Services", "quarter_long": "Quarter 2 2025-26", "data_as_at": "30 September 2025",
            "version": "cspack test", "synthetic": "", "stale": ""}
    return export_pack([path], meta)


def _png() -> str:
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.bar(["a", "b"], [3, 4])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _stranding_page(tmp_path, filler: int, png: str) -> str:
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("## Part")]
    cells += [nbformat.v4.new_markdown_cell(f"Filler paragraph {i}, long enough to take a line of the page.")
              for i in range(filler)]
    rows = "".join(f"<tr><th scope='row'>Measure {j} {'with a long name ' * 2}</th><td>{'why words ' * 12}</td></tr>"
                   for j in range(8))
    cells += [nbformat.v4.new_markdown_cell("### Placement mix"),
              nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("display_data", data={"image/png": png},
                                                                          metadata={"image/png": {"alt": "A chart"}})]),
              nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("display_data", data={"text/html":
                  f"<p>Intro.</p><table class='cspack-table'><caption>Key measures</caption><thead><tr><th scope='col'>"
                  f"Measure</th><th scope='col'>Why</th></tr></thead><tbody>{rows}</tbody></table>"})])]
    return _notebook_pack(tmp_path, cells)


def test_a_heading_and_the_chart_it_introduces_are_one_unsplit_box(tmp_path):
    import nbformat

    png = _png()
    html = _notebook_pack(tmp_path, [
        nbformat.v4.new_markdown_cell("Some text.\n\n### Placement mix and flows"),
        nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("display_data", data={"image/png": png},
                                                                    metadata={"image/png": {"alt": "A chart"}})]),
        nbformat.v4.new_markdown_cell("### A heading with text under it\n\nText."),
        nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("display_data", data={"image/png": png},
                                                                    metadata={"image/png": {"alt": "Another"}})]),
    ])
    assert html.count('<div class="keep-with-chart">') == 1
    box = html[html.index('<div class="keep-with-chart">'):]
    assert box.index("Placement mix and flows") < box.index('alt="A chart"') < box.index('alt="Another"')
    inner = box[:box.index("A heading with text under it")]
    inner = inner[:inner.rindex('<div class="jp-Cell ')]  # up to the next cell: the box is closed by then
    assert inner.count("<div") == inner.count("</div>") and "Placement mix" in inner and 'alt="A chart"' in inner
    assert ".keep-with-chart { break-inside: avoid" in html


def test_headings_and_table_captions_stay_with_what_follows_wherever_they_fall(tmp_path):
    """The heading, chart and table moved down the first page a paragraph at a time: in no position does
    a heading or a caption end a page (before the fix, 6 of these positions stranded one)."""
    assert CHROMIUM, NEEDS
    png, bad = _png(), []
    for n in range(14, 40, 2):
        html = _stranding_page(tmp_path, n, png)
        (tmp_path / "p.html").write_text(html, encoding="utf-8")
        assert write_pdf(tmp_path / "p.html", tmp_path / "p.pdf", "T")["written"]
        bad += [(n, s) for s in stranded(html, tmp_path / "p.pdf")]
    assert bad == []
