"""`signkd serve` for real: the command started on 127.0.0.1 with a free port, and its page driven
by headless Chromium (Debian's `chromium` + `chromium-driver`, installed by .ci/run; skipped where
absent): an uploaded synthetic mp4 shows the glosses `signkd recognize` finds on the timeline and
clicking one seeks the video there; a clip recorded from Chromium's fake webcam gets an answer;
a file that is not a video shows the server's message on the page."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO
from signkd.cli import main as cli_main

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def student(tiny_trained) -> Path:
    return tiny_trained / "best.pt"


@pytest.fixture(scope="module")
def server(student, tmp_path_factory):
    """(base URL, first stdout line) of `signkd serve CKPT --port P` in a subprocess."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "stdout.txt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "signkd", "serve", str(student), "--port", str(port)],
                                   cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                    assert json.load(answer)["status"] == "ok"
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"signkd serve did not start: {log.read_text()[-2000:]}")
                time.sleep(0.3)
        yield url, log.read_text().splitlines()[0]
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_serve_binds_localhost_and_says_so(server):
    url, first_line = server
    assert url in first_line and "this machine only" in first_line
    with urllib.request.urlopen(f"{url}/api/models", timeout=10) as answer:
        assert json.load(answer)["models"][0]["task"] == "slr"


# --------------------------------------------------------------------------------------------
# The page in headless Chromium
# --------------------------------------------------------------------------------------------

def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def browser():
    paths = chromium_paths()
    if paths is None:
        pytest.skip("headless browser test: needs Debian's chromium and chromium-driver (.ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,1100",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def clip_with_glosses(student, tmp_path_factory) -> tuple[Path, list[dict]]:
    """The synthetic test mp4 in which the tiny student recognises most glosses, and what
    `signkd recognize --json` prints for it."""
    from signkd.inference import Recognizer

    out = tmp_path_factory.mktemp("browser-mp4") / "tiny"
    assert cli_main(["synth", str(out), "--preset", "tiny", "--format", "mp4"]) == 0
    recognizer = Recognizer.from_checkpoint(student)
    results = [(clip, recognizer.recognize(str(clip)).to_dict()) for clip in sorted(out.glob("features/*/test/*/*.mp4"))]
    clip, record = max(results, key=lambda item: len(item[1]["glosses"]))
    assert record["glosses"], "the trained tiny student recognises glosses in some test clip"
    return clip, record["glosses"]


def open_page(browser, url: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#model option"))
    browser.execute_script("window.signkdResult = null;")


def wait_for_answer(browser, timeout: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(
        lambda d: d.execute_script("return window.signkdResult") or d.find_element(By.ID, "error").is_displayed())
    error = browser.find_element(By.ID, "error")
    return browser.execute_script("return window.signkdResult"), error.text if error.is_displayed() else ""


def test_uploaded_video_shows_its_glosses_and_a_click_seeks(browser, server, clip_with_glosses, tmp_path):
    from selenium.webdriver.common.by import By

    url, _ = server
    clip, expected = clip_with_glosses
    open_page(browser, url)
    browser.find_element(By.ID, "file").send_keys(str(clip))
    answer, error = wait_for_answer(browser)
    assert not error and answer["input"] == clip.name
    blocks = browser.find_elements(By.CSS_SELECTOR, "#timeline .gloss")
    assert [b.text for b in blocks] == [g["gloss"] for g in expected]
    assert browser.find_element(By.ID, "sequence").text == " ".join(g["gloss"] for g in expected)
    target = len(expected) - 1
    blocks[target].click()
    now = browser.execute_script("return document.getElementById('video').currentTime")
    assert abs(now - expected[target]["start"]) < 0.01
    assert "current" in blocks[target].get_attribute("class")
    assert all("current" not in b.get_attribute("class") for i, b in enumerate(blocks) if i != target)
    assert browser.execute_script("const v = document.getElementById('video'); return v.error === null")
    browser.save_screenshot(str(tmp_path / "serve.png"))


def test_webcam_recording_gets_an_answer(browser, server):
    from selenium.webdriver.common.by import By

    url, _ = server
    open_page(browser, url)
    browser.find_element(By.ID, "record").click()
    time.sleep(1.5)
    browser.find_element(By.ID, "stop").click()
    answer, error = wait_for_answer(browser)
    assert not error, error
    assert answer["input"].startswith("webcam.") and answer["frames"] > 0 and answer["duration"] > 0
    assert browser.find_element(By.ID, "result").is_displayed()


def test_a_file_that_is_not_a_video_shows_the_servers_message(browser, server, tmp_path):
    from selenium.webdriver.common.by import By

    url, _ = server
    notes = tmp_path / "notes.txt"
    notes.write_text("not a video\n" * 20)
    open_page(browser, url)
    browser.find_element(By.ID, "file").send_keys(str(notes))
    answer, error = wait_for_answer(browser)
    assert answer is None and "notes.txt: not a video" in error
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as health:      # still up
        assert json.load(health)["status"] == "ok"
