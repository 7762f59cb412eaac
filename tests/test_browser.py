"""The page in a real browser: headless Chromium with a fake microphone playing a real RAVDESS clip.

A real server on the bundled model serves the page; Chromium (Debian's chromium and chromium-driver,
driven by Selenium) opens it, presses Start, and must see windows arrive and the clip's emotion as the
session's dominant label. The screenshot goes to $SPEECHSENSE_SCREENSHOT (default: the test's tmp dir).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import librosa
import pytest
import soundfile as sf
from harness import ServerHandle

from speechsense.audio import load_file
from speechsense.server.config import ServerOptions, WebOptions

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CLIP = "ravdess/Actor_01/03-01-05-02-01-01-01.flac"  # RAVDESS: emotion 05 = angry, strong intensity
EXPECTED = "angry"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page_server():
    from speechsense.models import bundled_model

    if not bundled_model().is_file():
        pytest.skip(f"no bundled model at {bundled_model()}")
    options = ServerOptions(model_path=bundled_model(), host="127.0.0.1", port=0)
    handle = ServerHandle(dataclasses.replace(options, web=WebOptions(port=0)))
    yield handle
    handle.stop()


@pytest.fixture
def browser(request, datasets, tmp_path):
    """Headless Chromium whose microphone plays the clip (a 16-bit PCM WAV, as Chromium's fake capture needs).
    Chromium loops the file; trimmed of the clip's leading and trailing silence (the default), every window
    holds speech; "untrimmed" (indirect parameter), each pass is one utterance; "denied": the user refuses
    the microphone."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver; scripts/test.sh does)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    wav = tmp_path / "microphone.wav"
    speech = load_file(datasets / CLIP, 16000)
    mode = getattr(request, "param", "trimmed")
    if mode == "trimmed":
        speech, _ = librosa.effects.trim(speech, top_db=30)
    sf.write(wav, speech, 16000, subtype="PCM_16")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--deny-permission-prompts" if mode == "denied" else "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
                 "--window-size=1100,1700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def test_page_streams_the_microphone_and_reads_the_clip(page_server, browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"http://127.0.0.1:{page_server.server.web_port}/")
    wait.until(lambda d: d.find_element("id", "start").is_enabled())
    assert page_server.server.analyzer.model.meta.model_name in text(browser, "model")
    assert "UAR" in text(browser, "model")
    browser.find_element("id", "start").click()
    # The clip loops as the microphone: 8 windows at the default 1 s hop is about 10 s of it, several passes.
    wait.until(lambda d: int(text(d, "window-count")) >= 8, message="windows did not arrive")
    labels = [s.get_attribute("data-label") for s in browser.find_elements("css selector", "#timeline > span")]
    assert labels.count(EXPECTED) >= 4, labels
    browser.find_element("id", "start").click()  # Stop: the page sends {"end": true} and waits for the summary
    wait.until(lambda d: text(d, "dominant") not in ("–", ""), message="no summary")
    assert text(browser, "dominant") == EXPECTED
    assert "Done" in text(browser, "status")
    browser.find_element("id", "file").send_keys(str(tmp_path / "microphone.wav"))  # the file picker: /v1/analyze
    wait.until(lambda d: "dominant" in text(d, "file-result"), message="the file was not analysed")
    assert text(browser, "file-result").endswith(f"dominant {EXPECTED}")
    shot = Path(os.environ.get("SPEECHSENSE_SCREENSHOT", tmp_path / "page.png"))
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    assert page_server.server.analyzer.open_streams == 0
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    browser.set_window_size(390, 844)  # phone width: nothing wider than the screen
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    assert browser.save_screenshot(str(shot.with_name(shot.stem + "-phone.png")))


def test_page_says_when_the_server_is_gone(page_server, browser):
    """The page loaded, then the server went away: Start must say so instead of failing silently."""
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    handle = ServerHandle(dataclasses.replace(page_server.server.options, web=WebOptions(port=0)))
    browser.get(f"http://127.0.0.1:{handle.server.web_port}/")
    wait.until(lambda d: d.find_element("id", "start").is_enabled())
    handle.stop()
    browser.find_element("id", "start").click()
    wait.until(lambda d: "connection" in text(d, "status").lower(), message=text(browser, "status"))


def test_readme_javascript_example_runs(page_server, browser, datasets):
    """The README's 10-line browser example, run as written (its host swapped for this server's) on the page."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = readme.split("```js\n", 1)[1].split("```", 1)[0]
    port = page_server.server.web_port
    example = example.replace("localhost:8000", f"127.0.0.1:{port}")
    samples = librosa.effects.trim(load_file(datasets / CLIP, 16000), top_db=30)[0]
    browser.get(f"http://127.0.0.1:{port}/")
    browser.set_script_timeout(60)
    logs = browser.execute_async_script("""
        const done = arguments[arguments.length - 1], lines = [];
        const console = {log: (...a) => lines.push(a.join(" ")), error: (...a) => lines.push("ERROR " + a)};
        const pcm = new Int16Array(arguments[0]).buffer;
        """ + example + """
        const closed = ws.onclose;
        ws.onclose = (e) => { closed(e); done(lines); };""", (samples * 32767).astype("<i2").tolist())
    assert logs[-1] == "closed 1000", logs
    assert logs[-2] == f"dominant {EXPECTED}", logs
    assert any(line.startswith("0 ") for line in logs), logs  # the first window, at 0 s


@pytest.mark.parametrize("browser", ["untrimmed"], indirect=True)
def test_page_in_utterance_mode(page_server, browser):
    """Each pass of the clip through the microphone is one utterance: spans on the timeline, with gaps."""
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"http://127.0.0.1:{page_server.server.web_port}/")
    wait.until(lambda d: d.find_element("id", "start").is_enabled())
    Select(browser.find_element("id", "mode")).select_by_value("SEGMENTATION_UTTERANCES")
    browser.find_element("id", "start").click()
    wait.until(lambda d: int(text(d, "window-count")) >= 2, message="utterances did not arrive")
    browser.find_element("id", "start").click()
    wait.until(lambda d: text(d, "dominant") not in ("–", ""), message="no summary")
    spans = browser.find_elements("css selector", "#timeline > span")
    assert [s.get_attribute("data-label") for s in spans][:2] == [EXPECTED, EXPECTED]
    assert text(browser, "unit") == "utterance" and text(browser, "dominant") == EXPECTED
    lefts = [float(s.value_of_css_property("left").rstrip("px")) for s in spans]
    widths = [float(s.value_of_css_property("width").rstrip("px")) for s in spans]
    assert lefts[1] > lefts[0] + widths[0]  # a gap of silence between the two utterances


@pytest.mark.parametrize("browser", ["denied"], indirect=True)
def test_page_says_when_the_microphone_is_refused(page_server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"http://127.0.0.1:{page_server.server.web_port}/")
    wait.until(lambda d: d.find_element("id", "start").is_enabled())
    browser.find_element("id", "start").click()
    wait.until(lambda d: "refused" in text(d, "status"), message=text(browser, "status"))
    assert "Allow it in the site settings" in text(browser, "status")
    assert browser.find_element("id", "start").is_enabled()  # the user can try again
    assert page_server.server.analyzer.open_streams == 0  # no socket was opened for a session without a microphone
