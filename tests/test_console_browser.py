"""The console in a real browser: headless Chromium against gunicorn, the recorder and test cameras.

One stack for the module (API token set, two cameras: one live, one dead); the
recorder writes the camera history the overview shows. Screenshots go to
docs/screenshots/.
"""
from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from shared.atomic import write_json_atomic
from shared.history_schema import connect_reader, history_path
from testkit import browser
from testkit.recorder_process import RecorderProcess, wait_for
from testkit.servers import GunicornServer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not browser.available(), reason="chromium/chromedriver/selenium")]

TOKEN = "console-test-token-0123456789"
BIG_CYCLE = "20200101_000000"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, camera_server, refusing_port):
    folder = tmp_path_factory.mktemp("console")
    streams = [{"rtsp_url": camera_server.url("cam1"), "duration_seconds": 2,
                "output_filename": "gate.mp4"},
               {"rtsp_url": f"rtsp://127.0.0.1:{refusing_port}/dead", "duration_seconds": 2,
                "output_filename": "yard.mp4"}]
    config = {"global_config": {
        "total_poll_duration_seconds": 4, "max_concurrent_streams": 2,
        "output_directory": "./output", "report_filename": "rtsp_report.json",
        "connection_timeout_seconds": 2, "read_timeout_seconds": 3, "poll_cycles": -1,
        "cycle_interval_seconds": 1}, "streams": streams}
    config_path = str(folder / "config.json")
    write_json_atomic(config_path, config)
    big = folder / "output" / BIG_CYCLE
    big.mkdir(parents=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M",
                    "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(big / "big.mp4")],
                   check=True, timeout=120)
    api = GunicornServer(config_path, workers=2, env={"RTSP_PATROL_API_TOKEN": TOKEN})
    recorder = RecorderProcess(config_path)
    api.start()
    recorder.start()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    wait_for(lambda: requests.get(api.url("/api/scheduler/status"), headers=bearer,
                                  timeout=10).json()["recorder_alive"], 20, "recorder heartbeat")
    assert requests.post(api.url("/api/scheduler/start"), headers=bearer,
                         timeout=10).status_code == 200
    driver = browser.chromium()
    try:
        yield {"api": api, "folder": folder, "config": config_path, "driver": driver,
               }
    finally:
        driver.quit()
        recorder.stop()
        api.stop()


def _failures_recorded(config_path: str, camera: str) -> list[float]:
    """When each failed outcome of ``camera`` ended, oldest first, as the recorder wrote them."""
    with contextlib.closing(connect_reader(history_path(config_path))) as conn:
        return [ended for (ended,) in conn.execute(
            "SELECT ended FROM outcomes WHERE camera = ? AND status != 4 ORDER BY ended",
            (camera,))]


def _errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _wait(driver, condition, timeout: float, what: str):
    return wait_for(lambda: _checked(condition, driver), timeout, what, interval=0.2)


def _checked(condition, driver):
    """``condition(driver)``, or False when htmx swapped the element out between finding it
    and reading it (the live fragment replaces cards every 2 s): asked again next time."""
    try:
        return condition(driver)
    except Exception as exc:  # selenium is imported only where it is installed
        if browser.is_stale(exc):
            return False
        raise


@pytest.fixture(autouse=True)
def signed_in(request, stack) -> None:
    """Each test but the sign-in's own starts signed in, so that any one runs alone too."""
    if request.node.originalname == "test_token_flow":
        return
    driver = stack["driver"]
    driver.get(stack["api"].url("/"))
    if "/login" in driver.current_url:
        driver.find_element("id", "token").send_keys(TOKEN)
        driver.find_element("css selector", "form button[type=submit]").click()
        _wait(driver, lambda d: d.find_elements("id", "cameras"), 10, "the overview")


def test_token_flow(stack) -> None:
    driver, api = stack["driver"], stack["api"]
    driver.get(api.url("/"))
    driver.delete_all_cookies()  # signed out, whichever test ran before
    driver.get(api.url("/"))
    assert "/login" in driver.current_url
    browser.screenshot(driver, "login")
    driver.find_element("id", "token").send_keys("wrong-token-wrong-token")
    driver.find_element("css selector", "form button[type=submit]").click()
    _wait(driver, lambda d: d.find_elements("id", "login-error"), 10, "the refusal")
    driver.get_log("browser")  # the 401 of the refused form is expected, not a script error
    driver.find_element("id", "token").send_keys(TOKEN)
    driver.find_element("css selector", "form button[type=submit]").click()
    _wait(driver, lambda d: d.find_elements("id", "cameras"), 10, "the overview")
    cookie = driver.get_cookie("session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # The JSON API keeps its Bearer rule: no write without the token.
    assert requests.post(api.url("/api/config/reload"), timeout=10).status_code == 401
    assert requests.get(api.url("/settings"), timeout=10, allow_redirects=False).status_code == 302


def test_overview_shows_the_dead_camera_offline_without_a_reload(stack) -> None:
    driver = stack["driver"]
    driver.get(stack["api"].url("/"))
    driver.execute_script("window.notReloaded = true")
    card = "//article[.//a[text()='yard']]"
    _wait(driver, lambda d: "s-offline" in d.find_element("xpath", card).get_attribute("class"),
          60, "yard shown offline")
    shown = time.time()
    assert driver.execute_script("return window.notReloaded") is True
    # Offline is the second failure in a row (offline_after_failures 2): the page shows it
    # without a reload, within the next cycle (4 s of recording + 1 s of interval) when the
    # machine is quiet. Counted in the camera's own cycles, not seconds (a loaded machine
    # stretches both): by the time the page shows it, at most two more failures have ended.
    # Rows are written in order, so once one that ended after the page showed it is in the
    # history, every earlier one is.
    def failures_past_shown() -> list[float] | None:
        failures = _failures_recorded(stack["config"], "yard")
        return failures if failures and failures[-1] > shown else None

    failures = wait_for(failures_past_shown, 60, "yard's next failure in the history")
    before = [ended for ended in failures if ended <= shown]
    assert 2 <= len(before) <= 4, (shown, failures)
    _wait(driver, lambda d: "s-online" in d.find_element(
        "xpath", "//article[.//a[text()='gate']]").get_attribute("class"), 30, "gate online")
    assert driver.find_element("css selector", "#counts [data-state=offline]").text == "1"
    browser.screenshot(driver, "overview")
    assert _errors(driver) == []


def _cycle_with_gate(folder: Path) -> str:
    cycles = sorted(p.parent.name for p in (folder / "output").glob("*/gate.mp4"))
    return cycles[0] if cycles else ""


def test_a_clip_plays_and_a_seek_fetches_a_range(stack) -> None:
    driver, api = stack["driver"], stack["api"]
    driver.get(api.url(f"/cycles/{BIG_CYCLE}"))
    driver.find_element("css selector", "tr.clip summary").click()
    video = driver.find_element("css selector", "tr.clip video")
    driver.execute_script("arguments[0].muted = true; arguments[0].play()", video)
    _wait(driver, lambda d: d.execute_script("return arguments[0].readyState", video) >= 2,
          20, "readyState >= 2")
    start = driver.execute_script("return arguments[0].currentTime", video)
    _wait(driver, lambda d: d.execute_script("return arguments[0].currentTime", video) > start + 0.3,
          20, "currentTime advancing")
    # A fresh element that loads only the metadata: a seek far ahead must fetch a Range. With
    # the browser's cache on, a seek into bytes it holds is a conditional request answered
    # 304 (RFC 9110: If-None-Match before Range, 329c1e5), so the cache is off for this part.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        _seek_far_ahead_fetches_a_range(stack)
    finally:
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
        driver.execute_cdp_cmd("Network.disable", {})


def _seek_far_ahead_fetches_a_range(stack) -> None:
    driver, api = stack["driver"], stack["api"]
    driver.get(api.url(f"/cycles/{BIG_CYCLE}"))
    driver.find_element("css selector", "tr.clip summary").click()
    video = driver.find_element("css selector", "tr.clip video")
    ranged = re.compile(rf'GET /api/clips/{BIG_CYCLE}/big.mp4 HTTP/1.1" 206')
    before = len(ranged.findall(api.log()))
    driver.execute_script("arguments[0].preload = 'metadata'; arguments[0].load()", video)
    _wait(driver, lambda d: d.execute_script("return arguments[0].readyState", video) >= 1,
          20, "metadata loaded")
    driver.execute_script("arguments[0].currentTime = 18", video)
    _wait(driver, lambda d: d.execute_script("return arguments[0].readyState", video) >= 2,
          20, "playable after the seek")
    wait_for(lambda: len(ranged.findall(api.log())) >= before + 2, 20,
             "a second Range request, for the seek")
    seek = re.findall(rf'"GET /api/clips/{BIG_CYCLE}/big.mp4 HTTP/1.1" 206 (\d+)', api.log())[-1]
    assert int(seek) < (stack["folder"] / "output" / BIG_CYCLE / "big.mp4").stat().st_size
    assert _errors(driver) == []


def test_delete_asks_first_and_removes_the_clip(stack) -> None:
    driver, folder = stack["driver"], stack["folder"]
    cycle = wait_for(lambda: _cycle_with_gate(folder), 60, "a recorded clip")
    clip = folder / "output" / cycle / "gate.mp4"
    driver.get(stack["api"].url(f"/cycles/{cycle}"))
    row = "//tr[@data-file='gate.mp4']//button"
    # The cycle may still be recorded, its status not yet saying gate.mp4 is written: the page
    # shows it 录制中, without a delete, until its next update says so.
    _wait(driver, lambda d: d.find_elements("xpath", row), 30, "gate.mp4's delete offered")
    browser.screenshot(driver, "cycle")
    driver.find_element("xpath", row).click()
    driver.switch_to.alert.dismiss()
    assert clip.exists()
    driver.find_element("xpath", row).click()
    driver.switch_to.alert.accept()
    _wait(driver, lambda d: not d.find_elements("xpath", row), 10, "the row gone")
    assert not clip.exists()
    assert _errors(driver) == []


def test_check_now_records_a_clip_that_plays_on_the_camera_page(stack) -> None:
    driver, api, folder = stack["driver"], stack["api"], stack["folder"]
    page = api.url("/cameras/gate?lang=zh")
    driver.get(page)
    driver.find_element("id", "check-0").click()  # 立即检查
    _wait(driver, lambda d: d.find_elements("css selector", ".notice"), 10, "the request noted")
    _wait(driver, lambda d: d.find_elements("id", "checking"), 10, "检查中… while it runs")
    wait_for(lambda: list((folder / "output" / "checks").glob("*_gate/gate.mp4")), 60,
             "the check's clip")
    # The page follows the check by itself: its clip appears without a reload.
    video = _wait(driver, lambda d: d.find_elements("css selector", "#check-clips video"), 30,
                  "the check clip on the page, not reloaded")[0]
    assert not driver.find_elements("id", "checking")
    assert "/api/clips/checks/" in video.get_attribute("src")
    driver.execute_script("arguments[0].muted = true; arguments[0].play()", video)
    _wait(driver, lambda d: d.execute_script("return arguments[0].readyState", video) >= 2,
          20, "the check clip playable (readyState >= 2)")
    assert _errors(driver) == []


def test_a_bad_value_shows_its_error_at_the_field_and_changes_nothing(stack) -> None:
    driver = stack["driver"]
    before = Path(stack["config"]).read_bytes()
    driver.get(stack["api"].url("/settings?lang=zh"))
    field = driver.find_element("id", "g-max_concurrent_streams")
    field.clear()
    field.send_keys("0")
    driver.find_element("id", "save-global").click()
    error = _wait(driver, lambda d: d.find_elements(
        "css selector", "[data-error-for=max_concurrent_streams]"), 10, "the field's error")
    assert "配置验证失败: max_concurrent_streams" in error[0].text
    assert Path(stack["config"]).read_bytes() == before
    browser.screenshot(driver, "settings")


def test_a_refused_form_leaves_the_pages_own_address_for_a_reload_and_the_language(
        stack) -> None:
    # The page was drawn at /settings/global (POST only): the language link answered a JSON
    # 405 and a reload posted the form again.
    driver, api = stack["driver"], stack["api"]
    before = Path(stack["config"]).read_bytes()
    driver.get(api.url("/settings?lang=zh"))
    field = driver.find_element("id", "g-max_concurrent_streams")
    field.clear()
    field.send_keys("0")
    driver.find_element("id", "save-global").click()
    _wait(driver, lambda d: d.find_elements("css selector", "[data-error-for]"), 10, "the error")
    assert driver.current_url == api.url("/settings")
    driver.refresh()  # asks for the page again, not the form
    _wait(driver, lambda d: d.find_elements("id", "g-max_concurrent_streams")
          and not d.find_elements("css selector", "[data-error-for]"), 10, "the page reloaded")
    driver.find_element("id", "language").click()
    _wait(driver, lambda d: d.find_element("tag name", "h1").text == "Settings", 10,
          "the page in English")
    assert driver.current_url == api.url("/settings?lang=en")
    assert Path(stack["config"]).read_bytes() == before
    driver.get(api.url("/settings?lang=zh"))


def test_a_concurrent_edit_gets_the_conflict_message(stack) -> None:
    driver, api = stack["driver"], stack["api"]
    driver.get(api.url("/settings?lang=zh"))
    answer = requests.put(api.url("/api/config/global"), json={"read_timeout_seconds": 5},
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200
    field = driver.find_element("id", "g-connection_timeout_seconds")
    field.clear()
    field.send_keys("3")
    driver.find_element("id", "save-global").click()
    banner = _wait(driver, lambda d: d.find_elements("css selector", "[data-error-for=global]"),
                   10, "the conflict message")
    assert "配置文件已被修改" in banner[0].text
    saved = Path(stack["config"]).read_text()
    assert '"read_timeout_seconds": 5' in saved and '"connection_timeout_seconds": 2' in saved


def _redrawn(driver, selector: str, timeout: float, what: str) -> None:
    """Wait until the live update has replaced the element at ``selector`` (marked first)."""
    driver.execute_script("document.querySelector(arguments[0]).dataset.old = '1'", selector)
    _wait(driver, lambda d: d.execute_script(
        "return document.querySelector(arguments[0]).dataset.old", selector) is None,
        timeout, what)


def test_the_live_tasks_keep_their_scroll_and_a_selection(stack) -> None:
    # The table was redrawn with its scrolling box every second: on a phone it jumped back to
    # its left edge, and a selection in it was cleared.
    driver = stack["driver"]
    driver.get_log("browser")  # the deliberate 400s of the settings tests
    driver.set_window_size(390, 844)
    try:
        driver.get(stack["api"].url("/tasks?lang=zh"))
        box = "document.querySelector('.scroll')"
        # Wider than the phone's screen once a task has an error (just after a cycle starts,
        # none has yet: a live update brings it).
        _wait(driver, lambda d: d.execute_script(
            f"return {box}.scrollWidth > {box}.clientWidth + 100"), 15, "a table to scroll")
        driver.execute_script(f"{box}.scrollLeft = 100; {box}.dataset.kept = '1'")
        _redrawn(driver, "#tasks", 10, "the tasks redrawn")
        # The same scrolling box, scrolled as it was; less only if the table narrowed meanwhile
        # (a new cycle clears the errors that widen it).
        kept, left, most = driver.execute_script(
            f"return [{box}.dataset.kept, {box}.scrollLeft, {box}.scrollWidth - {box}.clientWidth]")
        assert kept == "1" and left == min(100, most)
        driver.execute_script("window.getSelection().selectAllChildren("
                              "document.querySelector('#tasks thead'))")
        driver.execute_script("document.querySelector('#tasks').dataset.old = '1'")
        held = "return Number(document.body.dataset.heldUpdates || 0)"
        before = driver.execute_script(held)
        _wait(driver, lambda d: d.execute_script(held) >= before + 3, 10, "three updates held")
        assert driver.execute_script("return document.querySelector('#tasks').dataset.old")
        assert driver.execute_script("return String(window.getSelection())").startswith("#")
        driver.execute_script("window.getSelection().removeAllRanges()")
        _redrawn(driver, "#tasks", 10, "the updates again once nothing is selected")
        assert _errors(driver) == []
    finally:
        driver.set_window_size(1280, 900)


def test_a_lost_connection_is_said_until_an_update_comes_back(stack) -> None:
    # With the API gone the live pages showed their last figures as if live, no warning.
    driver = stack["driver"]
    driver.get(stack["api"].url("/tasks?lang=en"))
    banner = driver.find_element("id", "connection-lost")
    assert not banner.is_displayed()
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", offline)
    try:
        _wait(driver, lambda d: banner.is_displayed(), 10, "the connection-lost banner")
        assert re.fullmatch(r"Connection lost · showing data as of \d\d:\d\d:\d\d",
                            banner.text), banner.text
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {**offline, "offline": False})
    _wait(driver, lambda d: not banner.is_displayed(), 10, "the banner gone with the next update")
    driver.get_log("browser")  # the failed updates are logged


def test_keyboard_focus_stays_on_a_card_the_overview_updates(stack) -> None:
    # A card's update replaced the whole card: the link focused with the keyboard lost focus.
    driver = stack["driver"]
    driver.get(stack["api"].url("/?lang=zh"))
    link = driver.find_element("xpath", "//article//a[text()='gate']")
    link_id = link.get_attribute("id")
    card = driver.find_element("xpath", "//article[.//a[text()='gate']]").get_attribute("id")
    assert link_id
    driver.execute_script("arguments[0].focus()", link)
    _redrawn(driver, f"#{card}", 30, "gate's card updated")
    assert driver.execute_script("return document.activeElement.id") == link_id
    assert _errors(driver) == []


def test_an_error_goes_once_an_action_or_the_failed_update_succeeds(stack) -> None:
    # A refusal's banner stayed until the page was left, whatever succeeded after it.
    driver, folder = stack["driver"], stack["folder"]
    cycle = folder / "output" / "20200102_000000"
    cycle.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (cycle / name).write_bytes(b"clip")
    driver.get(stack["api"].url("/cycles/20200102_000000?lang=en"))
    error = driver.find_element("id", "console-error")

    def delete(name: str) -> None:
        driver.find_element("xpath", f"//tr[@data-file='{name}']//button").click()
        driver.switch_to.alert.accept()
    (cycle / "a.mp4").unlink()  # gone behind the page's back: its delete is refused (404)
    delete("a.mp4")
    _wait(driver, lambda d: "No such file" in error.text, 10, "the refusal said")
    error.find_element("css selector", "button.close").click()  # closed by the operator
    assert error.text == ""
    delete("a.mp4")
    _wait(driver, lambda d: "No such file" in error.text, 10, "the refusal said again")
    delete("b.mp4")  # an action that succeeds
    _wait(driver, lambda d: not d.find_elements("xpath", "//tr[@data-file='b.mp4']"), 10,
          "b deleted")
    assert error.text == "" and not (cycle / "b.mp4").exists()
    # An update that fails (a folder not there yet), then answers: its error goes with it.
    driver.execute_script("""
        const probe = document.createElement("div");
        probe.id = "probe";
        probe.setAttribute("hx-get", "/cycles/20200103_000000/live");
        probe.setAttribute("hx-trigger", "every 1s");
        document.querySelector("main").appendChild(probe);
        htmx.process(probe);""")
    _wait(driver, lambda d: "No such cycle folder" in error.text, 10, "the update's error")
    (folder / "output" / "20200103_000000").mkdir()
    _wait(driver, lambda d: d.find_elements("css selector", "#probe #cycle-live"), 10,
          "the update answering")
    assert error.text == ""
    driver.execute_script("document.getElementById('probe').remove()")
    driver.get_log("browser")  # the refused requests are logged as failed loads


def _recording_cycle(api) -> str:
    """The cycle being recorded now ("" between cycles)."""
    answer = requests.get(api.url("/api/scheduler/cycle"), timeout=10,
                          headers={"Authorization": f"Bearer {TOKEN}"}).json()
    return answer["cycle_dir"] if answer["cycle_running"] else ""


def test_a_recording_cycles_page_follows_it_to_its_end_without_a_reload(stack) -> None:
    # The overview followed a running cycle; the cycle's own page stayed as it was first drawn.
    driver, api = stack["driver"], stack["api"]
    for _ in range(5):  # a cycle lasts 4 s: one may end before its page is drawn
        cycle = wait_for(lambda: _recording_cycle(api), 30, "a cycle being recorded")
        driver.get(api.url(f"/cycles/{cycle}?lang=zh"))
        if driver.find_elements("id", "cycle-recording"):
            break
    else:
        pytest.fail("no cycle's page was drawn while the cycle was recorded")
    driver.execute_script("window.notReloaded = true")
    _wait(driver, lambda d: d.find_elements("css selector", "a.report")
          and not d.find_elements("id", "cycle-recording"), 30, "the ended cycle's reports")
    assert driver.execute_script("return window.notReloaded") is True
    assert _errors(driver) == []


def test_every_page_renders_without_script_errors(stack) -> None:
    driver, api = stack["driver"], stack["api"]
    driver.get_log("browser")  # the deliberate 400/409 answers above are logged as failed loads
    pages = {"cameras": "/cameras/gate", "cycles": "/cycles", "tasks": "/tasks",
             "settings": "/settings", "overview_en": "/?lang=en", "overview": "/?lang=zh"}
    for name, path in pages.items():
        driver.get(api.url(path))
        _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete",
              10, f"{path} loaded")
        if name in ("cameras", "cycles", "tasks", "overview_en"):
            browser.screenshot(driver, name)
        assert _errors(driver) == [], path
    driver.set_window_size(390, 844)  # a phone
    driver.get(api.url("/"))
    browser.screenshot(driver, "overview_phone")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    assert _errors(driver) == []
