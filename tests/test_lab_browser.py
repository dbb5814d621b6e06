"""The real lab in headless Chromium: ``streamlit run``, every page loads with no exception box.

Uses Debian's ``/usr/bin/chromium`` through the ``playwright`` package (never ``playwright install``).
The sidebar is pointed at a tiny random-weight pipeline and a small working size so the diffusion
page samples in seconds; screenshots of every page land in a temporary folder.
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PAGES = ["Overview", "Preprocessing", "Warping", "Diffusion", "Compare"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not found: apt-get install -y chromium"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sys.path.insert(0, str(ROOT))
    from lab.fixtures import write_tiny_pipeline

    pipe = write_tiny_pipeline(tmp_path_factory.mktemp("weights") / "pipe")
    port = free_port()
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", str(pipe)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def settle(page, limit: float = 240) -> None:
    """Wait until the script has finished running (and the browser has drawn its output)."""
    t0 = time.time()
    time.sleep(0.5)
    while time.time() - t0 < limit:
        loc = page.locator("[data-test-script-state]")
        if loc.count() and loc.first.get_attribute("data-test-script-state") == "notRunning":
            break
        time.sleep(0.5)
    page.wait_for_timeout(1000)


def open_app(page, url: str, path: str = "") -> None:
    for _ in range(60):  # the server may still be starting
        try:
            page.goto(f"{url}/{path}")
            break
        except Exception:
            time.sleep(1)
    page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
    settle(page)


def broken_images(page) -> int:
    return page.evaluate("() => [...document.images].filter(i => i.complete && i.naturalWidth === 0).length")


def test_every_page_loads_without_an_exception(server, browser, tmp_path):
    url, pipe = server
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    open_app(page, url)
    # small and quick: the tiny pipeline at 128 x 96 with 3 DDIM steps
    box = page.get_by_role("textbox", name="Pipeline folder")
    box.fill(pipe)
    box.press("Enter")
    settle(page)
    page.locator("[data-testid='stSelectbox']", has_text="Working size").click()
    page.get_by_role("option", name="128 x 96").click()
    settle(page)
    steps = page.locator("[data-testid='stSidebar'] [data-testid='stSlider']", has_text="DDIM steps")
    thumb = steps.get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
    thumb.press("ArrowRight")
    thumb.press("ArrowRight")
    settle(page)
    for name in PAGES:
        page.locator("[data-testid='stSidebarNav'] a", has_text=name).first.click()
        page.get_by_role("heading", name=name if name != "Overview" else "vton lab").first.wait_for(timeout=120_000)
        settle(page)
        page.screenshot(path=str(tmp_path / f"{name.lower()}.png"))
        assert page.locator("[data-testid='stException']").count() == 0, f"exception box on {name}"
        assert broken_images(page) == 0, f"broken images on {name}"
        if name == "Diffusion":
            check_export(page, tmp_path)
    assert "3" in steps.get_by_test_id("stSliderThumbValue").inner_text()  # the setting survived every page
    assert len(list(tmp_path.glob("*.png"))) == len(PAGES)


def check_export(page, tmp_path) -> None:
    """The run's zip downloads through the browser and holds every stage."""
    import zipfile

    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Download this run").click()
    path = tmp_path / "run.zip"
    download.value.save_as(path)
    names = set(zipfile.ZipFile(path).namelist())
    assert {"keypoints.json", "trajectory.gif", "run.json", "images/3_diffusion/composite.png"} <= names
    assert any(n.startswith("images/2_warping/flow_level") for n in names)


def test_a_page_url_opened_first_still_gets_the_sidebar(server, browser):
    """A fresh session that starts on /warping runs through streamlit_app.py (sidebar, navigation)."""
    url, _ = server
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    open_app(page, url, "preprocessing")
    page.get_by_role("heading", name="Preprocessing").first.wait_for(timeout=120_000)
    page.get_by_text("DDIM steps").first.wait_for(timeout=60_000)
    settle(page)
    assert page.locator("[data-testid='stException']").count() == 0
