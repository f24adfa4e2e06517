"""Screenshots of the dashboard and the report for the README (docs/img/).

    python scripts/screenshots.py [--results results/offloading] [--days 60]

Starts ``gridsim viz pilot`` on a free port, steps it ``--days`` days in headless Chromium
(Debian's, as the browser tests use) and saves ``docs/img/dashboard.png`` (and
``dashboard_zh.png`` with ``--lang zh``); writes the English
and Chinese reports of ``--results`` to a temporary folder and saves the top of each as
``docs/img/report.png`` and ``docs/img/report_zh.png``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.report import render  # noqa: E402
from tests.test_browser import FLAGS, _free_port, chromium  # noqa: E402

IMG = ROOT / "docs" / "img"


def dashboard(browser, days: int, lang: str) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "viz", "pilot", "--port",
                             str(port), "--lang", lang], cwd=ROOT)
    day = "Day {day} ·" if lang == "en" else "第 {day} 天"
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        page = browser.new_page(viewport={"width": 1500, "height": 1250})
        page.goto(url, wait_until="networkidle")
        for d in range(1, days + 1):
            page.get_by_role("button", name="Step").click()
            expect(page.get_by_text(day.format(day=d), exact=False)).to_be_visible(
                timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=IMG / ("dashboard.png" if lang == "en" else f"dashboard_{lang}.png"))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def report(browser, results: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for lang, name in (("en", "report.png"), ("zh", "report_zh.png")):
            path = Path(tmp) / f"report.{lang}.html"
            path.write_text(render(results, lang), encoding="utf-8")
            page = browser.new_page(viewport={"width": 1100, "height": 1500})
            page.goto(path.as_uri(), wait_until="load")
            page.locator("figure").first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=IMG / name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=ROOT / "results" / "offloading")
    p.add_argument("--days", type=int, default=60)
    args = p.parse_args()
    IMG.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=FLAGS)
        dashboard(browser, args.days, "en")
        dashboard(browser, args.days, "zh")
        report(browser, args.results)
        browser.close()
    for name in ("dashboard.png", "dashboard_zh.png", "report.png", "report_zh.png"):
        print(f"wrote {(IMG / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
