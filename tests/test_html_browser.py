"""The HTML report in a real headless browser (Debian's Chromium driven by Playwright).

The page must open with no console error and no network request, its severity filters and
search must hide and show findings, and a screenshot is taken (kept under
``CDACHECK_ARTIFACTS`` when set, else in pytest's tmp folder). Skips with a reason when no
Chromium or no Playwright is installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import cdacheck
from cdacheck.reporters import render

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str | None:
    for name in (os.environ.get("CDACHECK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = cdacheck.check(str(ROOT / "samples"), env="test")
    path = tmp_path_factory.mktemp("html") / "rapport.html"
    path.write_text(render(report, "html"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _visible(page, selector: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.eval_on_selector_all(selector, "els => els.filter(e => e.offsetParent !== null).length"))


def test_html_report_in_a_real_browser(browser, page_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file:") else None)
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    assert errors == []
    assert requests == [], "a self-contained page makes no request"
    total = _visible(page, "tr.finding")
    assert total > 0
    assert page.inner_text("#shown") == str(total)
    errors_rows = page.eval_on_selector_all("tr.finding[data-sev=error]", "els => els.length")
    assert errors_rows > 0
    # untick "erreur": the error rows disappear, the others stay
    page.uncheck("input[data-sev=error]")
    assert _visible(page, "tr.finding[data-sev=error]") == 0
    assert _visible(page, "tr.finding") == total - errors_rows
    page.check("input[data-sev=error]")
    assert _visible(page, "tr.finding") == total
    # search a rule id: only its rows stay
    page.fill("#q", "INS005")
    shown = _visible(page, "tr.finding")
    assert 0 < shown < total
    assert all("INS005" in t for t in page.eval_on_selector_all(
        "tr.finding", "els => els.filter(e => e.offsetParent !== null).map(e => e.textContent)"))
    page.fill("#q", "")
    out = Path(os.environ.get("CDACHECK_ARTIFACTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "html-report.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    assert errors == []
    page.close()


def test_html_report_has_no_external_asset(page_file: Path) -> None:
    html = page_file.read_text(encoding="utf-8")
    for needle in ("<link", "src=\"http", "src='http", "@import", "url(http"):
        assert needle not in html
    assert "Content-Security-Policy" in html
