"""The dashboard in a real browser (Debian's chromium, driven by Playwright) on the demo
ledger: each page loads with its numbers and chart, the filters and the drill-down work, the
CSV downloads, and nothing overflows a phone's width. Screenshots are kept in the test's
temporary directory as artefacts."""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import socket
import threading
import time

import pytest
import uvicorn

import llmledger
import llmledger.dashboard
from llmledger.config import state
from llmledger.money import usd
from llmledger.report.demo import generate

playwright = pytest.importorskip("playwright.sync_api")

END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # the demo's 90 days end here
RANGE = "from=2026-10-02&to=2026-10-31"
PHONE = {"width": 390, "height": 844}


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: CI must run the browser tests (.ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    llmledger.configure(url, spool_path=folder / "spool.jsonl")
    generate(3_000, seed=7, end=END)
    engine = state().engine
    llmledger.shutdown()
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def server(demo_url):
    """The dashboard on a free loopback port, in a thread; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(llmledger.dashboard.app(demo_url), port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the dashboard's server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport=PHONE, accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def _no_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide at {PHONE['width']}px"


@pytest.mark.parametrize("path", ["/", "/models", "/tags", "/tags/tenant", "/calls", "/quality"])
def test_each_page_loads_and_fits_a_phone(server, page, tmp_path, path):
    response = page.goto(f"{server}{path}?{RANGE}")
    assert response.status == 200
    assert page.locator("h1").is_visible()
    _no_overflow(page)
    page.screenshot(path=tmp_path / f"{path.strip('/').replace('/', '-') or 'overview'}.png")


def test_overview_shows_the_rollup_figures_and_a_chart(server, page, demo_url, tmp_path):
    page.goto(f"{server}/?{RANGE}")
    figures = llmledger.rollup(demo_url, since="2026-10-02", until="2026-11-01").row(0, named=True)
    assert page.locator("[data-kpi=spend]").inner_text() == usd(figures["cost"])
    assert page.locator("[data-kpi=calls]").inner_text() == f"{figures['calls']:,}"
    chart = page.locator("figure.chart svg")
    assert chart.is_visible() and chart.bounding_box()["width"] > 300
    assert page.locator("figure.chart rect").count() > 30
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=tmp_path / "overview-desktop.png", full_page=True)


def test_filters_narrow_every_figure(server, page, demo_url):
    page.goto(f"{server}/?{RANGE}")
    page.fill("input[name=provider]", "anthropic")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**provider=anthropic**")
    figures = llmledger.rollup(
        demo_url, since="2026-10-02", until="2026-11-01", where={"provider": "anthropic"}
    ).row(0, named=True)
    assert page.locator("[data-kpi=spend]").inner_text() == usd(figures["cost"])
    assert page.locator("[data-kpi=calls]").inner_text() == f"{figures['calls']:,}"


def test_drill_down_from_a_tag_value(server, page, demo_url, tmp_path):
    page.goto(f"{server}/tags/tenant?{RANGE}")
    first = page.locator("table tbody tr td a").first
    tenant = first.inner_text()
    first.click()
    page.wait_for_url(f"**/tags/tenant/{tenant}**")
    figures = llmledger.rollup(
        demo_url, since="2026-10-02", until="2026-11-01", where={"tenant": tenant}
    ).row(0, named=True)
    assert page.locator("[data-kpi=spend]").inner_text() == usd(figures["cost"])
    assert page.locator("h2", has_text="By feature").is_visible()
    assert page.locator("figure.chart svg").is_visible()
    _no_overflow(page)
    page.screenshot(path=tmp_path / "drill-down.png", full_page=True)


def test_sorting_a_table_in_the_browser(server, page):
    page.goto(f"{server}/tags/tenant?{RANGE}")
    page.click("table.sortable th:has-text('Calls')")
    counts = [
        int(t.replace(",", ""))
        for t in page.locator("table.sortable tbody tr td:nth-child(4)").all_inner_texts()
    ]
    assert counts == sorted(counts, reverse=True)


def test_csv_download(server, page, demo_url, tmp_path):
    page.goto(f"{server}/calls?{RANGE}&provider=google")
    with page.expect_download() as download:
        page.click("text=Download CSV")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    calls = llmledger.rollup(
        demo_url, since="2026-10-02", until="2026-11-01", where={"provider": "google"}
    )["calls"][0]
    assert len(rows) == calls and {r["provider"] for r in rows} == {"google"}
