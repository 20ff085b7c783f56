"""Turn the executed notebooks into one self-contained ``pack.html`` with no code in it, and print it to
``pack.pdf`` with headless Chromium.

The pack is safe to open: links keep only the http, https and mailto schemes and in-page anchors (any
other link is shown as its text), pictures are only the charts embedded in the pack (a picture from
anywhere else is dropped with a note), and a Content-Security-Policy in the head forbids script and
any load from outside the file."""

from __future__ import annotations

import copy
import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from pipeline.core.formatting import and_list
from pipeline.quarter.context import QuarterContext
from pipeline.quarter.freshness import assess, day_words, quarter_words, stale_inputs

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
        start = len(merged.cells)
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
        merged.cells[start:] = drop_empty_headings(merged.cells[start:])
    merged.metadata["kernelspec"] = {"name": "cspack", "display_name": "cspack", "language": "python"}
    merged.metadata["language_info"] = {"name": "python"}
    return merged


def _heading_level(cell) -> int | None:
    """The level of a markdown cell that holds nothing but headings (its highest), else None."""
    if cell.cell_type != "markdown":
        return None
    lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip()]
    if not lines or not all(re.match(r"#{1,6}\s", ln) for ln in lines):
        return None
    return min(len(ln) - len(ln.lstrip("#")) for ln in lines)


def drop_empty_headings(cells: list) -> list:
    """Leave out a heading with nothing under it: a markdown cell of headings only, followed by no
    displayed output or text before the next heading of the same or a higher level (a section a
    quarter does not have, such as the placement sections of a quarter without child-level data)."""
    keep = []
    for i, cell in enumerate(cells):
        level = _heading_level(cell)
        if level is None:
            keep.append(cell)
            continue
        has_content = False
        for nxt in cells[i + 1:]:
            first = next((ln.strip() for ln in nxt.source.splitlines() if ln.strip()), "") \
                if nxt.cell_type == "markdown" else ""
            if re.match(r"#{1,6}\s", first) and len(first) - len(first.lstrip("#")) <= level:
                break  # the next section of the same or a higher level
            if _heading_level(nxt) is None:  # a displayed output, or markdown text
                has_content = True
                break
        if has_content:
            keep.append(cell)
    return keep


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


# The pack's Content-Security-Policy (a meta element in its head): no script, no fonts, frames or
# connections, pictures only from the file itself (data: URLs), styles only inline.
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")
SAFE_SCHEMES = {"http", "https", "mailto"}
SAFE_IMAGE = re.compile(r"^data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*$")
_ATTR = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_LINK = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", re.S | re.I)
_IMG = re.compile(r"<img\b([^>]*?)/?>", re.S | re.I)
# elements that load or run something and never belong in a pack (raw HTML in Markdown)
_ACTIVE = re.compile(r"<(script|iframe|frame|frameset|object|embed|applet|base|link|form|meta|portal|noscript|"
                     r"template|animate|animatemotion|animatetransform|set|handler|listener)\b[^>]*>"
                     r"(?:.*?</\1\s*>)?", re.S | re.I)
# any start tag, its attributes read with their quotes (a ">" inside a quoted value does not end it)
_TAG = re.compile(r"""<([A-Za-z][A-Za-z0-9:._-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>""")
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style\s*>)", re.S | re.I)
# attributes whose value is an address the browser may load or follow
_URL_ATTRS = {"href", "xlink:href", "src", "srcset", "action", "formaction", "poster", "background", "data",
              "lowsrc", "dynsrc", "ping", "cite", "longdesc", "codebase", "archive", "classid", "manifest", "icon",
              "usemap", "srcdoc", "xml:base", "imagesrcset"}
# CSS that loads something: url(...) other than an embedded picture, @import, and old IE's expression()
_CSS_LOAD = re.compile(r"""url\(\s*(?!['"]?data:image/(?:png|jpeg|gif);)[^)]*\)|@import[^;]*;?|expression\s*\(""",
                       re.I)


def _attrs(text: str) -> dict[str, str]:
    out = {}
    for name, value in _ATTR.findall(text):
        if value[:1] in "\"'":
            value = value[1:-1]
        out.setdefault(name.lower(), html.unescape(value))
    return out


def safe_url(url: str) -> bool:
    """True for a link a reader may follow from the pack: an in-page anchor, or an http, https or
    mailto URL. Browsers ignore control characters and spaces inside a scheme (``java\tscript:``), so
    they are removed before the scheme is read; a link with no scheme (a relative file) is unsafe."""
    u = re.sub(r"[\x00-\x20\x7f-\x9f]+", "", html.unescape(url))
    if u.startswith("#"):
        return True
    m = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", u)
    return bool(m) and m.group(1).lower() in SAFE_SCHEMES and not u.lower().startswith(("http:///", "https:///"))


def make_safe(page: str, notes: list[str] | None = None) -> str:
    """Neutralise what could run script or load from outside the pack: unsafe links become their text,
    pictures other than embedded PNG/JPEG/GIF data become a short note, active elements are removed,
    every ``on...`` event attribute goes, every other element loses any address but an in-page anchor
    (SVG ``xlink:href``, ``formaction``, ``poster``, ``background``, ``srcset``, ...) and any style that loads
    something (``url()``, ``@import``). Each change is added to ``notes`` for the build log."""
    notes = notes if notes is not None else []

    def link(m: re.Match) -> str:
        a = _attrs(m.group(1))
        href = a.get("href")
        if href is None or safe_url(href):
            if href is not None and re.match(r"\s*(https?|mailto):", href, re.I):
                keep = {k: v for k, v in a.items() if not k.startswith("on") and k in ("href", "title", "class", "id")}
                attrs = "".join(f' {k}="{html.escape(v)}"' for k, v in keep.items())
                return f'<a{attrs} rel="noopener noreferrer">{m.group(2)}</a>'
            return re.sub(r"\s+on[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", "", m.group(0), flags=re.I)
        notes.append(f"a link with an unsafe address ({href[:60]!r}) was shown as text only")
        return f'<span class="unsafe-link">{m.group(2)}</span>'

    def image(m: re.Match) -> str:
        a = _attrs(m.group(1))
        src = a.get("src", "")
        if SAFE_IMAGE.match(src) and not a.get("srcset"):
            return re.sub(r"\s+on[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", "", m.group(0), flags=re.I)
        notes.append(f"a picture from outside the pack ({src[:60]!r}) was left out; only charts made by cspack "
                     "are shown")
        alt = a.get("alt", "").strip()
        return (f'<span class="dropped-image">[Picture not shown{": " + html.escape(alt) if alt else ""}. '
                "The pack shows only the charts it contains.]</span>")

    def active(m: re.Match) -> str:
        notes.append(f"an HTML element that loads or runs something ({m.group(1).lower()}) was removed")
        return ""

    def css(text: str) -> str:
        clean = _CSS_LOAD.sub(lambda c: "" if c.group(0).startswith("@") else "none", html.unescape(text))
        if clean != html.unescape(text):
            notes.append("a style that loads something from outside the pack (url(), @import) was removed")
            return clean
        return text

    def tag(m: re.Match) -> str:
        """Any other element: no event attribute, no address but an in-page anchor (or, on a link, a web
        or mail address; on a picture, an embedded PNG/JPEG/GIF), no style that loads something."""
        name = m.group(1).lower()
        kept, changed = [], False
        for k, v in _ATTR.findall(m.group(2).rstrip("/")):
            key = k.lower()
            value = html.unescape(v[1:-1] if v[:1] in "\"'" else v)
            if key.startswith("on"):
                changed = True
                notes.append(f"an event attribute ({key}) that would run script was removed")
                continue
            if key in _URL_ATTRS:
                fine = ((key in ("href", "xlink:href") and value.strip().startswith("#"))
                        or (name in ("a", "area") and key in ("href", "xlink:href") and safe_url(value))
                        or (name == "img" and key == "src" and SAFE_IMAGE.match(value)))
                if not fine:
                    changed = True
                    notes.append(f"an address ({key}={value[:60]!r}) on a {name} element was removed")
                    continue
            if key == "style" and _CSS_LOAD.search(html.unescape(value)):
                changed = True
                value = css(value)
            kept.append((k, value, v))
        if not changed:
            return m.group(0)
        attrs = "".join(f' {k}="{html.escape(value)}"' if v else f" {k}" for k, value, v in kept)
        return f"<{m.group(1)}{attrs}{' /' if m.group(2).rstrip().endswith('/') else ''}>"

    head, sep, body = page.partition("<body")
    body = _ACTIVE.sub(active, body)
    body = _LINK.sub(link, body)
    body = _IMG.sub(image, body)
    body = _STYLE.sub(lambda m: m.group(1) + css(m.group(2)) + m.group(3), body)
    body = _TAG.sub(tag, body)
    return head + sep + body


def fix_heading_levels(page: str) -> str:
    """Headings in ``<main>`` that skip a level (a level-4 heading straight under a level-2 section) are
    moved up so that each is at most one level below the heading it sits under, keeping their relative
    order: a screen reader's outline then has no gaps. The page's only level-1 heading is its title."""
    head, sep, body = page.partition('<main id="main">')
    if not sep:
        return page
    stack: list[tuple[int, int]] = []  # (level written, level given)

    def fix(m: re.Match) -> str:
        level = int(m.group(1))
        while stack and stack[-1][0] >= level:
            stack.pop()
        new = min(level, stack[-1][1] + 1) if stack else min(max(level, 2), 2)
        stack.append((level, new))
        return f"<h{new}{m.group(2)}>{m.group(3)}</h{new}>"

    body = re.sub(r"<h([1-6])(\b[^>]*)>(.*?)</h\1\s*>", fix, body, flags=re.S | re.I)
    return head + sep + body


def stale_words(params, coverage) -> str:
    """The title block's "Not up to date" line: the quarter the pack is for, and what each input the
    params allow to be stale (``allow_stale``) covers, in words; returns for the same quarter are named
    together. "" when every input reaches the quarter. ``coverage``: ``freshness.assess``."""

    late = [c for c in stale_inputs(coverage) if c.allowed]
    if not late:
        return ""
    parts: list[str] = []
    returns: dict[str, list[str]] = {}
    for c in late:
        if c.kind == "quarter file" and " return is for " in c.covers:
            what, period = c.covers.removeprefix("the ").split(" return is for ", 1)
            if period not in returns:
                parts.append(period)  # a placeholder, filled below, keeps the inputs' order
                returns[period] = []
            returns[period].append(what)
        else:
            parts.append(c.covers)
    text = [(f"the {and_list(returns[p])} {'return is' if len(returns[p]) == 1 else 'returns are'} for {p}"
             if p in returns else p) for p in parts]
    q = params.quarter
    return (f"this pack is for {quarter_words(q)} (to {day_words(q.end)}), but " + "; ".join(text)
            + ". Read the figures that depend on them as at the earlier date.")


def stale_title(params, root, work_dir) -> str:
    """``stale_words`` for a prepared quarter (the runner's staging ``work_dir``); "" when the params
    allow no input to be stale."""
    if not getattr(params, "allow_stale", ()):
        return ""

    return stale_words(params, assess(params, QuarterContext(params=params, root=Path(root),
                                                             work_dir=Path(work_dir)).table))


def export_pack(notebooks: list[Path], meta: dict, notes: list[str] | None = None) -> str:
    """HTML for the pack. ``meta`` fills the title block: title, authority, portfolio,
    quarter_long, data_as_at, version, synthetic (a notice, or empty), stale (``stale_words``: what the
    inputs allowed to be stale cover, or empty; optional). What was neutralised to keep
    the pack safe is added to ``notes``."""
    nb = pack_notebook(notebooks)
    exporter = HTMLExporter(template_name="cspack", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"cspack": {**meta, "csp": CSP}})
    body = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", body, flags=re.S)  # hidden "¶" links on headings
    return add_toc(fix_heading_levels(make_safe(body, notes)))


# ---- PDF ------------------------------------------------------------------------------------------------
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
                 "--disable-quic"]
PDF_MARGIN = {"top": "15mm", "bottom": "14mm", "left": "13mm", "right": "13mm"}


def find_chromium() -> str | None:
    """Debian's ``chromium`` (or ``chromium-browser``; ``CSPACK_CHROMIUM`` names another)."""
    named = os.environ.get("CSPACK_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pdf_pages(pdf: Path) -> int:
    """Pages in a PDF written by Chromium (it writes each page object uncompressed)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf.read_bytes()))


def _margin_templates(title: str, authority: str) -> tuple[str, str]:
    """The page margins of the PDF: the report's title at the head of every page, the authority and the
    page number ("Page 3 of 18") at the foot. (Chromium does not print CSS @page margin boxes.)"""
    style = ("font-family: Arial, Helvetica, sans-serif; font-size: 8pt; color: #3d3d3d; width: 100%; "
             "margin: 0 13mm; display: flex; justify-content: space-between; gap: 8mm;")
    header = f'<div style="{style}"><span>{html.escape(title)}</span></div>'
    footer = (f'<div style="{style}"><span>{html.escape(authority)}</span><span style="white-space: nowrap">'
              'Page <span class="pageNumber"></span> of <span class="totalPages"></span></span></div>')
    return header, footer


def write_pdf(html_file: Path, pdf_file: Path, title: str, authority: str = "", timeout_s: float = 180) -> dict:
    """Print ``html_file`` to an A4 ``pdf_file`` with headless Chromium, the title and page numbers in the
    page margins. Returns what happened for the manifest: ``{"written": bool, "pages": n, "how": ...}`` or
    ``{"written": False, "reason": ...}``; never raises for a missing or failing browser (the HTML pack
    stands on its own)."""
    chromium = find_chromium()
    if not chromium:
        return {"written": False, "reason": "Chromium is not installed (Debian: apt-get install chromium), "
                                            "so no PDF was made; pack.html is complete"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return _cli_pdf(chromium, html_file, pdf_file, timeout_s)
    header, footer = _margin_templates(title, authority)

    def run() -> None:
        with tempfile.TemporaryDirectory(prefix="cspack-chromium-") as profile, sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(profile, executable_path=chromium, headless=True,
                                                       args=CHROMIUM_ARGS, offline=True)
            try:
                page = ctx.new_page()
                ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
                          else r.abort())
                page.goto(html_file.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
                page.emulate_media(media="print")
                page.pdf(path=str(pdf_file), format="A4", print_background=True, display_header_footer=True,
                         header_template=header, footer_template=footer, margin=PDF_MARGIN,
                         outline=True, tagged=True)
            finally:
                ctx.close()

    try:
        # in a thread of its own: playwright's synchronous API refuses to run where an event loop is
        # running (a build started from Jupyter)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(run).result(timeout=timeout_s + 60)
    except Exception as exc:  # a browser that fails to start or print: the HTML pack still stands
        pdf_file.unlink(missing_ok=True)
        return {"written": False, "reason": f"Chromium could not print the pack ({type(exc).__name__}: "
                                            f"{(str(exc).splitlines() or [''])[0][:200]}); pack.html is complete"}
    return {"written": True, "pages": pdf_pages(pdf_file), "how": "Chromium via the DevTools protocol",
            "chromium": chromium}


def _cli_pdf(chromium: str, html_file: Path, pdf_file: Path, timeout_s: float) -> dict:
    """Without the playwright package: Chromium's own --print-to-pdf (no page numbers in the margin)."""
    with tempfile.TemporaryDirectory(prefix="cspack-chromium-") as profile:
        cmd = [chromium, "--headless", *CHROMIUM_ARGS, "--no-pdf-header-footer", f"--user-data-dir={profile}",
               f"--print-to-pdf={pdf_file}", html_file.resolve().as_uri()]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            pdf_file.unlink(missing_ok=True)
            return {"written": False, "reason": f"Chromium could not print the pack ({type(exc).__name__}); "
                                                "pack.html is complete"}
    if not pdf_file.exists():
        return {"written": False, "reason": "Chromium wrote no PDF; pack.html is complete"}
    return {"written": True, "pages": pdf_pages(pdf_file), "how": "chromium --print-to-pdf", "chromium": chromium}
