"""The console in a real browser in states the recorder's own run seldom reaches: a broken
config.json, this host's recorder a standby, a cycle whose reports could not be written.

gunicorn alone, no recorder: the test writes the recorder's status file itself (its heartbeat
kept fresh while a page is shown). Each state's page is checked and its screenshot goes to
docs/screenshots/ beside test_console_browser.py's.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.cluster.coordinator_lock import STANDBY_MESSAGE
from shared import settings
from shared.atomic import write_json_atomic
from shared.status_file import empty_status, report_problem
from testkit import browser
from testkit.recorder_process import wait_for
from testkit.servers import GunicornServer
from tests.helpers import valid_config

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not browser.available(), reason="chromium/chromedriver/selenium")]

# The recorder rewrites its status about every second; so does the stand-in here.
HEARTBEAT_SECONDS = 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console_states")
    config = valid_config()
    config["streams"][0]["name"] = "Gate"
    config_path = str(folder / "config.json")
    write_json_atomic(config_path, config)
    (folder / "output").mkdir()
    api = GunicornServer(config_path, workers=1)
    api.start()
    driver = browser.chromium()
    try:
        yield {"api": api, "folder": folder, "config": config_path, "driver": driver}
    finally:
        driver.quit()
        api.stop()


@contextlib.contextmanager
def _recorder_status(config_path: str, **fields) -> Iterator[None]:
    """A live recorder's status file with ``fields``, its heartbeat kept fresh meanwhile."""
    path, stop = settings.status_path(config_path), threading.Event()

    def beat() -> None:
        status = {**empty_status(), **fields, "pid": os.getpid(), "heartbeat": time.time(),
                  "heartbeat_monotonic": time.monotonic()}
        write_json_atomic(path, status)

    def keep_beating() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            beat()

    beat()
    writer = threading.Thread(target=keep_beating, daemon=True)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()
        os.unlink(path)


def _shown(driver, url: str, element_id: str) -> str:
    """The text of the element ``element_id`` once the page at ``url`` shows it."""
    driver.get(url)

    def text() -> str:
        try:
            return "".join(element.text for element in driver.find_elements("id", element_id))
        except Exception as exc:  # selenium is imported only where it is installed
            if browser.is_stale(exc):  # the live update swapped it meanwhile: asked again
                return ""
            raise
    return wait_for(text, 10, element_id, interval=0.2)


def test_settings_with_a_broken_config_show_its_error_and_the_scheduler_buttons(stack) -> None:
    driver, config_path = stack["driver"], Path(stack["config"])
    good = config_path.read_text(encoding="utf-8")
    config_path.write_text('{"global_config": {}, "streams": [}', encoding="utf-8")
    try:
        banner = _shown(driver, stack["api"].url("/settings?lang=en"), "config-error")
        assert "Config error" in banner and "config.json · line 1" in banner
        assert driver.find_element("id", "scheduler-start").is_displayed()
        assert not driver.find_elements("id", "global-form")
        browser.screenshot(driver, "settings_broken_config")
    finally:
        config_path.write_text(good, encoding="utf-8")


def test_the_recorder_line_says_this_host_is_a_standby_and_whose_lock_it_waits_for(
        stack) -> None:
    driver = stack["driver"]
    standby = {"coordinator": "patrol-a:4242:5f1c", "since": "2025-10-10 16:30:00"}
    with _recorder_status(stack["config"], scheduler_running=True, standby=standby,
                          message=STANDBY_MESSAGE):
        line = _shown(driver, stack["api"].url("/?lang=en"), "standby")
        assert "standby coordinator" in line and "patrol-a:4242:5f1c" in line
        assert "备用" not in driver.find_element("id", "recorder").text  # said in English
        browser.screenshot(driver, "standby")


def test_the_overview_banner_says_the_latest_cycles_reports_could_not_be_written(
        stack) -> None:
    driver = stack["driver"]
    cycle = "20251010_163000"
    (stack["folder"] / "output" / cycle).mkdir(exist_ok=True)
    reason = f"写入失败 ./output/{cycle}/rtsp_report.json: No space left on device"
    said = f"第 3 轮 ({cycle}) 报告写入失败: {reason}"
    with _recorder_status(stack["config"], scheduler_running=True, current_cycle=3,
                          message=said, cycle={**empty_status()["cycle"], "dir": cycle},
                          report_problem=report_problem(cycle, reason, said)):
        banner = _shown(driver, stack["api"].url("/?lang=en"), "report-problem")
        assert "The reports could not be written" in banner and cycle in banner
        assert "No space left on device" in banner
        browser.screenshot(driver, "report_problem")
