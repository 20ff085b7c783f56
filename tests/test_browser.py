"""The pack opened in headless Chromium (Debian's package): no console errors, no request leaving the
machine when every link is clicked, WCAG 2.2 AA by axe-core with no violation, headings in order and a
data table with every chart. `make test` installs Chromium when it is missing."""

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "fixtures" / "axe" / "axe.min.js"  # axe-core 4.12.1, MPL-2.0 (see its README)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is required for this test: run `make test` (it installs Debian's chromium)"
    return chromium


def test_pack_opens_offline_with_no_requests_and_no_console_errors(built_pack, tmp_path):
    from playwright.sync_api import sync_playwright

    _, result = built_pack
    url = result.pack.resolve().as_uri()
    requests, problems = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.goto(url)
        page.wait_for_load_state("networkidle")
        title = page.title()
        n_images = page.evaluate("document.images.length")
        loaded = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(tmp_path / "pack.png"), full_page=False)
        # click every link, the pack reopened before each: none may load anything from outside the file
        n_links = page.locator("a").count()
        for i in range(n_links):
            page.goto(url)
            link = page.locator("a").nth(i)
            link.focus()  # the skip link shows itself on focus
            if link.is_visible():
                link.click(timeout=5000)
            else:  # a link no reader can see still must not load anything
                link.evaluate("a => a.click()")
        browser.close()
    leaving = [u for u in requests if not (u.startswith("file://") or u.startswith("data:"))]
    assert leaving == []
    assert problems == []
    assert title.startswith("Performance and Budget Monitoring")
    assert n_images >= 1 and loaded
    assert n_links >= 8  # the skip link and the contents at least


@pytest.fixture(scope="module", params=["default", "published"])
def opened(request, built_pack, published_pack):
    """The pack open in Chromium (axe is injected through the DevTools protocol, which the pack's
    Content-Security-Policy does not govern)."""
    from playwright.sync_api import sync_playwright

    _, result = built_pack if request.param == "default" else published_pack
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=ARGS)
        page = browser.new_context(bypass_csp=True).new_page()
        page.goto(result.pack.resolve().as_uri())
        yield page
        browser.close()


def test_axe_finds_no_wcag_22_aa_violation(opened):
    opened.evaluate(AXE.read_text(encoding="utf-8"))
    res = opened.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
                          AXE_TAGS)
    assert res["testEngine"]["version"] == "4.12.1"
    found = [(v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["target"]) for v in res["violations"]]
    assert found == []
    assert len(res["passes"]) >= 20  # the rules did run: contrast, alt text, table headers, landmarks...


def test_headings_never_skip_a_level(opened):
    levels = opened.evaluate("Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6')).map(h => +h.tagName[1])")
    assert levels[0] == 1 and levels.count(1) == 1
    jumps = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
    assert jumps == []
    assert levels.count(2) >= 6


def test_every_chart_has_its_figures_as_a_table(opened):
    charts = opened.evaluate("""Array.from(document.querySelectorAll('main img')).map(img => {
        const d = img.parentElement.querySelector('details.chart-data');
        const t = d && d.querySelector('table');
        return {alt: img.alt.slice(0, 60), rows: t ? t.tBodies[0].rows.length : 0,
                headers: t ? Array.from(t.tHead.rows[0].cells).map(c => c.textContent) : []};
    })""")
    assert charts
    missing = [c["alt"] for c in charts if c["rows"] == 0 or "Value" not in c["headers"]]
    assert missing == []
