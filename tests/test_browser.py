"""The pack opened in headless Chromium (Debian's package): no console errors, no request leaving
the machine. `make test` installs Chromium when it is missing."""

import shutil

import pytest

pytestmark = pytest.mark.e2e


def test_pack_opens_offline_with_no_requests_and_no_console_errors(built_pack, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is required for this test: run `make test` (it installs Debian's chromium)"
    _, result = built_pack
    url = result.pack.resolve().as_uri()
    requests, problems = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
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
        browser.close()
    leaving = [u for u in requests if not (u.startswith("file://") or u.startswith("data:"))]
    assert leaving == []
    assert problems == []
    assert title.startswith("Performance and Budget Monitoring")
    assert n_images >= 1 and loaded
