"""The dashboard and the report as a person sees them: headless Chromium through Playwright.

Chromium is Debian's package (``.ci/run`` installs it; on a laptop: ``apt install chromium``
or set ``GRIDSIM_CHROMIUM``); Playwright drives it without downloading a browser. Without a
Chromium these tests fail, they do not skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    path = os.environ.get("GRIDSIM_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    assert path, ("no Chromium: install Debian's chromium package (.ci/run does) or set "
                  "GRIDSIM_CHROMIUM to a Chromium binary")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=FLAGS)
        yield b
        b.close()


class Console:
    """What a page reports: console errors, uncaught exceptions, failed requests."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))
        page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}")
                if r.status >= 400 else None)
        self.requested: list[str] = []
        page.on("request", lambda r: self.requested.append(r.url))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    """``gridsim viz pilot`` on a free port, as a user starts it."""
    yield from _serve()


@pytest.fixture(scope="module")
def dashboard_zh() -> Iterator[str]:
    yield from _serve("--lang", "zh")


def _serve(*options: str) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "viz", "pilot", "--port",
                             str(port), *options], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"gridsim viz exited: {proc.stdout.read()}"
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not start in 90 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _open(browser: Browser, url: str, day0: str = "Day 0") -> tuple[Page, Console]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console = Console(page)
    page.goto(url, wait_until="networkidle")
    expect(page.get_by_text(day0, exact=False).first).to_be_visible(timeout=30_000)
    return page, console


def _chart_sources(page: Page) -> list[str]:
    """The data URLs of the Matplotlib images on the page (map, queues, live charts)."""
    return page.eval_on_selector_all("img", "els => els.map(e => e.src)")


def _chart_pixels(page: Page) -> list[str]:
    """The images' pixels, as PNG data URLs drawn afresh (their sources are blob URLs, which
    differ from page to page)."""
    page.wait_for_function("Array.from(document.images).every(e => e.complete)")
    return page.eval_on_selector_all("img", """els => els.map(e => {
        const c = document.createElement("canvas");
        c.width = e.naturalWidth; c.height = e.naturalHeight;
        c.getContext("2d").drawImage(e, 0, 0);
        return c.toDataURL();
    })""")


def test_dashboard_loads_offline_without_console_errors(browser, dashboard):
    page, console = _open(browser, dashboard)
    for text in ("Controls", "Model Parameters", "Offloading", "Evaluation (考核)",
                 "Ruling (裁决)", "Joint review", "Team alignment", "Self-governance",
                 "The map is schematic"):
        expect(page.get_by_text(text, exact=False).first).to_be_visible()
    images = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert len(images) >= 3 and all(w > 0 for w in images)     # map, queues, live charts
    page.wait_for_timeout(1000)
    assert console.errors == []
    # Solara's Markdown front end loads Mermaid, then KaTeX, which solara-assets lacks: offline
    # the server tries the CDN for seconds, then the page gets a 404 and a script error
    assert not [u for u in console.requested if "mermaid" in u or "katex" in u]
    page.close()


def test_a_step_advances_the_charts(browser, dashboard):
    page, console = _open(browser, dashboard)
    before = _chart_sources(page)
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_text("Day 1 ·", exact=False)).to_be_visible(timeout=30_000)
    # the day's label can show before the last images are re-rendered: wait for the redraw
    page.wait_for_function(
        "old => Array.from(document.images).filter((e, i) => e.src !== old[i]).length >= 2",
        arg=before, timeout=30_000)
    after = _chart_sources(page)
    assert len(after) == len(before)
    assert sum(a != b for a, b in zip(before, after, strict=True)) >= 2   # map and live charts
    assert console.errors == []
    page.close()


def test_a_slider_change_takes_effect_on_reset(browser, dashboard):
    page, console = _open(browser, dashboard)
    expect(page.get_by_text("offloading 0 ·", exact=False)).to_be_visible()
    slider = page.locator(".v-input", has_text="Offloading").get_by_role("slider")
    slider.focus()
    for _ in range(4):                                  # 4 steps of 0.05
        slider.press("ArrowRight")
    page.get_by_role("button", name="Reset").click()
    expect(page.get_by_text("offloading 0.2 ·", exact=False)).to_be_visible(timeout=30_000)
    assert console.errors == []
    page.close()


def test_every_session_draws_the_same_charts(browser, dashboard_zh):
    """Solara gives each browser session its own Matplotlib settings: a second session's
    charts drew every Chinese glyph as a box while the first's were right."""
    first, _ = _open(browser, dashboard_zh, day0="第 0 天")
    before = _chart_pixels(first)
    second, console = _open(browser, dashboard_zh, day0="第 0 天")
    assert len(before) >= 3 and _chart_pixels(second) == before
    assert console.errors == []
    first.close()
    second.close()


def test_the_dashboard_in_chinese(browser, dashboard_zh):
    page, console = _open(browser, dashboard_zh, day0="第 0 天")
    for text in ("任务下压", "考核方式", "职能对口", "群众自治", "地图为示意图"):
        expect(page.get_by_text(text, exact=False).first).to_be_visible()
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_text("第 1 天", exact=False)).to_be_visible(timeout=30_000)
    assert page.evaluate("document.fonts.check('16px \"Noto Sans SC\"', '任务下压')")
    assert console.errors == []
    page.close()


# ---------------------------------------------------------------------------------------------
# The report


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory) -> Path:
    """A tiny experiment with replications, run and analysed as a user would."""
    from sim.cli import main
    out = tmp_path_factory.mktemp("exp") / "tiny"
    src = out.parent / "tiny.toml"
    src.write_text("""
title = "Tiny: rulings at intake"
question = "Does ruling at intake (裁决) cut pass-backs?"
scenario = "small"
days = 20
warmup_days = 5
replications = 3
seed = 7
jobs = 1
outcomes = ["rejections_per_issue", "time_to_close_mean_days"]
series = ["open_total"]

[baseline]
label = "Rulings after 2 pass-backs"

[[variants]]
name = "at_intake"
label = "Rulings at intake"
set = { "platform.ruling_threshold" = 0 }
""", encoding="utf-8")
    assert main(["experiment", "run", str(src), "--out", str(out)]) == 0
    assert main(["analyze", str(out)]) == 0
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_shows_every_chart(browser, experiment_dir, lang):
    from sim.cli import main
    assert main(["report", str(experiment_dir), "--lang", lang]) == 0
    path = experiment_dir / ("report.html" if lang == "en" else "report.zh.html")
    page = browser.new_page()
    console = Console(page)
    page.goto(path.as_uri(), wait_until="load")
    charts = page.eval_on_selector_all(
        "figure[data-chart]", "els => els.map(e => [e.dataset.chart, "
        "e.querySelector('img').complete && e.querySelector('img').naturalWidth > 0])")
    names = {name for name, _ in charts}
    expected = {"outcome_rejections_per_issue", "outcome_time_to_close_mean_days",
                "series_open_total", "adequacy_rejections_per_issue",
                "adequacy_time_to_close_mean_days"}
    assert names == expected
    assert all(ok for _, ok in charts)
    heading = "问题" if lang == "zh" else "Question"
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_text("Rulings at intake").first).to_be_visible()
    assert page.evaluate("document.fonts.check('16px \"Noto Sans SC\"', '裁决')")
    assert console.errors == []
    page.close()
