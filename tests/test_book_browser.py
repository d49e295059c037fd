"""The rendered book, as a reader without a network sees it: every page opened in headless Chromium.

Builds the book (execute off: it renders the notebooks' stored outputs) into a temporary folder,
opens each page from disk at 1280 px, and fails on a console error, a missing image, math left
unrendered, a raw Markdown table, a script loaded from the network, or a claims table whose
verdict column lies outside the viewport. Screenshots go to ``_build/screenshots/``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); elsewhere the test
is skipped with the command that installs them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
WIDTH, HEIGHT = 1280, 900
INSTALL = "apt-get install chromium chromium-driver (Debian), then pip install -r requirements.txt"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason=f"headless Chromium and its driver are not installed: {INSTALL}"),
]

# Page checks, run in the page once MathJax has finished typesetting.
PAGE_REPORT = """
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) ? MathJax.startup.promise : Promise.resolve();
ready.then(() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, mjx-assistive-mml').forEach(e => e.remove());
  const text = body.innerText || body.textContent;
  const brokenImages = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const remoteScripts = Array.from(document.scripts).map(s => s.src).filter(s => /^https?:/.test(s));
  const verdicts = [];
  document.querySelectorAll('table').forEach(t => {
    const head = Array.from(t.querySelectorAll('th')).find(th => th.innerText.trim().toLowerCase() === 'verdict');
    if (head) { const r = head.getBoundingClientRect(); verdicts.push(r.right + window.scrollX); }
  });
  done({text: text, brokenImages: brokenImages, remoteScripts: remoteScripts, verdictRights: verdicts,
        mathJax: !!(window.MathJax && MathJax.startup)});
}).catch(e => done({error: String(e)}));
"""


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    exe = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))
    result = subprocess.run([exe, "build", str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},{HEIGHT}", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def _pages(html: Path) -> list[Path]:
    """Every page of the book (``index.html`` only redirects to the landing page, which is among them)."""
    redirect = re.search(r'url=([^"]+)"', (html / "index.html").read_text(encoding="utf-8"))
    assert redirect and (html / redirect.group(1)).exists(), "index.html must redirect to the landing page"
    pages = sorted((html / "book").glob("*.html")) + sorted((html / "replications").rglob("*.html"))
    return [p for p in pages if p.exists()]


def test_every_page_renders_offline(built_book, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = _pages(built_book)
    assert len(pages) >= 14, pages
    problems: list[str] = []
    for page in pages:
        name = page.relative_to(built_book).as_posix()
        browser.get(page.as_uri())
        report = browser.execute_async_script(PAGE_REPORT)
        if "error" in report:
            problems.append(f"{name}: the page script failed: {report['error']}")
            continue
        stem = name.replace("/", "__").removesuffix(".html")
        browser.save_screenshot(str(SCREENSHOTS / f"{stem}.png"))
        if report["verdictRights"]:  # also the claims table, scrolled into view
            browser.execute_script("""const th = Array.from(document.querySelectorAll('th'))
                .find(t => t.innerText.trim().toLowerCase() === 'verdict');
                th.closest('table').scrollIntoView();""")
            browser.save_screenshot(str(SCREENSHOTS / f"{stem}__claims.png"))
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            problems.append(f"{name}: console errors {errors[:3]}")
        if report["brokenImages"]:
            problems.append(f"{name}: missing images {report['brokenImages'][:3]}")
        if report["remoteScripts"]:
            problems.append(f"{name}: scripts from the network {report['remoteScripts'][:3]}")
        raw_math = re.findall(r"\\\(|\\\[|\$\$", report["text"])
        if raw_math:
            problems.append(f"{name}: {len(raw_math)} formula(s) left unrendered (MathJax loaded: {report['mathJax']})")
        if "|---" in report["text"]:
            problems.append(f"{name}: a Markdown table left as text")
        outside = [round(r) for r in report["verdictRights"] if r > WIDTH]
        if outside:
            problems.append(f"{name}: claims-table verdict column ends at {outside} px, beyond {WIDTH} px")
    assert not problems, "\n".join(problems)
