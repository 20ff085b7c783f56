"""Turn the executed notebooks into one self-contained ``pack.html`` with no code in it."""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DROP_TAGS = {"parameters", "injected-parameters", "remove", "remove-cell"}
KEEP_OUTPUTS = {"display_data", "execute_result"}


def pack_notebook(paths: list[Path]) -> nbformat.NotebookNode:
    """One notebook of every pack cell, in order: markdown cells and the displayed outputs of code
    cells. Parameter cells, notebooks marked ``cspack.in_pack: false``, printed text (logs, warnings)
    and any code are left out."""
    merged = nbformat.v4.new_notebook()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if nb.metadata.get("cspack", {}).get("in_pack", True) is False:
            continue
        for cell in nb.cells:
            if DROP_TAGS & set(cell.metadata.get("tags", [])):
                continue
            if cell.cell_type == "markdown":
                merged.cells.append(copy.deepcopy(cell))
            elif cell.cell_type == "code":
                outs = [o for o in cell.get("outputs", []) if o.output_type in KEEP_OUTPUTS]
                if outs:
                    c = copy.deepcopy(cell)
                    c.source = ""
                    c.outputs = outs
                    merged.cells.append(c)
    merged.metadata["kernelspec"] = {"name": "cspack", "display_name": "cspack", "language": "python"}
    merged.metadata["language_info"] = {"name": "python"}
    return merged


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, n = base, 2
    while slug in used:
        slug, n = f"{base}-{n}", n + 1
    used.add(slug)
    return slug


def add_toc(page: str) -> str:
    """Give every section heading (h2) in ``<main>`` a stable id and list them in the contents."""
    head, sep, body = page.partition('<main id="main">')
    if not sep:
        raise ValueError("pack template lost its <main> element")
    used: set[str] = set()
    entries = []

    def fix(m: re.Match) -> str:
        inner = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", m.group(2), flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", "", inner)).strip()
        slug = _slug(text, used)
        entries.append((slug, text))
        return f'<h2 id="{slug}">{inner}</h2>'

    body = re.sub(r"<h2([^>]*)>(.*?)</h2>", fix, body, flags=re.S)
    toc = "<ol>" + "".join(f'<li><a href="#{s}">{html.escape(t)}</a></li>' for s, t in entries) + "</ol>"
    return head.replace("<!-- cspack:toc -->", toc) + sep + body


def export_pack(notebooks: list[Path], meta: dict) -> str:
    """HTML for the pack. ``meta`` fills the title block: title, authority, portfolio,
    quarter_long, data_as_at, version, synthetic (a notice, or empty)."""
    nb = pack_notebook(notebooks)
    exporter = HTMLExporter(template_name="cspack", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"cspack": meta})
    return add_toc(body)
